"""The CPU engine keeps freed memory in the process (environment.retain_freed_memory): where memory
comes from changes, no result does."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.environment import RETAIN_SWITCH, RETAINED, retain_freed_memory

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)


class FakeLibc:
    def __init__(self, answer=1):
        self.calls, self.answer = [], answer

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.answer


def test_cpu_training_raises_the_mmap_and_trim_thresholds(monkeypatch):
    monkeypatch.delenv(RETAIN_SWITCH, raising=False)
    libc = FakeLibc()
    assert retain_freed_memory(torch.device("cpu"), libc) is True
    assert libc.calls == list(RETAINED.items())
    assert RETAINED[-3] > 32 << 20  # above glibc's largest dynamic mmap threshold: a whole step's activations stay


@pytest.mark.parametrize("why", ["cuda", "switched off", "no mallopt", "refused"])
def test_left_alone_off_cpu_when_switched_off_or_unsupported(monkeypatch, why):
    monkeypatch.setenv(RETAIN_SWITCH, "0" if why == "switched off" else "1")
    libc = FakeLibc(answer=0 if why == "refused" else 1)
    if why == "no mallopt":
        libc = object()
    device = torch.device("cuda" if why == "cuda" else "cpu")
    assert retain_freed_memory(device, libc) is False
    if why in ("cuda", "switched off"):
        assert libc.calls == []  # not even tried


SCRIPT = """
import json, sys, torch
sys.path.insert(0, {tests!r})
from _support import spec_named, synthetic_mnist
from harness.engine import RunOptions, train
from harness.environment import retain_freed_memory

torch.set_num_threads(1)
curves = train(spec_named("sub20k/final").spec, synthetic_mnist(train=1024, test=256), [0, 1],
               RunOptions(epochs=2, max_batches=2, test_limit=256))
print(json.dumps({{"retained": retain_freed_memory(torch.device("cpu")),
                  "curves": [[c.test_accuracy, c.test_loss, c.train_loss] for c in curves]}}))
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_training_is_bit_identical_with_and_without_retained_memory():
    """Two fresh processes (mallopt cannot be undone in one): the engine's default, and the allocator left
    as glibc sets it. 000's final model at its batch of 512 allocates past glibc's default threshold."""
    tests = str(Path(__file__).resolve().parent)
    outs = {}
    for switch in ("1", "0"):
        env = {**os.environ, RETAIN_SWITCH: switch, "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=tests)], env=env, capture_output=True,
                              text=True, timeout=300, cwd=Path(tests).parent)
        assert done.returncode == 0, done.stderr[-2000:]
        outs[switch] = json.loads(done.stdout.strip().splitlines()[-1])
    assert outs["1"]["retained"] is True and outs["0"]["retained"] is False
    assert outs["1"]["curves"] == outs["0"]["curves"]  # as JSON floats: every bit of every value
