"""The one verdict type: plain strings outside, typed members inside, and what a refutation's side means."""

import json

import pytest
from _support import write_tiny_specs

from harness.claims import ClaimResult
from harness.specs import SpecError, load_spec
from harness.verdict import FIGURE_EXPECTATIONS, LESSON_EXPECTATIONS, Verdict, miss_meaning


def test_a_verdict_reads_and_writes_as_its_plain_string():
    assert Verdict("refuted-above") is Verdict.REFUTED_ABOVE and f"{Verdict.REFUTED_BELOW}" == "refuted-below"
    row = ClaimResult("final", "test_accuracy_final", "99%", None, verdict=Verdict.REFUTED_ABOVE).to_json()
    assert json.loads(json.dumps(row))["verdict"] == "refuted-above"


def test_which_verdicts_pass_decide_and_are_measured():
    assert {v for v in Verdict if v.passing} == {Verdict.REPRODUCED, Verdict.SUPPORTED}
    assert {v for v in Verdict if v.refuted} == {Verdict.REFUTED_ABOVE, Verdict.REFUTED_BELOW}
    assert {v for v in Verdict if v.decided} == {Verdict.REPRODUCED, Verdict.SUPPORTED, Verdict.REFUTED_ABOVE,
                                                 Verdict.REFUTED_BELOW, Verdict.CONTRADICTED, Verdict.NEGLIGIBLE}
    assert {v for v in Verdict if v.measured} == {v for v in Verdict if v.decided} | {Verdict.INCONCLUSIVE}
    assert all(v.label for v in Verdict) and "above" in Verdict.REFUTED_ABOVE.label
    assert set(FIGURE_EXPECTATIONS) & set(LESSON_EXPECTATIONS) == {Verdict.INCONCLUSIVE}


@pytest.mark.parametrize(("verdict", "better", "says"), [
    (Verdict.REFUTED_ABOVE, "higher", "overstates"),           # an accuracy above the runs
    (Verdict.REFUTED_BELOW, "higher", "does better than reported"),
    (Verdict.REFUTED_ABOVE, "lower", "does better than reported"),  # a later epoch than the runs need
    (Verdict.REFUTED_BELOW, "lower", "overstates"),
    (Verdict.REFUTED_ABOVE, None, "README above the runs"),    # a gap, a count: the side literally
])
def test_a_refutation_says_which_side_and_what_it_means_for_the_measure(verdict, better, says):
    assert says in miss_meaning(verdict, better)
    assert miss_meaning(Verdict.REPRODUCED, better) == ""


def test_a_spec_still_expecting_a_plain_refuted_names_file_field_and_the_choices(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", params_expect="refuted")
    with pytest.raises(SpecError) as err:
        load_spec(specs / "alpha.yaml")
    text = str(err.value)
    assert "alpha.yaml" in text and "claims[0].expect" in text and "'refuted-above'" in text
