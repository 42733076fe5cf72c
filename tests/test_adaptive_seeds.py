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

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)


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


def fake_run(decided_at: int, calls: list, decided="refuted-above"):
    def run_and_judge(self, loaded, seeds):
        calls.append(list(seeds))
        verdict = decided if len(seeds) >= decided_at else "inconclusive"
        run = SpecRun(loaded.id, list(seeds), [], [], 0.0, 1, {"device": "cpu"})
        claim = next(c for c in loaded.spec.claims if c.trained)  # the tiny spec's own trained claim
        return run, [ClaimResult(claim.claim_id, claim.kind, "99%", None, verdict=verdict)]
    return run_and_judge


@pytest.mark.parametrize(("decided_at", "cap", "asked"), [(3, 10, [3]), (5, 10, [3, 5]), (10, 10, [3, 5, 10]),
                                                         (10, 5, [3, 5])])
def test_an_undecided_spec_gets_more_seeds_until_refuted_or_capped(tmp_path, monkeypatch, decided_at, cap, asked):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    calls = []
    monkeypatch.setattr(Audit, "_run_and_judge", fake_run(decided_at, calls))
    audit = Audit(device=torch.device("cpu"), seeds="auto", max_seeds=cap)
    run, results = audit.reproduce(loaded)
    assert [len(c) for c in calls] == asked
    assert run.seeds == list(range(asked[-1]))
    assert audit.reproduce(loaded)[0] is run  # judged once per session


@pytest.mark.parametrize(("cap", "asked"), [(10, [3, 5, 10]), (5, [3, 5])])
def test_reproduced_before_the_ladders_last_look_is_not_final(tmp_path, monkeypatch, cap, asked):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    calls = []
    monkeypatch.setattr(Audit, "_run_and_judge", fake_run(3, calls, decided="reproduced"))
    Audit(device=torch.device("cpu"), seeds="auto", max_seeds=cap).reproduce(loaded)
    assert [len(c) for c in calls] == asked  # reproduced at 3 seeds: looked at again until the cap


@pytest.mark.parametrize(("cap", "looks"), [(10, 3), (5, 2), (7, 3), (3, 1), (20, 4)])
def test_the_ladders_looks_share_the_error(cap, looks):
    from harness.audit import ladder_looks

    assert ladder_looks(cap) == looks
    assert Audit(device=torch.device("cpu"), seeds="auto", max_seeds=cap).looks == looks
    assert Audit(device=torch.device("cpu"), seeds=10).looks == 1


def test_auto_is_a_valid_option_value_and_nonsense_is_a_usage_error():
    from harness.option_types import OptionValueError, seed_count

    assert seed_count("auto") == "auto" and seed_count("5") == 5
    with pytest.raises(OptionValueError):
        seed_count("many")


@pytest.mark.parametrize(("mine", "theirs", "cap", "wanted"), [
    (3, 3, 10, 5), (5, 5, 10, 10), (10, 10, 10, None),  # level: the ladder's next step, none at the cap
    (3, 5, 10, 5), (5, 3, 10, 5), (5, 10, 10, 10),        # apart: the one behind catches up
    (3, 10, 5, 5), (5, 10, 5, None), (10, 5, 5, None),    # never past the cap, even to catch up
    (3, 0, 10, 3),                                         # the other has none of these seeds: it gets them
])
def test_one_rule_brings_a_lessons_two_specs_level_then_up_the_ladder(mine, theirs, cap, wanted):
    from harness.audit import lesson_seed_count

    assert lesson_seed_count(mine, theirs, cap) == wanted


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


def recorded(loaded, results_dir, finals):
    """A record of `loaded` with one seed per final accuracy (two epochs), as a finished run writes it."""
    from harness.records import build_record, write_record
    from harness.results import SeedCurve

    curves = [SeedCurve(s, test_accuracy=[90.0, v], test_loss=[0.5, 0.3], train_accuracy=[80.0, 90.0],
                        train_loss=[0.6, 0.4], lr=[0.05, 0.05]) for s, v in enumerate(finals)]
    from harness.environment import capture

    run = SpecRun(loaded.id, list(range(len(finals))), curves, [False] * len(finals), 1.0, 2,
                  capture(torch.device("cpu")))  # this machine's: the plan reuses the record's seeds
    write_record(results_dir, loaded, build_record(loaded, run, [], 90))


@pytest.mark.parametrize(("beta_finals", "cap", "wanted"), [
    ((95.5, 94.7, 95.4, 95.1, 94.8), 10, {"alpha": 5, "beta": 5}),        # lesson undecided: alpha catches up
    ((96.0, 96.1, 95.9, 96.0, 96.2), 10, {"alpha": 3, "beta": 5}),        # lesson decided: nothing grows
])
def test_the_plan_of_an_auto_sitting_follows_the_records_verdicts(tmp_path, beta_finals, cap, wanted):
    from harness.audit import auto_seeds
    from harness.records import load_records

    alpha, beta = lesson_specs(tmp_path)
    gamma_path = alpha.path.parent / "gamma.yaml"
    # gamma: first no record at all, then a target one of three seeds meets (a minority, too few to refute)
    gamma_path.write_text(alpha.path.read_text().replace("band: [0, 100]", "band: [95.2, 100]"))
    gamma = load_spec(gamma_path)
    alpha, beta = (without_own_target(s) for s in (alpha, beta))  # only the lesson asks alpha and beta for seeds
    results = tmp_path / "results"
    recorded(alpha, results, (95.0, 95.0, 95.0))
    recorded(beta, results, beta_finals)
    specs = [alpha, beta, gamma]
    sizes = {sid.split("/")[-1]: len(s) for sid, s in auto_seeds(specs, load_records(results), "cpu", cap).items()}
    assert sizes == {**wanted, "gamma": 3}  # no record: the ladder's first step
    recorded(gamma, results, (95.0, 95.0, 95.5))
    assert len(auto_seeds(specs, load_records(results), "cpu", cap)[gamma.id]) == 5  # undecided own claim
    assert len(auto_seeds(specs, load_records(results), "cpu", 3)[gamma.id]) == 3  # at the cap


def without_own_target(loaded):
    """The spec without its always-met target (not final before the ladder's last look: it would grow the spec)."""
    loaded.path.write_text(loaded.path.read_text().replace(
        "  - {kind: test_accuracy_final, band: [0, 100], where: test, expect: inconclusive}\n", ""))
    return load_spec(loaded.path)


def test_harness_plan_prices_the_next_auto_sitting(tmp_path, capsys):
    from harness.cli import main

    alpha, beta = lesson_specs(tmp_path)
    recorded(alpha, tmp_path / "results", (95.0, 95.0, 95.0))
    recorded(beta, tmp_path / "results", (95.5, 94.7, 95.4, 95.1, 94.8))
    args = ["plan", "--specs", str(tmp_path / "specs"), "--results", str(tmp_path / "results"), "--seeds", "auto",
            "--no-calibrate", "--audit-cache", str(tmp_path / "cache")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("--seeds auto:")
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines() if line.startswith("tiny/")}
    # alpha: its own target and the undecided lesson, the ladder's next step; beta: its own target, reproduced at 5
    # of the ladder's 10, is looked at again
    assert rows == {"tiny/alpha": ["5", "2"], "tiny/beta": ["10", "5"]}  # seeds, to train
    with pytest.raises(SystemExit):
        main(args + ["--max-seeds", "auto"])
