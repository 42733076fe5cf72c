"""Writing the report: REPORT.md, summary.json, report.html and its plots, and the diff against older results.

The one module that drives every part of the report (harness.report: judging and the Markdown tables;
report_plots, report_html, report_diff), so each part imports only what sits below it.
"""

from __future__ import annotations

from pathlib import Path

from harness.cache import atomic_write_text
from harness.report import build_tables, md, render_markdown
from harness.report_diff import diff, read_summary, render_diff, summary, write_summary
from harness.report_html import render_html
from harness.report_plots import draw_plots


def write_report(results_dir: Path | str = Path("results"), specs_root=None, html_too: bool = True,
                 against: Path | str | None = None, changes_out: list[str] | None = None) -> list[Path]:
    """REPORT.md, summary.json and (html_too) report.html with its plots; `against`: an older results folder
    whose changes get a section in both pages (and are appended to `changes_out`, one line each)."""
    results_dir = Path(results_dir)
    by_source, errors, by_spec = build_tables(specs_root, results_dir)
    now = summary(by_source)
    changes = None
    if against is not None:
        changes = diff(load_summary_of(Path(against), specs_root), now)
        if changes_out is not None:
            changes_out += render_diff(changes)
    plots: dict = {}
    spec_plots: dict[str, list[str]] = {}
    if html_too:
        spec_plots, plots = draw_plots(by_source, results_dir)
    written = [results_dir / "REPORT.md", results_dir / "summary.json"]
    atomic_write_text(written[0], render_markdown(by_source, errors, by_spec, plots,
                                                  None if changes is None else [f"- {md(c)}" for c in
                                                                                render_diff(changes)]))
    write_summary(written[1], now)
    if html_too:
        written.append(results_dir / "report.html")
        atomic_write_text(written[2], render_html(by_source, errors, by_spec, spec_plots, plots,
                                                  None if changes is None else render_diff(changes), results_dir))
    return written


def load_summary_of(results_dir: Path, specs_root=None) -> dict:
    """An older results folder's summary: its summary.json, else its records judged with today's specs."""
    path = results_dir / "summary.json"
    if path.is_file():
        return read_summary(path)
    return summary(build_tables(specs_root, results_dir)[0])
