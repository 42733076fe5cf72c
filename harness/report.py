"""results/REPORT.md and results/report.html: every record judged afresh against the current specs.

Every spec appears: its untrained claims (parameter counts from the shape plan)
are judged from the spec itself, its trained claims from the newest record of
each device kind, judged now with the current rules (harness/verdicts.py), or
"not run"; a record whose training hash no longer matches its spec is listed as
stale, not judged. Per README, a story table and a forest plot show the
comparisons. Per record, a plot shows the seeds' envelope (min-max and mean),
the README's logged points and claimed figures (harness/claims.py says what
each claim draws) and a train panel when train claims exist.

Spec and record strings are untrusted: escaped for Markdown (no raw HTML, no
broken table rows), HTML (html.escape) and matplotlib (no mathtext).
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.cache import atomic_write, atomic_write_text
from harness.claims import ClaimResult, Evidence, Mark, band_text, is_comparison, judge_all
from harness.records import load_records
from harness.specs import LoadedSpec, SpecError, load_all
from harness.stats import MAX_PROJECTED_SEEDS
from harness.verdicts import STALE, Judge, newest_records, planned_parameters, structure_of

VERDICT_RULE = ("a single reported figure is reproduced inside the 95% prediction interval of one new run "
                "(m ± t·σ·√(1+1/n), σ = max(seeds' sd, the README's pooled sd, half the binomial sd), widened by "
                "0.01 pp), refuted outside the 99% interval (never with fewer than 3 seeds); a target on the share "
                "of seeds meeting it; 'first epoch reaching X' against the seeds' range; a comparison on the 95% "
                "paired-t interval of the per-seed differences. Rules and sources: README.md, 'Verdicts'")
SEEDS_NOTE = ("Seeds to decide: the paired seeds at which the 95% interval would clear zero (or `by`) if the measured "
              "difference and sd held. A projection for deciding whether more seeds are worth training, not a "
              "prediction: the measured difference is itself uncertain (README.md, 'Verdicts').")


# --------------------------------------------------------------------------- escaping

def md(text) -> str:
    """A table cell from an untrusted string: no raw HTML, no row break, no column break."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;")  # no tag or entity can start
    text = re.sub(r"[\r\n\t]+", " ", text)
    return text.replace("|", "\\|").replace("`", "\\`")


