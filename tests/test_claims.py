"""Claim classes: their YAML form, what they measure, the rule each uses, what they draw (README: 'Verdicts')."""

import math

import pytest
from pydantic import TypeAdapter, ValidationError

from harness.claims import Claim, Evidence, OtherRun, judge_all
from harness.results import SeedCurve

CLAIM = TypeAdapter(Claim)


def claim(**kw):
    return CLAIM.validate_python({"where": "t", "expect": "reproduced", **kw})


def curve(seed, test, train=None, outcome="ok"):
    return SeedCurve(seed, test_accuracy=list(test), train_accuracy=list(train or [90.0] * len(test)), outcome=outcome)


def evidence(curves, epochs=None, **kw):
    return Evidence("tiny/alpha", curves, epochs or len(curves[0].test_accuracy), 100, **kw)


def finals(*values):
    return [curve(i, [95.0, v]) for i, v in enumerate(values)]


# --------------------------------------------------------------------------- measures

def test_measures_read_the_right_epochs():
    c = curve(0, [97.0, 98.9, 99.1, 98.8, 99.3], [80, 90, 95, 96, 97])
    cases = [({"kind": "test_accuracy_at_epoch", "epoch": 2, "value": 99}, 98.9),
             ({"kind": "test_accuracy_peak", "value": 99}, 99.3),
             ({"kind": "test_accuracy_mean_last", "epochs": 3, "value": 99}, (99.1 + 98.8 + 99.3) / 3),
             ({"kind": "test_accuracy_min_from", "epoch": 3, "value": 99}, 98.8),
             ({"kind": "test_accuracy_window", "from": 2, "to": 4, "stat": "min", "value": 99}, 98.8),
             ({"kind": "test_accuracy_window", "from": 2, "to": 3, "stat": "mean", "value": 99}, 99.0),
             ({"kind": "test_accuracy_spread", "from": 3, "to": 5, "value": 0.5}, 0.5),
             ({"kind": "train_test_gap", "epoch": 5, "value": -2}, 97 - 99.3),
             ({"kind": "train_accuracy_peak", "value": 97}, 97),
             ({"kind": "train_accuracy_final", "value": 97}, 97),
             ({"kind": "first_epoch_reaching", "threshold": 99, "value": 3}, 3),
             ({"kind": "first_epoch_reaching", "threshold": 99.5, "value": None}, math.inf)]
    for fields, expected in cases:
        assert claim(**fields).measure(c, 5) == pytest.approx(expected), fields


def test_yaml_forms_are_strict():
    with pytest.raises(ValidationError, match="from"):
        claim(kind="test_accuracy_window", **{"from": 5, "to": 3}, stat="min", value=99)
    with pytest.raises(ValidationError):
        claim(kind="test_accuracy_window", **{"from": 1, "to": 3}, stat="median", value=99)
    with pytest.raises(ValidationError, match="value, a band"):
        claim(kind="test_accuracy_final")
    with pytest.raises(ValidationError, match="at least one logged figure"):
        claim(kind="test_accuracy_curve", values=[None, None])
    with pytest.raises(ValidationError):  # a comparison's verdicts are its own
        claim(kind="comparison", id="x", other="b", metric={"kind": "test_accuracy_peak"}, direction="higher",
              statement="s", expect="reproduced")
    with pytest.raises(ValidationError):  # a metric takes its kind's arguments, nothing else
        claim(kind="comparison", id="x", other="b", metric={"kind": "test_accuracy_peak", "epoch": 3},
              direction="higher", statement="s", expect="inconclusive")


def test_claims_know_whether_they_need_training():
    assert not claim(kind="parameters", value=10).trained
    assert not claim(kind="qualitative", statement="s", reason="r", expect="unverifiable").trained
    assert claim(kind="test_accuracy_final", value=99).trained
    assert claim(kind="comparison", id="x", other="b", metric={"kind": "test_accuracy_peak"}, direction="higher",
                 statement="s", expect="inconclusive").trained


