"""Bands and the verdict rule (README: 'Verdicts')."""

import math

import pytest

from harness import schema
from harness.claims import default_band, judge_trained, measure, verdict
from harness.results import SeedCurve
from harness.schema import FirstEpochReaching, ParametersClaim

TestFinal = schema.TestFinal
TestFinal.__test__ = False  # a claim class, not a pytest class


def claim(cls, **kw):
    return cls.model_validate({"where": "t", "expect": "reproduced", **kw})


@pytest.mark.parametrize("value, band", [(99.48, [99.35, 99.584]), (95.5, [94.375, 96.4]), (50.0, [37.5, 60.0])])
def test_default_band_is_the_error_rate_within_a_factor_of_1_25(value, band):
    assert default_band(claim(TestFinal, kind="test_accuracy_final", value=value), 20) == pytest.approx(band)


def test_explicit_bands_and_other_kinds():
    assert default_band(claim(TestFinal, kind="test_accuracy_final", band=[95, 100]), 1) == [95, 100]
    assert default_band(claim(ParametersClaim, kind="parameters", value=1000), 1) == [1000, 1000]
    assert default_band(claim(ParametersClaim, kind="parameters", value=1000, approximate=True), 1) == [990, 1010]
    assert default_band(claim(FirstEpochReaching, kind="first_epoch_reaching", threshold=99, value=4), 20) == [3, 5]
    never = claim(FirstEpochReaching, kind="first_epoch_reaching", threshold=99, value=None)
    assert default_band(never, 20) == [21, 21]


@pytest.mark.parametrize("values, expected", [
    ([99.40, 99.45, 99.50], "reproduced"),      # mean inside
    ([99.20, 99.30, 99.31], "refuted"),         # mean 99.27, more than one std below 99.35
    ([99.10, 99.30, 99.50], "inconclusive"),    # mean 99.30 below the band, within its std (0.2)
    ([99.60], "refuted"),                       # one seed: no spread, outside is refuted
    ([99.35], "reproduced"),                    # edges are inclusive
])
def test_verdict_rule(values, expected):
    assert verdict(values, [99.35, 99.58])[0] == expected


def test_measures_read_the_right_epochs():
    curve = SeedCurve(0, test_accuracy=[97.0, 98.9, 99.1, 98.8, 99.3], train_accuracy=[80, 90, 95, 96, 97])
    spec = {"kind": "test_accuracy_at_epoch", "epoch": 2, "value": 99}
    assert measure(schema.TestAtEpoch.model_validate({**spec, "where": "t", "expect": "reproduced"}), curve, 5) == 98.9
    assert measure(claim(schema.TestPeak, kind="test_accuracy_peak", value=99), curve, 5) == 99.3
    assert measure(claim(schema.TestMeanLast, kind="test_accuracy_mean_last", epochs=3, value=99), curve, 5) == \
        pytest.approx((99.1 + 98.8 + 99.3) / 3)
    assert measure(claim(schema.TestMinFrom, kind="test_accuracy_min_from", epoch=3, value=99), curve, 5) == 98.8
    assert measure(claim(FirstEpochReaching, kind="first_epoch_reaching", threshold=99, value=3), curve, 5) == 3
    assert measure(claim(FirstEpochReaching, kind="first_epoch_reaching", threshold=99.5, value=None), curve, 5) == 6
    assert measure(claim(schema.TrainFinal, kind="train_accuracy_final", value=97), curve, 5) == 97


def test_a_run_that_did_not_finish_is_an_error_not_a_verdict():
    c = claim(TestFinal, kind="test_accuracy_final", value=99.0)
    result = judge_trained(c, [SeedCurve(0, test_accuracy=[98.0], outcome="timeout")], epochs=3)
    assert result.verdict == "error" and "timeout" in result.detail


def test_diverged_training_accuracy_is_refuted_not_a_crash():
    c = claim(schema.TrainFinal, kind="train_accuracy_final", value=99.0)
    diverged = SeedCurve(0, test_accuracy=[9.8], train_accuracy=[math.nan], outcome="diverged", diverged_epoch=1)
    assert judge_trained(c, [diverged], epochs=1).verdict == "refuted"