def plain(text) -> str:
    """A matplotlib label from an untrusted string (drawn with mathtext off; control characters dropped)."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(text))


# --------------------------------------------------------------------------- judging every record now

@dataclass
class SpecReport:
    spec: LoadedSpec
    rows: list[dict]
    records: list[dict]
    results: dict[str, list[ClaimResult]] = field(default_factory=dict)  # record path -> judged claims


def _record_label(record: dict) -> str:
    label = f"{record.get('device_kind', '?')}, {len(record.get('seeds', []))} seeds"
    if record.get("options", {}).get("train_limit"):
        label += f", subset of {record['options']['train_limit']}"
    if record.get("outcome", "ok") != "ok":
        label += f", {record['outcome']}"
    if record.get("git_changed"):  # written from a tree with uncommitted code or spec edits
        label += ", uncommitted code"
    return label


def _spec_report(spec: LoadedSpec, records: list[dict], judge: Judge) -> SpecReport:
    untrained = [c for c in spec.spec.claims if not c.trained]
    evidence = Evidence(spec.id, None, spec.spec.recipe.epochs, planned_parameters(spec), **structure_of(spec))
    rows = [{**r.to_json(), "run": "spec"} for r in judge_all(untrained, evidence)]
    report = SpecReport(spec, rows, records)
    trained = {c.claim_id for c in spec.spec.claims if c.trained}
    judged_ids = {r["claim_id"] for r in rows}
    for record in records:
        results = judge.judge_record(spec, record)
        if results == STALE:
            rows.append({"claim_id": "(all trained claims)", "kind": "-", "claimed": "-", "band": None,
                         "measured": f"not judged: trained with training hash {record.get('training_hash')}, the "
                                     f"spec's is now {spec.training_hash}; re-run it",
                         "verdict": "stale", "expected": "-", "run": _record_label(record), "detail": "", "rule": ""})
            continue
        report.results[record.get("_path", "")] = results
        rows += [{**r.to_json(), "run": _record_label(record)} for r in results if r.claim_id in trained]
        judged_ids |= {r.claim_id for r in results}
    for claim in spec.spec.claims:
        if claim.claim_id not in judged_ids:
            rows.append({**claim.not_run().to_json(), "run": "-"})
    return report


def build_tables(specs_root=None, results_dir: Path = Path("results")):
    specs, errors = load_all(specs_root)
    records = load_records(results_dir)
    judge = Judge.from_records(specs, records)
    by_spec = newest_records(records)
    by_source: dict[str, list[SpecReport]] = defaultdict(list)
    for s in specs:
        by_source[s.slug].append(_spec_report(s, by_spec.get(s.id, []), judge))
    for slug in by_source:
        by_source[slug].sort(key=lambda r: _natural(r.spec.name))
    return by_source, errors, by_spec


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _changed(row: dict) -> bool:
    return row["verdict"] not in (row["expected"], "not run", "not judged", "stale", "-")


def _comparisons(items: list[SpecReport]) -> list[tuple[SpecReport, dict]]:
    return [(item, r) for item in items for r in item.rows if is_comparison(r)]


def _difference_text(row: dict) -> str:
    extra = row.get("extra") or {}
    if extra.get("difference") is None:
        return row.get("measured", "-")
    ci = extra.get("ci")
    span = f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""
    same = " (identical runs)" if extra.get("identical_runs") else ""
    return f"{extra['difference']:+.2f}{span}{same}"


def _seeds_text(row: dict) -> str:
    """Paired seeds that would decide an undecided lesson if its measured difference and sd held."""
    extra = row.get("extra") or {}
    if row.get("verdict") != "inconclusive" or not extra.get("ci") or extra.get("identical_runs"):
        return "-"
    if extra["ci"][0] == extra["ci"][1]:  # every pair the same difference, exactly `by`: more of them never decide
        return "never (every pair tied)"
    needed = extra.get("seeds_to_decide")
    return f"~{needed:,}" if needed else f"> {MAX_PROJECTED_SEEDS:,}"


def _readme_text(row: dict) -> str:
    readme = (row.get("extra") or {}).get("readme")
    if not readme:
        return "-"
    return f"{readme[0]:g} -> {readme[1]:g} ({readme[1] - readme[0]:+.2f})"


# --------------------------------------------------------------------------- markdown

def render_markdown(by_source, errors, by_spec, plots: dict[str, str] | None = None) -> str:
    plots = plots or {}
    machines = sorted({f"{r['environment'].get('device_name', '?')} ({r.get('device_kind', '?')}, torch "
                       f"{r['environment'].get('torch', '?')}, {r['environment'].get('cpu_count', '?')} CPUs)"
                       for rs in by_spec.values() for r in rs})
    lines = ["# Audit report", "",
             f"Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from "
             f"{sum(len(v) for v in by_spec.values())} run records in `results/records/`, every one judged now "
             "against the current specs and rules.",
             "Runs on: " + (md("; ".join(machines)) if machines else "no runs yet") + ".", "",
             f"Verdict rules: {md(VERDICT_RULE)}. `expected` is the verdict the spec records; a mismatch fails the "
             "test suite.", ""]
    lines += _story_tally(by_source)
    totals: dict[str, int] = defaultdict(int)
    for slug in sorted(by_source):
        items = by_source[slug]
        info = items[0].spec.source_info
        lines += [f"## {md(slug)}: {md(info.title if info else items[0].spec.spec.source.file)}", "",
                  f"README `{md(items[0].spec.spec.source.file)}`" + (f"; constraint: {md(info.constraint)}"
                                                                      if info else ""), "",
                  "| iteration | claim | claimed | measured | accepted | verdict | expected | run | fidelity |",
                  "|---|---|---|---|---|---|---|---|---|"]
        findings = []
        for item in items:
            fid = _fidelity_summary(item.spec)
            for r in item.rows:
                totals[r["verdict"]] += 1
                mark = " **(changed)**" if _changed(r) else ""
                lines.append(f"| {md(item.spec.name)} | {md(r['claim_id'])} | {md(r['claimed'])} | "
                             f"{md(r.get('measured', '-'))} | {md(band_text(r.get('band')))} | {md(r['verdict'])}{mark} | "
                             f"{md(r['expected'])} | {md(r['run'])} | {md(fid)} |")
            findings += [(item.spec.name, f) for f in item.spec.spec.findings]
        stories = _comparisons(items)
        if stories:
            lines += ["", "Story (comparisons between iterations, paired on common seeds):", "",
                      "| change | README | measured difference [95% CI] | n | seeds to decide | verdict | expected |",
                      "|---|---|---|---|---|---|---|"]
            for item, r in stories:
                extra = r.get("extra") or {}
                change = f"{item.spec.name} vs {extra.get('other', '?').split('/')[-1]}: {extra.get('statement', '')}"
                n = len(extra.get("common_seeds") or [])
                mark = " **(changed)**" if _changed(r) else ""
                lines.append(f"| {md(change)} | {md(_readme_text(r))} | {md(_difference_text(r))} | {n} | "
                             f"{_seeds_text(r)} | {md(r['verdict'])}{mark} | {md(r['expected'])} |")
            if any(_seeds_text(r) != "-" for _, r in stories):
                lines += ["", SEEDS_NOTE]
            if slug in plots:
                lines += ["", f"![comparisons of {md(slug)}]({plots[slug]})"]
        if findings:
            lines += ["", "Findings:", ""]
            for name, f in findings:
                extra = f" With the stated change the count is {f.parameters:,}." if f.parameters else ""
                lines.append(f"- **{md(name)}** ({md(f.kind.replace('_', ' '))}): {md(f.summary)}.{extra} "
                             f"*Where:* {md(f.where)}")
        lines.append("")
    lines += ["## Totals", "", ", ".join(f"{n} {v}" for v, n in sorted(totals.items())), ""]
    if errors:
        lines += ["## Specs that failed to load", ""] + [f"- {md(e)}" for e in errors] + [""]
    return "\n".join(lines)


STORY_VERDICTS = ("supported", "contradicted", "inconclusive")


def _story_tally(by_source) -> list[str]:
    """Per README: how many of its lessons each verdict got, with the n they rest on."""
    rows = []
    for slug in sorted(by_source):
        stories = _comparisons(by_source[slug])
        if not stories:
            continue
        counts = defaultdict(int)
        for _, r in stories:
            counts[r["verdict"] if r["verdict"] in STORY_VERDICTS else "not judged"] += 1
        ns = [len((r.get("extra") or {}).get("common_seeds") or []) for _, r in stories]
        judged = [n for n in ns if n]
        span = (f"{min(judged)}" if min(judged) == max(judged) else f"{min(judged)}-{max(judged)}") if judged else "-"
        rows.append(f"| {md(slug)} | {len(stories)} | " + " | ".join(str(counts[v]) for v in STORY_VERDICTS)
                    + f" | {counts['not judged']} | {span} |")
    if not rows:
        return []
    return ["## Stories", "", "Each README's lessons (comparison claims), judged on paired seeds:", "",
            "| README | lessons | supported | contradicted | inconclusive | not judged | n (paired seeds) |",
            "|---|---|---|---|---|---|---|", *rows, ""]


def _fidelity_summary(spec: LoadedSpec) -> str:
    levels: dict[str, int] = defaultdict(int)
    for key, f in spec.spec.fidelity.items():
        if key != "architecture":
            levels[f.level] += 1
    arch = spec.spec.fidelity["architecture"].level
    short = {"documented": "D", "documented_in_code": "C", "reconstructed": "R", "unknown": "U"}
    recipe = "/".join(f"{n}{short.get(lvl, '?')}" for lvl, n in sorted(levels.items()))
    return f"arch {arch}; details {recipe}"


# --------------------------------------------------------------------------- plots

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


NO_MATHTEXT = {"text.parse_math": False, "text.usetex": False}


def plot_record(record: dict, spec: LoadedSpec | None, out: Path) -> Path | None:
    """The seeds' envelope per panel (test; train when a claim is about training), the claims' marks, a legend
    beside the axes (labels never overlap the curves or each other)."""
    curves = [c for c in record.get("curves", []) if c.get("test_accuracy")]
    if not curves:
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = int(record.get("epochs") or max(len(c["test_accuracy"]) for c in curves))
    marks: list[Mark] = [m for c in (spec.spec.claims if spec else []) for m in c.marks(epochs)]
    panels = ["test"] + [p for p in PANELS if p != "test" and any(m.panel == p for m in marks)]
    with plt.rc_context(NO_MATHTEXT):
        fig, axes = plt.subplots(len(panels), 1, figsize=(8.2, 3.3 * len(panels)), dpi=90, squeeze=False)
        for ax, panel in zip(axes[:, 0], panels):
            series, ylabel, bounds = PANELS[panel]
            ys = _envelope(ax, [series(c) for c in curves])
            zoom = []
            for i, m in enumerate(m for m in marks if m.panel == panel):
                zoom += _draw_mark(ax, m, i, epochs)
            low, high = _zoom(zoom, ys, bounds)
            if panel == "gap":
                ax.axhline(0.0, color="grey", lw=0.8)
            ax.set_ylim(low, high)
            ax.set_xlim(0.5, epochs + 0.9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False)
        axes[-1, 0].set_xlabel("epoch")
        axes[0, 0].set_title(plain(f"{record['spec']} ({record.get('device_kind', '?')}, {len(curves)} seeds)"),
                             fontsize=9)
        height = 3.3 * len(panels)  # inches: margins fixed in inches keep the axis labels inside the image
        fig.subplots_adjust(left=0.08, right=0.6, top=1 - 0.3 / height, bottom=0.55 / height, hspace=0.3)
        atomic_write(out, fig.savefig)
        plt.close(fig)
    return out


def _gap(curve: dict) -> list[float]:
    train, test = curve.get("train_accuracy") or [], curve["test_accuracy"]
    return [a - b for a, b in zip(train, test)]


# panel -> (per-epoch series of one seed's curve, y label, y limits)
PANELS = {
    "test": (lambda c: c["test_accuracy"], "test accuracy (%)", (0.0, 100.5)),
    "train": (lambda c: c.get("train_accuracy") or [], "train accuracy (%)", (0.0, 100.5)),
    "gap": (_gap, "train - test (pp)", (-100.5, 100.5)),
}


def _envelope(ax, seeds: list[list[float]]) -> list[list[float]]:
    """min-max band and mean of the seeds' series at each epoch; returns the per-epoch values."""
    length = min(len(s) for s in seeds)
    per_epoch = [[s[e] for s in seeds if math.isfinite(s[e])] for e in range(length)]
    xs = [e + 1 for e, vals in enumerate(per_epoch) if vals]
    per_epoch = [vals for vals in per_epoch if vals]
    if not xs:
        return []
    ax.fill_between(xs, [min(v) for v in per_epoch], [max(v) for v in per_epoch], color="tab:blue", alpha=0.2,
                    lw=0, label=f"seeds min-max (n={len(seeds)})")
    ax.plot(xs, [sum(v) / len(v) for v in per_epoch], color="tab:blue", lw=1.4, label="seeds mean")
    return per_epoch