def test_epochs_beyond_the_recipe_are_problems_of_the_claim():
    assert claim(kind="test_accuracy_window", **{"from": 2, "to": 25}, stat="min", value=99).problems(20) == [
        ("to", "25 is beyond the recipe's 20 epochs")]
    assert claim(kind="first_epoch_reaching", threshold=99, value=21).problems(20)[0][0] == "value"
    assert claim(kind="test_accuracy_curve", values=[99.0] * 21).problems(20)[0][0] == "values"
    assert claim(kind="test_accuracy_peak", value=99).problems(20) == []


# --------------------------------------------------------------------------- single figures

def test_a_figure_inside_the_95pct_prediction_interval_is_reproduced():
    result = claim(kind="test_accuracy_final", value=99.40).judge(evidence(finals(99.38, 99.42, 99.45)))
    assert result.verdict == "reproduced" and "(n=3)" in result.measured
    assert result.band[0] < 99.40 < result.band[1]


def test_far_outside_the_99pct_interval_is_refuted_and_in_between_inconclusive():
    seeds = finals(99.41, 99.42, 99.42, 99.41, 99.42)  # sd 0.005: far below the floor (0.038 at 99.42%)
    below = claim(kind="test_accuracy_final", value=98.9).judge(evidence(seeds))
    assert below.verdict == "refuted-below" and "recipe as specified does better" in below.detail
    above = claim(kind="test_accuracy_final", value=99.9).judge(evidence(seeds))
    assert above.verdict == "refuted-above" and "overstates" in above.detail
    result = claim(kind="test_accuracy_final", value=99.52).judge(evidence(seeds))
    sigma = result.extra["sigma"]
    assert result.extra["sigma_source"] == "floor" and sigma == pytest.approx(50 * math.sqrt(0.99416 * 0.00584 / 1e4),
                                                                               rel=1e-3)
    half95 = 1.95996 * sigma * math.sqrt(1 + 1 / 5) + 0.01
    half99 = 2.57583 * sigma * math.sqrt(1 + 1 / 5) + 0.01
    assert half95 < 99.52 - 99.416 < half99 and result.verdict == "inconclusive"


def test_seeds_that_agree_slightly_better_than_the_floor_do_not_narrow_the_interval():
    # sd 0.035 with df 2 against a floor of 0.039 known: t(0.995, 2) * 0.035 is the wider, so the seeds decide
    seeds = finals(99.38, 99.42, 99.45)
    result = claim(kind="test_accuracy_final", value=99.52).judge(evidence(seeds))
    assert result.extra["sigma_source"] == "seeds" and result.extra["df"] == 2
    assert result.verdict == "reproduced"  # under a normal quantile on the floor it would not even be inside 95%
    wider = claim(kind="test_accuracy_final", value=99.52).judge(evidence(finals(99.37, 99.42, 99.46)))
    assert wider.band[1] - wider.band[0] >= result.band[1] - result.band[0]  # more spread, never a narrower band


def test_the_seeds_own_spread_uses_its_own_degrees_of_freedom():
    result = claim(kind="test_accuracy_final", value=98.0).judge(evidence(finals(98.5, 99.0, 99.5)))
    assert result.extra["sigma_source"] == "seeds" and result.extra["df"] == 2
    half95 = 4.3027 * 0.5 * math.sqrt(4 / 3) + 0.01  # t(0.975, 2)
    assert result.band == pytest.approx([99.0 - half95, 99.0 + half95], abs=1e-3)
    assert result.verdict == "reproduced"


def test_the_readmes_pooled_spread_widens_a_spec_whose_seeds_happen_to_agree():
    noisy = [(finals(99.0, 99.4, 99.2), 2), (finals(99.1, 99.5, 99.3), 2)]
    tight = finals(99.30, 99.30, 99.31)
    alone = claim(kind="test_accuracy_final", value=99.55).judge(evidence(tight))
    pooled = claim(kind="test_accuracy_final", value=99.55).judge(evidence(tight, neighbours=noisy))
    assert alone.verdict == "refuted-above"
    assert pooled.extra["sigma_source"] == "pooled" and pooled.extra["df"] == 4 and not pooled.verdict.refuted


