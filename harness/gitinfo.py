"""The project's git commit, read from `.git` files: no `git` process, so no hook or config runs.

A `git` command runs whatever `core.fsmonitor`, `core.hooksPath` and friends of the repository it finds
say; a spec folder with its own `.git` would make recording a result run its code. This reads HEAD,
the loose ref and `packed-refs` of the project root only (a worktree's `.git` file is followed), and
the index, to tell whether tracked files were edited since they were staged (`changed_files`).
"""

from __future__ import annotations

import hashlib
import re
import struct
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


# What a record's numbers depend on; results/ and docs change without changing a result.
RESULT_PATHS = ("harness/", "specs/", "conftest.py", "pyproject.toml")
_MAX_INDEX_BYTES = 64 << 20
SHA256_REPO = re.compile(r"^\s*objectformat\s*=\s*sha256\s*$", re.IGNORECASE | re.MULTILINE)
_REGULAR = (0o100644, 0o100755)


def _index_entries(data: bytes):
    """(path, mode, stage, skip_worktree, blob id) per entry of a version 2 or 3 index (SHA-1 ids).

    Version 4 (prefix-compressed paths) raises ValueError: the caller reports unknown."""
    if len(data) < 12 or data[:4] != b"DIRC":
        raise ValueError("not a git index")
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3):
        raise ValueError(f"index version {version}")
    at = 12
    for _ in range(count):
        start = at
        mode, = struct.unpack(">I", data[at + 24:at + 28])
        blob = data[at + 40:at + 60].hex()
        flags, = struct.unpack(">H", data[at + 60:at + 62])
        at += 62
        skip_worktree = False
        if flags & 0x4000:  # extended flags (version 3)
            extended, = struct.unpack(">H", data[at:at + 2])
            skip_worktree = bool(extended & 0x4000)
            at += 2
        end = data.index(b"\0", at)
        path = data[at:end].decode("utf-8", "surrogateescape")
        at = start + ((end - start) // 8 + 1) * 8  # NUL padding to a multiple of 8 bytes
        if at > len(data):
            raise ValueError("truncated index")
        yield path, mode, (flags >> 12) & 3, skip_worktree, blob


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def changed_files(root: Path = PROJECT_ROOT, under: tuple[str, ...] = RESULT_PATHS) -> list[str] | None:
    """Tracked files under `under` whose working copy differs from the index (edited, deleted, conflicted),
    compared by content as git would without filters; None where the index cannot be read.

    What `git diff --stat` shows, not what `git diff --cached` shows: edits staged but not committed are
    not seen (that would need the commit's tree from the object store)."""
    gdir = git_dir(Path(root))
    if gdir is None or SHA256_REPO.search(_read(_common_dir(gdir) / "config") or ""):
        return None  # 32-byte ids: entries laid out differently
    try:
        with open(gdir / "index", "rb") as f:
            data = f.read(_MAX_INDEX_BYTES)
        entries = list(_index_entries(data))
    except (OSError, ValueError, struct.error):
        return None
    changed = []
    for path, mode, stage, skip_worktree, blob in entries:
        if not path.startswith(under) or skip_worktree:
            continue
        if stage or mode not in _REGULAR:  # a conflict; symlinks and submodules are not the project's code
            changed += [path] if stage else []
            continue
        try:
            content = (Path(root) / path).read_bytes()
        except OSError:
            changed.append(path)  # deleted or unreadable
            continue
        if _blob_id(content) != blob:
            changed.append(path)
    return sorted(set(changed))
