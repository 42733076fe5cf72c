"""results/summary.json (per README and per claim: verdict, n, interval) and the diff of two summaries.

A nightly job runs `python -m harness report --against OLD_RESULTS_DIR`: every claim and lesson whose
verdict, n (seeds, or paired seeds for a lesson) or interval changed is printed and gets a section in both
pages. The older side is OLD_RESULTS_DIR/summary.json when it has one, else its records judged now.
Intervals are compared at 2 decimals, the precision the report prints.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.cache import atomic_write_text
from harness.report_format import interval

FORMAT = 1


def _n(row: dict) -> int:
    extra = row.get("extra") or {}
    if "common_seeds" in extra:
        return len(extra.get("common_seeds") or [])
    return len(row.get("values") or [])


def _interval(row: dict) -> list[float] | None:
    band = row.get("band")
    return [round(float(v), 2) for v in band] if band else None


def summary(by_source) -> dict:
    """What a machine needs to follow verdicts night by night."""
    from harness.report import counts, group_of

    readmes = {}
    for slug in sorted(by_source):
        items = by_source[slug]
        claims = {}
        for item in items:
            for r in item.rows:
                key = f"{item.spec.id}/{r['claim_id']}"
                key += f" ({r['run']})" if key in claims else ""  # a second device kind's record of one claim
                claims[key] = {"group": group_of(r), "verdict": r["verdict"], "n": _n(r), "interval": _interval(r)}
        readmes[slug] = {"counts": {g: dict(sorted(c.items())) for g, c in counts(items).items()}, "claims": claims}
    return {"format": FORMAT, "readmes": readmes}


def write_summary(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_summary(path: Path) -> dict:
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("readmes"), dict):
        raise ValueError(f"{path}: not a summary.json of format {FORMAT} (field `format` or `readmes`)")
    return data


def _flat(data: dict) -> dict[str, dict]:
    return {key: row for slug in data["readmes"].values() for key, row in slug["claims"].items()}


def diff(old: dict, new: dict) -> list[tuple[str, dict | None, dict | None]]:
    """(claim key, old entry, new entry) for every claim or lesson whose verdict, n or interval differs,
    added or removed; in key order."""
    before, after = _flat(old), _flat(new)
    out = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None or b is None or any(a.get(f) != b.get(f) for f in ("verdict", "n", "interval")):
            out.append((key, a, b))
    return out


def _entry(e: dict) -> str:
    return f"{e['verdict']} (n={e['n']}, interval {interval(e.get('interval'))})"


def render_diff(changes) -> list[str]:
    """One line per change, for the terminal and the report's section."""
    lines = []
    for key, a, b in changes:
        if a is None:
            lines.append(f"{key}: new, {_entry(b)}")
        elif b is None:
            lines.append(f"{key}: gone (was {_entry(a)})")
        else:
            lines.append(f"{key}: {_entry(a)} -> {_entry(b)}")
    return lines