def test_runs_with_identical_values_enter_the_pool_once():
    twin = finals(99.0, 99.4, 99.2)
    once = claim(kind="test_accuracy_final", value=99.3).judge(evidence(finals(99.30, 99.31, 99.30),
                                                                        neighbours=[(twin, 2), (list(twin), 2)]))
    assert once.extra["sigma_source"] == "pooled" and once.extra["df"] == 2


def test_a_failed_neighbour_does_not_swamp_the_pool():
    failed = [(finals(10.0, 60.0, 90.0), 2)]  # error rates far from this run's: another regime
    result = claim(kind="test_accuracy_final", value=99.3).judge(evidence(finals(99.30, 99.35, 99.32),
                                                                          neighbours=failed))
    assert result.extra["sigma_source"] != "pooled"


def test_fewer_than_three_seeds_never_refute():
    for seeds in (finals(99.4), finals(99.4, 99.41)):
        assert claim(kind="test_accuracy_final", value=90.0).judge(evidence(seeds)).verdict == "inconclusive"
        assert not claim(kind="test_accuracy_final", band=[99.9, 100]).judge(evidence(seeds)).verdict.refuted


def test_a_peak_claim_is_judged_against_the_per_seed_peaks():
    seeds = [curve(0, [99.5, 99.0]), curve(1, [99.0, 99.5]), curve(2, [99.45, 99.1])]
    result = claim(kind="test_accuracy_peak", value=99.5).judge(evidence(seeds))
    assert result.values == [99.5, 99.5, 99.45] and result.verdict == "reproduced"


def test_a_diverged_seed_leaves_no_figure():
    diverged = SeedCurve(0, test_accuracy=[9.8], train_accuracy=[math.nan], outcome="diverged", diverged_epoch=1)
    result = claim(kind="train_accuracy_final", value=99.0).judge(evidence([diverged]))
    assert result.verdict == "inconclusive" and "diverged" in result.measured  # one seed: never refuted


def test_a_run_that_did_not_finish_is_an_error_not_a_verdict():
    result = claim(kind="test_accuracy_final", value=99.0).judge(
        evidence([SeedCurve(0, test_accuracy=[98.0], outcome="timeout")], epochs=3))
    assert result.verdict == "error" and "timeout" in result.detail


# --------------------------------------------------------------------------- targets, epochs, curves

def test_a_target_is_judged_on_the_share_of_seeds_meeting_it():
    target = claim(kind="test_accuracy_final", band=[99.4, 100])
    assert target.judge(evidence(finals(99.41, 99.45, 99.42, 99.5, 99.6))).verdict == "reproduced"  # 5 of 5
    assert target.judge(evidence(finals(99.41, 99.45, 99.3))).verdict == "inconclusive"  # 2 of 3: CI 0.14-0.97
    assert target.judge(evidence(finals(99.41, 99.3, 99.3))).verdict == "inconclusive"  # 1 of 3
    assert target.judge(evidence(finals(99.3, 99.3, 99.3))).verdict == "inconclusive"   # 0 of 3: p = 1/8
    assert target.judge(evidence(finals(*[99.3] * 5))).verdict == "refuted-above"       # 0 of 5: p = 1/32
    ceiling = claim(kind="test_accuracy_final", band=[0, 99.0])  # "stays below 99%": the runs all exceed it
    assert ceiling.judge(evidence(finals(*[99.3] * 5))).verdict == "refuted-below"
    result = target.judge(evidence(finals(*[99.3] * 5)))
    assert result.extra["hits"] == 0 and result.extra["share_ci"][1] < 0.5 and "0 of 5" in result.measured


def test_does_not_converge_counts_diverged_seeds_as_not_converged():
    diverged = [SeedCurve(i, test_accuracy=[math.nan], train_accuracy=[math.nan], outcome="diverged")
                for i in range(2)]
    c = claim(kind="does_not_converge", band=[0, 12], value=9.9)
    assert c.judge(evidence(diverged + [curve(i, [9.8]) for i in range(2, 5)])).verdict == "reproduced"
    converged = c.judge(evidence([curve(i, [98.0]) for i in range(5)]))  # the README's band lies below the runs
    assert converged.verdict == "refuted-below" and "does better than reported" in converged.detail


