"""results/report.html: the summary first, then one section per README (lessons, dot plot, specs, curves).

The page is one file with inline CSS and a few lines of inline JavaScript (no fetch, nothing loaded from
elsewhere): a filter by README and by verdict, shown only when scripts run; without scripts the page is
the same, unfiltered. Every string from a spec or record goes through html.escape.
"""

from __future__ import annotations

import html
import struct
from pathlib import Path

from harness.markup import visible
from harness.report import (
    CLAIM,
    FIDELITY_KEY,
    GENRE_COLUMNS,
    LESSON,
    RESOLUTION_NOTE,
    VERDICT_RULE,
    _comparisons,
    _difference_text,
    _fidelity_summary,
    _readme_text,
    _resolution_text,
    anchor,
    baseline_tally,
    column_title,
    counts,
    genre_caption,
    genre_rows,
    lesson_text,
    provenance,
    resolution_text,
    single_rows,
    summary_columns,
    tidy,
    title_of,
    unit_of,
    verdict_notes,
)
from harness.report_format import interval
from harness.report_verdicts import VERDICTS, count_cell, legend, order, style


def esc(text, quote: bool = True) -> str:
    """html.escape, with control, zero-width and bidirectional characters shown visibly (harness.markup)."""
    return html.escape(visible(text), quote=quote)


