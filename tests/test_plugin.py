"""The pytest interface: selection by -k, tiers, outcomes that follow the recorded verdicts, records, cache."""

import json
import os

import pytest
from _support import ROOT, run_pytest, write_tiny_specs

needs_mnist = pytest.mark.skipif(not os.environ.get("MNIST_ROOT"), reason="needs MNIST_ROOT")
SPEC_TESTS = str(ROOT / "tests" / "test_specs.py")


def collected(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_k_selects_the_two_iteration_nine_specs_and_nothing_else():
    result = run_pytest("-k", "iteration9", "--collect-only", "-q")
    ids = collected(result)
    assert ids, result.stdout + result.stderr
    assert all("iteration9" in i for i in ids)
    assert {i.split("[")[1].split(":")[0].rstrip("]") for i in ids} == {"sub20k/iteration9", "sub25k-1ep/iteration9"}


def test_slug_and_name_narrow_to_one_spec():
    ids = collected(run_pytest("-k", "sub20k and iteration9", "--collect-only", "-q"))
    assert ids and all("sub20k/iteration9" in i for i in ids)


def test_the_default_run_is_the_fast_tier():
    ids = collected(run_pytest("--collect-only", "-q", SPEC_TESTS))
    assert ids and not [i for i in ids if "test_smoke" in i or "test_claim" in i]


def test_a_path_option_with_a_separate_value_outside_the_project_is_a_clear_usage_error(tmp_path):
    # pytest takes the separate value for a test path and leaves the project's rootdir
    result = run_pytest("--collect-only", "-q", "--results", str(tmp_path))
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"write --results={tmp_path}" in result.stderr


def test_a_path_option_with_equals_keeps_the_project(tmp_path):
    result = run_pytest("--collect-only", "-q", f"--results={tmp_path}", "-k", "iteration9")
    assert result.returncode == 0, result.stdout + result.stderr
    assert collected(result)


@pytest.mark.parametrize("args, tier", [(["-m", "smoke"], "test_smoke"), (["--reproduce"], "test_claim")])
def test_a_tier_runs_when_asked_for(args, tier):
    ids = collected(run_pytest("--collect-only", "-q", *args, SPEC_TESTS))
    assert any(tier in i for i in ids)


def test_a_changed_reality_turns_the_suite_red(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", params_expect="refuted")  # but the count matches
    result = run_pytest("--specs", str(specs.parent), "--results", str(tmp_path / "results"), SPEC_TESTS)
    assert result.returncode == 1
    assert "expected refuted, got reproduced" in result.stdout


def test_a_recorded_refutation_is_an_expected_failure(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    spec = specs / "alpha.yaml"
    spec.write_text(spec.read_text().replace("value: 90, where: test, expect: reproduced",
                                             "value: 91, where: test, expect: refuted"))
    result = run_pytest("--specs", str(specs.parent), "-rx", SPEC_TESTS)
    assert result.returncode == 0, result.stdout
    assert "1 xfailed" in result.stdout and "computed 90, claimed 91" in result.stdout


def test_an_unverifiable_claim_is_skipped_with_its_reason(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    result = run_pytest("--specs", str(specs.parent), "--reproduce", "-k", "qualitative", "-rs", SPEC_TESTS)
    assert "1 skipped" in result.stdout and "no figure" in result.stdout


def test_a_bad_spec_fails_its_own_test_and_the_rest_runs(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("good", "bad"))
    bad = specs / "bad.yaml"
    bad.write_text(bad.read_text().replace("epochs: 2", "epochs: two"))
    result = run_pytest("--specs", str(specs.parent), SPEC_TESTS)
    assert result.returncode == 1
    assert "bad.yaml:" in result.stdout and "recipe.epochs" in result.stdout
    assert "test_spec_is_valid[tiny/good] PASSED" in run_pytest(
        "--specs", str(specs.parent), "-v", SPEC_TESTS).stdout


@needs_mnist
def test_reproduce_writes_records_a_report_and_a_summary_then_serves_the_cache(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    results, cache = tmp_path / "results", tmp_path / "cache"
    args = ("--specs", str(specs.parent), "--results", str(results), "--audit-cache", str(cache), "--reproduce",
            "--train-subset", "256", "--test-subset", "128", SPEC_TESTS)
    first = run_pytest(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "audit:" in first.stdout and "test-accuracy-final" in first.stdout  # the terminal summary table
    record = json.loads((results / "records" / "tiny--alpha.cpu.json").read_text())
    assert record["seeds"] == [0, 1] and len(record["curves"]) == 2 and record["from_cache"] == [False, False]
    assert {c["claim_id"]: c["verdict"] for c in record["claims"]}["test-accuracy-final"] == "reproduced"
    assert record["options"]["train_limit"] == 256 and record["environment"]["torch"]
    assert (results / "REPORT.md").exists() and (results / "report.html").exists()
    second = run_pytest(*args)
    again = json.loads((results / "records" / "tiny--alpha.cpu.json").read_text())
    assert second.returncode == 0 and again["from_cache"] == [True, True]
    assert again["curves"] == record["curves"]
