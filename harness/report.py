"""results/REPORT.md, results/report.html, results/plots/ and results/summary.json: every record judged afresh.

Every spec appears: its untrained claims (parameter counts from the shape plan)
are judged from the spec itself, its trained claims from the newest record of
each device kind, judged now with the current rules (harness/verdicts.py), or
"not run"; a record whose training hash no longer matches its spec is listed as
stale, not judged.

Both pages open with a summary (per README: how many claims and lessons got
each verdict, linked to the README's section) and a table of contents. Per
README: a lessons table (comparison claims, each listed once) with its
comparison plot, a dot plot of its single-number claims, then per spec a slim
claims table (the expected verdict only where it differs, the rule in a footnote
or a collapsible detail) and the curve plot of each record trained for more
than one epoch. Colours, order and summary columns of verdicts come from one
table (harness/report_verdicts.py); plots are drawn in harness/report_plots.py,
the HTML page in harness/report_html.py, summary.json and the diff against
older results in harness/report_diff.py.

Spec and record strings are untrusted: escaped for Markdown (no raw HTML, no
broken table rows), HTML (html.escape) and matplotlib (no mathtext).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from harness.claims import ClaimResult, Evidence, is_comparison, is_lesson, judge_all
from harness.markup import md_text
from harness.records import load_records
from harness.report_format import interval, num, readme_pair
from harness.report_verdicts import CLAIM, LESSON, columns, count_cell
from harness.specs import LoadedSpec, SpecError, load_all
from harness.verdicts import STALE, Judge, newest_records, planned_parameters, structure_of

VERDICT_RULE = ("a single reported figure is reproduced inside the 95% prediction interval of one new run "
                "(m ± t·σ·√(1+1/n), σ = max(seeds' sd, the README's pooled sd, half the binomial sd), widened by "
                "0.01 pp), refuted outside the 99% interval (never with fewer than 3 seeds); a target on the share "
                "of seeds meeting it; 'first epoch reaching X' against the seeds' range; a comparison on the 95% "
                "paired-t interval of the per-seed differences. Rules and sources: README.md, 'Verdicts'")
RESOLUTION_NOTE = ("What n buys, beside an undecided lesson: the difference its paired seeds detect with 80% power, "
                   "and the differences its 95% interval excludes. Both follow from the seeds' spread and n, not from "
                   "the measured difference (observed power adds nothing to the interval: Hoenig & Heisey 2001; "
                   "docs/verdicts.md).")


# --------------------------------------------------------------------------- escaping

def md(text) -> str:
    """A Markdown cell or line from an untrusted string: creates no tag, link, image or emphasis, breaks no row
    or column, and shows control and bidirectional characters visibly (harness.markup)."""
    return md_text(text)


def tidy(text) -> str:
    """A figure text from the claims (e.g. '-0.00 ± 0.06') without negative zeros."""
    return re.sub(r"(?<![\d.])-(0\.0+)(?![\d])", r"\1", str(text))


def anchor(text: str) -> str:
    """An id for a README's or spec's section (lower case letters, digits, - and _ only)."""
    return re.sub(r"[^a-z0-9_-]", "_", str(text).lower())


# --------------------------------------------------------------------------- judging every record now

@dataclass
class SpecReport:
    spec: LoadedSpec
    rows: list[dict]
    records: list[dict]
    results: dict[str, list[ClaimResult]] = field(default_factory=dict)  # record path -> judged claims

    @property
    def anchor(self) -> str:
        return anchor(self.spec.file_id)

    def claim(self, claim_id: str):
        return next((c for c in self.spec.spec.claims if c.claim_id == claim_id), None)

    def runs(self) -> str:
        """The runs the trained rows come from, once per spec."""
        labels = list(dict.fromkeys(r["run"] for r in self.rows if r["run"] not in ("spec", "-")))
        return "; ".join(labels) if labels else "not run"


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


def group_of(row: dict) -> str:
    return LESSON if is_lesson(row) else CLAIM


def _comparisons(items: list[SpecReport]) -> list[tuple[SpecReport, dict]]:
    return [(item, r) for item in items for r in item.rows if is_comparison(r)]


def single_rows(item: SpecReport) -> list[dict]:
    """A spec's claims table: every row but its comparisons (those are listed once, in the lessons table)."""
    return [r for r in item.rows if not is_comparison(r)]


def counts(items: list[SpecReport]) -> dict[str, Counter]:
    """A README's verdicts, per group (claims, lessons)."""
    out = {CLAIM: Counter(), LESSON: Counter()}
    for item in items:
        for r in item.rows:
            out[group_of(r)][r["verdict"]] += 1
    return out


