"""Run records: one JSON file per spec and device kind under results/records/.

A record holds what a later reader needs to trust or diff a verdict: spec id,
git commit (and the tracked code or spec files edited beyond it), spec and
training hashes, environment (torch, device, CUDA/cuDNN, determinism flags),
seeds, per-epoch curves, per-claim values and verdicts, and wall time. Records
are written atomically (temporary file + rename), so parallel workers never
leave half a file, and each spec has its own file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from harness.cache import TRAINING_SEMANTICS, atomic_write_text
from harness.claims import ClaimResult
from harness.gitinfo import changed_files, head_commit
from harness.results import SpecRun
from harness.specs import LoadedSpec

FORMAT = 1


def build_record(loaded: LoadedSpec, run: SpecRun, results: list[ClaimResult], parameters: int) -> dict:
    spec = loaded.spec
    return {
        "format": FORMAT,
        "spec": loaded.id,
        "title": spec.title,
        "source": {"file": spec.source.file, "section": spec.source.section},
        "spec_hash": loaded.spec_hash,
        "training_hash": loaded.training_hash,
        "semantics_version": TRAINING_SEMANTICS,
        "git_commit": head_commit(),  # the project's, read without running git
        "git_changed": changed_files(),  # code or specs edited since staged: the commit alone does not say what ran
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "environment": run.environment,
        "device_kind": run.environment["device"].split(":")[0],
        "seeds": run.seeds,
        "epochs": run.epochs,
        "options": run.options,
        "outcome": run.outcome,
        "error": run.error,
        "error_trace": run.error_trace,
        "train_seconds": round(run.train_seconds, 3),
        "from_cache": run.from_cache,
        "stacks": run.stacks,
        "trained_with": run.trained_with,
        "parameters": parameters,
        "fidelity": {k: v.level for k, v in spec.fidelity.items()},
        "findings": [f.model_dump(mode="json", exclude_none=True) for f in spec.findings],
        "curves": [c.to_json() for c in run.curves],
        "claims": [r.to_json() for r in results],
    }


def record_path(results_dir: Path, loaded: LoadedSpec, device_kind: str) -> Path:
    return Path(results_dir) / "records" / f"{loaded.file_id}.{device_kind}.json"


# What training measured: a rerun that trained nothing and holds the same of these changes nothing worth a write
MEASURED = ("training_hash", "semantics_version", "seeds", "epochs", "outcome", "error", "curves")


def same_substance(old: dict | None, new: dict) -> bool:
    """A rerun that trained nothing and measured the same: the record stays byte for byte. Its claims, spec
    hash, fidelity and findings may be newer (an `expect:` edit), but every reader judges records afresh
    from the spec (harness.verdicts), so rewriting would only churn `created`, `git_commit` and the
    environment of a committed file."""
    from harness.verdicts import scope_of

    if old is None or any(how.get("source") == "trained" for how in new.get("trained_with") or []):
        return False
    def text(record):  # as JSON text: NaN (a diverged seed's loss) equals itself there
        measured = {k: record.get(k) for k in MEASURED}
        return json.dumps({**measured, "scope": scope_of(record.get("options") or {})}, allow_nan=True, sort_keys=True)

    return text(old) == text(new)


def uncovered(old: dict | None, new: dict) -> str | None:
    """Why `new` may not replace `old` (None: it may). A run replaces a record only where it covers it: the
    same training, the same scope (full data or the same subset, epochs, batch size) and every seed the
    record holds. A stale or failed record is always replaced; a subset run never replaces a full one."""
    from harness.verdicts import scope_of

    if old is None or old.get("outcome") != "ok":
        return None
    if (old.get("training_hash"), old.get("semantics_version")) != (new.get("training_hash"),
                                                                    new.get("semantics_version")):
        return None
    old_scope, new_scope = scope_of(old.get("options") or {}), scope_of(new.get("options") or {})
    if old_scope != new_scope:
        what = "full" if not any(old_scope) else "differently scoped"
        return f"it holds a {what} run and this one is scoped {_scope_text(new.get('options') or {})}"
    missing = sorted(set(old.get("seeds", [])) - set(new.get("seeds", [])))
    if missing:
        return f"it holds seeds {missing} that this run does not"
    return None


def _scope_text(options: dict) -> str:
    from harness.verdicts import SCOPE

    return ", ".join(f"{k}={options[k]}" for k in SCOPE if options.get(k) is not None) or "as the full run"


class RecordKept(RuntimeError):
    """A run that does not cover the record in place: the record stays, the message says why and what to do."""


class RecordKeptWarning(UserWarning):
    """RecordKept's message where a run goes on (pytest lists it in its warnings summary)."""


def write_record(results_dir: Path, loaded: LoadedSpec, record: dict) -> Path:
    """Atomically; an existing record of the same substance is left untouched, and one this run does not
    cover (`uncovered`) is kept: RecordKept, whose message names the file, why, and where to write instead."""
    path = record_path(results_dir, loaded, record["device_kind"])
    old = read_record(path)
    why = uncovered(old, record)
    if why:
        raise RecordKept(f"{path} kept: {why}; pass --results DIR to record this run elsewhere")
    if not same_substance(old, record):
        save_record(path, record)
    return path


def save_record(path: Path, record: dict) -> None:
    """A record as its file holds it (atomically); keys a reader added (`_path`) are not written."""
    atomic_write_text(path, json.dumps({k: v for k, v in record.items() if not k.startswith("_")}, indent=1,
                                       allow_nan=True) + "\n")


def read_record(path: Path) -> dict | None:
    """One record, or None when absent, unreadable or of another format."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def load_records(results_dir: Path) -> list[dict]:
    """Every readable record; unreadable files are reported, not fatal."""
    records = []
    for path in sorted((Path(results_dir) / "records").glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"skipping unreadable record {path}: {exc}")
            continue
        if isinstance(data, dict) and data.get("format") == FORMAT:
            data["_path"] = str(path)
            records.append(data)
    return records