def _img(folder: Path | None, src: str, alt: str) -> str:
    """An image shown at half its pixel size: 2x plots stay sharp on high-DPI screens and normal-sized elsewhere."""
    size = ""
    path = (folder / src) if folder else None
    if path is not None and path.is_file():
        head = path.read_bytes()[:24]
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            width = struct.unpack(">I", head[16:20])[0]
            size = f" width='{width // 2}'"
    return f"<img src='{esc(src)}' alt='{esc(alt)}'{size}>"

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1250px;padding:0 1em;color:#1f2328}
table{border-collapse:collapse;margin:.4em 0 1.2em}td,th{border:1px solid #d0d7de;padding:3px 7px;font-size:12.5px;
vertical-align:top;text-align:left}th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.summary td,.summary th{text-align:center}.summary td:first-child{text-align:left}
.verdict{font-weight:600;white-space:nowrap}.note{color:#57606a;font-size:11.5px}.changed{color:#b00}
.summary td{white-space:nowrap}.summary td:first-child{white-space:normal}
details summary{white-space:nowrap;cursor:pointer;color:#0969da;font-size:11.5px}details div{max-width:34em;font-size:11.5px}
img{max-width:100%;display:block;margin:.3em 0 1em}nav#filters{position:sticky;top:0;background:#fff;
padding:.4em 0;border-bottom:1px solid #d0d7de;z-index:1;font-size:12.5px}nav#filters label{margin-right:.7em}
.sw{display:inline-block;width:.9em;height:.9em;border-radius:2px;vertical-align:-1px;margin-right:.25em}
.legend span.item{margin-right:1.1em;white-space:nowrap}.meta{color:#57606a}section.spec{margin-left:.3em}
h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}
"""

FILTER_JS = """
(function () {
  var nav = document.getElementById('filters');
  nav.hidden = false;
  function apply() {
    var readme = document.getElementById('f-readme').value, on = {};
    nav.querySelectorAll('input[type=checkbox]').forEach(function (c) { on[c.value] = c.checked; });
    document.querySelectorAll('[data-readme]').forEach(function (e) {
      e.hidden = readme !== '' && e.getAttribute('data-readme') !== readme;
    });
    document.querySelectorAll('tr[data-verdict]').forEach(function (t) {
      t.hidden = on[t.getAttribute('data-verdict')] === false;
    });
  }
  nav.addEventListener('change', apply);
})();
"""


def render_html(by_source, errors, by_spec, spec_plots: dict[str, list[str]], plots: dict,
                changes: list[str] | None = None, folder: Path | None = None) -> str:
    """The page; `folder` (results/) is where the plots are read for their size: drawn at 2x, shown at half."""
    made, machines = provenance(by_spec)
    seen = {r["verdict"] for items in by_source.values() for item in items for r in item.rows}
    parts = ["<!doctype html><html lang='en'><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width,initial-scale=1'><title>MNIST README audit</title>",
             f"<style>{STYLE}{_verdict_css(seen)}</style>",
             "<h1>MNIST README audit</h1>", f"<p class='meta'>{esc(made)}<br>{esc(machines)}</p>",
             _filters(by_source, seen), *_summary(by_source), _legend(seen), *_genre(by_source),
             *_contents(by_source)]
    if changes is not None:
        parts.append("<h2 id='changes'>Changes since the other results</h2>")
        parts.append("<ul>" + "".join(f"<li>{esc(c)}</li>" for c in changes) + "</ul>" if changes
                     else "<p>Nothing changed.</p>")
    parts.append(f"<details><summary>Verdict rules</summary><div>{esc(VERDICT_RULE)}.</div></details>")
    for slug in sorted(by_source):
        parts += _readme_section(slug, by_source[slug], spec_plots, plots, folder)
    if errors:
        parts.append("<h2 id='errors'>Specs that failed to load</h2><pre>" + esc("\n".join(map(str, errors)))
                     + "</pre>")
    parts.append(f"<script>{FILTER_JS}</script>")
    return "\n".join(parts)


def _verdict_css(seen: set[str]) -> str:
    names = {v.name for v in VERDICTS} | seen
    return "".join(f"tr.v-{anchor(n)} td{{background:{style(n).tint}}}.c-{anchor(n)}{{color:{style(n).colour}}}"
                   for n in sorted(names, key=order))


def _filters(by_source, seen: set[str]) -> str:
    options = "".join(f"<option value='{esc(anchor(s))}'>{esc(s)}</option>" for s in sorted(by_source))
    boxes = "".join(f"<label><input type='checkbox' value='{esc(v.name)}' checked><span class='sw' "
                    f"style='background:{v.colour}'></span>{esc(v.name)}</label>" for v in legend(seen))
    return (f"<nav id='filters' hidden>README <select id='f-readme'><option value=''>all</option>{options}</select>"
            f" &nbsp; verdicts: {boxes}</nav>")


def _summary(by_source) -> list[str]:
    cols = summary_columns(by_source)
    head = ("<tr><th rowspan='2'>README</th>"
            f"<th colspan='{len(cols[CLAIM])}'>claims</th><th colspan='{len(cols[LESSON])}'>lessons</th></tr><tr>"
            + "".join(f"<th>{esc(_column_head(CLAIM, c))}</th>" for c in cols[CLAIM])
            + "".join(f"<th>{esc(_column_head(LESSON, c))}</th>" for c in cols[LESSON]) + "</tr>")
    rows = []
    for slug in sorted(by_source):
        c = counts(by_source[slug])
        cells = []
        for group in (CLAIM, LESSON):
            for col in cols[group]:
                total, text = count_cell(c[group], col)
                tint = style(col).tint if total and col != "other" else "#fff"
                cells.append(f"<td class='n' data-group='{group}' data-column='{esc(col)}' data-count='{total}' "
                             f"style='background:{tint}'>{esc(text)}</td>")
        rows.append(f"<tr data-readme='{esc(anchor(slug))}'><td><a href='#{esc(anchor(slug))}'>{esc(slug)}</a>: "
                    f"{esc(title_of(by_source[slug]))}</td>{''.join(cells)}</tr>")
    return ["<h2 id='summary'>Summary</h2>",
            "<p>Per README: its claims (single figures, targets, curves, parameter counts) and its lessons "
            "(comparisons between iterations, paired on common seeds) by verdict; refuted counts say where the "
            "README's figure lies (above or below the runs) when the verdict tells. Each README links to its "
            "section.</p>",
            f"<table class='summary' id='summary-table'>{head}{''.join(rows)}</table>",
            f"<p class='note'>{esc(baseline_tally(by_source))}</p>"]


def _genre(by_source) -> list[str]:
    rows, findings, readmes = genre_rows(by_source)
    head = "<tr><th>claim kind</th>" + "".join(f"<th>{esc(v)}</th>" for v in GENRE_COLUMNS) + "<th>other</th></tr>"
    body = "".join("<tr><td>" + esc(kind) + "</td>" + "".join(f"<td class='n'>{c[v]}</td>" for v in GENRE_COLUMNS)
                   + f"<td class='n'>{sum(n for v, n in c.items() if v not in GENRE_COLUMNS)}</td></tr>"
                   for kind, c in rows)
    return ["<h2 id='genre'>Across the READMEs</h2>", f"<p>{esc(genre_caption(findings, readmes))}</p>",
            f"<table class='summary'>{head}{body}</table>"]


def _column_head(group: str, column: str) -> str:
    return column if column not in ("other", "inconclusive") else column_title(group, column).split(" ")[0]


def _legend(seen: set[str]) -> str:
    items = "".join(f"<span class='item'><span class='sw' style='background:{v.colour}'></span>{esc(v.label)}"
                    "</span>" for v in legend(seen))
    return (f"<p class='legend' id='legend'><b>Colours</b> (tables and plots): {items}<br><span class='note'>"
            "In plots: dots are seeds, a thick bar or shaded band the interval the verdict used (a thin line: "
            "the 99% interval a refutation needs), a diamond the README's figure.</span></p>")


def _contents(by_source) -> list[str]:
    out = ["<h2 id='contents'>Contents</h2><ul>"]
    for slug in sorted(by_source):
        items = by_source[slug]
        specs = ", ".join(f"<a href='#{esc(i.anchor)}'>{esc(i.spec.name)}</a>" for i in items)
        out.append(f"<li data-readme='{esc(anchor(slug))}'><a href='#{esc(anchor(slug))}'>{esc(slug)}: "
                   f"{esc(title_of(items))}</a>: {specs}</li>")
    return out + ["</ul>"]


def _verdict_cell(row: dict, extra_text: str = "") -> str:
    notes = verdict_notes(row)
    note = "".join(f"<br><span class='note changed'>{esc(n)}</span>" for n in notes)
    more = f"<br><span class='note'>{esc(extra_text)}</span>" if extra_text else ""
    return f"<td><span class='verdict c-{esc(anchor(row['verdict']))}'>{esc(row['verdict'])}</span>{note}{more}</td>"


def _why(row: dict) -> str:
    text = tidy(row.get("rule") or row.get("detail") or "")
    return f"<td>{f'<details><summary>rule</summary><div>{esc(text)}</div></details>' if text else ''}</td>"


def _tr(row: dict) -> str:
    return f"<tr class='v-{esc(anchor(row['verdict']))}' data-verdict='{esc(row['verdict'])}'>"


def _readme_section(slug: str, items, spec_plots, plots, folder: Path | None) -> list[str]:
    info = items[0].spec.source_info
    out = [f"<section id='{esc(anchor(slug))}' data-readme='{esc(anchor(slug))}'>",
           f"<h2>{esc(slug)}: {esc(title_of(items))}</h2>",
           f"<p class='meta'>README <code>{esc(items[0].spec.spec.source.file)}</code>"
           + (f"; constraint: {esc(info.constraint)}" if info else "") + f"<br>{esc(FIDELITY_KEY)}</p>"]
    stories = _comparisons(items)
    if stories:
        out.append(f"<h3 id='{esc(anchor(slug))}-lessons'>Lessons</h3><p class='note'>Comparisons between iterations,"
                   " paired on common seeds; the difference is this iteration minus the other, so a lesson claiming "
                   "'lower' needs a negative one.</p><table><tr><th>lesson</th><th>README</th><th>measured difference "
                   "[95% CI]</th><th>n</th><th>verdict</th><th>why</th></tr>")
        for item, r in stories:
            out.append(f"{_tr(r)}<td>{esc(lesson_text(item, r))}</td><td>{esc(_readme_text(r))}</td>"
                       f"<td>{esc(_difference_text(r, unit_of(item, r)))}</td>"
                       f"<td class='n'>{len((r.get('extra') or {}).get('common_seeds') or [])}</td>"
                       + _verdict_cell(r, resolution_text(r)) + _why(r) + "</tr>")
        out.append("</table>")
        if any(_resolution_text(r) != "-" for _, r in stories):
            out.append(f"<p class='note'>{esc(RESOLUTION_NOTE)}</p>")
        if ("comparisons", slug) in plots:
            out.append(_img(folder, plots[("comparisons", slug)], f"{slug} lessons"))
    if ("dots", slug) in plots:
        out.append(f"<h3 id='{esc(anchor(slug))}-figures'>Single-number claims</h3>"
                   + _img(folder, plots[("dots", slug)], f"{slug} single-number claims"))
    for item in items:
        dots = f"{anchor(slug)}-figures" if ("dots", slug) in plots else None
        out += _spec_section(item, spec_plots, folder, dots)
    return out + ["</section>"]


def _spec_section(item, spec_plots, folder: Path | None, dots: str | None = None) -> list[str]:
    spec = item.spec
    out = [f"<section class='spec' id='{esc(item.anchor)}'><h3>{esc(spec.name)}: {esc(spec.spec.title)}</h3>",
           f"<p class='meta'>Run: {esc(item.runs())}. Fidelity: {esc(_fidelity_summary(spec))}.</p>"]
    rows = single_rows(item)
    if rows:
        out.append("<table><tr><th>claim</th><th>README</th><th>measured</th><th>interval</th><th>verdict</th>"
                   "<th>why</th></tr>")
        for r in rows:
            out.append(f"{_tr(r)}<td>{esc(str(r['claim_id']))}</td><td>{esc(str(r['claimed']))}</td>"
                       f"<td>{esc(tidy(r.get('measured', '-')))}</td><td>{esc(interval(r.get('band')))}</td>"
                       + _verdict_cell(r) + _why(r) + "</tr>")
        out.append("</table>")
    for f in spec.spec.findings:
        out.append(f"<p><b>finding {esc(f.id)}</b> ({esc(f.kind.replace('_', ' '))}): {esc(f.summary)}</p>")
    for png in spec_plots.get(spec.id, []):
        out.append(_img(folder, png, f"{spec.id} curves"))
    if item.records and not spec_plots.get(spec.id) and dots:  # one epoch: no curve to draw
        out.append(f"<p class='note'>One epoch per seed, no curve: its figures are in the "
                   f"<a href='#{esc(dots)}'>single-number plot</a> above.</p>")
    return out + ["</section>"]
