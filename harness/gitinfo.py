"""The project's git commit, read from `.git` files: no `git` process, so no hook or config runs.

A `git` command runs whatever `core.fsmonitor`, `core.hooksPath` and friends of the repository it finds
say; a spec folder with its own `.git` would make recording a result run its code. This reads HEAD,
the loose ref and `packed-refs` of the project root only (a worktree's `.git` file is followed).
"""

from __future__ import annotations

import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1 or SHA-256
MAX_BYTES = 1 << 20


def _read(path: Path) -> str | None:
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as f:
            return f.read(MAX_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def git_dir(root: Path = PROJECT_ROOT) -> Path | None:
    dot_git = root / ".git"
    if dot_git.is_dir():
        return dot_git
    text = _read(dot_git)  # a worktree or submodule: "gitdir: <path>"
    if text and text.startswith("gitdir:"):
        target = Path(text[len("gitdir:"):].strip())
        target = target if target.is_absolute() else root / target
        return target if target.is_dir() else None
    return None


def _common_dir(gdir: Path) -> Path:
    text = _read(gdir / "commondir")  # worktrees keep refs in the main repository
    if text and text.strip():
        common = Path(text.strip())
        return common if common.is_absolute() else gdir / common
    return gdir


def _ref(gdir: Path, name: str) -> str | None:
    if not name.startswith("refs/") or ".." in name:
        return None
    for base in dict.fromkeys((gdir, _common_dir(gdir))):
        text = _read(base / name)
        if text and SHA.match(text.strip()):
            return text.strip()
        for line in (_read(base / "packed-refs") or "").splitlines():
            sha, _, ref = line.partition(" ")
            if ref.strip() == name and SHA.match(sha):
                return sha
    return None


def head_commit(root: Path = PROJECT_ROOT) -> str | None:
    """The commit HEAD points at, or None (not a git checkout, unborn branch, unreadable)."""
    gdir = git_dir(Path(root))
    if gdir is None:
        return None
    head = (_read(gdir / "HEAD") or "").strip()
    if SHA.match(head):  # detached
        return head
    if head.startswith("ref:"):
        return _ref(gdir, head[len("ref:"):].strip())
    return None
