"""Plain result data: one seed's curves and one spec's run. No torch, no engine.

What training produces and what judging, records, reports and the cache
read. Everything here is JSON-shaped, so a record or cache entry is data,
never code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class SeedCurve:
    seed: int
    test_accuracy: list[float] = field(default_factory=list)   # percent, after each epoch
    test_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)  # percent, over the epoch (train mode)
    train_loss: list[float] = field(default_factory=list)      # mean of batch losses
    lr: list[float] = field(default_factory=list)              # first group's lr after each epoch
    outcome: str = "ok"                                         # ok | diverged | timeout | oom | error
    diverged_epoch: int | None = None                           # 1-based
    detail: str | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SeedCurve:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown curve fields: {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class SpecRun:
    spec_id: str
    seeds: list[int]
    curves: list[SeedCurve]
    from_cache: list[bool]
    train_seconds: float                 # wall time spent training in this call (0 when all cached)
    epochs: int
    environment: dict
    outcome: str = "ok"                  # ok | timeout | oom | error (divergence is per seed, in curves)
    error: str | None = None
    error_trace: str | None = None
    options: dict = field(default_factory=dict)
    stacks: list[list[int]] = field(default_factory=list)  # seeds trained together, per training call
    trained_with: list[dict] = field(default_factory=list)  # per seed: source (trained|cache|record), stack, threads

    @property
    def complete(self) -> bool:
        return self.outcome == "ok"
