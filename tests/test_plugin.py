"""The pytest interface: selection by -k, tiers, outcomes that follow the recorded verdicts, records, cache."""

import json
import os

import pytest
from _support import ROOT, run_pytest, write_tiny_specs

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

needs_mnist = pytest.mark.skipif(not os.environ.get("MNIST_ROOT"), reason="needs MNIST_ROOT")
SPEC_TESTS = str(ROOT / "tests" / "test_specs.py")


def collected(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_k_selects_every_iteration_nine_spec_and_nothing_else():
    result = run_pytest("-k", "iteration9", "--collect-only", "-q")
    ids = collected(result)
    assert ids, result.stdout + result.stderr
    assert all("iteration9" in i for i in ids)
    on_disk = {f"{p.parent.name}/{p.stem}" for p in (ROOT / "specs").glob("*/iteration9.yaml")}
    assert {"sub20k/iteration9", "sub25k-1ep/iteration9"} <= on_disk  # the folders the README's examples name
    assert {i.split("[")[1].split(":")[0].rstrip("]") for i in ids} == on_disk


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
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", params_expect="refuted-below")  # but the count matches
    result = run_pytest("--specs", str(specs.parent), "--results", str(tmp_path / "results"), SPEC_TESTS)
    assert result.returncode == 1
    assert "expected refuted-below, got reproduced" in result.stdout


def test_a_recorded_refutation_is_an_expected_failure(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    spec = specs / "alpha.yaml"
    spec.write_text(spec.read_text().replace("value: 90, where: test, expect: reproduced",
                                             "value: 91, where: test, expect: refuted-above"))
    result = run_pytest("--specs", str(specs.parent), "-rx", SPEC_TESTS)
    assert result.returncode == 0, result.stdout
    assert "1 xfailed" in result.stdout and "computed 90, claimed 91" in result.stdout


def test_an_unverifiable_claim_is_skipped_with_its_reason(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    result = run_pytest("--specs", str(specs.parent), "--results", str(tmp_path / "results"), "--reproduce",
                        "-k", "qualitative", "-rs", SPEC_TESTS)  # its own results folder: the repo's stays untouched
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
    # 2 of 2 seeds meet the target: its 90% interval (0.22-1) does not clear 1/2, so it is not yet decided
    assert {c["claim_id"]: c["verdict"] for c in record["claims"]}["test-accuracy-final"] == "inconclusive"
    assert record["options"]["train_limit"] == 256 and record["environment"]["torch"]
    assert (results / "REPORT.md").exists() and (results / "report.html").exists()
    second = run_pytest(*args)
    again = json.loads((results / "records" / "tiny--alpha.cpu.json").read_text())
    assert second.returncode == 0 and "planned: nothing to train" in second.stdout  # served from the cache
    assert again == record  # nothing new trained or judged: the record is left as it was


# --------------------------------------------------------------------------- a plugin that behaves

def test_the_audit_plugin_starts_beside_pytest_timeout():
    pytest.importorskip("pytest_timeout")  # a dev extra: `pip install -e ".[dev]"`
    result = run_pytest("--timeout", "120", "--run-timeout", "5", "--collect-only", "-q", "-m", "slow", __file__)
    assert result.returncode == 0, result.stdout + result.stderr
    help_text = run_pytest("--help").stdout
    assert "--run-timeout=S" in help_text and "--timeout=TIMEOUT" in help_text  # both plugins' options


OTHER_PROJECT_TEST = '''
import sys

import pytest


@pytest.mark.smoke  # this project's tier names mean nothing here: never deselected
def test_the_audit_entry_point_changes_nothing_here():
    assert "harness.pytest_options" in sys.modules  # the entry point is loaded...
    heavy = [m for m in sys.modules if m.split(".")[0] in ("torch", "numpy", "matplotlib")]
    assert not heavy, heavy  # ...and imported nothing heavy
'''


def test_the_entry_point_only_registers_options_in_another_project(tmp_path):
    (tmp_path / "test_other.py").write_text(OTHER_PROJECT_TEST)
    (tmp_path / "results").mkdir()  # a separate path value is not ours to judge in another project
    result = run_pytest("-q", "-W", "ignore::pytest.PytestUnknownMarkWarning", "test_other.py", "--results", "results",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.parametrize("option, value, says", [
    ("--shard", "3/2", "K must be between 1 and N"),
    ("--seeds", "0", "between 1 and"),
    ("--train-subset", "-5", "must be 1 or more"),
    ("--run-timeout", "-1", "0 or more"),
])
def test_a_bad_option_value_is_a_usage_error_before_collection(option, value, says):
    result = run_pytest("-q", f"{option}={value}", SPEC_TESTS)
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"argument {option}:" in result.stderr and says in result.stderr
    assert "collected" not in result.stdout


def test_claim_test_ids_have_one_format():
    from harness.pytest_options import claim_test_id, spec_of_claim_node

    test_id = claim_test_id("sub20k/iteration9", "test-accuracy-final")
    assert spec_of_claim_node(f"tests/test_specs.py::test_claim[{test_id}]") == "sub20k/iteration9"
    assert spec_of_claim_node(f"tests/test_specs.py::test_parameter_claim[{test_id}]") is None