def test_first_epoch_reaching_uses_the_seeds_range_and_never_is_infinite():
    seeds = [curve(i, acc) for i, acc in enumerate([[90, 98, 99.1, 99.2], [90, 99.0, 99.1, 99.2],
                                                    [90, 98, 98.5, 99.0]])]
    judged = {v: claim(kind="first_epoch_reaching", threshold=99, value=v).judge(evidence(seeds)).verdict
              for v in (1, 2, 3, 4)}
    assert judged == {1: "inconclusive", 2: "reproduced", 3: "reproduced", 4: "reproduced"}  # range 2-4, width 2
    never = claim(kind="first_epoch_reaching", threshold=99.5, value=None).judge(evidence(seeds))
    assert never.verdict == "reproduced" and "never/never/never" in never.measured
    early = [curve(i, [99.2] * 10) for i in range(3)]
    never_early = claim(kind="first_epoch_reaching", threshold=99, value=None).judge(evidence(early))
    assert never_early.verdict == "refuted-above" and "reports worse" in never_early.detail  # later than the runs
    stated = claim(kind="first_epoch_reaching", threshold=99, value=9, band=[8, 10])
    assert stated.judge(evidence(early)).verdict == "refuted-above"    # README 8-10, every seed at epoch 1
    late = [curve(i, [90.0] * 5 + [99.2] * 5) for i in range(5)]        # every seed at epoch 6
    assert claim(kind="first_epoch_reaching", threshold=99, value=1).judge(evidence(late)).verdict == "refuted-below"


def test_a_logged_curve_is_one_draw_an_offset_at_every_epoch_adds_up():
    import numpy as np

    rng = np.random.default_rng(5)
    level = [98.0, 98.8, 99.1, 99.25, 99.3, 99.35]
    seeds = [curve(i, [v + d for v, d in zip(level, rng.normal(0, 0.06, len(level)))]) for i in range(10)]
    means = [sum(c.test_accuracy[e] for c in seeds) / 10 for e in range(len(level))]
    sds = [float(np.std([c.test_accuracy[e] for c in seeds], ddof=1)) for e in range(len(level))]
    above = claim(kind="test_accuracy_curve", values=[m + 1.5 * s for m, s in zip(means, sds)]).judge(evidence(seeds))
    # every point lies inside its own 95% interval, yet a whole curve 1.5 sd above every epoch is not one more run
    assert all(p["verdict"] == "reproduced" for p in above.extra["points"])
    assert above.verdict == "refuted-above" and above.extra["offset"] > 1.0  # in sd units (the floor may be wider)
    assert claim(kind="test_accuracy_curve", values=list(seeds[3].test_accuracy)).judge(evidence(seeds)).verdict \
        == "reproduced"  # one of the seeds' own curves


def test_a_logged_curve_keeps_each_points_verdict():
    seeds = [curve(i, [97.0 + 0.1 * i, 98.5 + 0.05 * i, 99.0 + 0.02 * i]) for i in range(3)]
    same = claim(kind="test_accuracy_curve", values=[97.1, None, 99.02]).judge(evidence(seeds))
    assert same.verdict == "reproduced" and [p["epoch"] for p in same.extra["points"]] == [1, 3]
    other = claim(kind="test_accuracy_curve", values=[90.0, 91.0, 99.0]).judge(evidence(seeds))
    assert other.verdict == "refuted-below" and "2 outside" in other.measured


# --------------------------------------------------------------------------- parameters and comparisons

def test_parameters_exact_and_as_a_bound():
    assert claim(kind="parameters", value=100).judge(evidence(finals(99))).verdict == "reproduced"
    assert claim(kind="parameters", value=99, band=[0, 199]).judge(evidence(finals(99))).verdict == "refuted-below"
    assert claim(kind="parameters", value=101).judge(evidence(finals(99))).verdict == "refuted-above"
    bound = claim(kind="parameters", band=[0, 99])
    result = bound.judge(Evidence("tiny/alpha", None, 2, 100))
    assert result.verdict == "refuted-below" and "outside the stated bound" in result.detail
    assert claim(kind="parameters", value=7784, band=[0, 7999]).claimed_text() == "7,784 (< 8,000)"
    assert claim(kind="parameters", value=1000, approximate=True).judge(
        Evidence("a/b", None, 2, 1009)).verdict == "reproduced"


