"""With `branches`, the only code that runs git: libgit2 (pygit2) for object and ref work, the
git CLI for log and gc.

The coordination repo is bare. Commits are built by editing trees in the object store (no index,
no working tree), so a transition costs the same however many tasks the repo holds, and `main`
moves by compare-and-swap, so a push that lands meanwhile is never overwritten.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, RepositoryOpenFlag

from coordinator.core import seal
from coordinator.core.layout import Change, Entry
from coordinator.repo import historykey
from coordinator.wire.errors import AgentcomError, NotARepo, RefMoved

MAIN = "refs/heads/main"
BLOB, TREE, LINK = FileMode.BLOB, FileMode.TREE, FileMode.LINK
IDENTITY = pygit2.Signature(seal.NAME, seal.EMAIL)  # a label only: the seal tells the hub's commits
LOCK_WAIT = 5.0  # seconds to wait for a ref lock held by a push in progress

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class LogEntry:
    commit: str
    time: int
    author: str
    message: str


@dataclass(frozen=True)
class PushedCommit:
    """A commit as the pre-receive check looks at it."""
    commit: str
    author: tuple[str, str]      # (name, email)
    committer: tuple[str, str]
    message: str


class GitRepo:
    """A bare coordination repo, opened once per process."""

    def __init__(self, path: str | os.PathLike | None, *, from_env: bool = False):
        """Open `path`; with from_env, the repo git's environment names (inside a hook)."""
        try:
            flags = RepositoryOpenFlag.FROM_ENV if from_env else RepositoryOpenFlag.NO_SEARCH
            self.repo = pygit2.Repository(os.environ.get("GIT_DIR", ".") if from_env else str(path), flags)
        except pygit2.GitError:
            raise NotARepo(str(path)) from None
        self.path = Path(self.repo.path)
        self._dir_fd = os.open(self.repo.path, os.O_RDONLY)
        self._history: historykey.HistoryKey | None = None

    @classmethod
    def init_bare(cls, path: str | os.PathLike) -> GitRepo:
        pygit2.init_repository(str(path), bare=True, initial_head="main")
        return cls(path)

    def close(self) -> None:
        os.close(self._dir_fd)
        self.repo.free()

    # --- reading ----------------------------------------------------------------------------

    def head(self) -> pygit2.Oid | None:
        ref = self.repo.references.get(MAIN)
        return ref.target if ref is not None else None

    def tree_of(self, commit: pygit2.Oid | None) -> pygit2.Tree | None:
        return self.repo[commit].tree if commit is not None else None

    def read(self, oid: pygit2.Oid) -> bytes:
        return self.repo[oid].data

    def get(self, tree: pygit2.Tree | None, path: str) -> Entry | None:
        if tree is None:
            return None
        try:
            obj = tree[path]
        except KeyError:
            return None
        return Entry(path, obj.id, obj.filemode)

    def files(self, tree: pygit2.Tree | None, prefix: str = "") -> list[Entry]:
        """Every non-tree entry under `prefix` (recursively), in tree order."""
        if tree is None:
            return []
        if prefix:
            found = self.get(tree, prefix)
            if found is None or found.mode != TREE:
                return []
            tree = self.repo[found.oid]
        out: list[Entry] = []
        stack = [(prefix, tree)]
        while stack:
            base, node = stack.pop()
            for obj in node:
                path = f"{base}/{obj.name}" if base else obj.name
                if obj.filemode == TREE:
                    stack.append((path, self.repo[obj.id]))
                else:
                    out.append(Entry(path, obj.id, obj.filemode))
        return out

    def diff(self, old: pygit2.Oid | None, new: pygit2.Oid) -> list[Change]:
        """Files that differ between two commits (no rename detection: renames are del+add)."""
        new_tree = self.tree_of(new)
        if old is None:
            return [Change(e.path, None, e) for e in self.files(new_tree)]
        patch = self.repo.diff(self.tree_of(old), new_tree, flags=pygit2.enums.DiffOption.SKIP_BINARY_CHECK)
        changes = []
        for delta in patch.deltas:
            o, n = delta.old_file, delta.new_file
            old_e = Entry(o.path, o.id, o.mode) if delta.status_char() != "A" else None
            new_e = Entry(n.path, n.id, n.mode) if delta.status_char() != "D" else None
            changes.append(Change(n.path if new_e else o.path, old_e, new_e))
        return changes

    def is_ancestor(self, ancestor: pygit2.Oid, of: pygit2.Oid) -> bool:
        return ancestor == of or self.repo.descendant_of(of, ancestor)

    def merge_base(self, one: pygit2.Oid, other: pygit2.Oid) -> pygit2.Oid | None:
        """The best common ancestor of two commits, or None if they share no history."""
        return self.repo.merge_base(one, other)

    def history_key(self) -> historykey.HistoryKey:
        """The key the hub seals its commits with (read once; made by `agentcom init` or the
        hub's start)."""
        if self._history is None:
            self._history = historykey.load(self.path)
            if self._history is None:
                raise AgentcomError(f"{self.path} has no history key (agentcom/{historykey.KEY_FILE}); "
                                    f"start the hub once, or run `agentcom init {self.path}`")
        return self._history

    def made_by_hub(self, oid: pygit2.Oid | str) -> bool:
        """Whether the hub made this commit: its seal verifies with the history key, or it came
        before the key existed (an ancestor of the key's anchor) under the coordinator's name."""
        history = self.history_key()
        commit = self.repo[oid]
        if seal.verify(history.key, _sealed_part(commit), commit.raw_message):
            return True
        if history.anchor is None or commit.committer.email != IDENTITY.email:
            return False
        anchor = pygit2.Oid(hex=history.anchor)
        return anchor in self.repo and self.is_ancestor(commit.id, anchor)

    def last_commit_by_coordinator(self, head: pygit2.Oid | None, limit: int = 100000) -> pygit2.Oid | None:
        """The newest commit on main's first-parent line that the hub made (`made_by_hub`), or None."""
        oid = head
        for _ in range(limit):
            if oid is None:
                return None
            if self.made_by_hub(oid):
                return oid
            commit = self.repo[oid]
            oid = commit.parent_ids[0] if commit.parent_ids else None
        return None

    def resolve(self, ref: str) -> pygit2.Oid | None:
        """The commit a branch name, ref or sha names here, or None."""
        try:
            return self.repo.revparse_single(ref).peel(pygit2.Commit).id
        except (KeyError, ValueError, pygit2.GitError):
            return None

    def pushed_commits(self, old: pygit2.Oid | None, new: pygit2.Oid) -> list[PushedCommit]:
        """The commits in old..new (every one a push to main would add), newest first."""
        walker = self.repo.walk(new)
        if old is not None:
            walker.hide(old)
        return [PushedCommit(str(c.id), _who(c.author), _who(c.committer),
                             c.raw_message.decode("utf-8", "replace")) for c in walker]

    def added_names(self, old: pygit2.Oid | None, new: pygit2.Oid,
                    judge: Callable[[str], str | None], limit: int = 100) -> list[tuple[str, str, str]]:
        """(commit, path, what `judge` said) for each tree entry that commits in old..new add
        and whose name `judge` objects to, at any depth; a subtree the same as its parent's at
        the same path, or seen already, is not walked again. At most `limit` found."""
        found: list[tuple[str, str, str]] = []
        seen: set[pygit2.Oid] = set()
        walker = self.repo.walk(new)
        if old is not None:
            walker.hide(old)
        for c in walker:
            stack = [("", c.tree, [p.tree for p in c.parents])]
            while stack and len(found) < limit:
                base, tree, before = stack.pop()
                if tree.id in seen or any(b.id == tree.id for b in before):
                    continue
                seen.add(tree.id)
                for obj in tree:
                    path = f"{base}{obj.name}"
                    why = judge(obj.name)
                    if why:
                        found.append((str(c.id), path, why))
                    elif obj.filemode == TREE:
                        olds = [b[obj.name] for b in before if obj.name in b]
                        stack.append((path + "/", self.repo[obj.id],
                                      [self.repo[o.id] for o in olds if o.filemode == TREE]))
            if len(found) >= limit:
                break
        return found[:limit]

    # --- writing ----------------------------------------------------------------------------

    def ensure_config(self, wanted: dict[str, str]) -> None:
        """Set each key in the repo's own config file (not the machine's or the user's, which may
        change under it) unless it holds that value already."""
        config = pygit2.Config(str(self.path / "config"))
        for key, value in wanted.items():
            if key not in config or str(config[key]).lower() != value.lower():
                config[key] = value

    def write_blob(self, data: bytes) -> pygit2.Oid:
        return self.repo.create_blob(data)

    def edit_tree(self, base: pygit2.Tree | None, edits: dict[str, tuple[pygit2.Oid, int] | None],
                  top: bool = True) -> pygit2.Oid | None:
        """A new tree: `base` with each path set to (blob, mode) or removed (None).

        Only the trees on the edited paths are rewritten; a directory left empty disappears
        (a subtree left empty comes back as None, without being written).
        """
        here: dict[str, tuple[pygit2.Oid, int] | None] = {}
        below: dict[str, dict] = {}
        for path, value in edits.items():
            head, sep, rest = path.partition("/")
            if sep:
                below.setdefault(head, {})[rest] = value
            else:
                here[head] = value
        builder = self.repo.TreeBuilder(base) if base is not None else self.repo.TreeBuilder()
        for name, value in here.items():
            if value is None:
                if builder.get(name) is not None:
                    builder.remove(name)
            else:
                builder.insert(name, value[0], value[1])
        for name, sub_edits in below.items():
            current = builder.get(name)
            sub = self.repo[current.id] if current is not None and current.filemode == TREE else None
            new_sub = self.edit_tree(sub, sub_edits, top=False)
            if new_sub is None:
                if current is not None:
                    builder.remove(name)
            else:
                builder.insert(name, new_sub, TREE)
        return builder.write() if len(builder) or top else None

    def commit(self, tree: pygit2.Oid, parent: pygit2.Oid | None, message: str,
               author: pygit2.Signature | None = None) -> pygit2.Oid:
        """A commit object sealed with the history key (seal.py); no ref moves until `advance`."""
        stamp = pygit2.Signature(IDENTITY.name, IDENTITY.email)  # now, fixed before it is sealed
        author = author or stamp
        parents = [parent] if parent is not None else []
        what = seal.Commit(str(tree), tuple(str(p) for p in parents), _stamp(author), _stamp(stamp))
        key = self.history_key().key
        oid = self.repo.create_commit(None, author, stamp, seal.sealed(key, what, message), tree, parents)
        made = self.repo[oid]
        if not seal.verify(key, _sealed_part(made), made.raw_message):
            # git stored the commit otherwise than it was sealed (a name it trimmed): never publish
            # a commit the hub would later take for a stranger's
            raise AgentcomError(f"the commit for {message.splitlines()[0]!r} does not verify as written")
        return oid

    def advance(self, new: pygit2.Oid, expected: pygit2.Oid | None) -> None:
        """Move main from `expected` to `new`, durably, or raise RefMoved if main moved.

        Objects are flushed before the ref moves and the ref after, so a machine crash leaves
        main at the old commit or the new one, each with all its objects on disk.
        """
        self.sync()
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                ref = self.repo.references.get(MAIN)
                current = ref.target if ref is not None else None
                if current != expected:
                    raise RefMoved(str(expected), str(current))
                if ref is None:
                    self.repo.references.create(MAIN, new)
                else:
                    ref.set_target(new)  # libgit2 compares-and-swaps against the value read above
                break
            except (pygit2.GitError, OSError) as e:  # libgit2 reports a held lock as OSError
                if "does not match" in str(e) or "already exists" in str(e):
                    raise RefMoved(str(expected), str(self.head())) from None
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise AgentcomError(f"could not update main in {self.path}: {e}") from None
                time.sleep(0.01)  # a push holds refs/heads/main.lock for a moment
        self.sync()

    def sync(self) -> None:
        """Flush this file system (one syncfs call instead of an fsync per object)."""
        if _libc.syncfs(self._dir_fd) != 0:
            err = ctypes.get_errno()
            raise AgentcomError(f"syncfs on {self.path} failed: {os.strerror(err)}")

    # --- history (the git CLI is fastest at grepping long histories) ------------------------

    def log(self, grep: str | None = None, limit: int = 1000) -> list[LogEntry]:
        """Commits on main, newest first; `grep` is a fixed string matched against messages."""
        args = ["log", "--format=%H%x1f%ct%x1f%an%x1f%B%x1e", f"--max-count={limit}", MAIN]
        if grep:
            args[1:1] = ["--fixed-strings", f"--grep={grep}"]
        out = self.run_git(*args)
        entries = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if record:
                sha, when, author, message = record.split("\x1f", 3)
                entries.append(LogEntry(sha, int(when), author, message))
        return entries

    def run_git(self, *args: str, timeout: float = 120) -> str:
        """Run git on this repo with argv (never a shell string); raise with git's own message."""
        done = subprocess.run(["git", f"--git-dir={self.repo.path}", *args], capture_output=True,
                              text=True, timeout=timeout, env=_git_env())
        if done.returncode != 0:
            raise AgentcomError(f"git {args[0]} failed in {self.path}: {done.stderr.strip()}")
        return done.stdout


def _stamp(who: pygit2.Signature) -> seal.Stamp:
    return seal.Stamp(who.raw_name, who.raw_email, who.time, who.offset)


def _sealed_part(commit: pygit2.Commit) -> seal.Commit:
    return seal.Commit(str(commit.tree_id), tuple(str(p) for p in commit.parent_ids),
                       _stamp(commit.author), _stamp(commit.committer))


def _who(who: pygit2.Signature) -> tuple[str, str]:
    return who.raw_name.decode("utf-8", "replace"), who.raw_email.decode("utf-8", "replace")


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    return env


