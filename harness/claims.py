"""Measuring claims on curves, and the verdict rule.

Verdict for a claim measured over N seeds (values v_i, mean m, sample
standard deviation s; s = 0 for one seed) against its band [lo, hi]:

* reproduced    lo <= m <= hi
* refuted       m < lo - s  or  m > hi + s   (outside the band by more than the seed spread)
* inconclusive  otherwise                     (outside the band, but within one s of it)

Parameter counts are exact (within 1% when the README writes "~").
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

from harness.results import SeedCurve

EPS = 1e-9  # accuracies are k/n*100 in floating point; band edges are inclusive
ERROR_FACTOR = 1.25


@dataclass
class ClaimResult:
    claim_id: str
    kind: str
    claimed: str                 # the README's figure, for people
    band: list[float] | None
    values: list[float] = field(default_factory=list)  # per seed
    mean: float | None = None
    std: float | None = None
    verdict: str = "unverifiable"  # reproduced | refuted | inconclusive | unverifiable | error
    expected: str = "unverifiable"
    estimated: bool = False
    detail: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def as_expected(self) -> bool:
        return self.verdict == self.expected

    def measured_text(self) -> str:
        return measured_text(self.to_json())


def measured_text(row: dict, with_n: bool = False) -> str:
    """A claim result's measured value for people: a count, per-seed epochs, or mean ± std."""
    if row.get("mean") is None:
        return "-"
    values = row.get("values") or []
    if row["kind"] == "parameters":
        return f"{int(row['mean']):,}"
    if row["kind"] == "first_epoch_reaching":
        return "/".join(str(int(v)) for v in values) + (" (per seed)" if with_n else "")
    if math.isnan(row["mean"]):
        return "n/a (diverged)"
    spread = row.get("std") is not None and len(values) > 1
    text = f"{row['mean']:.2f}" + (f" ± {row['std']:.2f}" if spread else "")
    return text + (f" (n={len(values)})" if with_n else "")


def band_text(band) -> str:
    """[99.35, 99.58] -> '99.35-99.58'; parameter counts with thousands separators."""
    if not band:
        return "-"
    lo, hi = band
    if lo >= 1000:
        return f"{lo:,.0f}" if lo == hi else f"{lo:,.0f}-{hi:,.0f}"
    return f"{lo:g}" if lo == hi else f"{lo:.2f}-{hi:.2f}"


# --------------------------------------------------------------------------- bands

def default_band(claim, epochs: int) -> list[float] | None:
    """The accepted interval for a claim (see specs/README.md)."""
    if getattr(claim, "band", None) is not None:
        return [float(b) for b in claim.band]
    if claim.kind == "parameters":
        tol = claim.value * 0.01 if claim.approximate else 0
        return [claim.value - tol, claim.value + tol]
    if claim.kind == "first_epoch_reaching":
        if claim.value is None:
            return [epochs + 1.0, epochs + 1.0]
        return [claim.value - 1.0, claim.value + 1.0]
    if getattr(claim, "value", None) is None:
        return None
    error = 100.0 - claim.value
    return [max(0.0, 100.0 - ERROR_FACTOR * error), min(100.0, 100.0 - error / ERROR_FACTOR)]


def claimed_text(claim) -> str:
    if claim.kind == "parameters":
        return f"{'~' if claim.approximate else ''}{claim.value:,}"
    if claim.kind == "first_epoch_reaching":
        return f"{claim.threshold:g}% " + ("never" if claim.value is None else f"by epoch {claim.value}")
    if claim.kind == "qualitative":
        return claim.statement
    value = getattr(claim, "value", None)
    if value is None and getattr(claim, "band", None):
        lo, hi = claim.band
        text = f">= {lo:g}%" if hi >= 100 else f"{lo:g}-{hi:g}%"
    else:
        text = f"{value:g}%"
    return ("~" + text + " (estimated)") if claim.estimated else text


