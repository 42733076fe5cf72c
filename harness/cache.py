"""The results cache: a finished seed's curves, keyed by everything that decides them.

Key = the spec's training hash (architecture + recipe) + the code version (a
hash of the modules that train) + the environment (torch, device, threads)
+ the run shape (epochs/subset overrides) + the seed. An unchanged claim is
therefore never retrained; `--no-cache` forces a fresh run. The cache lives
outside the repository (`AUDIT_CACHE_DIR`, default ~/.cache/mnist-readme-audit),
with the per-epoch checkpoints of runs in progress beside it.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path

from filelock import FileLock

from harness.results import SeedCurve

# Modules whose code decides a training result.
TRAINING_MODULES = ("augment", "data", "engine", "layers", "model", "recipe", "schema", "stacked")


@lru_cache(maxsize=1)
def code_version() -> str:
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in TRAINING_MODULES:
        digest.update((root / f"{name}.py").read_bytes())
    return digest.hexdigest()[:12]


def default_cache_dir() -> Path:
    env = os.environ.get("AUDIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "mnist-readme-audit"


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class ResultsCache:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()

    def key(self, training_hash: str, env_key: dict, shape: dict, seed: int) -> str:
        blob = json.dumps({"spec": training_hash, "code": code_version(), "env": env_key, "shape": shape,
                           "seed": seed}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def _path(self, file_id: str, key: str) -> Path:
        return self.root / "runs" / file_id / f"{key}.json"

    def get(self, file_id: str, key: str) -> SeedCurve | None:
        path = self._path(file_id, key)
        try:
            return SeedCurve.from_json(json.loads(path.read_text(encoding="utf-8"))["curve"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged entry is a miss; the fresh result replaces it

    def put(self, file_id: str, key: str, curve: SeedCurve, meta: dict) -> None:
        atomic_write_text(self._path(file_id, key), json.dumps({"meta": meta, "curve": curve.to_json()}))

    def lock(self, file_id: str) -> FileLock:
        """One trainer per spec across processes (xdist workers, parallel jobs)."""
        path = self.root / "locks" / f"{file_id}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path))

    def checkpoint_path(self, file_id: str, keys: list[str]) -> Path:
        group = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        return self.root / "checkpoints" / f"{file_id}-{group}.pt"
