"""MNIST from the four IDX files, verified, as uint8 tensors.

The data root comes from `--data-root` or `MNIST_ROOT` (CI: ../shared/data/mnist).
Each file may be gzip-compressed (`.gz`) or raw; the SHA256 of the
*decompressed* bytes must equal the canonical MNIST value, so a truncated,
bit-flipped or foreign file is refused with a message naming it. Nothing is
trained on data that failed these checks.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from harness.mnist_files import CACHE_SUBDIR, ENV_VAR, FILES, HOW_TO_PROVIDE, DataError, decompressed_size
from harness.paths import PathEscape, real_folder


@dataclass(frozen=True)
class MNIST:
    train_images: torch.Tensor  # uint8 [60000, 28, 28]
    train_labels: torch.Tensor  # int64 [60000]
    test_images: torch.Tensor   # uint8 [10000, 28, 28]
    test_labels: torch.Tensor   # int64 [10000]
    root: Path


def resolve_root(root: str | Path | None = None, fetch: bool = False) -> Path:
    """--data-root, else $MNIST_ROOT, else (with `fetch`) the cache folder's copy, fetched and verified once."""
    value = root if root is not None else os.environ.get(ENV_VAR)
    if not value:
        if fetch:
            return cached_mnist()
        raise DataError(f"No MNIST data root given. {HOW_TO_PROVIDE}")
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DataError(f"MNIST data root {path} does not exist or is not a folder. {HOW_TO_PROVIDE}")
    return path


def _read(root: Path, name: str) -> tuple[Path, bytes]:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            break
    else:
        raise DataError(f"{name}(.gz) is missing from {root}. {HOW_TO_PROVIDE}")
    limit = decompressed_size(name)
    try:
        # bounded: a gzip bomb (or any file larger than the canonical one) stops one byte past the size
        with (gzip.open(candidate, "rb") if candidate.suffix == ".gz" else open(candidate, "rb")) as f:
            raw = f.read(limit + 1)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{candidate} is not a complete gzip file ({exc}): it is truncated or corrupt. "
                        f"Replace it with a fresh copy. {HOW_TO_PROVIDE}") from None
    except OSError as exc:
        raise DataError(f"{candidate} cannot be read: {exc}") from None
    return candidate, raw


def _parse(path: Path, raw: bytes, magic: int, shape: tuple[int, ...]) -> torch.Tensor:
    header = 4 + 4 * len(shape)
    if len(raw) < header:
        raise DataError(f"{path} is {len(raw)} bytes, too short for an IDX header")
    got_magic, *dims = struct.unpack(f">I{len(shape)}I", raw[:header])
    if got_magic != magic or tuple(dims) != shape:
        raise DataError(f"{path}: IDX header says magic {got_magic:#x} shape {tuple(dims)}, "
                        f"expected {magic:#x} {shape}")
    expected = header + int(torch.tensor(shape).prod())
    if len(raw) != expected:
        raise DataError(f"{path}: {len(raw)} bytes after decompression, expected {expected} (wrong size)")
    data = torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).reshape(shape)
    return data.long() if len(shape) == 1 else data


def load_file(root: Path, name: str, verify: bool = True) -> torch.Tensor:
    sha, magic, shape = FILES[name]
    path, raw = _read(root, name)
    if verify:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha:
            raise DataError(f"{path}: SHA256 of the decompressed bytes is {digest[:16]}..., expected {sha[:16]}... "
                            f"(the file is corrupt or not canonical MNIST). Replace it with a fresh copy. "
                            f"{HOW_TO_PROVIDE}")
    return _parse(path, raw, magic, shape)


@lru_cache(maxsize=4)
def _load_cached(root: Path, stamp: tuple) -> MNIST:
    tensors = {name: load_file(root, name) for name in FILES}
    return MNIST(tensors["train-images-idx3-ubyte"], tensors["train-labels-idx1-ubyte"],
                 tensors["t10k-images-idx3-ubyte"], tensors["t10k-labels-idx1-ubyte"], root)


def load_mnist(root: str | Path | None = None, fetch: bool = False) -> MNIST:
    """The verified data set (cached per process while the files are unchanged)."""
    path = resolve_root(root, fetch).resolve()
    try:
        stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(path.iterdir()) if p.is_file())
    except OSError as exc:
        raise DataError(f"MNIST data root {path} cannot be read: {exc.strerror or exc}. {HOW_TO_PROVIDE}") from None
    return _load_cached(path, stamp)


def cached_mnist() -> Path:
    """`$AUDIT_CACHE_DIR/mnist` (see harness.cache), fetched from the public mirrors the first time, under a
    file lock so parallel workers fetch once."""
    from filelock import FileLock

    from harness.cache import default_cache_dir
    from harness.download import fetch_mnist

    folder = default_cache_dir() / CACHE_SUBDIR
    writable_folder(folder, "MNIST cache folder")
    with FileLock(str(folder / ".fetch.lock")):
        return fetch_mnist(folder)


def output_folders(results: str | Path | None, cache_root: str | Path | None) -> None:
    """Every folder a run writes into, checked before anything trains: real (no symlink written through),
    a folder (not a file in its place) and writable; DataError names the first that is not."""
    where = []
    if results is not None:
        results = Path(results)
        where += [(results, "results folder"), (results / "records", "records folder"),
                  (results / "plots", "plots folder"), (results / "bits", "witness folder")]
    if cache_root is not None:
        cache_root = Path(cache_root)
        where += [(cache_root, "results cache folder"), (cache_root / "runs", "cache's runs folder"),
                  (cache_root / "checkpoints", "cache's checkpoints folder"), (cache_root / "locks", "cache's locks folder")]
    for path, what in where:
        writable_folder(path, what)


def writable_folder(path: str | Path, what: str) -> Path:
    """Create `path` if needed and prove it writable, or raise DataError saying which folder and why:
    checked before training starts, so a read-only results or cache folder never costs a run."""
    path = Path(path).expanduser()
    try:
        real_folder(path, f"the {what}")
    except PathEscape as exc:
        raise DataError(str(exc)) from None
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataError(f"the {what} {path} is not a writable folder ({exc.strerror or exc}); "
                        f"make it writable or point the option at another folder") from None
    return path
