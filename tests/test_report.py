"""REPORT.md and report.html from records: every spec listed, curves drawn, spec strings escaped."""

import json

from _support import write_tiny_specs

from harness.claims import ClaimResult
from harness.records import build_record, load_records, write_record
from harness.report import write_report
from harness.results import SeedCurve, SpecRun
from harness.specs import load_spec


def fake_record(loaded, results_dir, accuracy=(90.0, 95.0), verdict="reproduced"):
    curves = [SeedCurve(s, test_accuracy=list(accuracy), test_loss=[0.5, 0.3], train_accuracy=[80.0, 90.0],
                        train_loss=[0.6, 0.4], lr=[0.05, 0.05]) for s in (0, 1)]
    run = SpecRun(loaded.id, [0, 1], curves, [False, False], 1.5, 2,
                  {"device": "cpu", "device_name": "test cpu", "torch": "x", "cpu_count": 2})
    claims = [ClaimResult("test-accuracy-final", "test_accuracy_final", "95%", [90.0, 100.0], [95.0, 95.0], 95.0, 0.0,
                          verdict, "reproduced")]
    return write_record(results_dir, loaded, build_record(loaded, run, claims, 90))


def test_report_lists_every_spec_with_measured_claims_and_curves(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    fake_record(load_spec(specs / "alpha.yaml"), tmp_path / "results")
    written = write_report(tmp_path / "results", specs_root=specs.parent)
    report = (tmp_path / "results" / "REPORT.md").read_text()
    assert "| alpha | test-accuracy-final | 95% | 90.00-100.00 | 95.00 ± 0.00 (n=2) | reproduced |" in report
    assert "| beta | test-accuracy-final |" in report and "not run" in report   # no record: listed, not run
    assert "| alpha | parameters | 90 |" in report                               # counts judged from the spec
    assert (tmp_path / "results" / "plots" / "tiny--alpha.cpu.png").stat().st_size > 1000
    assert len(written) == 2 and "plots/tiny--alpha.cpu.png" in (tmp_path / "results" / "report.html").read_text()


def test_a_changed_verdict_is_flagged(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    fake_record(load_spec(specs / "alpha.yaml"), tmp_path / "results", verdict="refuted")
    write_report(tmp_path / "results", specs_root=specs.parent, html_too=False)
    assert "refuted **(changed)**" in (tmp_path / "results" / "REPORT.md").read_text()


def test_spec_strings_are_escaped_in_html(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    spec = specs / "alpha.yaml"
    spec.write_text(spec.read_text().replace("title: tiny alpha", 'title: "<script>alert(1)</script> & co"')
                    .replace('statement: "a thing"', "statement: \"<img src=x onerror=alert(2)>\""))
    fake_record(load_spec(spec), tmp_path / "results")
    write_report(tmp_path / "results", specs_root=specs.parent)
    page = (tmp_path / "results" / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page


def test_unreadable_records_are_skipped_not_fatal(tmp_path, capsys):
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "broken.cpu.json").write_text("{half a rec")
    (tmp_path / "records" / "other.cpu.json").write_text(json.dumps({"format": 999}))
    assert load_records(tmp_path) == []
    assert "broken.cpu.json" in capsys.readouterr().out


def test_expectations_follow_full_runs_and_are_rewritten_in_place(tmp_path):
    from harness.expectations import changes, write

    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    fake_record(load_spec(specs / "alpha.yaml"), tmp_path / "results", verdict="refuted")
    found = changes(tmp_path / "results", specs_root=specs.parent)
    assert [(c.spec.id, c.claim_id, c.recorded, c.measured) for c in found] == [
        ("tiny/alpha", "test-accuracy-final", "reproduced", "refuted")]
    before = (specs / "alpha.yaml").read_text()
    write(found)
    after = (specs / "alpha.yaml").read_text()
    assert after == before.replace("band: [0, 100], where: test, expect: reproduced",
                                   "band: [0, 100], where: test, expect: refuted")
    assert load_spec(specs / "alpha.yaml").spec.claims[1].expect == "refuted"
    assert changes(tmp_path / "results", specs_root=specs.parent) == []
