"""The specs themselves, one test per spec (or per claim): the fast tier, smoke and reproduce.

Test ids carry `slug/name` (and `:claim`), so `pytest -k iteration9` selects
the iteration-9 specs and `pytest -k "sub20k and iteration9"` one of them.
"""

import math

import pytest
import torch

from harness.claims import Evidence
from harness.model import build_model, count_parameters, plan
from harness.specs import SpecError, related_problems, with_overrides
from harness.verdicts import planned_parameters, structure_of


def test_spec_is_valid(spec_entry):
    if isinstance(spec_entry, SpecError):
        pytest.fail(str(spec_entry), pytrace=False)


def test_specs_a_claim_names_exist_and_are_others(spec):
    """A comparison's `other` is checked here, in the fast tier, not first when a reproduction reaches it."""
    problems = related_problems(spec)
    assert not problems, [f"claims[{i}].{field}: {message}" for i, field, message in problems]


def test_model_builds_and_runs(spec):
    model = build_model(spec.spec.architecture)
    out = model.eval()(torch.zeros(2, *spec.spec.architecture.input))
    assert out.shape == (2, spec.spec.architecture.classes)
    # the analytic count used to refuse absurd specs agrees with the module torch builds
    assert count_parameters(model)[0] == sum(p.parameters for p in plan(spec.spec.architecture))


def test_untrained_claim(untrained_claim, expect_verdict):
    loaded, claim = untrained_claim
    evidence = Evidence(loaded.id, None, loaded.spec.recipe.epochs, planned_parameters(loaded), **structure_of(loaded))
    expect_verdict(loaded.id, claim.judge(evidence))


def test_findings_hold(spec):
    """A finding that explains a README's other number does explain it (both numbers reported)."""
    for finding in spec.spec.findings:
        if finding.overrides is not None:
            alternative = build_model(with_overrides(spec, finding.overrides).architecture)
            assert count_parameters(alternative)[0] == finding.parameters, finding.id


@pytest.mark.smoke
def test_smoke(spec, audit):
    """A few batches of every spec: its optimizer, schedule, augmentation and dropout paths all run."""
    run = audit.smoke(spec)
    assert run.outcome == "ok", run.error_trace or run.error  # the whole traceback: layer, shapes
    assert [c.seed for c in run.curves] == [0, 1]
    for curve in run.curves:
        assert curve.outcome in ("ok", "diverged")
        assert len(curve.test_accuracy) == 1 and 0.0 <= curve.test_accuracy[0] <= 100.0
        assert curve.outcome == "diverged" or math.isfinite(curve.train_loss[0])


@pytest.mark.reproduce
def test_claim(trained_claim, audit, expect_verdict, request):
    loaded, claim = trained_claim
    result = audit.judged(loaded, claim.claim_id)
    run = audit.run_of(loaded)
    if run is not None and run.error_trace:  # shown with the failure: the layer and shapes, not one line
        request.node.add_report_section("call", "training traceback", run.error_trace)
    expect_verdict(loaded.id, result)
