
"""`harness verify`: recorded seeds retrained from scratch match their record, and a doctored record does not."""

import json

import pytest
import torch
from _support import write_tiny_specs

from harness.audit import Audit
from harness.records import read_record, record_path
from harness.specs import load_spec
from harness.verify import verify

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)


def test_a_record_is_reproduced_bit_for_bit_and_a_doctored_one_is_caught(tmp_path, tiny_mnist, one_thread):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "results", train_subset=256, test_subset=64)
    audit._mnist = tiny_mnist
    audit.reproduce(loaded)
    path = record_path(tmp_path / "results", loaded, "cpu")
    record = read_record(path)
    assert verify(loaded, record, [0, 1], tiny_mnist) == [(0, 0.0), (1, 0.0)]
    record["curves"][1]["test_accuracy"][-1] += 0.01  # one image more than it measured
    path.write_text(json.dumps(record))
    assert [d > 0 for _, d in verify(loaded, read_record(path), [0, 1], tiny_mnist)] == [False, True]


def test_seeds_stacked_together_are_retrained_once(tmp_path, tiny_mnist, one_thread, monkeypatch):
    import harness.engine

    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "results", train_subset=256, test_subset=64,
                  stack=2)
    audit._mnist = tiny_mnist
    audit.reproduce(loaded, [0, 1, 2])
    record = read_record(record_path(tmp_path / "results", loaded, "cpu"))
    assert [how["stack"] for how in record["trained_with"]] == [[0, 1], [0, 1], [2]]
    groups, real_train = [], harness.engine.train
    monkeypatch.setattr(harness.engine, "train", lambda spec, mnist, seeds, options: groups.append(seeds)
                        or real_train(spec, mnist, seeds, options))
    assert verify(loaded, record, [0, 1, 2], tiny_mnist) == [(0, 0.0), (1, 0.0), (2, 0.0)]
    assert groups == [[0, 1], [2]]
