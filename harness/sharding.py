"""Deterministic sharding of the audit across machines: `pytest --shard K/N`.

A spec is never split: all its tests land on one shard, so no two machines
train the same spec. Specs are dealt out by estimated training cost (longest
first, each to the lightest shard so far; ties by spec id), which depends only
on the spec files, so every machine computes the same assignment.
"""

from __future__ import annotations

import re
from math import prod

from harness.model import plan

SHARD_PATTERN = re.compile(r"^(\d+)/(\d+)$")


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4): the second of four shards; K counts from 1."""
    match = SHARD_PATTERN.match(text.strip())
    if not match:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 1/4")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return index, count


def training_cost(loaded) -> float:
    """Relative cost of one seed's training: epochs x multiply-accumulates per sample (weights x output positions)."""
    macs = sum(p.parameters * (prod(p.out_shape[1:]) if len(p.out_shape) == 3 else 1)
               for p in plan(loaded.spec.architecture))
    return loaded.spec.recipe.epochs * max(macs, 1)


def assign(specs, count: int) -> dict[str, int]:
    """Spec id -> shard (1..count), balanced by training cost."""
    costs = {s.id: training_cost(s) for s in specs}
    loads = [0.0] * count
    out = {}
    for spec_id in sorted(costs, key=lambda i: (-costs[i], i)):
        shard = min(range(count), key=lambda i: (loads[i], i))
        loads[shard] += costs[spec_id]
        out[spec_id] = shard + 1
    return out
