"""Golden curve: a tiny seeded run, asserted exactly, guards the training semantics version.

The results cache and committed records are reused whenever a spec's training form, the environment
and `cache.TRAINING_SEMANTICS` match. If a change alters what training computes (engine, layers,
augmentation, data, recipe defaults), this test fails: bump TRAINING_SEMANTICS and update GOLDEN.
Losses are compared to 1e-5 relative (float summation order may differ across CPUs and thread counts;
a semantic change moves them by far more), accuracies to one image (an
argmax tie may flip on another CPU).
"""

import pytest
import torch
from _support import synthetic_mnist

from harness.cache import TRAINING_SEMANTICS
from harness.engine import RunOptions, train
from harness.schema import Spec

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

SPEC = {
    "title": "golden", "source": {"file": "none", "section": "test"},
    "architecture": {"layers": [
        {"conv": {"out": 6, "kernel": 3, "padding": 1, "bias": False}}, "bn", "relu", {"dropout": 0.1},
        {"maxpool": 2}, {"conv": {"out": 8, "kernel": 3}}, "bn", "relu", {"dropout2d": 0.1}, "gap", "flatten",
        {"dropout": 0.2}, {"linear": 10}, "log_softmax"]},
    "recipe": {"epochs": 3, "batch_size": 32,
               "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4},
               "scheduler": {"type": "OneCycleLR", "max_lr": 0.1},
               "loss": {"type": "nll"}, "normalization": {"mean": 0.1307, "std": 0.3081},
               "augmentation": [{"random_rotation": {"degrees": 7}}]},
    "claims": [{"kind": "parameters", "value": 1, "where": "test", "expect": "refuted-below"}],
    "fidelity": {},
}

# TRAINING_SEMANTICS 1, seeds 0 and 1 trained together (2 copies), one thread, torch 2.13 CPU
GOLDEN = {
    "semantics": 1,
    "curves": [
        {"test_accuracy": [10.9375, 17.1875, 21.09375], "train_accuracy": [9.895833333333334, 20.3125, 21.614583333333332],
         "test_loss": [2.290815830230713, 2.268066644668579, 2.2614479064941406],
         "train_loss": [2.330846627553304, 2.265395005544027, 2.2395224571228027],
         "lr": [0.09813121982265122, 0.04009293246925877, 0.0003884381178327169]},
        {"test_accuracy": [9.375, 10.9375, 10.9375], "train_accuracy": [7.8125, 13.802083333333334, 14.84375],
         "test_loss": [2.307302236557007, 2.2868170738220215, 2.2789080142974854],
         "train_loss": [2.3332997957865396, 2.287095069885254, 2.2668469746907554],
         "lr": [0.09813121982265122, 0.04009293246925877, 0.0003884381178327169]},
    ],
}
ONE_IMAGE = 100 / 128 + 1e-9


@pytest.fixture(scope="module")
def golden_run(one_thread):
    spec = Spec.model_validate(SPEC)
    return train(spec, synthetic_mnist(train=384, test=128, seed=3), [0, 1],
                 RunOptions(train_limit=384, test_limit=128, channels_last=True))


def test_the_golden_curve_is_unchanged(golden_run):
    assert GOLDEN["semantics"] == TRAINING_SEMANTICS, "TRAINING_SEMANTICS was bumped: record the new GOLDEN curve"
    for curve, want in zip(golden_run, GOLDEN["curves"]):
        assert curve.test_accuracy == pytest.approx(want["test_accuracy"], abs=ONE_IMAGE)
        assert curve.train_accuracy == pytest.approx(want["train_accuracy"], abs=100 / 384 + 1e-9)
        assert curve.test_loss == pytest.approx(want["test_loss"], rel=1e-5)
        assert curve.train_loss == pytest.approx(want["train_loss"], rel=1e-5)
        assert curve.lr == pytest.approx(want["lr"], rel=1e-9)


def test_the_golden_run_is_bit_for_bit_repeatable(golden_run, one_thread):
    spec = Spec.model_validate(SPEC)
    again = train(spec, synthetic_mnist(train=384, test=128, seed=3), [0, 1],
                  RunOptions(train_limit=384, test_limit=128, channels_last=True))
    assert [c.to_json() for c in again] == [c.to_json() for c in golden_run]
    assert torch.get_num_threads() == 1
