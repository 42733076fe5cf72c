"""Shared helpers of the unit tests: a synthetic MNIST and spec lookup."""

from pathlib import Path

import torch

from harness.data import MNIST
from harness.specs import load_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"


def synthetic_mnist(train: int = 1024, test: int = 256, seed: int = 0) -> MNIST:
    """Random digits with a learnable signal: the label is drawn as a bright block at a label-specific place."""
    g = torch.Generator().manual_seed(seed)

    def make(n):
        labels = torch.randint(0, 10, (n,), generator=g)
        images = torch.randint(0, 60, (n, 28, 28), generator=g, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            r, c = 4 + (label // 5) * 12, 2 + (label % 5) * 5
            images[i, r:r + 8, c:c + 4] = 255
        return images, labels

    tr_x, tr_y = make(train)
    te_x, te_y = make(test)
    return MNIST(tr_x, tr_y, te_x, te_y, Path("/synthetic"))


def spec_named(spec_id: str):
    return load_spec(SPECS / f"{spec_id}.yaml")


ROOT = SPECS.parent

TINY_SPEC = """\
title: tiny {name}
source: {{section: "test"}}
architecture:
  layers:
    - conv: {{out: 4, kernel: 3, stride: 2}}
    - relu
    - gap
    - flatten
    - linear: 10
recipe:
  epochs: {epochs}
  batch_size: 32
  optimizer: {{type: SGD, lr: {lr}, momentum: 0.9}}
  loss: {{type: cross_entropy}}
  normalization: {{mean: 0.1307, std: 0.3081}}
seeds: 2
claims:
  - {{kind: parameters, value: 90, where: test, expect: {params_expect}}}
  - {{kind: test_accuracy_final, band: [0, 100], where: test, expect: inconclusive}}
  - {{kind: qualitative, statement: "a thing", where: test, expect: unverifiable, reason: "no figure"}}
fidelity:
  architecture: {{level: documented, evidence: test}}
  recipe.optimizer: {{level: documented, evidence: test}}
  recipe.scheduler: {{level: documented, evidence: test}}
  recipe.loss: {{level: documented, evidence: test}}
  recipe.batch_size: {{level: documented, evidence: test}}
  recipe.epochs: {{level: documented, evidence: test}}
  recipe.normalization: {{level: documented, evidence: test}}
  recipe.augmentation: {{level: documented, evidence: test}}
"""


def write_tiny_specs(folder: Path, names=("alpha",), epochs=2, lr=0.05, params_expect="reproduced") -> Path:
    """A spec folder of tiny (90-parameter) models that train on a subset in well under a second."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_source.yaml").write_text("file: tiny.txt\ntitle: tiny\nconstraint: none\n")
    for name in names:
        (folder / f"{name}.yaml").write_text(TINY_SPEC.format(name=name, epochs=epochs, lr=lr,
                                                              params_expect=params_expect))
    return folder


def run_pytest(*args, cwd=None, env=None, timeout=600):
    """The repository's pytest (its conftest is the plugin) in a subprocess.

    A `--reproduce` run that is not `--collect-only` must name its own `--results`: the session
    rewrites REPORT.md in that folder, and the repository's results/ is not a test's to change."""
    import os
    import subprocess
    import sys

    if "--reproduce" in args and "--collect-only" not in args:
        assert any(str(a).startswith("--results") for a in args), "a --reproduce test needs its own --results"

    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTEST_XDIST_WORKER", None)
    full_env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd or ROOT,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