def summary_columns(by_source) -> dict[str, list[str]]:
    """Summary columns per group: the table's, unknown verdicts seen, and `other` only where something is in it."""
    seen = {g: set() for g in (CLAIM, LESSON)}
    for items in by_source.values():
        for g, c in counts(items).items():
            seen[g] |= set(c)
    out = {}
    for g in (CLAIM, LESSON):
        cols = columns(g, seen[g])
        if not any(count_cell(counts(items)[g], "other")[0] for items in by_source.values()):
            cols.remove("other")
        out[g] = cols
    return out


def column_title(group: str, column: str) -> str:
    """A summary column's header; the columns both groups have say which group they count."""
    if column in ("other", "inconclusive"):
        return f"{column} {group}"
    return column


def title_of(items: list[SpecReport]) -> str:
    info = items[0].spec.source_info
    return info.title if info else items[0].spec.spec.source.file


# --------------------------------------------------------------------------- texts shared by both pages

def unit_of(item: SpecReport, row: dict) -> str:
    """A comparison's difference unit: pp for accuracies, epochs for 'first epoch reaching'."""
    claim = item.claim(row["claim_id"])
    metric = getattr(claim, "metric", None)
    return "epochs" if getattr(metric, "axis", "%") == "epochs" else "pp"


def threshold_text(row: dict, unit: str) -> str:
    """A lesson's `by` as the difference it needs, in the table's sign convention (this - other)."""
    extra = row.get("extra") or {}
    by = extra.get("by") or 0.0
    if not by:
        return ""
    sign = 1.0 if extra.get("direction") == "higher" else -1.0
    return f"needs {'>=' if sign > 0 else '<='} {num(sign * by, 0 if float(by).is_integer() else 2, True)} {unit}"


def _difference_text(row: dict, unit: str = "") -> str:
    """The measured difference (this - other) with its 95% CI, and the threshold it must clear when not zero."""
    extra = row.get("extra") or {}
    if extra.get("difference") is None:
        return tidy(row.get("measured", "-"))
    ci = extra.get("ci")
    span = f" [{num(ci[0], 2, True)}, {num(ci[1], 2, True)}]" if ci else ""
    same = " (identical runs)" if extra.get("identical_runs") else ""
    need = threshold_text(row, unit)
    return f"{num(extra['difference'], 2, True)}{span}{' ' + unit if unit else ''}{same}" + (f"; {need}" if need else "")


def _resolution_text(row: dict) -> str:
    """Beside an undecided lesson: what this n detects with 80% power and excludes at 95% ('-' when decided)."""
    extra = row.get("extra") or {}
    if row.get("verdict") != "inconclusive" or not extra.get("ci") or extra.get("identical_runs"):
        return "-"
    if extra["ci"][0] == extra["ci"][1]:  # every pair the same difference, exactly `by`: more of them never decide
        return "never (every pair tied)"
    detect, beyond = extra.get("detectable_80"), extra.get("excluded_beyond")
    if detect is None or beyond is None:
        return "-"
    return f"detects ±{detect:.2f} with 80% power; beyond ±{beyond:.2f} excluded"


def resolution_text(row: dict) -> str:
    """The same, as a phrase beside the verdict ('' when decided)."""
    text = _resolution_text(row)
    if text == "-":
        return ""
    if text.startswith("never"):
        return "no number of seeds would decide it (every pair tied)"
    return text


def _readme_text(row: dict) -> str:
    readme = (row.get("extra") or {}).get("readme")
    return readme_pair(*readme) if readme else "-"


def lesson_text(item: SpecReport, row: dict) -> str:
    extra = row.get("extra") or {}
    return f"{item.spec.name} vs {extra.get('other', '?').split('/')[-1]}: {extra.get('statement', '')}"


def verdict_notes(row: dict) -> list[str]:
    """What a reader must know beside the verdict: a spec expecting another one, a baseline that differs."""
    notes = []
    if _changed(row):
        notes.append(f"spec expects {row['expected']}")
    extra = row.get("extra") or {}
    if row.get("baseline_mismatch") or extra.get("baseline_mismatch"):
        notes.append("baseline differs from the README's")
    if extra.get("p_value") is not None and extra.get("p_holm") is not None and extra.get("family_size", 1) > 1:
        notes.append(f"Holm over {extra['family_size']} lessons: p {extra['p_holm']:.2g}")
    return notes


def _machine(record: dict) -> str:
    """Where a record ran, from what it says (a record without an environment says so, never a KeyError)."""
    env = record.get("environment")
    if not isinstance(env, dict):
        return "environment not recorded"
    kind = f", {env['cpu_kind']}" if env.get("cpu_kind") else ""
    return (f"{env.get('device_name', '?')} ({record.get('device_kind', '?')}{kind}, torch {env.get('torch', '?')}, "
            f"{env.get('cpu_count', '?')} CPUs)")


