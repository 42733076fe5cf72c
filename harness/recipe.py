"""A spec's recipe as the real torch objects.

The optimizer and scheduler are the torch.optim classes the READMEs name,
built with exactly the spec's keyword arguments: a rewrite would lose their
semantics (OneCycleLR, for one, cycles momentum even on an SGD built with
momentum=0, and overrides the optimizer's initial lr with max_lr/div_factor).
"""

from __future__ import annotations

import math

import torch

from harness.schema import Recipe


def steps_per_epoch(train_size: int, batch_size: int) -> int:
    """len(DataLoader) with drop_last=False: the last partial batch counts."""
    return math.ceil(train_size / batch_size)


def make_optimizer(recipe: Recipe, params) -> torch.optim.Optimizer:
    kwargs = recipe.optimizer.kwargs()
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return getattr(torch.optim, recipe.optimizer.type)(params, **kwargs)


def make_scheduler(recipe: Recipe, optimizer, epochs: int, batches_per_epoch: int):
    """The scheduler, or None. OneCycleLR's epochs/steps_per_epoch default to the run's."""
    spec = recipe.scheduler
    if spec is None:
        return None
    return getattr(torch.optim.lr_scheduler, spec.type)(optimizer, **spec.torch_kwargs(epochs, batches_per_epoch))


def copy_losses(recipe: Recipe, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-copy mean loss, [K], from outputs [K, B, classes] and targets [K, B]:
    copy k's value is what nn.CrossEntropyLoss / nn.NLLLoss (mean) gives a single model."""
    k, b, classes = out.shape
    flat, labels = out.reshape(k * b, classes), target.reshape(k * b)
    return recipe.loss.per_sample(flat, labels).view(k, b).mean(dim=1)
