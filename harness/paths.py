"""Paths named by a spec, an argument or a record stay inside the folder they belong to.

A spec's `extends` and `other`, `harness new --slug`, and every file the harness writes under
`results/` are resolved (symlinks followed) and refused when they land outside their root, so a
hostile spec or a planted link cannot read or write elsewhere. One function, one message shape.
"""

from __future__ import annotations

from pathlib import Path


class PathEscape(ValueError):
    """A path resolves outside the folder it must stay in; the message names both."""


def inside(root: Path, path: Path, what: str) -> Path:
    """`path` resolved, or PathEscape when it (or a symlinked folder on its way) leaves `root`."""
    base = Path(root).resolve()
    target = Path(path) if Path(path).is_absolute() else base / path
    resolved = target.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise PathEscape(f"{what} {path} resolves to {resolved}, outside {base}: refused")
    return resolved


def real_folder(path: Path, what: str) -> Path:
    """`path` as a folder the harness may write into: refused when it is a symlink (written through, a
    link would put records or plots wherever it points) or exists and is not a folder."""
    path = Path(path)
    if path.is_symlink():
        raise PathEscape(f"{what} {path} is a symbolic link (to {path.resolve()}); the harness writes only "
                         "into real folders: replace it with a folder")
    if path.exists() and not path.is_dir():
        raise PathEscape(f"{what} {path} exists and is not a folder: move it away")
    return path