def provenance(by_spec) -> tuple[str, str]:
    machines = sorted({_machine(r) for rs in by_spec.values() for r in rs})
    return (f"Generated {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC from "
            f"{sum(len(v) for v in by_spec.values())} run records in results/records/, every one judged now "
            "against the current specs and rules.",
            "Runs on: " + ("; ".join(machines) if machines else "no runs yet") + ".")


def _fidelity_summary(spec: LoadedSpec) -> str:
    levels: dict[str, int] = defaultdict(int)
    for key, f in spec.spec.fidelity.items():
        if key != "architecture":
            levels[f.level] += 1
    arch = spec.spec.fidelity["architecture"].level
    short = {"documented": "D", "documented_in_code": "C", "reconstructed": "R", "unknown": "U"}
    recipe = "/".join(f"{n}{short.get(lvl, '?')}" for lvl, n in sorted(levels.items()))
    return f"architecture {arch}; recipe details {recipe}"


FIDELITY_KEY = ("recipe details: D documented, C documented in code, R reconstructed, U unknown "
                "(how many of the spec's training details each)")


# --------------------------------------------------------------------------- markdown

def render_markdown(by_source, errors, by_spec, plots=None, diff_lines: list[str] | None = None) -> str:
    plots = plots or {}
    made, machines = provenance(by_spec)
    lines = ["# Audit report", "", made, md(machines), "",
             f"Verdict rules: {md(VERDICT_RULE)}. Where a verdict differs from the one the spec records, the "
             "table says what the spec expects; such a mismatch fails the test suite.", ""]
    lines += _summary_md(by_source)
    lines += _genre_md(by_source)
    lines += _contents_md(by_source)
    if diff_lines is not None:
        lines += ["## Changes since the other results", ""] + (diff_lines or ["Nothing changed."]) + [""]
    notes: list[str] = []
    for slug in sorted(by_source):
        items = by_source[slug]
        info = items[0].spec.source_info
        lines += [f'<a id="{anchor(slug)}"></a>', "", f"## {md(slug)}: {md(title_of(items))}", "",
                  f"README `{md(items[0].spec.spec.source.file)}`" + (f"; constraint: {md(info.constraint)}"
                                                                      if info else ""), ""]
        lines += _lessons_md(items, plots.get(("comparisons", slug)))
        if ("dots", slug) in plots:
            lines += [f"![single-number claims of {md(slug)}]({plots[('dots', slug)]})", ""]
        for item in items:
            lines += _spec_md(item, notes)
        lines.append("")
    if errors:
        lines += ["## Specs that failed to load", ""] + [f"- {md(e)}" for e in errors] + [""]
    if notes:
        lines += ["## Rules behind each verdict", ""] + notes + [""]
    return "\n".join(lines)


def _summary_md(by_source) -> list[str]:
    cols = summary_columns(by_source)
    head = ["README"] + [column_title(CLAIM, c) for c in cols[CLAIM]] + [column_title(LESSON, c) for c in cols[LESSON]]
    lines = ["## Summary", "",
             "Per README: its claims (single figures, targets, curves, parameter counts) and its lessons "
             "(comparisons between iterations, paired on common seeds) by verdict. Refuted counts say in which "
             "direction the README's figure lies (above or below the runs) where the verdict tells.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" + "--:|" * (len(head) - 1)]
    for slug in sorted(by_source):
        c = counts(by_source[slug])
        cells = [count_cell(c[CLAIM], col)[1] for col in cols[CLAIM]] + [count_cell(c[LESSON], col)[1]
                                                                          for col in cols[LESSON]]
        lines.append(f"| [{md(slug)}](#{anchor(slug)}) | " + " | ".join(cells) + " |")
    return lines + ["", md(baseline_tally(by_source)), ""]


def baseline_tally(by_source) -> str:
    """How many lessons per README were judged on a baseline that does not reproduce its README figure."""
    flagged = {slug: sum(1 for item in items for r in item.rows if is_lesson(r) and
                         (r.get("baseline_mismatch") or (r.get("extra") or {}).get("baseline_mismatch")))
               for slug, items in sorted(by_source.items())}
    named = [f"{slug} {n}" for slug, n in flagged.items() if n]
    return ("Lessons judged on a baseline that does not reproduce its README figure (either side's own figure "
            "refuted; marked in the lessons tables): " + (", ".join(named) if named else "none") + ".")


GENRE_COLUMNS = ("reproduced", "refuted-above", "refuted-below", "inconclusive", "unverifiable", "not run",
                 "supported", "contradicted", "negligible")


