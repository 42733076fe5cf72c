"""REPORT.md and report.html from records: every record judged now, stale runs shown, plots, escaping."""

import json
import re

from _support import write_tiny_specs

from harness.claims import ClaimResult
from harness.records import build_record, load_records, write_record
from harness.report import _resolution_text, md
from harness.report_write import write_report
from harness.results import SeedCurve, SpecRun
from harness.specs import load_spec

COMPARISON = ('  - {kind: comparison, id: alpha-beats-beta, other: beta, metric: {kind: test_accuracy_final}, '
              'direction: higher, readme: [90, 95], where: test, statement: "alpha | ends <b>higher</b>", '
              'expect: inconclusive}\n')


def fake_record(loaded, results_dir, finals=(95.0, 95.0, 95.0), stored_verdict="reproduced"):
    curves = [SeedCurve(s, test_accuracy=[90.0, v], test_loss=[0.5, 0.3], train_accuracy=[80.0, 90.0],
                        train_loss=[0.6, 0.4], lr=[0.05, 0.05]) for s, v in enumerate(finals)]
    seeds = list(range(len(finals)))
    run = SpecRun(loaded.id, seeds, curves, [False] * len(seeds), 1.5, 2,
                  {"device": "cpu", "device_name": "test cpu", "torch": "x", "cpu_count": 2})
    claims = [ClaimResult("test-accuracy-final", "test_accuracy_final", "95%", [90.0, 100.0], list(finals), 95.0, 0.0,
                          stored_verdict, "reproduced")]
    return write_record(results_dir, loaded, build_record(loaded, run, claims, 90))


def section(report: str, anchor: str) -> str:
    """The lines of one spec's section of REPORT.md (from its anchor to the next)."""
    lines = report.splitlines()
    start = lines.index(f'<a id="{anchor}"></a>')
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('<a id="')), len(lines))
    return "\n".join(lines[start:end])


def report_of(tmp_path, specs, html_too=True):
    write_report(tmp_path / "results", specs_root=specs.parent, html_too=html_too)
    return (tmp_path / "results" / "REPORT.md").read_text()


