"""Claim kinds added for READMEs 005-009 (issue 23): targets within an epoch limit, the last N epochs, test above
train, strict band ends, epoch budgets, receptive fields and parameter-count comparisons."""

import math

import pytest
from pydantic import TypeAdapter, ValidationError

from harness.claims import Claim, Evidence
from harness.results import SeedCurve
from harness.specs import load_spec
from harness.verdicts import planned_parameters, structure_of
from tests._support import write_tiny_specs

CLAIM = TypeAdapter(Claim)


def claim(**kw):
    return CLAIM.validate_python({"where": "t", "expect": "reproduced", **kw})


def curve(seed, test, train=None):
    return SeedCurve(seed, test_accuracy=list(test), train_accuracy=list(train or [90.0] * len(test)), outcome="ok")


def evidence(curves, **kw):
    return Evidence("tiny/alpha", curves, len(curves[0].test_accuracy), 100, **kw)


# --------------------------------------------------------------------------- trained kinds

def test_min_last_reads_the_lowest_of_the_last_n_epochs():
    c = curve(0, [97.0, 99.5, 99.38, 99.42, 99.45])
    assert claim(kind="test_accuracy_min_last", epochs=3, value=99.4).measure(c, 5) == pytest.approx(99.38)
    assert claim(kind="test_accuracy_min_last", epochs=2, value=99.4).measure(c, 5) == pytest.approx(99.42)
    target = claim(kind="test_accuracy_min_last", epochs=3, band=[99.4, 100])
    seeds = [curve(i, [97.0, 99.5, 99.41, 99.42, 99.45]) for i in range(3)] + [c] * 2  # 3 of 5 meet it
    result = target.judge(evidence(seeds))
    assert result.verdict == "inconclusive" and result.extra["hits"] == 3  # 3 of 5: the share's 90% CI spans 1/2
    met = target.judge(evidence([curve(i, [97.0, 99.5, 99.41, 99.42, 99.45]) for i in range(5)]))
    assert met.verdict == "reproduced" and met.extra["hits"] == 5
    assert claim(kind="test_accuracy_min_last", epochs=6, value=99).problems(5)[0][0] == "epochs"


def test_strict_band_ends_exclude_the_edge():
    at_edge = [curve(i, [99.0, 99.4]) for i in range(5)]
    inclusive = claim(kind="test_accuracy_final", band=[99.4, 100])
    strict = claim(kind="test_accuracy_final", band=[99.4, 100], exclusive="low")
    assert inclusive.judge(evidence(at_edge)).extra["hits"] == 5
    assert strict.judge(evidence(at_edge)).extra["hits"] == 0 and strict.judge(evidence(at_edge)).verdict == "refuted-above"
    below = claim(kind="test_accuracy_peak", band=[0, 99.4], exclusive="high")
    assert below.judge(evidence(at_edge)).extra["hits"] == 0
    assert below.judge(evidence([curve(i, [99.0, 99.39]) for i in range(5)])).extra["hits"] == 5
    assert strict.claimed_text() == "> 99.4%" and below.claimed_text() == "< 99.4%"
    assert claim(kind="test_accuracy_final", band=[99, 99.5], exclusive="both").claimed_text() == "(99, 99.5)%"
    assert inclusive.claimed_text() == ">= 99.4%"  # unchanged without `exclusive`
    with pytest.raises(ValidationError):
        claim(kind="test_accuracy_final", band=[99.4, 100], exclusive="left")


def test_test_above_train_is_a_strict_share_of_seeds():
    above = curve(0, [98.0, 99.5], [97.0, 99.4])   # peaks 99.5 vs 99.4
    equal = curve(1, [98.0, 99.4], [97.0, 99.4])
    below = curve(2, [98.0, 99.3], [97.0, 99.6])
    c = claim(kind="test_above_train", value=0.17)
    assert c.measure(above, 2) == pytest.approx(0.1) and c.claimed_text() == "peak test > peak train (README +0.17 pp)"
    assert c.judge(evidence([above, above, equal])).extra["hits"] == 2
    assert c.judge(evidence([above, above, equal])).verdict == "inconclusive"  # 2 of 3 decide nothing
    assert c.judge(evidence([above] * 5)).verdict == "reproduced"
    assert c.judge(evidence([below] * 5)).verdict == "refuted-above"  # the README's "test above train" overstates
    final = claim(kind="test_above_train", stat="final")
    assert final.measure(curve(0, [99.9, 99.0], [90.0, 98.0]), 2) == pytest.approx(1.0)
    with pytest.raises(ValidationError, match="leave band"):
        claim(kind="test_above_train", band=[-1, 100])


def test_reaches_by_epoch_counts_seeds_that_reach_the_threshold_in_time():
    c = claim(kind="reaches_by_epoch", threshold=99.4, epoch=3)
    early = curve(0, [99.0, 99.4, 99.2, 99.1])
    late = curve(1, [99.0, 99.2, 99.3, 99.5])
    never = curve(2, [99.0, 99.1, 99.2, 99.3])
    result = c.judge(evidence([early, early, late]))
    assert result.verdict == "inconclusive" and result.extra["hits"] == 2 and "2/2/4" in result.measured
    assert c.judge(evidence([early] * 5)).verdict == "reproduced"
    assert c.judge(evidence([late, never, late, never, never])).verdict == "refuted-above"  # later than the runs
    assert c.judge(evidence([late, never, late])).verdict == "inconclusive"  # 0 of 3 cannot refute
    assert c.claimed_text() == "99.4% by epoch 3" and c.default_id() == "reaches-99.4pct-by-epoch3"
    assert claim(kind="reaches_by_epoch", threshold=99, epoch=16).problems(15)[0][0] == "epoch"


