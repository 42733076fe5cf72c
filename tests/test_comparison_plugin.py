"""A comparison's pytest test: selectable by its id and its README, judged from both specs' runs, else skipped."""

import json
import os

import pytest
from _support import ROOT, run_pytest, write_tiny_specs

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
def test_a_comparison_is_judged_from_both_runs_or_skipped_until_the_other_ran(tmp_path):
    specs = specs_with_a_comparison(tmp_path)
    results, cache = tmp_path / "results", tmp_path / "cache"
    common = ("--specs", str(specs.parent), "--results", str(results), "--audit-cache", str(cache), "--reproduce",
              "--train-subset", "256", "--test-subset", "128", "-rsx", SPEC_TESTS)
    alone = run_pytest(*common, "-k", "alpha-beats-beta")
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "1 skipped" in alone.stdout and "needs tiny/beta trained" in alone.stdout
    assert "progress: 1 of 1 planned specs trained" in alone.stdout  # the ETA line as alpha is judged
    both = run_pytest(*common, "-k", "tiny")  # alpha and beta train in this session: judged from both
    assert both.returncode == 0, both.stdout + both.stderr
    assert "inconclusive, as recorded: tiny/alpha:alpha-beats-beta" in both.stdout
    record = json.loads((results / "records" / "tiny--alpha.cpu.json").read_text())
    again = run_pytest(*common, "-k", "alpha-beats-beta")  # beta now from its record, alpha from the cache
    assert "inconclusive, as recorded: tiny/alpha:alpha-beats-beta" in again.stdout, again.stdout
    assert any(c["claim_id"] == "alpha-beats-beta" for c in record["claims"])