def test_report_lists_every_spec_with_measured_claims_and_curves(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    fake_record(load_spec(specs / "alpha.yaml"), tmp_path / "results")
    report = report_of(tmp_path, specs)
    alpha, beta = section(report, "tiny--alpha"), section(report, "tiny--beta")
    # 3 of 3: the share's 90% interval (0.37-1) does not clear 1/2
    assert "| test-accuracy-final | >= 0% | 3 of 3 seeds meet it (95.00 ± 0.00 (n=3)) | >= 0 | **inconclusive**[^" in alpha
    assert "| test-accuracy-final | >= 0% | - | - | **not run** |" in beta      # no record: listed, not run
    assert "| parameters | 90 | 90 | 90 | **reproduced**" in alpha                # counts from the spec's shape plan
    assert "Run: cpu, 3 seeds" in alpha and "Run: not run." in beta             # the run, once per spec
    assert (tmp_path / "results" / "plots" / "tiny--alpha.cpu.png").stat().st_size > 1000


def test_stored_verdicts_are_never_shown_every_record_is_judged_now(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    fake_record(load_spec(specs / "alpha.yaml"), tmp_path / "results", stored_verdict="refuted")
    assert "**refuted**" not in report_of(tmp_path, specs, html_too=False)
    spec = specs / "alpha.yaml"  # an edited claim takes effect without retraining (claims are not trained on)
    spec.write_text(spec.read_text().replace("band: [0, 100], where: test, expect: inconclusive",
                                              "band: [99, 100], where: test, expect: reproduced"))
    report = report_of(tmp_path, specs, html_too=False)
    assert "| test-accuracy-final | >= 99% | 0 of 3 seeds meet it" in report
    assert "**inconclusive** (spec expects reproduced)" in report  # the expected verdict only where it differs
    assert report.count("(spec expects") == 1


def test_a_record_of_an_older_training_is_stale_not_judged(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    fake_record(load_spec(specs / "alpha.yaml"), tmp_path / "results")
    spec = specs / "alpha.yaml"
    spec.write_text(spec.read_text().replace("batch_size: 32", "batch_size: 64"))
    report = report_of(tmp_path, specs)
    assert "**stale**" in report and "re-run it" in report
    assert "3 of 3 seeds" not in report


def lesson_report(tmp_path, alpha_finals, beta_finals) -> tuple[str, str]:
    """REPORT.md of alpha (with the comparison against beta) and beta, and the lesson's story row."""
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    alpha = specs / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("fidelity:\n", COMPARISON + "fidelity:\n", 1))
    fake_record(load_spec(alpha), tmp_path / "results", finals=alpha_finals)
    fake_record(load_spec(specs / "beta.yaml"), tmp_path / "results", finals=beta_finals)
    report = report_of(tmp_path, specs)
    return report, next(line for line in report.splitlines() if line.startswith("| alpha vs beta"))


def test_comparisons_get_a_story_table_and_a_forest_plot(tmp_path):
    report, row = lesson_report(tmp_path, (95.0, 95.5, 96.0), (94.0, 94.4, 95.1))
    assert row == ("| alpha vs beta\\: alpha \\| ends &lt;b>higher&lt;/b> | 90 -> 95 (+5) | "
                   "+1.00 \\[+0.75, +1.25\\] pp | 3 | **supported** (spec expects inconclusive) |")
    assert report.count("| alpha vs beta") == 1  # each comparison listed once, in the lessons table
    assert "Seeds to decide:" not in report  # nothing undecided to project
    assert "![comparisons of tiny](plots/tiny--comparisons.png)" in report
    # the summary: 2 parameter counts reproduced, 2 targets inconclusive (3 seeds never decide a target), 2
    # unverifiable; the lesson supported
    assert "| [tiny](#tiny) | 2 | 0 | 2 | 2 | 1 | 0 | 0 | 0 |" in report
    assert (tmp_path / "results" / "plots" / "tiny--comparisons.png").stat().st_size > 1000
    record = json.loads((tmp_path / "results" / "records" / "tiny--alpha.cpu.json").read_text())
    assert record["claims"][0]["kind"] == "test_accuracy_final"  # records carry results as JSON (this one stored)


def test_an_undecided_lesson_shows_what_its_seeds_detect_and_exclude(tmp_path):
    # differences +0.5, -0.3, +0.4: mean +0.2, sd 0.436, n = 3: (t(0.975, 2) + t(0.8, 2)) * 0.436 / sqrt(3)
    report, row = lesson_report(tmp_path, (95.5, 94.7, 95.4), (95.0, 95.0, 95.0))
    assert "| +0.20 \\[-0.88, +1.28\\] pp | 3 | **inconclusive**" in row
    assert "detects ±" in row and "with 80% power; beyond ±1.28 excluded" in row
    assert "What n buys" in report and "seeds would decide" not in report
    page = (tmp_path / "results" / "report.html").read_text()
    assert "with 80% power; beyond ±1.28 excluded" in page
    # epochs to a threshold have no floor: every seed reaching it in the same epoch in both specs is a tie
    # no number of seeds can break (and not identical runs, whose curves would match everywhere)
    tied = {"verdict": "inconclusive", "extra": {"ci": [0.0, 0.0], "difference": 0.0}}
    assert _resolution_text(tied) == "never (every pair tied)"
    assert _resolution_text({**tied, "verdict": "supported"}) == "-"


def test_every_plot_the_page_shows_exists_and_every_record_has_one(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta", "gamma"))
    for name in ("alpha", "gamma"):
        fake_record(load_spec(specs / f"{name}.yaml"), tmp_path / "results")
    report_of(tmp_path, specs)
    page = (tmp_path / "results" / "report.html").read_text()
    shown = re.findall(r"<img src='([^']+)'", page)
    assert shown and all((tmp_path / "results" / src).is_file() for src in shown)
    for record in load_records(tmp_path / "results"):
        assert any(record["spec"].replace("/", "--") in src for src in shown), record["spec"]


def test_untrusted_spec_strings_are_escaped_everywhere(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "cost$x^2$"))
    spec = specs / "alpha.yaml"
    spec.write_text(spec.read_text().replace("title: tiny alpha", 'title: "<script>alert(1)</script> & co"')
                    .replace('statement: "a thing"', 'statement: "<img src=x onerror=alert(2)> |\\n| x"'))
    fake_record(load_spec(spec), tmp_path / "results")
    fake_record(load_spec(specs / "cost$x^2$.yaml"), tmp_path / "results")  # `$` would start mathtext
    report = report_of(tmp_path, specs)
    page = (tmp_path / "results" / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<img src=x" not in report
    row = next(line for line in section(report, "tiny--alpha").splitlines() if line.startswith("| qualitative |"))
    assert "&lt;img src=x onerror=alert(2)> \\| \\| x" in row and row.count(" | ") == 4  # one row, 5 cells
    assert (tmp_path / "results" / "plots" / "tiny--cost$x^2$.cpu.png").stat().st_size > 1000


def test_markdown_cells_cannot_break_tables_or_carry_html():
    assert md("a|b\nc<i>`d`&amp;") == "a\\|b c&lt;i>\\`d\\`&amp;amp;"


def test_unreadable_records_are_skipped_not_fatal(tmp_path, capsys):
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "broken.cpu.json").write_text("{half a rec")
    (tmp_path / "records" / "other.cpu.json").write_text(json.dumps({"format": 999}))
    assert load_records(tmp_path) == []
    assert "broken.cpu.json" in capsys.readouterr().out


def test_expectations_are_rederived_from_records_and_rewritten_in_place(tmp_path):
    from harness.expectations import changes, write

    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    alpha = specs / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("band: [0, 100]", "band: [99, 100]"))
    fake_record(load_spec(alpha), tmp_path / "results", finals=(95.0,) * 5, stored_verdict="reproduced")
    found = changes(tmp_path / "results", specs_root=specs.parent)
    assert [(c.spec.id, c.claim_id, c.recorded, c.measured) for c in found] == [
        ("tiny/alpha", "test-accuracy-final", "inconclusive", "refuted-above")]
    before = alpha.read_text()
    write(found)
    after = alpha.read_text()
    assert after == before.replace("band: [99, 100], where: test, expect: inconclusive",
                                   "band: [99, 100], where: test, expect: refuted-above")
    assert load_spec(alpha).spec.claims[1].expect == "refuted-above"
    assert changes(tmp_path / "results", specs_root=specs.parent) == []


def test_a_train_test_gap_claim_gets_its_own_panel_zoomed_on_the_seeds_and_its_edge(tmp_path):
    import struct

    from harness.report_plots import PANELS, _zoom, plot_record

    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha",))
    spec = specs / "alpha.yaml"
    path = fake_record(load_spec(spec), tmp_path / "results")
    one = plot_record(json.loads(path.read_text()), load_spec(spec), tmp_path / "one.png")
    gap = "  - {kind: train_test_gap, epoch: 2, band: [-100, 0], where: test, expect: refuted-below}\n"
    spec.write_text(spec.read_text().replace("claims:\n", "claims:\n" + gap))
    loaded = load_spec(spec)
    marks = [m for c in loaded.spec.claims for m in c.marks(2)]
    target = [(m.panel, m.label) for m in marks if m.ys == (-100.0, 0.0)]
    assert target == [("gap", "train-test-gap-epoch2: <= 0 pp (target)")]
    path = fake_record(loaded, tmp_path / "results")
    png = plot_record(json.loads(path.read_text()), loaded, tmp_path / "alpha.png")
    size = lambda p: struct.unpack(">II", p.read_bytes()[16:24])  # noqa: E731  (PNG header: width, height)
    assert size(png)[1] > 1.6 * size(one)[1]  # test and gap panels, one legend below both
    assert size(one)[0] > 1400  # 8.2 inches at 2x (180 dpi), cropped to the content
    # the seeds' late gaps (-5 pp at epoch 2, as in fake_record) and the band's edge at 0; not its open end
    low, high = _zoom([0.0], [[-10.0, -10.0], [-5.0, -5.0]], PANELS["gap"][2])
    assert -6.0 < low < -5.0 and 0.0 < high < 1.0


def test_the_genre_table_counts_each_claim_kind_across_the_readmes(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    fake_record(load_spec(specs / "alpha.yaml"), tmp_path / "results")
    report = report_of(tmp_path, specs)
    genre = report[report.index("## Across the READMEs"):report.index("## Contents")]
    # alpha and beta: a parameter count each (reproduced), a 3-seed target (inconclusive) and a not-run one, two
    # qualitative claims (unverifiable)
    assert "| parameters | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |" in genre
    assert "| test\\_accuracy\\_final | 0 | 0 | 0 | 1 | 0 | 1 | 0 | 0 | 0 | 0 |" in genre
    assert "| qualitative | 0 | 0 | 0 | 0 | 2 | 0 | 0 | 0 | 0 | 0 |" in genre
    assert "Across all 1 READMEs" in genre and "0 findings" in genre
    assert "id='genre'" in (tmp_path / "results" / "report.html").read_text()
