"""Target repos for the git workflow: a bare "remote" with a main branch, and clones that push to
it as a developer (or another agent) would."""
from __future__ import annotations

from pathlib import Path

from tests.support.gitenv import git


def make_remote(root: Path, name: str = "acme/web", branch: str = "main") -> Path:
    """A bare repo at ROOT/OWNER/NAME.git whose main (or `branch`, its HEAD) holds a README and a
    small app."""
    bare = root / f"{name}.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "--bare", "-b", branch, str(bare))
    seed = root / f"{name.replace('/', '-')}-seed"
    git(root, "clone", "-q", str(bare), str(seed))
    write(seed, {"README.md": "# web\n", "app/login.py": "def login(user):\n    return '/home'\n",
                 "old/name.txt": "moved soon\n", "gone.txt": "to delete\n", "run.sh": "echo hi\n"})
    commit(seed, "first")
    git(seed, "push", "-q", "origin", f"HEAD:{branch}")
    return bare


def write(work: Path, files: dict[str, str | bytes | None]) -> None:
    """Write (text or bytes) or, for None, delete each file."""
    for name, content in files.items():
        path = work / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)


def commit(work: Path, message: str) -> str:
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD").stdout.strip()


def push_branch(remote: Path, root: Path, branch: str, files: dict, message: str = "work") -> str:
    """From a fresh clone: a branch off main with `files` changed, pushed; returns its head."""
    work = root / f"push-{branch.replace('/', '-')}"
    if not work.exists():
        git(root, "clone", "-q", str(remote), str(work))
        git(work, "checkout", "-q", "-b", branch, "origin/main")
    write(work, files)
    sha = commit(work, message)
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return sha
