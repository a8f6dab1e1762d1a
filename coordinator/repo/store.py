"""The only writer of the coordination repo: each change is one commit; commits are published
to main in groups by one compare-and-swap.

Crash safety comes from git itself: objects are written first, then main moves atomically. A
kill at any instant leaves main at the last published commit; unpublished commits are unreachable
objects that gc collects. There is no working tree or index to get out of step.
"""
from __future__ import annotations

from coordinator.core.layout import Entry
from coordinator.repo.gitrepo import BLOB, GitRepo

Edit = bytes | Entry | None  # new content, an existing blob (keeps mode), or removal


class Store:
    def __init__(self, git: GitRepo):
        self.git = git
        self.base = git.head()      # main as last published (or read)
        self.tip = self.base        # last commit staged on top of base
        self._tip_tree = git.tree_of(self.tip)
        self.staged = 0

    @property
    def tree(self):
        """The tree as of the last staged commit: what the next commit edits."""
        return self._tip_tree

    def stage(self, edits: dict[str, Edit], message: str) -> str:
        """Build one commit on the tip with `edits`; nothing is visible until `publish`."""
        resolved = {}
        for path, edit in edits.items():
            if edit is None:
                resolved[path] = None
            elif isinstance(edit, Entry):
                resolved[path] = (edit.oid, edit.mode)
            else:
                resolved[path] = (self.git.write_blob(edit), BLOB)
        tree = self.git.edit_tree(self._tip_tree, resolved)
        self.tip = self.git.commit(tree, self.tip, message)
        self._tip_tree = self.git.repo[tree]
        self.staged += 1
        return str(self.tip)

    def blob_at(self, path: str) -> Entry | None:
        return self.git.get(self._tip_tree, path)

    def publish(self) -> int:
        """Move main to the tip (raises RefMoved if a push landed meanwhile); returns commits published."""
        count = self.staged
        if count:
            self.git.advance(self.tip, self.base)
            self.base, self.staged = self.tip, 0
        return count

    def savepoint(self) -> tuple:
        """Where the staged work stands now; `rewind` drops whatever is staged after it."""
        return self.tip, self._tip_tree, self.staged

    def rewind(self, point: tuple) -> None:
        self.tip, self._tip_tree, self.staged = point

    def reset(self, head) -> None:
        """Drop staged commits and build on `head` from now on (after a race, or a push)."""
        self.base = self.tip = head
        self._tip_tree = self.git.tree_of(head)
        self.staged = 0
