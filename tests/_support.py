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