def comparison(**kw):
    fields = {"id": "better", "other": "beta", "metric": {"kind": "test_accuracy_final"}, "direction": "higher",
              "statement": "alpha ends higher", "expect": "inconclusive"}
    return claim(kind="comparison", **{**fields, **kw})


def others(values, seeds=None):
    curves = [curve(s, [95.0, v]) for s, v in zip(seeds or range(len(values)), values)]
    return lambda ref: OtherRun(ref, [c.seed for c in curves], curves, 2) if ref == "tiny/beta" else None


def test_a_comparison_is_paired_on_common_seeds():
    mine = finals(99.30, 99.40, 99.35, 99.50)
    result = comparison(readme=[99.27, 99.30]).judge(evidence(mine, other=others([99.20, 99.31, 99.27, 99.44])))
    assert result.verdict == "supported" and result.extra["common_seeds"] == [0, 1, 2, 3]
    assert result.extra["difference"] == pytest.approx(0.0825)
    assert result.extra["ci"][0] > 0 and "README 99.27 -> 99.3 (+0.03)" in result.detail and "n=4" in result.measured
    reversed_ = comparison(direction="lower").judge(evidence(mine, other=others([99.20, 99.31, 99.27, 99.44])))
    assert reversed_.verdict == "contradicted"
    assert comparison(by=0.5).judge(evidence(mine, other=others([99.20, 99.31, 99.27, 99.44]))).verdict == \
        "contradicted"  # the CI lies wholly below the claimed margin


def test_a_lesson_whose_baseline_does_not_reproduce_its_readme_figure_is_flagged():
    mine = finals(99.30, 99.40, 99.35, 99.50)
    theirs = others([99.20, 99.31, 99.27, 99.44])
    matching = comparison(readme=[99.27, 99.30]).judge(evidence(mine, other=theirs))
    assert not matching.baseline_mismatch and matching.baseline_reason == ""
    # the README's baseline lies far below what its recipe gives here (as 000's iteration 1 against FINAL)
    low = comparison(readme=[97.5, 99.30]).judge(evidence(mine, other=theirs))
    assert low.baseline_mismatch and low.verdict == "supported"  # the verdict stands; the flag qualifies it
    assert "tiny/beta's README figure 97.5 is refuted-below" in low.baseline_reason
    assert low.baseline_reason in low.detail and "tiny/alpha" not in low.baseline_reason
    both = comparison(readme=[97.5, 100.0]).judge(evidence(mine, other=theirs))
    assert "tiny/alpha's README figure 100 is refuted-above" in both.baseline_reason
    assert not comparison().judge(evidence(mine, other=theirs)).baseline_mismatch  # no README figures: no check


def test_a_comparison_without_two_common_seeds_or_without_the_other_run_is_not_decided():
    mine = finals(99.30, 99.40)
    assert comparison().judge(evidence(mine, other=others([99.0, 99.1], seeds=[1, 7]))).verdict == "inconclusive"
    missing = comparison().judge(evidence(mine))
    assert missing.verdict == "not judged" and missing.detail == "needs tiny/beta trained"


def test_bit_identical_runs_contradict_a_claimed_difference():
    # 003's momentum lessons: OneCycleLR cycles momentum, so changing SGD's momentum trains the same computation
    mine = [curve(i, [95.0, v]) for i, v in enumerate([99.31, 99.35, 99.28])]
    same = comparison().judge(evidence(mine, other=others([99.31, 99.35, 99.28])))
    assert same.verdict == "contradicted" and same.extra["identical_runs"] is True
    assert "identical runs" in same.measured and "bit-identical" in same.rule
    assert comparison(direction="lower").judge(evidence(mine, other=others([99.31, 99.35, 99.28]))).verdict == \
        "contradicted"
    # equal finals from different curves are a noisy zero, judged by the interval as usual: the floor's 90%
    # interval (+-0.05 pp at n = 3) lies inside +-0.1 pp, so no effect worth the name, not an exact zero
    near = [curve(i, [94.0, v]) for i, v in enumerate([99.31, 99.35, 99.28])]
    result = comparison().judge(evidence(near, other=others([99.31, 99.35, 99.28])))
    assert result.verdict == "negligible" and result.extra["identical_runs"] is False
    # one common seed says nothing about the computation
    one = comparison().judge(evidence(mine[:1], other=others([99.31])))
    assert one.verdict == "inconclusive"


