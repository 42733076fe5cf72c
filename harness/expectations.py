"""Keep the specs' expected verdicts in step with measured reality.

`python -m harness expect` judges every spec's newest full run (no subset,
outcome ok, trained with the spec's current training hash) under the current
rules (harness/verdicts.py; stored verdicts are ignored) and lists every claim
whose verdict differs from the one its spec records;
`--write` rewrites those `expect:` values in the spec files, touching nothing
else (the line of each claim's `expect` key is found from the YAML itself).
Review the diff before committing: a changed verdict is a finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.cache import atomic_write_text
from harness.records import load_records
from harness.specs import LoadedSpec, load_all, read_yaml
from harness.verdict import Verdict
from harness.verdicts import STALE, Judge, is_full_run, is_stale


@dataclass
class Change:
    spec: LoadedSpec
    claim_index: int
    claim_id: str
    recorded: str
    measured: Verdict
    evidence: str


def full_runs(records: list[dict], device_kind: str | None = None) -> dict[str, dict]:
    """spec id -> newest record of a complete, full-data run (optionally of one device kind)."""
    best: dict[str, dict] = {}
    for r in records:
        if not is_full_run(r) or (device_kind and r.get("device_kind") != device_kind):
            continue
        if r["spec"] not in best or r.get("created", "") > best[r["spec"]].get("created", ""):
            best[r["spec"]] = r
    return best


def changes(results_dir: Path, specs_root=None, device_kind: str | None = None) -> list[Change]:
    specs, _ = load_all(specs_root)
    records = load_records(results_dir)
    judge = Judge.from_records(specs, records)
    by_id = {s.id: s for s in specs}
    runs = full_runs([r for r in records if r["spec"] in by_id and not is_stale(r, by_id[r["spec"]])], device_kind)
    out = []
    for spec in specs:
        record = runs.get(spec.id)
        if record is None:
            continue
        results = judge.judge_record(spec, record)
        if results == STALE:
            continue
        measured = {r.claim_id: r for r in results}
        for i, claim in enumerate(spec.spec.claims):
            m = measured.get(claim.claim_id)
            if m is None or not m.verdict.measured or m.verdict == claim.expect:
                continue
            evidence = (f"{record['device_kind']}, seeds {record['seeds']}, {record.get('created', '?')[:10]}: "
                        f"measured {m.measured}; {m.rule}")
            out.append(Change(spec, i, claim.claim_id, claim.expect, m.verdict, evidence))
    return out


def write(changes_: list[Change]) -> list[Path]:
    """Rewrite the `expect:` value of each changed claim in its spec file."""
    by_file: dict[Path, list[Change]] = {}
    for c in changes_:
        by_file.setdefault(c.spec.path, []).append(c)
    for path, items in by_file.items():
        _, lines = read_yaml(path)
        text = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for c in items:
            line = lines.get(("claims", c.claim_index, "expect"))
            if line is None:
                raise ValueError(f"{path}: claims[{c.claim_index}] has no `expect` key of its own")
            new, n = re.subn(r"(expect:\s*)[a-z][a-z-]*", rf"\g<1>{c.measured}", text[line - 1], count=1)
            if n != 1:
                raise ValueError(f"{path}:{line}: cannot find the `expect:` value to change")
            text[line - 1] = new
        atomic_write_text(path, "".join(text))
    return list(by_file)