COLORS = ["tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]


def _draw_mark(ax, m: Mark, i: int, epochs: int) -> list[float]:
    """Draw one mark; returns the y values the axis should show."""
    color = COLORS[i % len(COLORS)]
    label = plain(m.label)
    if m.style == "point":
        ax.plot(m.xs[:1], m.ys[:1], marker="D", ms=6, ls="none", color=color, label=label)
    elif m.style == "line":
        ax.hlines(m.ys[0], m.xs[0] - 0.3, m.xs[1] + 0.3, colors=color, lw=2, label=label)
    elif m.style == "span":
        lo, hi = m.ys
        ax.fill_between([m.xs[0], m.xs[1]], lo, hi, color=color, alpha=0.12, lw=0, label=label)
        return [y for y in (lo, hi) if abs(y) < 99.99]  # an open-ended band ("at least", "no gap") zooms on its edge
    elif m.style == "threshold":
        ax.hlines(m.ys[0], 0.5, epochs + 0.5, colors=color, linestyles=":", lw=1)
        ax.plot(m.xs[:1], m.ys[:1], marker="v", ms=7, ls="none", color=color, label=label)
    elif m.style == "curve":
        ax.plot(m.xs, m.ys, ls="--", marker="x", ms=4, lw=1, color="black", label=label)
        return list(m.ys[len(m.ys) // 2:])
    return list(m.ys)


def _zoom(claimed: list[float], per_epoch: list[list[float]], bounds: tuple[float, float]) -> tuple[float, float]:
    """Where the claims are: the claimed figures and the seeds over the second half of training."""
    late = [v for vals in per_epoch[len(per_epoch) // 2:] for v in vals]
    ys = [y for y in claimed + late if math.isfinite(y)]
    if not ys:
        return bounds
    low, high = min(ys), max(ys)
    pad = max(0.1, 0.12 * (high - low))
    return max(bounds[0], low - pad), min(bounds[1], high + pad)


def plot_forest(slug: str, stories: list[tuple[SpecReport, dict]], out: Path) -> Path | None:
    """One row per comparison: the measured difference (claimed direction positive) with its 95% CI, a zero
    line, the README's difference as a cross."""
    rows = [(item, r) for item, r in stories if (r.get("extra") or {}).get("difference") is not None]
    if not rows:
        return None
    plt = _pyplot()
    with plt.rc_context(NO_MATHTEXT):
        fig, ax = plt.subplots(figsize=(8.2, 0.45 * len(rows) + 1.2), dpi=90)
        for y, (_item, r) in enumerate(rows):
            extra = r["extra"]
            sign = 1.0 if extra.get("direction") == "higher" else -1.0
            diff = sign * extra["difference"]
            color = {"supported": "tab:green", "contradicted": "tab:red"}.get(r["verdict"], "tab:gray")
            if extra.get("ci"):
                lo, hi = sorted(sign * v for v in extra["ci"])
                ax.hlines(y, lo, hi, colors=color, lw=2)
            ax.plot([diff], [y], "o", color=color)
            if extra.get("readme"):
                before, after = extra["readme"]
                ax.plot([sign * (after - before)], [y], "x", color="black")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([plain(f"{item.spec.name}: {r['claim_id']}") for item, r in rows], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("difference in the claimed direction (o measured, 95% CI; x README)")
        ax.set_title(plain(f"{slug}: comparisons"), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        height = 0.45 * len(rows) + 1.2
        fig.subplots_adjust(left=0.42, right=0.97, bottom=0.65 / height, top=1 - 0.35 / height)
        atomic_write(out, fig.savefig)
        plt.close(fig)
    return out


def draw_plots(by_source, results_dir: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Every record's plot (spec id -> relative paths) and every README's forest plot (slug -> path)."""
    spec_plots: dict[str, list[str]] = defaultdict(list)
    forests: dict[str, str] = {}
    for slug, items in by_source.items():
        for item in items:
            for record in item.records:
                png = plot_record(record, item.spec, results_dir / "plots" /
                                  f"{item.spec.file_id}.{_safe_name(record.get('device_kind', 'x'))}.png")
                if png is not None:
                    spec_plots[item.spec.id].append(f"plots/{png.name}")
        forest = plot_forest(slug, _comparisons(items), results_dir / "plots" / f"{slug}--comparisons.png")
        if forest is not None:
            forests[slug] = f"plots/{forest.name}"
    return spec_plots, forests


def _safe_name(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "_", str(text).lower())


# --------------------------------------------------------------------------- html

def render_html(by_source, errors, spec_plots: dict[str, list[str]], forests: dict[str, str]) -> str:
    esc = html.escape
    parts = ["<!doctype html><meta charset='utf-8'><title>MNIST README audit</title>",
             "<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;"
             "margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px;vertical-align:top}"
             ".reproduced,.supported{background:#e6f4ea}.refuted,.contradicted{background:#fde8e8}"
             ".inconclusive{background:#fff4d6}.stale{background:#eee}"
             ".changed{font-weight:bold;color:#b00}img{max-width:100%}</style>",
             "<h1>MNIST README audit</h1>", f"<p>{esc(VERDICT_RULE)}.</p>"]
    for slug in sorted(by_source):
        items = by_source[slug]
        info = items[0].spec.source_info
        parts.append(f"<h2>{esc(slug)}: {esc(info.title if info else '')}</h2>")
        stories = _comparisons(items)
        if stories:
            parts.append("<h3>Story</h3><table><tr><th>change</th><th>README</th><th>measured difference [95% CI]"
                         "</th><th>n</th><th>seeds to decide</th><th>verdict</th><th>expected</th></tr>")
            for item, r in stories:
                extra = r.get("extra") or {}
                change = f"{item.spec.name} vs {extra.get('other', '?').split('/')[-1]}: {extra.get('statement', '')}"
                parts.append(f"<tr class='{_css(r)}'><td>{esc(change)}</td><td>{esc(_readme_text(r))}</td>"
                             f"<td>{esc(_difference_text(r))}</td><td>{len(extra.get('common_seeds') or [])}</td>"
                             f"<td>{esc(_seeds_text(r))}</td><td>{esc(r['verdict'])}</td>"
                             f"<td>{esc(str(r['expected']))}</td></tr>")
            parts.append("</table>")
            if any(_seeds_text(r) != "-" for _, r in stories):
                parts.append(f"<p>{esc(SEEDS_NOTE)}</p>")
            if slug in forests:
                parts.append(f"<img src='{esc(forests[slug])}' alt='{esc(slug)} comparisons'>")
        for item in items:
            spec = item.spec
            parts.append(f"<h3>{esc(spec.id)}: {esc(spec.spec.title)}</h3><table><tr><th>claim</th><th>claimed</th>"
                         "<th>measured</th><th>accepted</th><th>verdict</th><th>expected</th><th>run</th>"
                         "<th>rule</th></tr>")
            for r in item.rows:
                parts.append(f"<tr class='{_css(r)}'><td>{esc(str(r['claim_id']))}</td><td>{esc(str(r['claimed']))}"
                             f"</td><td>{esc(str(r.get('measured', '-')))}</td><td>{esc(band_text(r.get('band')))}</td>"
                             f"<td>{esc(r['verdict'])}</td><td>{esc(str(r['expected']))}</td><td>{esc(r['run'])}</td>"
                             f"<td>{esc(str(r.get('rule') or r.get('detail') or ''))}</td></tr>")
            parts.append("</table>")
            for f in spec.spec.findings:
                parts.append(f"<p><b>finding {esc(f.id)}</b> ({esc(f.kind)}): {esc(f.summary)}</p>")
            for png in spec_plots.get(spec.id, []):
                parts.append(f"<img src='{esc(png)}' alt='{esc(spec.id)} curves'>")
    if errors:
        parts.append("<h2>Specs that failed to load</h2><pre>" + esc("\n".join(map(str, errors))) + "</pre>")
    return "\n".join(parts)


def _css(row: dict) -> str:
    return html.escape(row["verdict"].replace(" ", "-")) + (" changed" if _changed(row) else "")


def write_report(results_dir: Path | str = Path("results"), specs_root=None, html_too: bool = True) -> list[Path]:
    results_dir = Path(results_dir)
    by_source, errors, by_spec = build_tables(specs_root, results_dir)
    spec_plots, forests = draw_plots(by_source, results_dir) if html_too else ({}, {})
    written = [results_dir / "REPORT.md"]
    atomic_write_text(written[0], render_markdown(by_source, errors, by_spec, forests))
    if html_too:
        written.append(results_dir / "report.html")
        atomic_write_text(written[1], render_html(by_source, errors, spec_plots, forests))
    return written


__all__ = ["write_report", "SpecError"]
