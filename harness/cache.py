"""The results cache: finished seeds' curves, keyed by what decides them.

Key of one seed = the spec's training hash (canonical architecture + recipe,
`LoadedSpec.training_hash`) + `TRAINING_SEMANTICS` + the environment (torch
version, device kind and name) + the run shape (epochs/subset overrides) + the
seed. Nothing else: editing a module, a comment, a claim or a rule never
misses the cache. How a seed was trained bitwise (seeds stacked together,
thread count, memory format) changes only the order of floating-point sums;
it is stored with each seed, in the cache and in the record, not in the key.

The seeds trained together are written as ONE entry file (atomically, with a
SHA-256 over key and content), so a kill between two seeds' writes cannot
leave a group half-cached and retrain one seed alone under another plan.
An entry whose checksum, format or keys do not match is a miss. Entries are
JSON: nothing read from the cache runs code.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from harness.results import SeedCurve

# Bump when a change alters what training computes for an unchanged spec and seed (an engine,
# layer, augmentation, data or default-argument change). tests/test_golden.py fails on such a
# change until this is bumped and its golden curve updated.
TRAINING_SEMANTICS = 1
ENTRY_FORMAT = 2


def default_cache_dir() -> Path:
    env = os.environ.get("AUDIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "mnist-readme-audit"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """`write(temporary)` then rename onto `path`: readers never see half a file, a kill leaves the old one.
    The temporary keeps the suffix (matplotlib picks the image format from it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)  # left by a writer killed before its rename
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def remove_stale_temporaries(folder: Path, name: str) -> None:
    """Temporary files of `name` left by a killed writer (`.NAME.PID.tmp`, PID no longer running)."""
    for tmp in folder.glob(f".{name}.*.tmp*"):
        pid = tmp.name[len(name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def seed_key(training_hash: str, env_key: dict, shape: dict, seed: int) -> str:
    blob = json.dumps({"spec": training_hash, "semantics": TRAINING_SEMANTICS, "env": env_key, "shape": shape,
                       "seed": seed}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _checksum(entries: dict, meta: dict) -> str:
    return hashlib.sha256(json.dumps({"entries": entries, "meta": meta}, sort_keys=True).encode()).hexdigest()


class ResultsCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    key = staticmethod(seed_key)

    def _folder(self, file_id: str) -> Path:
        return self.root / "runs" / file_id

    def get_many(self, file_id: str, keys: dict[int, str]) -> dict[int, tuple[SeedCurve, dict]]:
        """The cached seeds among `keys` ({seed: key}): {seed: (curve, how it was trained)}."""
        wanted = {k: s for s, k in keys.items()}
        found: dict[int, tuple[SeedCurve, dict]] = {}
        folder = self._folder(file_id)
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            entry = self._read(path)
            if entry is None:
                continue
            for key, curve in entry["entries"].items():
                if key in wanted and wanted[key] not in found:
                    found[wanted[key]] = (SeedCurve.from_json(curve), entry["meta"])
        return found

    def get(self, file_id: str, key: str) -> SeedCurve | None:
        hit = self.get_many(file_id, {0: key})
        return hit[0][0] if hit else None

    @staticmethod
    def _read(path: Path) -> dict | None:
        """A valid entry, or None: a damaged, foreign or unreadable file is a miss (and says so)."""
        try:
            if path.stat().st_size > 64 << 20:
                raise ValueError("larger than any entry the harness writes")
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != ENTRY_FORMAT or data.get("checksum") != _checksum(data["entries"], data["meta"]):
                raise ValueError("checksum or format mismatch")
            for curve in data["entries"].values():
                SeedCurve.from_json(curve)
            return data
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            warnings.warn(f"results cache: ignoring {path}: {exc}", RuntimeWarning, stacklevel=3)
            return None

    def put_group(self, file_id: str, curves: dict[str, SeedCurve], meta: dict) -> Path:
        """Write the seeds trained together ({key: curve}) as one atomic, checksummed entry."""
        entries = {key: curve.to_json() for key, curve in curves.items()}
        name = hashlib.sha256("".join(sorted(curves)).encode()).hexdigest()[:24]
        path = self._folder(file_id) / f"{name}.json"
        text = json.dumps({"format": ENTRY_FORMAT, "entries": entries, "meta": meta,
                           "checksum": _checksum(entries, meta)})
        atomic_write_text(path, text)
        return path

    def lock(self, file_id: str) -> FileLock:
        """One trainer per spec across processes (xdist workers, parallel jobs)."""
        path = self.root / "locks" / f"{file_id}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path))

    def checkpoint_path(self, file_id: str, keys: list[str], plan: dict) -> Path:
        """Per group and plan: a resumed run continues exactly the computation it started."""
        group = hashlib.sha256(json.dumps([keys, plan], sort_keys=True).encode()).hexdigest()[:16]
        return self.root / "checkpoints" / f"{file_id}-{group}.pt"