def test_two_common_seeds_decide_no_lesson():
    mine = finals(99.37, 99.32)
    two = comparison(direction="lower").judge(evidence(mine, other=others([99.62, 99.60])))  # -0.27 both times
    assert two.verdict == "inconclusive" and two.extra["ci"][1] < 0  # the interval alone would have decided


def test_first_epoch_comparisons_count_never_as_the_epoch_after_the_last():
    c = comparison(metric={"kind": "first_epoch_reaching", "threshold": 99}, direction="lower")
    mine = [curve(i, [99.1, 99.2]) for i in range(3)]
    theirs = [curve(i, [98.0, 98.5]) for i in range(3)]  # never: epoch 3
    result = c.judge(evidence(mine, other=lambda ref: OtherRun(ref, [0, 1, 2], theirs, 2)))
    assert result.values == [-2.0, -2.0, -2.0] and result.verdict == "supported"


def test_a_comparison_checks_its_other_spec():
    c = comparison(metric={"kind": "test_accuracy_at_epoch", "epoch": 5})
    assert c.related_problems("tiny/alpha", lambda ref: None) == [("other", "no spec 'tiny/beta'")]
    assert c.related_problems("tiny/alpha", lambda ref: 3) == [("metric", "tiny/beta: 5 is beyond the recipe's "
                                                                           "3 epochs")]
    assert c.related_problems("tiny/alpha", lambda ref: 20) == []
    assert comparison(other="beta").related_problems("tiny/beta", lambda ref: 20)[0][0] == "other"


def test_judge_all_judges_untrained_claims_without_curves():
    claims = [claim(kind="parameters", value=100), claim(kind="test_accuracy_final", value=99),
              claim(kind="qualitative", statement="s", reason="no figure", expect="unverifiable")]
    results = judge_all(claims, Evidence("a/b", None, 2, 100))
    assert [(r.claim_id, r.verdict) for r in results] == [("parameters", "reproduced"),
                                                          ("qualitative", "unverifiable")]


def test_claims_draw_their_figures():
    marks = claim(kind="test_accuracy_at_epoch", epoch=3, value=99.1, band=[99, 100]).marks(10)
    assert {(m.style, m.panel) for m in marks} == {("point", "test"), ("span", "test")}
    assert claim(kind="train_accuracy_final", value=99).marks(10)[0].panel == "train"
    curve_marks = claim(kind="test_accuracy_curve", values=[98.0, None, 99.0]).marks(3)
    assert curve_marks[0].xs == (1.0, 3.0) and curve_marks[0].ys == (98.0, 99.0)
    assert claim(kind="first_epoch_reaching", threshold=99, value=4).marks(10)[0].style == "threshold"


def test_a_lesson_pinned_near_zero_is_negligible_and_says_what_one_pair_of_runs_shows():
    mine = finals(99.40, 99.42, 99.38, 99.41, 99.40, 99.39, 99.43, 99.40, 99.41, 99.40)
    theirs = others([99.40, 99.41, 99.39, 99.40, 99.41, 99.40, 99.42, 99.39, 99.40, 99.41])
    result = comparison(readme=[99.13, 99.40]).judge(evidence(mine, other=theirs))
    assert result.verdict == "negligible" and result.extra["negligible"]
    assert "README's +0.27 is not what one pair of runs shows" in result.detail
    near = comparison(readme=[99.36, 99.40]).judge(evidence(mine, other=theirs))
    assert "README's +0.04 is what one pair of runs shows" in near.detail
    assert "found with 80% power" in result.rule and "excluded at 95%" in result.rule and "±0.1 pp" in result.rule
    wide = comparison().judge(evidence(finals(99.0, 99.5, 99.2), other=others([99.4, 99.1, 99.3])))
    assert wide.verdict == "inconclusive" and not wide.extra["negligible"]  # nothing learned is not no effect
