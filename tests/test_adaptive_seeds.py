"""`--seeds auto`: a claim or comparison undecided at n seeds gets more (3 -> 5 -> 10, capped), reusing seeds."""

import json
import os

import pytest
import torch
from _support import write_tiny_specs

from harness.audit import AUTO_STEPS, Audit, more_seeds
from harness.claims import ClaimResult
from harness.results import SpecRun
from harness.specs import load_spec


def test_more_seeds_keeps_the_readmes_seed_first_and_fills_the_smallest_unused():
    assert more_seeds([0, 1, 2], 5) == [0, 1, 2, 3, 4]
    assert more_seeds([1], 3) == [1, 0, 2]
    assert more_seeds([0, 1, 2, 3, 4], 3) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("cap", "ladder"), [(10, [3, 5, 10]), (5, [3, 5]), (7, [3, 5, 7]), (3, [3])])
def test_the_ladder_stops_at_the_cap(cap, ladder):
    audit = Audit(device=torch.device("cpu"), seeds="auto", max_seeds=cap)
    seeds, seen = more_seeds([], AUTO_STEPS[0]), []
    while seeds is not None:
        seen.append(len(seeds))
        seeds = audit.next_seeds(seeds)
    assert seen == ladder
    assert Audit(device=torch.device("cpu"), seeds=3).next_seeds([0, 1, 2]) is None  # only with auto


def fake_run(decided_at: int, calls: list):
    def run_and_judge(self, loaded, seeds):
        calls.append(list(seeds))
        verdict = "reproduced" if len(seeds) >= decided_at else "inconclusive"
        run = SpecRun(loaded.id, list(seeds), [], [], 0.0, 1, {"device": "cpu"})
        return run, [ClaimResult("final", "test_accuracy_final", "99%", None, verdict=verdict)]
    return run_and_judge


@pytest.mark.parametrize(("decided_at", "cap", "asked"), [(3, 10, [3]), (5, 10, [3, 5]), (10, 10, [3, 5, 10]),
                                                         (10, 5, [3, 5])])
def test_an_undecided_spec_gets_more_seeds_until_decided_or_capped(tmp_path, monkeypatch, decided_at, cap, asked):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    calls = []
    monkeypatch.setattr(Audit, "_run_and_judge", fake_run(decided_at, calls))
    audit = Audit(device=torch.device("cpu"), seeds="auto", max_seeds=cap)
    run, results = audit.reproduce(loaded)
    assert [len(c) for c in calls] == asked
    assert run.seeds == list(range(asked[-1]))
    assert audit.reproduce(loaded)[0] is run  # judged once per session


def test_auto_is_a_valid_option_value_and_nonsense_is_a_usage_error():
    from harness.option_types import OptionValueError, seed_count

    assert seed_count("auto") == "auto" and seed_count("5") == 5
    with pytest.raises(OptionValueError):
        seed_count("many")


def lesson_specs(tmp_path):
    folder = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"), epochs=1)
    beta = folder / "beta.yaml"
    # momentum nudged: not the same computation (identical runs would contradict at once), a near-zero effect
    beta.write_text(beta.read_text().replace("momentum: 0.9}", "momentum: 0.9001}").replace(
        "claims:\n", "claims:\n  - {kind: comparison, id: beta-beats-alpha, "
                                             "other: alpha, metric: {kind: test_accuracy_final}, direction: higher, "
                                             "where: test, statement: same recipe, expect: inconclusive}\n"))
    return load_spec(folder / "alpha.yaml"), load_spec(beta)


def test_an_undecided_comparison_grows_both_specs(tmp_path, tiny_mnist):
    audit = Audit(device=torch.device("cpu"), seeds="auto", max_seeds=5, train_subset=256, test_subset=64)
    audit._mnist = tiny_mnist
    alpha, beta_spec = lesson_specs(tmp_path)
    audit.reproduce(alpha)
    result = audit.judged(beta_spec, "beta-beats-alpha")
    # a negligible change on the same seeds: a difference no n can call, so both grow to the cap of 5
    assert result.verdict == "inconclusive" and not result.extra["identical_runs"]
    assert audit.run_of(alpha).seeds == audit.run_of(beta_spec).seeds == [0, 1, 2, 3, 4]


def test_the_other_spec_first_catches_up_with_this_ones_seeds(tmp_path, tiny_mnist):
    audit = Audit(device=torch.device("cpu"), seeds="auto", max_seeds=5, train_subset=256, test_subset=64)
    audit._mnist = tiny_mnist
    alpha, beta_spec = lesson_specs(tmp_path)
    audit.reproduce(alpha, [0, 1, 2])
    audit.reproduce(beta_spec, [0, 1, 2, 3, 4])  # at the cap already: only alpha can grow
    result = audit.judged(beta_spec, "beta-beats-alpha")
    assert result.extra["common_seeds"] == [0, 1, 2, 3, 4]
    assert audit.run_of(alpha).seeds == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not os.environ.get("MNIST_ROOT"), reason="needs MNIST_ROOT")
def test_harness_run_auto_grows_an_undecided_lesson_like_pytest(tmp_path, capsys):
    from harness.cli import main

    folder = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"), epochs=1)
    beta = folder / "beta.yaml"
    beta.write_text(beta.read_text().replace("momentum: 0.9}", "momentum: 0.9001}").replace(
        "claims:\n", "claims:\n  - {kind: comparison, id: beta-beats-alpha, other: alpha, metric: "
        "{kind: test_accuracy_final}, direction: higher, where: test, statement: same recipe, expect: inconclusive}\n"))
    results = tmp_path / "results"
    code = main(["run", str(beta), "--seeds", "auto", "--max-seeds", "5", "--train-subset", "256", "--test-subset", "64",
                 "--results", str(results), "--audit-cache", str(tmp_path / "cache"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "beta-beats-alpha" in out and "(n=5)" in out
    seeds = {p.name: json.loads(p.read_text())["seeds"] for p in (results / "records").glob("*.json")}
    assert seeds == {"tiny--alpha.cpu.json": [0, 1, 2, 3, 4], "tiny--beta.cpu.json": [0, 1, 2, 3, 4]}
