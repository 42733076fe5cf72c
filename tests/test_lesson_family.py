"""A README's lessons are decided together (Holm), beside their raw intervals, by every reader of the Judge."""

import pytest
from _support import write_tiny_specs
from test_adaptive_seeds import recorded

from harness.records import load_records
from harness.specs import load_all
from harness.verdicts import Judge

LESSON = ("  - {{kind: comparison, id: {id}, other: {other}, metric: {{kind: test_accuracy_final}}, direction: higher, "
          "where: test, statement: beta ends higher, expect: inconclusive}}\n")


def family(tmp_path, lessons):
    """alpha, beta and gamma of one README; beta carries `lessons` (id, other) against the others."""
    folder = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta", "gamma"))
    beta = folder / "beta.yaml"
    text = beta.read_text().replace("momentum: 0.9}", "momentum: 0.9001}")  # not the same computation
    beta.write_text(text.replace("claims:\n", "claims:\n" + "".join(LESSON.format(id=i, other=o) for i, o in lessons)))
    specs, _ = load_all(tmp_path / "specs")
    return {s.name: s for s in specs}


def judged(tmp_path, specs, lesson_id):
    judge = Judge.from_records(list(specs.values()), load_records(tmp_path / "results"))
    beta = specs["beta"]
    return next(r for r in judge.judge(beta, judge.runs[(beta.id, "cpu")]) if r.claim_id == lesson_id)


# beta - alpha = 0.5, 0.0, 0.6, 0.2, 0.4: t = 3.16 on 4 df, raw p = 0.034; alpha's finals all 95.0
BETA = (95.5, 95.0, 95.6, 95.2, 95.4)


def test_alone_a_lesson_is_decided_by_its_raw_interval(tmp_path):
    specs = family(tmp_path, [("above-alpha", "alpha")])
    recorded(specs["alpha"], tmp_path / "results", (95.0,) * 5)
    recorded(specs["beta"], tmp_path / "results", BETA)
    result = judged(tmp_path, specs, "above-alpha")
    assert result.verdict == "supported" and result.extra["family_size"] == 1
    assert result.extra["p_value"] == pytest.approx(0.034, abs=0.001)
    assert result.extra["p_holm"] == pytest.approx(result.extra["p_value"])


def test_a_readme_of_two_lessons_holds_the_same_interval_to_holms_level(tmp_path):
    # the second lesson's other spec (gamma) has no run: it counts in the family with p = 1, never decided
    specs = family(tmp_path, [("above-alpha", "alpha"), ("above-gamma", "gamma")])
    recorded(specs["alpha"], tmp_path / "results", (95.0,) * 5)
    recorded(specs["beta"], tmp_path / "results", BETA)
    result = judged(tmp_path, specs, "above-alpha")
    assert result.verdict == "inconclusive" and result.extra["family_size"] == 2
    assert result.extra["p_holm"] == pytest.approx(2 * result.extra["p_value"])
    assert result.extra["ci"][0] > 0  # the raw 95% interval, shown beside the adjusted decision
    assert "the raw 95% interval alone would say supported" in result.detail and "Holm" in result.rule
    assert "measured +0.34" in result.detail and ": inconclusive" in result.detail
