
"""How the report reads: the verdict table, number formats, the summary and anchors, the plots it draws, the diff."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from _support import write_tiny_specs
from test_report import COMPARISON, fake_record, report_of

from harness.report_format import interval, num, readme_pair
from harness.report_verdicts import CLAIM, LESSON, VERDICTS, columns, count_cell, style
from harness.specs import load_spec

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

# --------------------------------------------------------------------------- the verdict table

def test_every_verdict_has_one_colour_everywhere_and_new_values_slot_in():
    names = [v.name for v in VERDICTS]
    assert len(names) == len(set(names))
    for coming in ("refuted-above", "refuted-below", "negligible"):  # the verdicts branch's values: already here
        assert coming in names
    assert style("refuted-above").colour == style("refuted").colour == style("contradicted").colour
    assert style("reproduced").colour == style("supported").colour
    assert columns(CLAIM) == ["reproduced", "refuted", "inconclusive", "unverifiable", "other"]
    assert columns(LESSON) == ["supported", "contradicted", "negligible", "inconclusive", "other"]


def test_refuted_counts_split_by_direction_and_unknown_verdicts_count_under_their_own_name():
    seen = Counter({"refuted-above": 2, "refuted-below": 1, "reproduced": 4, "wobbly": 3})
    assert count_cell(seen, "refuted") == (3, "3 (2 above, 1 below)")
    assert count_cell(Counter({"refuted": 2}), "refuted") == (2, "2")  # today's undirected value
    assert count_cell(seen, "reproduced") == (4, "4")
    assert style("wobbly").column == "wobbly" and "wobbly" in columns(CLAIM, {"wobbly"})
    assert count_cell(seen, "wobbly") == (3, "3")


# --------------------------------------------------------------------------- numbers

def test_numbers_read_as_people_write_them():
    assert num(-0.001) == "0.00" and num(-0.001, sign=True) == "+0.00"   # never "-0.00"
    assert interval([6.0, 11.0]) == "6-11"                                 # epochs as integers
    assert interval([-100.0, 0.0]) == "<= 0" and interval([99.4, 100.0]) == ">= 99.40"  # open ends: one bound
    assert interval([99.14, 99.531]) == "99.14-99.53"
    assert interval([-0.3, 0.06]) == "-0.30 to +0.06"
    assert interval([346500, 353500]) == "346,500-353,500"
    assert readme_pair(99.3, 99.39) == "99.30 -> 99.39 (+0.09)"           # the same decimals on both sides
    assert readme_pair(4, 8) == "4 -> 8 (+4)"


# --------------------------------------------------------------------------- the pages

def lesson_results(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    alpha = specs / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("fidelity:\n", COMPARISON + "fidelity:\n", 1))
    fake_record(load_spec(alpha), tmp_path / "results", finals=(95.5, 94.7, 95.4))
    fake_record(load_spec(specs / "beta.yaml"), tmp_path / "results", finals=(95.0, 95.0, 95.0))
    return specs, report_of(tmp_path, specs)


def test_the_html_page_opens_with_a_summary_and_every_link_lands(tmp_path):
    _, report = lesson_results(tmp_path)
    page = (tmp_path / "results" / "report.html").read_text()
    assert page.index("id='summary'") < page.index("id='contents'") < page.index("<section")
    cells = dict(re.findall(r"data-group='claims' data-column='([^']+)' data-count='(\d+)'", page))
    assert cells == {"reproduced": "2", "refuted": "0", "inconclusive": "2", "unverifiable": "2"}
    assert re.search(r"data-group='lessons' data-column='inconclusive' data-count='1'", page)
    ids = set(re.findall(r"id='([^']+)'", page))
    links = re.findall(r"href='#([^']+)'", page)
    assert {"tiny", "tiny--alpha", "tiny--beta"} <= set(links) and set(links) <= ids
    md_ids = set(re.findall(r'<a id="([^"]+)"></a>', report))
    assert set(re.findall(r"\]\(#([^)]+)\)", report)) <= md_ids       # REPORT.md's links land too
    assert "`" not in page                                              # no raw markdown in the HTML
    assert "<nav id='filters' hidden>" in page and "fetch(" not in page  # the filter needs scripts; nothing fetched
    assert page.count("data-verdict='inconclusive'") == 3  # the lesson, listed once, and the two 3-seed targets
    assert "Generated " in page and "Runs on: test cpu" in page         # the provenance line, as in REPORT.md


def test_each_readme_gets_a_dot_plot_and_a_comparison_plot_and_one_epoch_runs_no_curve(tmp_path):
    from harness.report import build_tables
    from harness.report_plots import dot_rows, plot_record

    specs, report = lesson_results(tmp_path)
    plots = tmp_path / "results" / "plots"
    assert "![single-number claims of tiny](plots/tiny--dots.png)" in report
    assert (plots / "tiny--dots.png").stat().st_size > 1000 and (plots / "tiny--comparisons.png").is_file()
    by_source, _, _ = build_tables(specs.parent, tmp_path / "results")
    assert [(i.spec.name, r["claim_id"]) for i, r, _ in dot_rows(by_source["tiny"])] == [
        ("alpha", "test-accuracy-final"), ("beta", "test-accuracy-final")]  # not the lesson, parameters, statement
    record = json.loads((tmp_path / "results" / "records" / "tiny--alpha.cpu.json").read_text())
    one_epoch = {**record, "epochs": 1, "curves": [{**c, "test_accuracy": c["test_accuracy"][:1]}
                                                   for c in record["curves"]]}
    assert plot_record(one_epoch, load_spec(specs / "alpha.yaml"), tmp_path / "one.png") is None


def test_one_outlier_lesson_puts_the_comparison_axis_on_a_log_modulus_scale():
    from harness.report_plots import _pyplot, _symlog_if_squashed

    plt = _pyplot()
    fig, (squashed, even) = plt.subplots(2)
    _symlog_if_squashed(squashed, [85.7, 0.4, -0.3, 1.2, 0.8, -12.5])
    _symlog_if_squashed(even, [1.0, -0.5, 2.0, 0.7])
    assert squashed.get_xscale() == "symlog" and even.get_xscale() == "linear"
    assert all("$" not in t.get_text() for t in squashed.get_xticklabels())  # plain numbers, mathtext is off
    plt.close(fig)


def test_a_lesson_threshold_shows_in_its_difference_text():
    from harness.report import _difference_text

    row = {"extra": {"difference": 4.88, "ci": [3.92, 5.83], "by": 5.0, "direction": "higher"}}
    assert _difference_text(row, "pp") == "+4.88 [+3.92, +5.83] pp; needs >= +5 pp"
    lower = {"extra": {"difference": -2.0, "ci": [-3.0, -1.0], "by": 1.0, "direction": "lower"}}
    assert _difference_text(lower, "epochs").endswith("needs <= -1 epochs")


# --------------------------------------------------------------------------- summary.json and the diff

def test_summary_json_and_the_diff_against_older_results(tmp_path, capsys):
    from harness.cli import main

    specs, _ = lesson_results(tmp_path)
    old = tmp_path / "old"
    (tmp_path / "results").rename(old)
    summary = json.loads((old / "summary.json").read_text())
    lesson = summary["readmes"]["tiny"]["claims"]["tiny/alpha/alpha-beats-beta"]
    assert lesson == {"group": "lessons", "verdict": "inconclusive", "n": 3, "interval": [-0.88, 1.28]}
    alpha = load_spec(specs / "alpha.yaml")
    fake_record(alpha, tmp_path / "results", finals=(96.0, 96.2, 96.1))   # the lesson now holds
    fake_record(load_spec(specs / "beta.yaml"), tmp_path / "results", finals=(95.0, 95.0, 95.0))
    assert main(["report", "--results", str(tmp_path / "results"), "--specs", str(specs.parent), "--no-html",
                 "--against", str(old)]) == 0
    out = capsys.readouterr().out
    assert "tiny/alpha/alpha-beats-beta: inconclusive (n=3, interval -0.88 to +1.28) -> supported" in out
    assert "tiny/beta/" not in out                                       # unchanged claims are not listed
    report = (tmp_path / "results" / "REPORT.md").read_text()
    assert "## Changes since the other results" in report and "-> supported" in report
    assert main(["report", "--results", str(tmp_path / "results"), "--against", str(tmp_path / "nowhere")]) == 2


def test_an_older_results_folder_without_summary_json_is_judged_from_its_records(tmp_path):
    from harness.report_write import load_summary_of

    specs, _ = lesson_results(tmp_path)
    (tmp_path / "results" / "summary.json").unlink()
    data = load_summary_of(Path(tmp_path / "results"), specs.parent)
    assert data["readmes"]["tiny"]["counts"]["lessons"] == {"inconclusive": 1}


def test_new_and_unknown_verdicts_render_in_both_pages(tmp_path):
    from harness.report import build_tables, render_markdown, resolution_text
    from harness.report_html import render_html

    specs, _ = lesson_results(tmp_path)
    by_source, errors, by_spec = build_tables(specs.parent, tmp_path / "results")
    rows = {r["claim_id"]: r for r in by_source["tiny"][0].rows}  # alpha
    rows["test-accuracy-final"]["verdict"] = "refuted-above"      # the verdicts branch's values
    rows["alpha-beats-beta"]["verdict"] = "wobbly"                # a value no table knows
    rows["alpha-beats-beta"]["baseline_mismatch"] = True
    report = render_markdown(by_source, errors, by_spec)
    page = render_html(by_source, errors, by_spec, {}, {})
    assert "| README | reproduced | refuted | inconclusive claims | unverifiable | supported | contradicted | " \
           "negligible | inconclusive lessons | wobbly |" in report
    assert "| [tiny](#tiny) | 2 | 1 (1 above) | 1 | 2 | 0 | 0 | 0 | 0 | 1 |" in report
    assert "baseline differs from the README's" in report and "baseline differs" in page
    assert "data-column='wobbly' data-count='1'" in page and "tr.v-wobbly td{" in page
    tied = {"verdict": "inconclusive", "extra": {"ci": [0.0, 0.0], "difference": 0.0}}
    assert resolution_text(tied) == "no number of seeds would decide it (every pair tied)"
