"""Deterministic sharding of the audit across machines: `pytest --shard K/N`.

A spec is never split: all its tests land on one shard, so no two machines
train the same spec. Specs are dealt out by estimated training cost (longest
first, each to the lightest shard so far; ties by spec id), which depends only
on the spec files, so every machine computes the same assignment.
"""

from __future__ import annotations

from harness.model import flops_per_sample, plan
from harness.option_types import parse_shard

__all__ = ["assign", "parse_shard", "training_cost"]


def training_cost(loaded) -> int:
    """Relative cost of one seed's training: epochs x forward FLOPs per sample. An integer: both factors are
    bounded when the spec loads (harness.limits), so sums over any number of specs never overflow."""
    return loaded.spec.recipe.epochs * max(flops_per_sample(plan(loaded.spec.architecture)), 1)


def assign(specs, count: int) -> dict[str, int]:
    """Spec id -> shard (1..count), balanced by training cost."""
    costs = {s.id: training_cost(s) for s in specs}
    loads = [0] * count
    out = {}
    for spec_id in sorted(costs, key=lambda i: (-costs[i], i)):
        shard = min(range(count), key=lambda i: (loads[i], i))
        loads[shard] += costs[spec_id]
        out[spec_id] = shard + 1
    return out