# --------------------------------------------------------------------------- untrained kinds

def test_epoch_budget_checks_the_recipe():
    assert claim(kind="epoch_budget", max=15).judge(Evidence("a/b", None, 15, 1)).verdict == "reproduced"
    strict = claim(kind="epoch_budget", max=15, exclusive=True)
    assert strict.judge(Evidence("a/b", None, 15, 1)).verdict == "refuted-below"  # the budget is below the recipe
    assert strict.claimed_text() == "< 15 epochs"
    assert claim(kind="epoch_budget", max=20, exclusive=True).judge(Evidence("a/b", None, 25, 1)).verdict == "refuted-below"
    assert not claim(kind="epoch_budget", max=15).trained


LAYERS = """\
architecture:
  layers:
    - conv: {out: 4, kernel: 3, name: c1}          # rf 3
    - relu
    - maxpool: 2                                   # rf 4, jump 2
    - conv: {out: 4, kernel: 3, dilation: 2, name: c2}   # rf 4 + 2*2*2 = 12
    - conv: {out: 10, kernel: 1, name: head}
    - gap
    - flatten
"""


def tiny(tmp_path, names=("alpha", "beta")):
    folder = write_tiny_specs(tmp_path / "tiny", names=names)
    return folder


def test_receptive_field_is_exact_from_the_layer_list(tmp_path):
    folder = tiny(tmp_path)
    (folder / "wide.yaml").write_text("extends: alpha\ntitle: wide\nsource: {section: test}\n" + LAYERS +
                                      "claims:\n  - {kind: parameters, value: 1, where: t, expect: refuted-below}\n")
    wide = load_spec(folder / "wide.yaml")
    ev = Evidence(wide.id, None, 2, planned_parameters(wide), **structure_of(wide))
    # c1: 3; maxpool 2: 3 + 1 = 4, jump 2; c2 (3x3, dilation 2): 4 + 2 * 2 * 2 = 12; the 1x1 head and the GAP keep 12
    assert claim(kind="receptive_field", value=12).judge(ev).verdict == "reproduced"
    assert claim(kind="receptive_field", value=3, layer="c1").judge(ev).verdict == "reproduced"
    wrong = claim(kind="receptive_field", value=13).judge(ev)
    assert wrong.verdict == "refuted-above" and "computed 12 px at gap" in wrong.detail
    assert claim(kind="receptive_field", value=3, layer="nope").judge(ev).verdict == "error"
    assert claim(kind="receptive_field", value=3).judge(Evidence("a/b", None, 2, 1)).verdict == "error"


def test_receptive_field_agrees_with_strided_convs(tmp_path):
    # alpha: one 3x3 conv with stride 2, then GAP: the field of one output before pooling is 3 px
    folder = tiny(tmp_path)
    alpha = load_spec(folder / "alpha.yaml")
    ev = Evidence(alpha.id, None, 2, planned_parameters(alpha), **structure_of(alpha))
    assert claim(kind="receptive_field", value=3).judge(ev).verdict == "reproduced"


def test_parameter_comparisons_use_both_shape_plans(tmp_path):
    folder = tiny(tmp_path)
    (folder / "big.yaml").write_text("extends: alpha\ntitle: big\nsource: {section: test}\n"
                                     "architecture: {layers: [{conv: {out: 8, kernel: 3, stride: 2}}, relu, gap, "
                                     "flatten, {linear: 10}]}\n"
                                     "claims:\n  - {kind: parameters, value: 1, where: t, expect: refuted-below}\n")
    big = load_spec(folder / "big.yaml")
    ev = Evidence(big.id, None, 2, planned_parameters(big), **structure_of(big))  # 8*9+8 + 8*10+10 = 170 vs alpha's 90

    def compare(**kw):
        return claim(kind="parameters_comparison", id="more", statement="s",
                     **{"other": "alpha", "direction": "higher", "expect": "supported", **kw})

    result = compare(readme=[90, 170]).judge(ev)
    assert result.verdict == "supported" and result.measured == "170 vs 90 (+80)"
    assert compare(direction="lower").judge(ev).verdict == "contradicted"
    assert compare(by=80).judge(ev).verdict == "supported" and compare(by=81).judge(ev).verdict == "contradicted"
    missing = compare(other="gamma").judge(ev)
    assert missing.verdict == "not judged"
    assert compare().related_problems(big.id, lambda ref: None) == [("other", "no spec 'tiny/alpha'")]
    assert compare(other="big").related_problems(big.id, lambda ref: 2)[0][1].startswith("a spec cannot")
    with pytest.raises(ValidationError):
        compare(expect="inconclusive")  # exact counts always decide
    assert math.isclose(result.mean, 80.0)