def genre_rows(by_source) -> tuple[list[tuple[str, Counter]], int, int]:
    """Across every README: per claim kind, its verdicts counted; plus the README-vs-code findings and READMEs."""
    kinds: dict[str, Counter] = {}
    for items in by_source.values():
        for item in items:
            for r in item.rows:
                kinds.setdefault(r.get("kind", "?"), Counter())[r["verdict"]] += 1
    findings = sum(len(item.spec.spec.findings) for items in by_source.values() for item in items)
    return sorted(kinds.items()), findings, len(by_source)


def genre_caption(findings: int, readmes: int) -> str:
    return (f"Across all {readmes} READMEs, per claim kind (the genre's habits: which kinds of claim hold, and which "
            f"way they miss); {findings} findings where a README disagrees with its own code, logs or figures.")


def _genre_md(by_source) -> list[str]:
    rows, findings, readmes = genre_rows(by_source)
    lines = ["## Across the READMEs", "", md(genre_caption(findings, readmes)), "",
             "| claim kind | " + " | ".join(GENRE_COLUMNS) + " | other |", "|---|" + "--:|" * (len(GENRE_COLUMNS) + 1)]
    for kind, c in rows:
        other = sum(n for v, n in c.items() if v not in GENRE_COLUMNS)
        lines.append(f"| {md(kind)} | " + " | ".join(str(c[v]) for v in GENRE_COLUMNS) + f" | {other} |")
    return lines + [""]


def _contents_md(by_source) -> list[str]:
    lines = ["## Contents", ""]
    for slug in sorted(by_source):
        items = by_source[slug]
        specs = ", ".join(f"[{md(i.spec.name)}](#{i.anchor})" for i in items)
        lines.append(f"- [{md(slug)}: {md(title_of(items))}](#{anchor(slug)}): {specs}")
    return lines + [""]


def _verdict_md(row: dict) -> str:
    notes = verdict_notes(row)
    return f"**{md(row['verdict'])}**" + (f" ({md('; '.join(notes))})" if notes else "")


def _lessons_md(items: list[SpecReport], plot: str | None) -> list[str]:
    stories = _comparisons(items)
    if not stories:
        return []
    lines = ["### Lessons", "", "Comparisons between iterations, paired on common seeds; the difference is this "
             "iteration minus the other, so a lesson claiming 'lower' needs a negative one.", "",
             "| lesson | README | measured difference [95% CI] | n | verdict |", "|---|---|---|--:|---|"]
    for item, r in stories:
        decide = resolution_text(r)
        verdict = _verdict_md(r) + (f"; {decide}" if decide else "")
        lines.append(f"| {md(lesson_text(item, r))} | {md(_readme_text(r))} | {md(_difference_text(r, unit_of(item, r)))}"
                     f" | {len((r.get('extra') or {}).get('common_seeds') or [])} | {verdict} |")
    if any(_resolution_text(r) != "-" for _, r in stories):
        lines += ["", RESOLUTION_NOTE]
    if plot:
        lines += ["", f"![comparisons of {md(items[0].spec.slug)}]({plot})"]
    return lines + [""]


def _spec_md(item: SpecReport, notes: list[str]) -> list[str]:
    spec = item.spec
    lines = [f'<a id="{item.anchor}"></a>', "", f"### {md(spec.name)}: {md(spec.spec.title)}", "",
             f"Run: {md(item.runs())}. Fidelity: {md(_fidelity_summary(spec))}.", ""]
    rows = single_rows(item)
    if rows:
        lines += ["| claim | README | measured | interval | verdict |", "|---|---|---|---|---|"]
        for r in rows:
            note = ""
            why = r.get("rule") or r.get("detail")
            if why:
                key = f"{item.anchor}-{anchor(r['claim_id'])}"
                notes.append(f"[^{key}]: {md(spec.name)} {md(r['claim_id'])}: {md(tidy(why))}")
                note = f"[^{key}]"
            lines.append(f"| {md(r['claim_id'])} | {md(r['claimed'])} | {md(tidy(r.get('measured', '-')))} | "
                         f"{md(interval(r.get('band')))} | {_verdict_md(r)}{note} |")
    findings = spec.spec.findings
    if findings:
        lines += ["", "Findings:", ""]
        for f in findings:
            extra = f" With the stated change the count is {f.parameters:,}." if f.parameters else ""
            lines.append(f"- **{md(f.kind.replace('_', ' '))}**: {md(f.summary)}.{extra} *Where:* {md(f.where)}")
    return lines + [""]


__all__ = ["SpecError", "build_tables", "render_markdown"]