# --------------------------------------------------------------------------- measuring

def measure(claim, curve: SeedCurve, epochs: int) -> float:
    """One seed's value for a trained claim."""
    test, train = curve.test_accuracy, curve.train_accuracy
    kind = claim.kind
    if kind in ("test_accuracy_final", "does_not_converge"):
        return test[-1]
    if kind == "test_accuracy_peak":
        return max(test)
    if kind == "test_accuracy_at_epoch":
        return test[claim.epoch - 1]
    if kind == "test_accuracy_mean_last":
        return statistics.fmean(test[-claim.epochs:])
    if kind == "test_accuracy_min_from":
        return min(test[claim.epoch - 1:])
    if kind == "train_accuracy_final":
        return train[-1]
    if kind == "train_accuracy_at_epoch":
        return train[claim.epoch - 1]
    if kind == "first_epoch_reaching":
        reached = [i + 1 for i, acc in enumerate(test) if acc >= claim.threshold - EPS]
        return float(reached[0]) if reached else float(epochs + 1)
    raise ValueError(f"{kind} is not measured on curves")


def verdict(values: list[float], band: list[float]) -> tuple[str, float, float]:
    """(verdict, mean, std) by the rule in this module's docstring."""
    if any(math.isnan(v) for v in values):
        return "refuted", math.nan, math.nan
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    lo, hi = band
    if lo - EPS <= mean <= hi + EPS:
        return "reproduced", mean, std
    if mean < lo - std - EPS or mean > hi + std + EPS:
        return "refuted", mean, std
    return "inconclusive", mean, std


def judge_parameters(claim, computed: int) -> ClaimResult:
    band = default_band(claim, 0)
    v = "reproduced" if band[0] <= computed <= band[1] else "refuted"
    detail = "" if v == "reproduced" else f"computed {computed:,}, claimed {claim.value:,}"
    return ClaimResult(claim.claim_id, claim.kind, claimed_text(claim), band, [float(computed)], float(computed), 0.0,
                       v, claim.expect, claim.estimated, detail)


def judge_trained(claim, curves: list[SeedCurve], epochs: int) -> ClaimResult:
    result = ClaimResult(claim.claim_id, claim.kind, claimed_text(claim), default_band(claim, epochs),
                         expected=claim.expect, estimated=claim.estimated)
    unusable = [c for c in curves if c.outcome not in ("ok", "diverged") or len(c.test_accuracy) < epochs]
    if unusable:
        c = unusable[0]
        result.verdict = "error"
        result.detail = f"seed {c.seed}: run {c.outcome}" + (f" ({c.detail})" if c.detail else "")
        return result
    result.values = [measure(claim, c, epochs) for c in curves]
    result.verdict, result.mean, result.std = verdict(result.values, result.band)
    diverged = [c.seed for c in curves if c.outcome == "diverged"]
    if diverged:
        result.detail = f"diverged: seed {', '.join(map(str, diverged))}"
    return result


def unverifiable(claim) -> ClaimResult:
    reason = getattr(claim, "reason", None) or claim.note or "no measurable figure"
    return ClaimResult(claim.claim_id, claim.kind, claimed_text(claim), None, expected=claim.expect,
                       estimated=claim.estimated, detail=reason)


def judge_all(loaded, curves: list[SeedCurve] | None, epochs: int, computed_parameters: int) -> list[ClaimResult]:
    """Every claim of a spec: parameters from the model, trained claims from curves (if given)."""
    from harness.schema import TRAINED_KINDS

    out = []
    for claim in loaded.spec.claims:
        if claim.kind == "parameters":
            out.append(judge_parameters(claim, computed_parameters))
        elif claim.kind in TRAINED_KINDS and curves is not None:
            out.append(judge_trained(claim, curves, epochs))
        elif claim.expect == "unverifiable" or claim.kind == "qualitative":
            out.append(unverifiable(claim))
    return out
