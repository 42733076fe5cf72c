"""results/REPORT.md and results/report.html from the run records (no retraining).

Every spec appears: its parameter claims are judged from the spec itself, its
trained claims from the newest record of each device kind, or "not run".
The HTML page draws each run's test-accuracy curves across seeds against the
claimed points and bands (matplotlib, static PNGs in results/plots/). Every
string that comes from a spec or record is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from pathlib import Path

from harness.cache import atomic_write_text
from harness.claims import band_text, judge_parameters, measured_text
from harness.model import build_model, count_parameters
from harness.records import load_records
from harness.specs import LoadedSpec, SpecError, load_all

VERDICT_RULE = ("reproduced: the mean over seeds lies in the band; refuted: it lies outside the band by more "
                "than the seeds' standard deviation; inconclusive: outside, but within one standard deviation")


def _fidelity_summary(spec: LoadedSpec) -> str:
    levels = defaultdict(int)
    for key, f in spec.spec.fidelity.items():
        if key != "architecture":
            levels[f.level[0].upper()] += 1
    arch = spec.spec.fidelity["architecture"].level
    recipe = "/".join(f"{n}{lvl}" for lvl, n in sorted(levels.items()))
    return f"arch {arch}; details {recipe}"


def _newest_records(records: list[dict]) -> dict[str, list[dict]]:
    """spec id -> newest record per device kind."""
    best: dict[tuple[str, str], dict] = {}
    for r in records:
        key = (r["spec"], r.get("device_kind", "?"))
        if key not in best or r.get("created", "") > best[key].get("created", ""):
            best[key] = r
    out: dict[str, list[dict]] = defaultdict(list)
    for (spec_id, _), r in sorted(best.items()):
        out[spec_id].append(r)
    return out


def _rows(spec: LoadedSpec, records: list[dict]) -> list[dict]:
    params = count_parameters(build_model(spec.spec.architecture))[0]
    rows = []
    for claim in spec.spec.claims:
        if claim.kind == "parameters":
            rows.append({**judge_parameters(claim, params).to_json(), "run": "spec"})
    for record in records:
        label = f"{record['device_kind']}, {len(record['seeds'])} seeds"
        if record.get("options", {}).get("train_limit"):
            label += f", subset of {record['options']['train_limit']}"
        if record.get("outcome", "ok") != "ok":
            label += f", {record['outcome']}"
        for c in record["claims"]:
            if c["kind"] != "parameters":
                rows.append({**c, "run": label})
    judged = {r["claim_id"] for r in rows}
    for claim in spec.spec.claims:
        if claim.claim_id not in judged:
            rows.append({"claim_id": claim.claim_id, "kind": claim.kind, "claimed": _claimed(claim), "band": None,
                         "mean": None, "verdict": "unverifiable" if claim.kind == "qualitative" else "not run",
                         "expected": claim.expect, "run": "-",
                         "detail": getattr(claim, "reason", "") or ""})
    return rows


def _claimed(claim) -> str:
    from harness.claims import claimed_text

    return claimed_text(claim)


def build_tables(specs_root=None, results_dir: Path = Path("results")):
    specs, errors = load_all(specs_root)
    by_spec = _newest_records(load_records(results_dir))
    by_source: dict[str, list[tuple[LoadedSpec, list[dict], list[dict]]]] = defaultdict(list)
    for s in specs:
        by_source[s.slug].append((s, _rows(s, by_spec.get(s.id, [])), by_spec.get(s.id, [])))
    return by_source, errors, by_spec


def _natural(name: str):
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# --------------------------------------------------------------------------- markdown

def render_markdown(by_source, errors, by_spec) -> str:
    machines = sorted({f"{r['environment'].get('device_name', '?')} ({r['device_kind']}, torch "
                       f"{r['environment'].get('torch', '?')}, {r['environment'].get('cpu_count', '?')} CPUs)"
                       for rs in by_spec.values() for r in rs})
    lines = ["# Audit report", "",
             f"Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from "
             f"{sum(len(v) for v in by_spec.values())} run records in `results/records/`.",
             "Runs on: " + ("; ".join(machines) if machines else "no runs yet") + ".", "",
             f"Verdict rule: {VERDICT_RULE}. Parameter counts are exact (within 1% where the README writes '~'). "
             "`expected` is the verdict the spec records; a mismatch fails the test suite.", ""]
    totals = defaultdict(int)
    for slug in sorted(by_source):
        items = sorted(by_source[slug], key=lambda t: _natural(t[0].name))
        first = items[0][0]
        info = first.source_info
        lines += [f"## {slug}: {info.title if info else first.spec.source.file}", "",
                  f"README `{first.spec.source.file}`" + (f"; constraint: {info.constraint}" if info else ""), "",
                  "| iteration | claim | claimed | band | measured | verdict | expected | run | fidelity |",
                  "|---|---|---|---|---|---|---|---|---|"]
        findings = []
        for spec, rows, _ in items:
            fid = _fidelity_summary(spec)
            for r in rows:
                totals[r["verdict"]] += 1
                mark = "" if r["verdict"] in (r["expected"], "not run") else " **(changed)**"
                claimed = str(r["claimed"]).replace("|", "/")
                lines.append(f"| {spec.name} | {r['claim_id']} | {claimed} | {band_text(r.get('band'))} | "
                             f"{measured_text(r, with_n=True)} | {r['verdict']}{mark} | {r['expected']} | "
                             f"{r['run']} | {fid} |")
            findings += [(spec.name, f) for f in spec.spec.findings]
        if findings:
            lines += ["", "Findings:", ""]
            for name, f in findings:
                extra = f" With the stated change the count is {f.parameters:,}." if f.parameters else ""
                lines.append(f"- **{name}** ({f.kind.replace('_', ' ')}): {f.summary}.{extra} *Where:* {f.where}")
        lines.append("")
    lines += ["## Totals", "", ", ".join(f"{n} {v}" for v, n in sorted(totals.items())), ""]
    if errors:
        lines += ["## Specs that failed to load", ""] + [f"- `{e}`" for e in errors] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots and html

def plot_record(record: dict, spec: LoadedSpec | None, out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = [c for c in record["curves"] if c.get("test_accuracy")]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=90)
    epochs = record["epochs"]
    for c in curves:
        xs = list(range(1, len(c["test_accuracy"]) + 1))
        ax.plot(xs, c["test_accuracy"], marker=".", lw=1, label=f"seed {c['seed']} ({c['outcome']})")
    low = min(min(c["test_accuracy"]) for c in curves)
    for claim in record["claims"]:
        band, kind = claim.get("band"), claim["kind"]
        if kind == "first_epoch_reaching":
            low = min(low, _draw_first_epoch(ax, claim, spec, epochs))
            continue
        if not band or kind == "parameters":
            continue
        at = _claim_epochs(claim, spec, epochs)
        lo, hi = band
        ax.fill_between([at[0] - 0.3, at[-1] + 0.3], lo, hi, alpha=0.18, color="tab:red", lw=0)
        ax.text(at[-1] + 0.35, hi, claim["claim_id"], fontsize=6, color="tab:red", va="bottom")
        low = min(low, lo)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(max(0.0, low - 1.0), 100.2)
    ax.set_xlim(0.5, epochs + 1.5)
    ax.set_title(f"{record['spec']} ({record['device_kind']}, {len(curves)} seeds)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="lower right")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def _draw_first_epoch(ax, claim: dict, spec: LoadedSpec | None, epochs: int) -> float:
    """'X% by epoch N': the threshold as a dotted line from the band's first epoch on, a marker at N.
    Returns the threshold (the y axis must reach it), or 100 when there is nothing to draw."""
    found = next((c for c in spec.spec.claims if c.claim_id == claim["claim_id"]), None) if spec else None
    if found is None or not claim.get("band"):
        return 100.0
    lo, hi = claim["band"]
    ax.hlines(found.threshold, max(lo, 0.5), epochs + 0.5, colors="tab:purple", linestyles=":", lw=0.8)
    if found.value is not None:
        ax.plot([found.value], [found.threshold], marker="v", color="tab:purple", ms=5)
    ax.text(epochs + 0.35, found.threshold, claim["claim_id"], fontsize=6, color="tab:purple", va="top")
    return found.threshold


def _claim_epochs(claim: dict, spec: LoadedSpec | None, epochs: int) -> list[int]:
    found = None
    if spec is not None:
        found = next((c for c in spec.spec.claims if c.claim_id == claim["claim_id"]), None)
    kind = claim["kind"]
    if kind == "test_accuracy_peak":
        return [1, epochs]
    if kind in ("test_accuracy_at_epoch", "train_accuracy_at_epoch") and found is not None:
        return [found.epoch]
    if kind == "test_accuracy_mean_last" and found is not None:
        return [epochs - found.epochs + 1, epochs]
    if kind == "test_accuracy_min_from" and found is not None:
        return [found.epoch, epochs]
    return [epochs]


def render_html(by_source, errors, by_spec, results_dir: Path) -> str:
    esc = html.escape
    specs_by_id = {s.id: s for items in by_source.values() for s, _, _ in items}
    parts = ["<!doctype html><meta charset='utf-8'><title>MNIST README audit</title>",
             "<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
             "margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}"
             ".reproduced{background:#e6f4ea}.refuted{background:#fde8e8}.inconclusive{background:#fff4d6}"
             ".changed{font-weight:bold;color:#b00}img{max-width:100%}</style>",
             "<h1>MNIST README audit</h1>", f"<p>{esc(VERDICT_RULE)}.</p>"]
    for slug in sorted(by_source):
        items = sorted(by_source[slug], key=lambda t: _natural(t[0].name))
        info = items[0][0].source_info
        parts.append(f"<h2>{esc(slug)}: {esc(info.title if info else '')}</h2>")
        for spec, rows, records in items:
            parts.append(f"<h3>{esc(spec.id)}: {esc(spec.spec.title)}</h3><table><tr><th>claim</th><th>claimed</th>"
                         "<th>band</th><th>measured</th><th>verdict</th><th>expected</th><th>run</th></tr>")
            for r in rows:
                changed = r["verdict"] not in (r["expected"], "not run")
                cls = esc(r["verdict"].replace(" ", "-")) + (" changed" if changed else "")
                parts.append(f"<tr class='{cls}'><td>{esc(str(r['claim_id']))}</td><td>{esc(str(r['claimed']))}</td>"
                             f"<td>{esc(band_text(r.get('band')))}</td><td>{esc(measured_text(r, with_n=True))}</td>"
                             f"<td>{esc(r['verdict'])}</td><td>{esc(str(r['expected']))}</td><td>{esc(r['run'])}</td></tr>")
            parts.append("</table>")
            for f in spec.spec.findings:
                parts.append(f"<p><b>finding {esc(f.id)}</b> ({esc(f.kind)}): {esc(f.summary)}</p>")
            for record in records:
                png = plot_record(record, specs_by_id.get(record["spec"]),
                                  results_dir / "plots" / f"{spec.file_id}.{record['device_kind']}.png")
                if png is not None:
                    parts.append(f"<img src='plots/{esc(png.name)}' alt='{esc(spec.id)} curves'>")
    if errors:
        parts.append("<h2>Specs that failed to load</h2><pre>" + esc("\n".join(map(str, errors))) + "</pre>")
    return "\n".join(parts)


def write_report(results_dir: Path | str = Path("results"), specs_root=None, html_too: bool = True) -> list[Path]:
    results_dir = Path(results_dir)
    by_source, errors, by_spec = build_tables(specs_root, results_dir)
    written = [results_dir / "REPORT.md"]
    atomic_write_text(written[0], render_markdown(by_source, errors, by_spec))
    if html_too:
        written.append(results_dir / "report.html")
        atomic_write_text(written[1], render_html(by_source, errors, by_spec, results_dir))
    return written


__all__ = ["write_report", "SpecError"]
