"""A comparison's pytest test: selectable by its id and its README, judged from both specs' runs, else skipped."""

import json
import os

import pytest
from _support import ROOT, run_pytest, write_tiny_specs

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

needs_mnist = pytest.mark.skipif(not os.environ.get("MNIST_ROOT"), reason="needs MNIST_ROOT")
SPEC_TESTS = str(ROOT / "tests" / "test_specs.py")
COMPARISON = ('  - {kind: comparison, id: alpha-beats-beta, other: beta, metric: {kind: test_accuracy_final}, '
              'direction: higher, where: test, statement: "alpha ends higher", expect: inconclusive}\n')


def specs_with_a_comparison(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    alpha = specs / "alpha.yaml"
    # momentum nudged: a different computation (bit-identical runs would contradict the lesson outright)
    alpha.write_text(alpha.read_text().replace("fidelity:\n", COMPARISON + "fidelity:\n", 1)
                     .replace("momentum: 0.9}", "momentum: 0.9001}"))
    return specs


def test_a_comparison_is_selected_by_its_id_and_by_its_readme(tmp_path):
    specs = specs_with_a_comparison(tmp_path)
    by_id = run_pytest("--specs", str(specs.parent), "--reproduce", "--collect-only", "-q", "-k", "alpha-beats-beta",
                       SPEC_TESTS)
    ids = [line for line in by_id.stdout.splitlines() if "::" in line]
    assert ids == ["tests/test_specs.py::test_claim[tiny/alpha:alpha-beats-beta]"], by_id.stdout
    by_slug = run_pytest("--specs", str(specs.parent), "--reproduce", "--collect-only", "-q", "-k", "tiny", SPEC_TESTS)
    assert "test_claim[tiny/alpha:alpha-beats-beta]" in by_slug.stdout


def test_check_names_a_missing_other_spec(tmp_path):
    import subprocess
    import sys

    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha",))
    alpha = specs / "alpha.yaml"
    alpha.write_text(alpha.read_text().replace("fidelity:\n", COMPARISON + "fidelity:\n", 1))
    result = subprocess.run([sys.executable, "-m", "harness", "check", str(specs)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    assert "alpha.yaml: claims[3].other: no spec 'tiny/beta'" in result.stderr


@needs_mnist
def test_selecting_a_comparison_brings_both_specs_runs_and_trains_each_once(tmp_path):
    specs = specs_with_a_comparison(tmp_path)
    results, cache = tmp_path / "results", tmp_path / "cache"
    common = ("--specs", str(specs.parent), "--results", str(results), "--audit-cache", str(cache), "--reproduce",
              "--train-subset", "256", "--test-subset", "128", "-rsx", SPEC_TESTS)
    alone = run_pytest(*common, "-k", "alpha-beats-beta")  # beta's claims are not selected: beta trains for it
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "inconclusive, as recorded: tiny/alpha:alpha-beats-beta" in alone.stdout
    assert "planned: 2 specs" in alone.stdout                          # the estimate counts the other spec
    assert "progress: 2 of 2 planned specs trained" in alone.stdout    # the lesson shows both trained
    assert "all trained" in alone.stdout
    assert sorted(p.name for p in (results / "records").glob("*.json")) == ["tiny--alpha.cpu.json",
                                                                          "tiny--beta.cpu.json"]
    record = json.loads((results / "records" / "tiny--alpha.cpu.json").read_text())
    assert any(c["claim_id"] == "alpha-beats-beta" for c in record["claims"])
    both = run_pytest(*common, "-k", "tiny", "-n", "2")  # every claim, two workers: served, nothing retrained
    assert both.returncode == 0, both.stdout + both.stderr
    assert "planned: nothing to train" in both.stdout
    assert "inconclusive, as recorded: tiny/alpha:alpha-beats-beta" in both.stdout
