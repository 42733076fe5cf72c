"""Claims: one class per claim kind, holding both its YAML form and its behaviour.

Each class says what a spec may write for its kind (a strict pydantic model),
how one seed's curves are measured (`measure`), how the README's figure reads
(`claimed_text`), which decision rule judges it (`judge`), whether it needs
training (`trained`) and what it draws on a plot (`marks`). Nothing outside
this module switches on a claim's kind: adding a kind is one class here and
its test. The rules themselves are in harness/stats.py and README.md
("Verdicts").

A claim is judged on `Evidence`: the seeds' curves, the epochs, the planned
parameter count, the README's other runs (for the pooled noise scale) and,
for comparisons, the other spec's seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, model_validator

from harness import stats
from harness.layers import PosInt, Strict
from harness.limits import SPEC_REF_PATTERN
from harness.results import SeedCurve
from harness.verdict import FIGURE_EXPECTATIONS, LESSON_EXPECTATIONS, Verdict, miss_meaning

EPS = 1e-9  # accuracies are k/n*100 in floating point; band edges are inclusive
Percent = Annotated[float, Field(ge=0.0, le=100.0)]
Text = Annotated[str, Field(min_length=1)]
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Band = Annotated[list[float], Field(min_length=2, max_length=2, description="[low, high], inclusive")]
# `expect:` is a plain YAML string; the literals come from the one Verdict type
Expectation = Literal[tuple(v.value for v in FIGURE_EXPECTATIONS)]  # type: ignore[valid-type]
LessonExpectation = Literal[tuple(v.value for v in LESSON_EXPECTATIONS)]  # type: ignore[valid-type]


# --------------------------------------------------------------------------- results and evidence

@dataclass
class ClaimResult:
    claim_id: str
    kind: str
    claimed: str                 # the README's figure, for people
    band: list[float] | None     # accepted interval (reproduced inside); for people and the summary table
    values: list[float] = field(default_factory=list)  # per seed (comparisons: per common seed, this - other)
    mean: float | None = None
    std: float | None = None
    verdict: Verdict = Verdict.UNVERIFIABLE
    expected: Verdict = Verdict.UNVERIFIABLE
    estimated: bool = False
    detail: str = ""
    measured: str = "-"          # the measured figure for people, with the n it rests on
    rule: str = ""               # which rule decided, with its numbers
    extra: dict = field(default_factory=dict)  # per-kind data: a comparison's difference and CI, a curve's points
    baseline_mismatch: bool = False  # a lesson: a side's own run refutes the README's figure for it
    baseline_reason: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    def measured_text(self) -> str:
        return self.measured


@dataclass
class OtherRun:
    """Another spec's seeds, for a comparison."""

    spec_id: str
    seeds: list[int]
    curves: list[SeedCurve]
    epochs: int


@dataclass
class Evidence:
    """What claims are judged on."""

    spec_id: str
    curves: list[SeedCurve] | None            # None: not trained (parameter claims only)
    epochs: int
    parameters: int                           # from the shape plan
    neighbours: list[tuple[list[SeedCurve], int]] = field(default_factory=list)  # the README's runs (pool)
    other: Callable[[str], OtherRun | None] = lambda ref: None
    looks: int = 1  # the seeds came from a ladder of this many looks (`--seeds auto`): each look spends its share
    spec: object | None = None  # the LoadedSpec: claims on the model's structure read its layers (None: absent)
    planned: list | None = None  # its shape plan (harness.model.plan), given by the judge: claims import no model
    parameters_of: Callable[[str], int | None] = lambda spec_id: None  # another spec's count (None: no such spec)

    @property
    def slug(self) -> str:
        return self.spec_id.split("/")[0]


@dataclass(frozen=True)
class Mark:
    """Something a claim draws on a spec's plot: panel test|train|gap, style point|span|line|curve."""

    panel: str
    style: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    label: str


def band_text(band) -> str:
    """[99.35, 99.58] -> '99.35-99.58'; parameter counts with thousands separators."""
    if not band:
        return "-"
    lo, hi = band
    if max(abs(lo), abs(hi)) >= 1000:
        return f"{lo:,.0f}" if lo == hi else f"{lo:,.0f}-{hi:,.0f}"
    if lo == hi:
        return f"{lo:g}"
    return f"{lo:.2f} to {hi:.2f}" if lo < 0 else f"{lo:.2f}-{hi:.2f}"


def usable(curves: list[SeedCurve], epochs: int) -> list[SeedCurve]:
    return [c for c in curves if c.outcome in ("ok", "diverged") and len(c.test_accuracy) >= epochs]


def same_run(a: SeedCurve, b: SeedCurve) -> bool:
    """Bit-identical curves: both specs trained the same computation for this seed."""
    return (a.test_accuracy == b.test_accuracy and a.test_loss == b.test_loss
            and a.train_accuracy == b.train_accuracy and a.train_loss == b.train_loss and a.outcome == b.outcome)


# --------------------------------------------------------------------------- measures (a claim kind's per-seed figure)

class _Measure(Strict):
    """A per-seed figure of a run. `kind` names it; comparisons use the same classes as metrics."""

    panel: ClassVar[str | None] = "test"  # the plot panel of its per-epoch series (harness/report.py PANELS)
    unit: ClassVar[str] = "%"
    axis: ClassVar[str] = "%"  # the report's axis and difference unit: "%" (differences in pp), "pp" or "epochs"
    images: ClassVar[int | None] = stats.TEST_IMAGES  # the binomial floor's sample size; None: no floor
    better: ClassVar[str | None] = "higher"  # which way the measure improves (None: neither): what a miss's side means
    # a lesson's difference inside +-this is no effect worth the name (docs/verdicts.md, 'negligible'): 0.1 pp is
    # about one binomial sd of a single run's score on 10,000 test images at 99.4% (0.077 pp)
    negligible_delta: ClassVar[float] = 0.1

    def measure(self, curve: SeedCurve, epochs: int) -> float:
        raise NotImplementedError

    def span(self, epochs: int) -> tuple[int, int]:
        """The epochs the figure comes from (for plots)."""
        return epochs, epochs

    def applies(self, epochs: int) -> str | None:
        """Why this measure cannot be taken on a run of `epochs` epochs (None: it can)."""
        last = max(getattr(self, a, None) or 0 for a in ("epoch", "epochs", "to"))
        return f"{last} is beyond the recipe's {epochs} epochs" if last > epochs else None

    def describe(self) -> str:
        return self.kind.replace("_", " ")  # type: ignore[attr-defined]

    def as_figure(self, value: float) -> _Claim:
        """The claim 'one run of the recipe gives `value`' on this measure (a lesson's README figure for one side)."""
        fields = self.model_dump(by_alias=True, exclude_none=True)
        figure = int(value) if self.unit == "" and float(value).is_integer() else value  # epochs are whole
        return _claim_adapter().validate_python({**fields, "value": figure, "where": "a lesson's README figure",
                                                 "expect": Verdict.REPRODUCED.value})

    def floor(self, values: list[float]) -> float:
        """The noise floor of one run's figure: half the binomial sd on `images` samples (0: none)."""
        finite = [v for v in values if math.isfinite(v)]
        if self.images is None or not finite:
            return 0.0
        return stats.binomial_floor(statistics.fmean(finite) if self.unit == "%" else 99.0, self.images)

    def pool_values(self, curves: list[SeedCurve], epochs: int) -> list[float]:
        return [v for v in (self.measure(c, epochs) for c in curves) if math.isfinite(v)]


class TestFinalMeasure(_Measure):
    kind: Literal["test_accuracy_final"]

    def measure(self, curve, epochs):
        return curve.test_accuracy[epochs - 1]


class TestPeakMeasure(_Measure):
    kind: Literal["test_accuracy_peak"]

    def measure(self, curve, epochs):
        return max(curve.test_accuracy[:epochs])

    def span(self, epochs):
        return 1, epochs


class TestAtEpochMeasure(_Measure):
    kind: Literal["test_accuracy_at_epoch"]
    epoch: PosInt

    def measure(self, curve, epochs):
        return curve.test_accuracy[self.epoch - 1]

    def span(self, epochs):
        return self.epoch, self.epoch

    def describe(self):
        return f"test accuracy at epoch {self.epoch}"


class TestMeanLastMeasure(_Measure):
    kind: Literal["test_accuracy_mean_last"]
    epochs: PosInt = Field(description="Mean of the test accuracy over the last N epochs")

    def measure(self, curve, epochs):
        return statistics.fmean(curve.test_accuracy[epochs - self.epochs:epochs])

    def span(self, epochs):
        return epochs - self.epochs + 1, epochs

    def describe(self):
        return f"mean test accuracy of the last {self.epochs} epochs"


class TestMinFromMeasure(_Measure):
    """'Stays above X from epoch N on': the minimum test accuracy over epochs N..end."""

    kind: Literal["test_accuracy_min_from"]
    epoch: PosInt

    def measure(self, curve, epochs):
        return min(curve.test_accuracy[self.epoch - 1:epochs])

    def span(self, epochs):
        return self.epoch, epochs


class TestWindowMeasure(_Measure):
    """The min or mean test accuracy over epochs from..to ('epochs 11-14 all hit 99.42%': min)."""

    kind: Literal["test_accuracy_window"]
    from_: PosInt = Field(alias="from")
    to: PosInt
    stat: Literal["min", "mean"]

    @model_validator(mode="after")
    def _ordered(self):
        if self.from_ > self.to:
            raise ValueError("`from` must not be after `to`")
        return self

    def measure(self, curve, epochs):
        window = curve.test_accuracy[self.from_ - 1:self.to]
        return min(window) if self.stat == "min" else statistics.fmean(window)

    def span(self, epochs):
        return self.from_, self.to

    def describe(self):
        return f"{self.stat} test accuracy over epochs {self.from_}-{self.to}"


class TestSpreadMeasure(_Measure):
    """max - min of the test accuracy over epochs from..to, in pp ('jumps around in the last epochs')."""

    kind: Literal["test_accuracy_spread"]
    unit: ClassVar[str] = " pp"
    axis: ClassVar[str] = "pp"
    panel: ClassVar[str | None] = None  # a range over epochs: no per-epoch series to draw it beside
    better: ClassVar[str | None] = "lower"  # a steadier curve
    from_: PosInt = Field(alias="from")
    to: PosInt

    @model_validator(mode="after")
    def _ordered(self):
        if self.from_ > self.to:
            raise ValueError("`from` must not be after `to`")
        return self

    def measure(self, curve, epochs):
        window = curve.test_accuracy[self.from_ - 1:self.to]
        return max(window) - min(window)

    def span(self, epochs):
        return self.from_, self.to

    def floor(self, values):
        return 0.0  # a range of one run's epochs on the same test images: no binomial scale of its own


class TrainFinalMeasure(_Measure):
    kind: Literal["train_accuracy_final"]
    panel: ClassVar[str] = "train"
    images: ClassVar[int | None] = stats.TRAIN_IMAGES

    def measure(self, curve, epochs):
        return curve.train_accuracy[epochs - 1]


class TrainAtEpochMeasure(_Measure):
    kind: Literal["train_accuracy_at_epoch"]
    panel: ClassVar[str] = "train"
    images: ClassVar[int | None] = stats.TRAIN_IMAGES
    epoch: PosInt

    def measure(self, curve, epochs):
        return curve.train_accuracy[self.epoch - 1]

    def span(self, epochs):
        return self.epoch, self.epoch


class TrainPeakMeasure(_Measure):
    kind: Literal["train_accuracy_peak"]
    panel: ClassVar[str] = "train"
    images: ClassVar[int | None] = stats.TRAIN_IMAGES

    def measure(self, curve, epochs):
        return max(curve.train_accuracy[:epochs])

    def span(self, epochs):
        return 1, epochs


class TrainTestGapMeasure(_Measure):
    """Train accuracy minus test accuracy at an epoch, in pp."""

    kind: Literal["train_test_gap"]
    unit: ClassVar[str] = " pp"
    axis: ClassVar[str] = "pp"
    panel: ClassVar[str] = "gap"  # plotted as its own series: train minus test per epoch
    better: ClassVar[str | None] = None  # a gap is neither good nor bad in itself: its side is stated literally
    epoch: PosInt

    def measure(self, curve, epochs):
        return curve.train_accuracy[self.epoch - 1] - curve.test_accuracy[self.epoch - 1]

    def span(self, epochs):
        return self.epoch, self.epoch

    def floor(self, values):
        return stats.binomial_floor(99.0)  # the test side's scale dominates the difference's


class FirstEpochMeasure(_Measure):
    """First epoch whose test accuracy reaches `threshold`; never = infinity (MLPerf)."""

    kind: Literal["first_epoch_reaching"]
    unit: ClassVar[str] = ""
    axis: ClassVar[str] = "epochs"
    images: ClassVar[int | None] = None
    better: ClassVar[str | None] = "lower"  # sooner
    negligible_delta: ClassVar[float] = 1.0  # one epoch: the measure's resolution, no README reports less
    threshold: Percent

    def measure(self, curve, epochs):
        reached = [i + 1 for i, acc in enumerate(curve.test_accuracy[:epochs]) if acc >= self.threshold - EPS]
        return float(reached[0]) if reached else math.inf

    def span(self, epochs):
        return 1, epochs

    def describe(self):
        return f"first epoch reaching {self.threshold:g}%"


class TestMinLastMeasure(_Measure):
    """'At least 99.4% in each of the last N epochs': the lowest test accuracy of the last N epochs."""

    kind: Literal["test_accuracy_min_last"]
    epochs: PosInt = Field(description="The lowest test accuracy over the last N epochs")

    def measure(self, curve, epochs):
        return min(curve.test_accuracy[epochs - self.epochs:epochs])

    def span(self, epochs):
        return epochs - self.epochs + 1, epochs

    def describe(self):
        return f"lowest test accuracy of the last {self.epochs} epochs"


class TestMinusTrainMeasure(_Measure):
    """Test minus training accuracy, both taken as their best over the run (`peak`) or after the last epoch
    (`final`), in pp: positive when the test set scores above training ('test higher than train')."""

    kind: Literal["test_minus_train"]
    unit: ClassVar[str] = " pp"
    panel: ClassVar[str | None] = None  # peaks may come from different epochs: no per-epoch series
    stat: Literal["peak", "final"] = "peak"

    def measure(self, curve, epochs):
        if self.stat == "peak":
            return max(curve.test_accuracy[:epochs]) - max(curve.train_accuracy[:epochs])
        return curve.test_accuracy[epochs - 1] - curve.train_accuracy[epochs - 1]

    def span(self, epochs):
        return (1, epochs) if self.stat == "peak" else (epochs, epochs)

    def floor(self, values):
        return stats.binomial_floor(99.0)  # the test side's scale dominates the difference's

    def describe(self):
        return f"{self.stat} test minus {self.stat} train accuracy"


Metric = Annotated[
    Union[TestFinalMeasure, TestPeakMeasure, TestAtEpochMeasure, TestMeanLastMeasure, TestMinFromMeasure,
          TestWindowMeasure, TestSpreadMeasure, TrainFinalMeasure, TrainAtEpochMeasure, TrainPeakMeasure,
          TrainTestGapMeasure, FirstEpochMeasure, TestMinLastMeasure, TestMinusTrainMeasure],
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- claims

class _Claim(Strict):
    id: Identifier | None = Field(None, description="Unique within the spec; defaults to the kind (and epoch)")
    where: Text = Field(description="Where the README makes the claim (section, table row, log line)")
    expect: Expectation = Field(description="The verdict recorded for this claim; a different verdict fails the suite")
    estimated: bool = Field(False, description="The README itself only estimates this figure")
    note: str | None = None

    trained: ClassVar[bool] = True      # needs training to be judged
    judged_after_others: ClassVar[bool] = False  # needs another spec's run (pytest orders it after the rest)

    def default_id(self) -> str:
        return self.kind.replace("_", "-")  # type: ignore[attr-defined]

    @property
    def claim_id(self) -> str:
        return self.id or self.default_id()

    def claimed_text(self) -> str:
        raise NotImplementedError

    def judge(self, evidence: Evidence) -> ClaimResult:
        raise NotImplementedError

    def marks(self, epochs: int) -> list[Mark]:
        return []

    def problems(self, epochs: int) -> list[tuple[str, str]]:
        """(field, message) for what the recipe makes impossible to measure."""
        return []

    def runs_needed_of(self, spec_id: str) -> str | None:
        """The other spec whose runs this claim is judged on (a lesson between runs), else None."""
        return None

    def related_problems(self, spec_id: str, epochs_of: Callable[[str], int | None]) -> list[tuple[str, str]]:
        """(field, message) for what other specs make impossible (`epochs_of`: a spec id's epochs, None if
        there is no such spec); `python -m harness check` asks every claim."""
        return []

    def _result(self, **kw) -> ClaimResult:
        return ClaimResult(self.claim_id, self.kind, self.claimed_text(), kw.pop("band", None),  # type: ignore
                           expected=Verdict(self.expect), estimated=self.estimated, **kw)

    in_family: ClassVar[bool] = False  # one of the README's lessons, decided together (harness/verdicts.py)

    def not_run(self) -> ClaimResult:
        """The row of a trained claim with no run to judge it on."""
        return self._result(verdict=Verdict.NOT_RUN)

    def unverifiable(self) -> ClaimResult:
        reason = getattr(self, "reason", None) or self.note or "no measurable figure"
        return self._result(detail=reason)


def _trained_run_problem(claim: _Claim, evidence: Evidence) -> ClaimResult | None:
    """An error result when the run cannot carry a verdict (timeout, crash, too few epochs)."""
    bad = [c for c in evidence.curves or [] if c not in usable([c], evidence.epochs)]
    if bad:
        c = bad[0]
        return claim._result(verdict=Verdict.ERROR, detail=f"seed {c.seed}: run {c.outcome}" +
                             (f" ({c.detail})" if c.detail else ""))
    if not evidence.curves:
        return claim._result(verdict=Verdict.ERROR, detail="no seeds were run")
    return None


def _diverged(curves: list[SeedCurve]) -> str:
    seeds = [c.seed for c in curves if c.outcome == "diverged"]
    return f"diverged: seed {', '.join(map(str, seeds))}" if seeds else ""


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _with_meaning(result: ClaimResult, better: str | None) -> ClaimResult:
    """A refutation's detail says which side the README lies on and what that side means for this measure."""
    result.detail = _join(miss_meaning(result.verdict, better), result.detail)
    return result


def _spread_text(values: list[float], unit: str) -> str:
    n = len(values)
    if any(math.isnan(v) for v in values):
        return f"n/a (diverged) (n={n})"
    mean = statistics.fmean(values)
    sd = f" ± {statistics.stdev(values):.2f}" if n > 1 else ""
    return f"{mean:.2f}{sd}{'' if unit == '%' else unit} (n={n})"


class _Figure(_Claim, _Measure):
    """A figure measured per seed: `value` is the README's one-run figure (prediction-interval rule),
    `band` alone is a target (share-of-seeds rule). With both, the value is judged and the band is the
    README's stated target, drawn but not judged (write a band-only claim to judge the target)."""

    value: Percent | None = Field(None, description="The README's figure, in percent")
    band: Band | None = Field(None, description="The README's target range (a band alone is judged as a target)")
    exclusive: Literal["low", "high", "both"] | None = Field(
        None, description="Band ends the README states strictly ('> 99.4%': low); default: both ends inclusive")

    @model_validator(mode="after")
    def _value_or_band(self):
        if self.value is None and self.band is None:
            raise ValueError("an accuracy claim needs a value, a band, or both")
        if self.band and self.band[0] > self.band[1]:
            raise ValueError("band must be [low, high]")
        return self

    def problems(self, epochs):
        why = self.applies(epochs)
        return [(self._epoch_field(), why)] if why else []

    def _epoch_field(self) -> str:
        return next((a for a in ("epoch", "epochs", "to") if getattr(self, a, None)), "kind")

    def claimed_text(self) -> str:
        if self.value is None:
            lo, hi = self.band
            text = (f">= {lo:g}{self.unit}" if hi >= 100 else f"<= {hi:g}{self.unit}" if lo <= -100
                    else f"{lo:g} to {hi:g}{self.unit}" if lo < 0 else f"{lo:g}-{hi:g}{self.unit}")
            if self.exclusive:  # strict ends: '> 99.4%', '< 99.4%', '(1, 2)'
                low, high = self.exclusive in ("low", "both"), self.exclusive in ("high", "both")
                text = (f"{'>' if low else '>='} {lo:g}{self.unit}" if hi >= 100 and not high else
                        f"{'<' if high else '<='} {hi:g}{self.unit}" if lo <= (-100 if lo < 0 else 0) and not low
                        else f"{'(' if low else '['}{lo:g}, {hi:g}{')' if high else ']'}{self.unit}")
        else:
            text = f"{self.value:g}{self.unit}"
        return ("~" + text + " (estimated)") if self.estimated else text

    def pooled(self, evidence: Evidence, values: list[float]) -> tuple[float, float] | None:
        """Pooled sd of this same measure over the README's runs in the same regime: runs whose mean error
        rate is within a factor of 2 of this run's (noise grows with the error rate; a run that failed to
        train would otherwise swamp the scale of every other)."""
        reference = _regime(self, evidence.curves or [], evidence.epochs, values)
        groups, seen = [], set()
        for curves, epochs in evidence.neighbours:
            if self.applies(epochs) or any(c.outcome != "ok" for c in curves):
                continue
            group = self.pool_values(usable(curves, epochs), epochs)
            key = tuple(round(v, 6) for v in group)
            if len(group) < 2 or key in seen:
                continue
            seen.add(key)
            error = _regime(self, curves, epochs, group)
            if reference is not None and error is not None and reference / 2 <= error <= reference * 2:
                groups.append(group)
        return stats.pooled_sd(groups)

    def judge(self, evidence: Evidence) -> ClaimResult:
        problem = _trained_run_problem(self, evidence)
        if problem:
            return problem
        curves = evidence.curves
        values = [self.measure(c, evidence.epochs) for c in curves]
        n = len(values)
        result = self._result(values=values, detail=_diverged(curves), measured=_spread_text(values, self.unit))
        finite = [v for v in values if not math.isnan(v)]
        result.mean = statistics.fmean(values) if finite == values else math.nan
        result.std = statistics.stdev(values) if n > 1 and finite == values else (0.0 if n == 1 else math.nan)
        if self.value is None:
            return self._judge_target(result, values, evidence.looks)
        if len(finite) != n:  # a diverged run is worse than any figure: the README lies on its better side
            result.verdict = stats.cap(Verdict.refuted_on(self.better != "lower"), n)
            result.rule = "a seed diverged: no figure to compare"
            return _with_meaning(result, self.better)
        sd = stats.noise(values, self.pooled(evidence, values), self.floor(values))
        result.verdict, inner, outer = stats.single_figure(self.value, values, sd, evidence.looks)
        _with_meaning(result, self.better)
        result.band = [inner.lo, inner.hi]
        level = stats.per_look(stats.REFUTE_LEVEL, evidence.looks)
        result.rule = (f"95% prediction interval {inner.lo:.2f}-{inner.hi:.2f}, "
                       f"{level * 100:.3g}% {outer.lo:.2f}-{outer.hi:.2f}"
                       + (f" (one of {evidence.looks} looks of the seed ladder)" if evidence.looks > 1 else "")
                       + f"; {sd.text()}, n={n}")
        result.extra = {"sigma": sd.sigma, "df": sd.df if math.isfinite(sd.df) else None, "sigma_source": sd.source,
                        "refuted_outside": [outer.lo, outer.hi]}
        return result

    def _judge_target(self, result: ClaimResult, values: list[float], looks: int = 1) -> ClaimResult:
        lo, hi = self.band
        hits = sum(1 for v in values if self._meets(v, lo, hi))
        result.verdict, ci = stats.share_verdict(hits, len(values), self._target_above(values, lo, hi), looks)
        _with_meaning(result, self.better)
        result.band = [lo, hi]
        result.measured = f"{hits} of {len(values)} seeds meet it ({_spread_text(values, self.unit)})"
        level = stats.per_look(stats.SHARE_CONFIDENCE, looks)
        result.rule = (f"share {hits}/{len(values)}, {level:.0%} Clopper-Pearson {ci.lo:.2f}-{ci.hi:.2f}: reproduced "
                       "when the lower bound > 0.5, refuted when the upper bound < 0.5, else inconclusive")
        result.extra = {"hits": hits, "share_ci": [ci.lo, ci.hi]}
        return result

    def _judge_share(self, evidence) -> ClaimResult:
        """Every seed's figure against the target, judged on the share of seeds meeting it (mean and sd shown)."""
        problem = _trained_run_problem(self, evidence)
        if problem:
            return problem
        values = [self.measure(c, evidence.epochs) for c in evidence.curves]
        result = self._result(values=values, detail=_diverged(evidence.curves))
        finite = [v for v in values if not math.isnan(v)]
        result.mean = statistics.fmean(finite) if finite else math.nan
        result.std = statistics.stdev(finite) if len(finite) > 1 else 0.0
        return self._judge_target(result, values, evidence.looks)

    def _meets(self, v: float, lo: float, hi: float) -> bool:
        above = v > lo + EPS if self.exclusive in ("low", "both") else v >= lo - EPS
        below = v < hi - EPS if self.exclusive in ("high", "both") else v <= hi + EPS
        return above and below

    def _target_above(self, values: list[float], lo: float, hi: float) -> bool:
        """Whether a missed target lies above the runs: more of the missing seeds fall below the band than above
        it (a diverged seed, no figure, counts below: it fell short)."""
        missing = [v for v in values if not self._meets(v, lo, hi)]
        short = sum(1 for v in missing if math.isnan(v) or v < lo + EPS)  # at lo: missed an exclusive low end
        return short >= len(missing) - short

    def marks(self, epochs):
        first, last = self.span(epochs)
        label = f"{self.claim_id}: {self.claimed_text()}"
        out = []
        if self.panel is None:
            return out
        if self.band is not None:
            out.append(Mark(self.panel, "span", (first - 0.3, last + 0.3), tuple(self.band), label + " (target)"))
        if self.value is not None:
            style = "point" if first == last else "line"
            out.append(Mark(self.panel, style, (first, last), (self.value, self.value), label))
        return out


def _regime(measure: _Measure, curves: list[SeedCurve], epochs: int, values: list[float]) -> float | None:
    """The error rate (pp) that sets a run's noise regime: the measure's own for accuracies, else the final
    test accuracy's."""
    if measure.unit == "%":
        finite = [v for v in values if math.isfinite(v)]
    else:
        finite = [c.test_accuracy[epochs - 1] for c in usable(curves, epochs)]
        finite = [v for v in finite if math.isfinite(v)]
    return 100.0 - statistics.fmean(finite) if finite else None


class TestFinal(_Figure, TestFinalMeasure):
    kind: Literal["test_accuracy_final"]


class TestPeak(_Figure, TestPeakMeasure):
    """A peak claim is judged against the per-seed peaks."""

    kind: Literal["test_accuracy_peak"]

    def marks(self, epochs):
        if self.value is None:
            return super().marks(epochs)
        return [Mark("test", "line", (1, epochs), (self.value, self.value), f"{self.claim_id}: {self.claimed_text()}")]


class TestAtEpoch(_Figure, TestAtEpochMeasure):
    kind: Literal["test_accuracy_at_epoch"]

    def default_id(self):
        return f"test-accuracy-epoch{self.epoch}"


class TestMeanLast(_Figure, TestMeanLastMeasure):
    """Each seed's value is one run's average, the same statistic as the README's figure, so the single-figure
    prediction interval applies to the per-seed averages (see README, 'Averaged claims')."""

    kind: Literal["test_accuracy_mean_last"]

    def default_id(self):
        return f"test-accuracy-mean-last{self.epochs}"


class TestMinFrom(_Figure, TestMinFromMeasure):
    kind: Literal["test_accuracy_min_from"]

    def default_id(self):
        return f"test-accuracy-min-from-epoch{self.epoch}"


class TestWindow(_Figure, TestWindowMeasure):
    kind: Literal["test_accuracy_window"]

    def default_id(self):
        return f"test-accuracy-{self.stat}-epochs{self.from_}-{self.to}"


class TestSpread(_Figure, TestSpreadMeasure):
    kind: Literal["test_accuracy_spread"]
    value: Annotated[float, Field(ge=0.0, le=100.0)] | None = Field(None, description="max - min in pp")

    def default_id(self):
        return f"test-accuracy-spread-epochs{self.from_}-{self.to}"


class TrainFinal(_Figure, TrainFinalMeasure):
    kind: Literal["train_accuracy_final"]


class TrainAtEpoch(_Figure, TrainAtEpochMeasure):
    kind: Literal["train_accuracy_at_epoch"]

    def default_id(self):
        return f"train-accuracy-epoch{self.epoch}"


class TrainPeak(_Figure, TrainPeakMeasure):
    kind: Literal["train_accuracy_peak"]


class TrainTestGap(_Figure, TrainTestGapMeasure):
    kind: Literal["train_test_gap"]
    value: Annotated[float, Field(ge=-100.0, le=100.0)] | None = Field(None, description="train - test, pp")
    band: Annotated[list[Annotated[float, Field(ge=-100.0, le=100.0)]], Field(min_length=2, max_length=2)] | None = None

    def default_id(self):
        return f"train-test-gap-epoch{self.epoch}"


class DoesNotConverge(_Figure, TestFinalMeasure):
    """Training fails: the final test accuracy of a share of the seeds stays in `band` (diverged seeds count)."""

    kind: Literal["does_not_converge"]
    value: Percent | None = Field(None, description="The README's figure, e.g. 9.9 (shown, not judged)")
    band: Band = Field(description="Final test accuracy counted as not converged, e.g. [0, 12]")

    def judge(self, evidence):
        return self._judge_share(evidence)

    @staticmethod
    def _meets(v, lo, hi):
        return math.isnan(v) or lo - EPS <= v <= hi + EPS

    def _target_above(self, values, lo, hi):
        """Runs that converge lie above a 'does not converge' band: the README's band is below them."""
        missing = [v for v in values if not self._meets(v, lo, hi)]
        return sum(1 for v in missing if v < lo) > len(missing) / 2

    def claimed_text(self):
        lo, hi = self.band
        return f"does not converge ({lo:g}-{hi:g}%)" if self.value is None else f"{self.value:g}% (not converging)"


class FirstEpochReaching(_Claim, FirstEpochMeasure):
    """First epoch whose test accuracy reaches `threshold`; `value: null` claims it never does.
    `band` is a stated range of epochs ('by epoch 8-10'), judged like one epoch: it must meet the seeds' range."""

    value: PosInt | None
    band: Annotated[list[PosInt], Field(min_length=2, max_length=2)] | None = Field(
        None, description="A stated range of epochs ('epoch 8-10'); judged against the seeds' range like a value")

    def default_id(self):
        return f"first-epoch-{self.threshold:g}pct"

    def claimed_text(self):
        if self.band is not None:
            return f"{self.threshold:g}% by epoch {self.band[0]}-{self.band[1]}"
        return f"{self.threshold:g}% " + ("never" if self.value is None else f"by epoch {self.value}")

    def problems(self, epochs):
        if self.value is not None and self.value > epochs:
            return [("value", f"epoch {self.value} is beyond the recipe's {epochs} epochs")]
        return []

    def judge(self, evidence):
        problem = _trained_run_problem(self, evidence)
        if problem:
            return problem
        epochs = evidence.epochs
        values = [self.measure(c, epochs) for c in evidence.curves]
        finite = [min(v, epochs + 1.0) for v in values]  # 'never' compares as the epoch after the last
        mid = stats.median(values)
        shown = "/".join("never" if math.isinf(v) else str(int(v)) for v in values)
        result = self._result(values=finite, mean=stats.median(finite), std=None, detail=_diverged(evidence.curves),
                              measured=f"{shown} per seed (median {'never' if math.isinf(mid) else f'{mid:g}'}, "
                                       f"n={len(values)})")
        if self.band is not None:
            claimed = stats.Interval(float(self.band[0]), float(self.band[1]))
        else:
            at = float(epochs + 1) if self.value is None else float(self.value)
            claimed = stats.Interval(at, at)
        result.verdict, inner, outer = stats.epochs_verdict(claimed, finite, epochs + 1.0, evidence.looks)
        _with_meaning(result, self.better)
        result.band = [inner.lo, inner.hi]
        level = stats.per_look(stats.REFUTE_LEVEL, evidence.looks)
        result.rule = (f"seeds' range {inner.lo:g}-{inner.hi:g} (reproduced when the claim meets it), refuted "
                       f"outside the {level * 100:.3g}% log-normal prediction interval [{outer.lo:.1f}, {outer.hi:.1f}]"
                       f" (± 1 epoch); 'never' = epoch {epochs + 1}")
        result.extra = {"refuted_outside": [outer.lo, outer.hi if math.isfinite(outer.hi) else None]}
        return result

    def marks(self, epochs):
        x = epochs + 0.5 if self.value is None else self.value
        return [Mark("test", "threshold", (x,), (self.threshold,), f"{self.claim_id}: {self.claimed_text()}")]


class TestCurve(_Claim):
    """The README's logged per-epoch test accuracy, judged as one draw (stats.curve_offsets: its mean standardized
    offset from the seeds against each seed's own); each point's own verdict is kept as information."""

    kind: Literal["test_accuracy_curve"]
    values: Annotated[list[Percent | None], Field(min_length=1)] = Field(
        description="Test accuracy after epoch 1, 2, ...; null where the log has no figure")

    @model_validator(mode="after")
    def _some_point(self):
        if all(v is None for v in self.values):
            raise ValueError("a curve needs at least one logged figure")
        return self

    def default_id(self):
        return "test-accuracy-curve"

    def claimed_text(self):
        points = [v for v in self.values if v is not None]
        return f"{len(points)} logged points ({points[0]:g} .. {points[-1]:g}%)"

    def problems(self, epochs):
        if len(self.values) > epochs:
            return [("values", f"{len(self.values)} epochs logged, the recipe has {epochs}")]
        return []

    def judge(self, evidence):
        problem = _trained_run_problem(self, evidence)
        if problem:
            return problem
        inside = outside = 0
        points = []
        for epoch, claimed in enumerate(self.values, start=1):
            if claimed is None:
                continue
            at = TestAtEpoch.model_validate({"kind": "test_accuracy_at_epoch", "epoch": epoch, "value": claimed,
                                             "where": self.where, "expect": Verdict.REPRODUCED.value})
            r = at.judge(evidence)
            inside += r.verdict is Verdict.REPRODUCED
            outside += r.verdict.refuted or (r.verdict is Verdict.INCONCLUSIVE and not _within(claimed, r))
            points.append({"epoch": epoch, "claimed": claimed, "verdict": r.verdict, "accepted": r.band,
                           "refuted_outside": r.extra.get("refuted_outside")})
        n_points, n = len(points), len(evidence.curves)
        logged = [(e - 1, v) for e, v in enumerate(self.values, start=1) if v is not None]
        seed_curves = [[c.test_accuracy[e] for e, _ in logged] for c in evidence.curves]
        floors = [stats.binomial_floor(statistics.fmean(c[i] for c in seed_curves)) for i in range(len(logged))]
        verdict, inner, outer, readme, offsets = stats.curve_verdict(seed_curves, [v for _, v in logged], floors,
                                                                     evidence.looks)
        return self._result(verdict=verdict, detail=_join(miss_meaning(verdict, "higher"), _diverged(evidence.curves)),
                            measured=f"mean offset {readme:+.2f} sd (95% interval {inner.lo:+.2f} to {inner.hi:+.2f}); "
                                     f"{inside} of {n_points} points inside, {outside} outside their 99% interval "
                                     f"(n={n})",
                            rule="the curve as one draw: its mean offset from the seeds' mean over the logged epochs, "
                                 "in each epoch's sd, judged like one figure against every seed's own mean offset "
                                 f"(95% {inner.lo:+.2f} to {inner.hi:+.2f}, refuted outside {outer.lo:+.2f} to "
                                 f"{outer.hi:+.2f}); the points are information",
                            extra={"points": points, "offset": readme, "seed_offsets": offsets})

    def marks(self, epochs):
        xs = tuple(float(i) for i, v in enumerate(self.values, start=1) if v is not None)
        ys = tuple(v for v in self.values if v is not None)
        return [Mark("test", "curve", xs, ys, f"{self.claim_id}: README log")]


def _within(claimed: float, r: ClaimResult) -> bool:
    """Inside the 99% interval (for a point capped to inconclusive by too few seeds)."""
    outer = r.extra.get("refuted_outside")
    return outer is None or outer[0] <= claimed <= outer[1]


class Parameters(_Claim):
    """The model's parameter count (from the shape plan): `value` exactly (within 1% when `approximate`),
    and `band` as a stated bound ('< 8,000' is [0, 7999]); both must hold."""

    kind: Literal["parameters"]
    value: PosInt | None = None
    approximate: bool = Field(False, description="The README gives a rounded count (e.g. '~593,200')")
    band: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)] | None = Field(
        None, description="A stated bound, e.g. [0, 7999] for '< 8,000'")

    trained: ClassVar[bool] = False

    @model_validator(mode="after")
    def _value_or_band(self):
        if self.value is None and self.band is None:
            raise ValueError("a parameter claim needs a value, a band, or both")
        if self.band and self.band[0] > self.band[1]:
            raise ValueError("band must be [low, high]")
        return self

    def accepted(self) -> list[float]:
        if self.value is None:
            return [float(b) for b in self.band]
        tol = self.value * 0.01 if self.approximate else 0
        return [self.value - tol, self.value + tol]

    def claimed_text(self):
        parts = []
        if self.value is not None:
            parts.append(f"{'~' if self.approximate else ''}{self.value:,}")
        if self.band is not None:
            lo, hi = self.band
            parts.append(f"< {hi + 1:,}" if lo == 0 else f"{lo:,}-{hi:,}")
        return " (".join(parts) + (")" if len(parts) == 2 else "")

    def judge(self, evidence):
        computed = evidence.parameters
        failed, above = [], []  # above: the README's count (or bound) lies above the computed count
        if self.value is not None:
            lo, hi = self.accepted()
            if not lo <= computed <= hi:
                failed.append(f"computed {computed:,}, claimed {self.value:,}")
                above.append(lo > computed)
        if self.band is not None and not self.band[0] <= computed <= self.band[1]:
            failed.append(f"computed {computed:,}, outside the stated bound {band_text(self.band)}")
            above.append(self.band[0] > computed)
        verdict = Verdict.refuted_on(above[0]) if failed else Verdict.REPRODUCED  # the value's side first
        return self._result(band=self.accepted(), values=[float(computed)], mean=float(computed), std=0.0,
                            verdict=verdict, detail=_join(miss_meaning(verdict, None), *failed),
                            measured=f"{computed:,}", rule="exact count from the shape plan")


class Qualitative(_Claim):
    """A statement with no figure the harness can measure; always unverifiable."""

    kind: Literal["qualitative"]
    statement: Text
    expect: Literal[Verdict.UNVERIFIABLE.value]  # type: ignore[assignment,valid-type]
    reason: Text

    trained: ClassVar[bool] = False

    def claimed_text(self):
        return self.statement

    def judge(self, evidence):
        return self.unverifiable()


class Comparison(_Claim):
    """The README's story: this spec's metric against another spec's, on the seeds both ran (paired)."""

    kind: Literal["comparison"]
    judged_after_others: ClassVar[bool] = True
    in_family: ClassVar[bool] = True
    id: Identifier = Field(description="Required, unique within the spec")  # type: ignore[assignment]
    other: Annotated[str, Field(pattern=SPEC_REF_PATTERN)] = Field(
        description="The other spec: a name in the same folder, or slug/name (never a path)")
    metric: Metric
    direction: Literal["higher", "lower"]
    by: Annotated[float, Field(ge=0.0)] = Field(0.0, description="By at least this much (pp or epochs)")
    readme: Annotated[list[float], Field(min_length=2, max_length=2)] | None = Field(
        None, description="The README's own figures, [other, this]")
    statement: Text
    expect: LessonExpectation  # type: ignore[assignment]

    def other_id(self, spec_id: str) -> str:
        return self.other if "/" in self.other else f"{spec_id.split('/')[0]}/{self.other}"

    def runs_needed_of(self, spec_id: str) -> str | None:
        return self.other_id(spec_id)

    def claimed_text(self):
        word = "higher" if self.direction == "higher" else "lower"
        by = f" by >= {self.by:g}" if self.by else ""
        text = f"{self.metric.describe()} {word}{by} than {self.other}"
        if self.readme:
            before, after = self.readme
            text += f"; README {before:g} -> {after:g} ({after - before:+.2f})"
        return text

    def problems(self, epochs):
        why = self.metric.applies(epochs)
        return [("metric", why)] if why else []

    def related_problems(self, spec_id, epochs_of):
        other_id = self.other_id(spec_id)
        if other_id == spec_id:
            return [("other", "a spec cannot be compared with itself")]
        other_epochs = epochs_of(other_id)
        if other_epochs is None:
            return [("other", f"no spec {other_id!r}")]
        why = self.metric.applies(other_epochs)
        return [("metric", f"{other_id}: {why}")] if why else []

    def _story(self, other_id: str) -> dict:
        return {"other": other_id, "statement": self.statement, "readme": self.readme, "direction": self.direction,
                "by": self.by}

    def not_run(self):
        return self._result(verdict=Verdict.NOT_RUN, extra=self._story(self.other))

    def _value(self, curve, epochs: int) -> float:
        v = self.metric.measure(curve, epochs)
        return epochs + 1.0 if math.isinf(v) else v  # a seed that never reaches: the epoch after the last

    def _rule(self, p, spec_id: str, other_id: str) -> str:
        unit = "epochs" if self.metric.unit == "" else "pp"  # a difference of percentages is in points
        design = "" if p.ci is None else (
            f"; at n={p.n} a true difference of {stats.detectable_with_power(p):.2f} {unit} is found with "
            f"{stats.POWER:.0%} power, and differences beyond ±{stats.excluded_beyond(p):.2f} {unit} are excluded "
            f"at 95%; negligible when the 90% interval lies inside ±{self.metric.negligible_delta:g} {unit}")
        return (f"95% paired-t CI of {self.metric.describe()} ({spec_id} - {other_id}) against {self.by:g} in the "
                f"claimed direction" + (f", {p.noise.text()}" if p.noise else "") + design)

    def _one_pair(self, p, sign: float) -> str:
        """Whether the README's own difference (one run of each) is what one pair of runs shows."""
        pair = stats.one_pair_interval(p)
        if not self.readme or pair is None:
            return ""
        readme = self.readme[1] - self.readme[0]
        lo, hi = sorted([sign * pair.lo, sign * pair.hi])
        word = "is" if lo <= readme <= hi else "is not"
        return f"README's {readme:+.2f} {word} what one pair of runs shows (95%: {lo:+.2f} to {hi:+.2f})"

    def _baseline(self, evidence: Evidence, other: OtherRun) -> str:
        """Why the lesson rests on a reconstruction that does not match its README ('' when it does, or the README
        gives no figures): each side's README figure for the metric, judged against that side's own seeds by the
        single-figure rule; a refutation on either side flags the lesson."""
        if not self.readme:
            return ""
        sides = [(other.spec_id, self.readme[0], Evidence(other.spec_id, other.curves, other.epochs, 0,
                                                          evidence.neighbours)),
                 (evidence.spec_id, self.readme[1], evidence)]
        found = []
        for spec_id, figure, side in sides:
            r = self.metric.as_figure(figure).judge(side)
            if r.verdict.refuted:
                found.append(f"{spec_id}'s README figure {figure:g} is {r.verdict} by its own runs ({r.measured})")
        if not found:
            return ""
        return ("baseline mismatch: " + " and ".join(found)
                + ", so the lesson is judged on a reconstruction that does not match its README")

    @staticmethod
    def family_p(result: ClaimResult) -> float:
        """The lesson's p-value in its README's family; 1 where it has none (not judged, too few pairs)."""
        p = result.extra.get("p_value")
        return 1.0 if p is None else p

    def decide_in_family(self, result: ClaimResult, adjusted_p: float, size: int, looks: int = 1) -> ClaimResult:
        """The lesson's verdict once its README's lessons are adjusted together (Holm): a raw decision stands only
        when the adjusted p clears stats.lesson_alpha (per look of a seed ladder); the raw interval stays beside it."""
        result.extra.update(p_holm=adjusted_p, family_size=size)
        if result.extra.get("p_value") is None:
            return result
        raw = result.verdict
        note = f"Holm over the README's {size} lessons: adjusted p {adjusted_p:.3g} (raw p {result.extra['p_value']:.3g})"
        if looks > 1:
            note += f"; level {stats.lesson_alpha(looks):.3g}, one of {looks} looks of the seed ladder"
        if raw in (Verdict.SUPPORTED, Verdict.CONTRADICTED) and adjusted_p >= stats.lesson_alpha(looks) \
                and not result.extra.get("identical_runs"):
            result.verdict = Verdict.NEGLIGIBLE if result.extra.get("negligible") else Verdict.INCONCLUSIVE
            note += f"; the raw 95% interval alone would say {raw}"
        result.rule += f"; {note}"
        result.detail = result.detail.replace(f": {raw}", f": {result.verdict}", 1) + f"; {note}"
        return result

    def judge(self, evidence):
        other_id = self.other_id(evidence.spec_id)
        other = evidence.other(other_id)
        if evidence.curves is None or other is None:
            return self._result(verdict=Verdict.NOT_JUDGED, detail=f"needs {other_id} trained",
                                measured=f"needs {other_id} trained", extra=self._story(other_id))
        mine = {c.seed: c for c in usable(evidence.curves, evidence.epochs)}
        theirs = {c.seed: c for c in usable(other.curves, other.epochs)}
        common = sorted(set(mine) & set(theirs))
        these = [self._value(mine[s], evidence.epochs) for s in common]
        those = [self._value(theirs[s], other.epochs) for s in common]
        diffs = [a - b for a, b in zip(these, those)]
        sign = 1.0 if self.direction == "higher" else -1.0
        # two runs' noise floors add in quadrature: the sd of a difference never counts below it
        p = stats.paired([sign * d for d in diffs], math.hypot(self.metric.floor(these), self.metric.floor(those)))
        decidable = p.n >= stats.MIN_SEEDS_TO_REFUTE and all(math.isfinite(d) for d in diffs)
        verdict = p.verdict(self.by) if decidable else Verdict.INCONCLUSIVE  # two pairs decide nothing
        identical = len(common) >= stats.MIN_IDENTICAL_PAIRS and all(
            same_run(mine[s], theirs[s]) for s in common)
        raw = sign * p.mean + 0.0 if p.n else math.nan  # + 0.0: no "-0.00"
        ci = sorted([sign * p.ci.lo + 0.0, sign * p.ci.hi + 0.0]) if p.ci else None
        measured = (f"{raw:+.2f} ± {p.detectable:.2f} (n={p.n})" if p.ci else
                    f"{raw:+.2f} (n={p.n})" if p.n else "no common seeds (n=0)")
        if verdict == Verdict.INCONCLUSIVE and decidable and not identical and stats.negligible(
                p, self.metric.negligible_delta, evidence.looks):
            verdict = Verdict.NEGLIGIBLE
        rule = self._rule(p, evidence.spec_id, other_id)
        one_pair = "" if identical else self._one_pair(p, sign)
        if identical:  # the same computation: the claimed difference is exactly zero, not noise
            verdict, measured = Verdict.CONTRADICTED, f"identical runs (n={p.n})"
            rule = (f"identical runs: every common seed's curves are bit-identical in both specs (n={p.n}), so the "
                    "change does not alter training and the claimed difference is exactly zero")
        readme = f"README {self.readme[0]:g} -> {self.readme[1]:g} ({self.readme[1] - self.readme[0]:+.2f}); " \
            if self.readme else ""
        baseline = self._baseline(evidence, other)
        return self._result(
            baseline_mismatch=bool(baseline), baseline_reason=baseline,
            band=ci, values=diffs, mean=raw if p.n else None, std=p.sd if p.n > 1 else None, verdict=verdict,
            measured=measured, detail=f"{readme}measured {measured}: {verdict}" + ("" if p.n >= 2 else
                                                                                  "; fewer than 2 common seeds")
            + (f"; {one_pair}" if one_pair else "") + (f"; {baseline}" if baseline else ""),
            rule=rule,
            extra={**self._story(other_id), "common_seeds": common, "difference": raw if p.n else None,
                   "ci": ci, "detectable": p.detectable if p.ci else None, "identical_runs": identical,
                   # the lesson's test against `by`, for the README's family adjustment (harness/verdicts.py):
                   # identical runs are an exact zero, no test; two pairs decide nothing
                   "p_value": 0.0 if identical else p.p_value(self.by) if decidable else None,
                   "negligible": decidable and not identical and stats.negligible(p, self.metric.negligible_delta,
                                                                                 evidence.looks),
                   "detectable_80": stats.detectable_with_power(p), "excluded_beyond": stats.excluded_beyond(p),
                   "one_pair": one_pair})


def is_comparison(row: dict) -> bool:
    """A judged row (ClaimResult as JSON) of a comparison: the report's story table and forest plot."""
    return row.get("kind") == "comparison"


def is_lesson(row: dict) -> bool:
    """A judged row of a lesson (one spec against another: supported, contradicted, negligible), counted with
    the lessons: a comparison of runs, or an exact one of parameter counts."""
    return row.get("kind") in ("comparison", "parameters_comparison")


# --------------------------------------------------------------------------- claims added for READMEs 005-009
# (issue 23: targets within an epoch limit, the last N epochs, test above train, strict bounds, receptive
# fields, parameter-count comparisons and epoch budgets)

class TestMinLast(_Figure, TestMinLastMeasure):
    """'99.4% or more in each of the last 3 epochs' (`band` alone: a target on the share of seeds), or the
    lowest of the README's last N logged figures (`value`)."""

    kind: Literal["test_accuracy_min_last"]

    def default_id(self):
        return f"test-accuracy-min-last{self.epochs}"


class TestAboveTrain(_Figure, TestMinusTrainMeasure):
    """'The best test accuracy is above the best training accuracy': a target met by a seed whose test figure
    is strictly above its training figure (`band` (0, 100], set for it), judged on the share of seeds like every
    target; `value` is the README's own difference (pp), shown, not judged."""

    kind: Literal["test_above_train"]
    value: Annotated[float, Field(ge=-100.0, le=100.0)] | None = Field(
        None, description="The README's own test minus train figure, pp (shown, not judged)")
    band: Band | None = Field([0.0, 100.0], description="Fixed: test strictly above train")
    exclusive: Literal["low", "high", "both"] | None = "low"

    @model_validator(mode="after")
    def _strictly_above(self):
        if self.band != [0.0, 100.0] or self.exclusive != "low":
            raise ValueError("test_above_train is always 'test strictly above train': leave band and exclusive out")
        return self

    def default_id(self):
        return f"test-above-train-{self.stat}"

    def claimed_text(self):
        shown = "" if self.value is None else f" (README {self.value:+.2f} pp)"
        return f"{self.stat} test > {self.stat} train{shown}"

    def judge(self, evidence):
        return self._judge_share(evidence)  # a share of seeds, on the ladder's looks like every target

    def marks(self, epochs):
        return []


class ReachesByEpoch(_Claim, FirstEpochMeasure):
    """A target with an epoch limit ('99.4% within 15 epochs', 'reaches 99% by epoch 8'): a seed meets it when
    its test accuracy reaches `threshold` at or before `epoch`; judged on the share of seeds like every target
    (a stated 'under 15 epochs' is `epoch: 14`)."""

    kind: Literal["reaches_by_epoch"]
    epoch: PosInt = Field(description="The last epoch allowed (inclusive)")

    def default_id(self):
        return f"reaches-{self.threshold:g}pct-by-epoch{self.epoch}"

    def claimed_text(self):
        return f"{self.threshold:g}% by epoch {self.epoch}"

    def problems(self, epochs):
        if self.epoch > epochs:
            return [("epoch", f"epoch {self.epoch} is beyond the recipe's {epochs} epochs")]
        return []

    def judge(self, evidence):
        problem = _trained_run_problem(self, evidence)
        if problem:
            return problem
        firsts = [self.measure(c, evidence.epochs) for c in evidence.curves]
        hits = sum(1 for v in firsts if v <= self.epoch)
        verdict, ci = stats.share_verdict(hits, len(firsts))
        shown = "/".join("never" if math.isinf(v) else str(int(v)) for v in firsts)
        return self._result(
            verdict=verdict, band=[1.0, float(self.epoch)], values=[min(v, evidence.epochs + 1.0) for v in firsts],
            detail=_diverged(evidence.curves),
            measured=f"{hits} of {len(firsts)} seeds reach it (first epoch {shown}, n={len(firsts)})",
            rule=(f"share {hits}/{len(firsts)}, 90% Clopper-Pearson {ci.lo:.2f}-{ci.hi:.2f}: reproduced when at least "
                  "half meet it, refuted when the upper bound < 0.5"),
            extra={"hits": hits, "share_ci": [ci.lo, ci.hi]})

    def marks(self, epochs):
        return [Mark("test", "threshold", (float(self.epoch),), (self.threshold,),
                     f"{self.claim_id}: {self.claimed_text()}")]


def _recipe_epochs(evidence: Evidence) -> int:
    """The recipe's epochs (a run's may be shortened by --epochs)."""
    return evidence.spec.spec.recipe.epochs if evidence.spec is not None else evidence.epochs


class EpochBudget(_Claim):
    """'Trained in at most 15 epochs' / 'under 20 epochs': the recipe's epoch count against the stated limit.
    Nothing to train: the recipe is the README's (or its code's), so this checks that they agree."""

    kind: Literal["epoch_budget"]
    max: PosInt = Field(description="The stated limit")
    exclusive: bool = Field(False, description="'under N' / '< N': N itself breaks the limit")

    trained: ClassVar[bool] = False

    def default_id(self):
        return "epoch-budget"

    def claimed_text(self):
        return f"{'<' if self.exclusive else '<='} {self.max} epochs"

    def judge(self, evidence):
        epochs = _recipe_epochs(evidence)
        ok = epochs < self.max if self.exclusive else epochs <= self.max
        verdict = Verdict.REPRODUCED if ok else Verdict.REFUTED_BELOW  # the README's budget lies below the recipe's epochs
        return self._result(verdict=verdict, values=[float(epochs)], mean=float(epochs),
                            std=0.0, measured=f"{epochs} epochs", rule="the recipe's epoch count",
                            detail="" if ok else f"the recipe trains {epochs} epochs, {self.claimed_text()} claimed")


def _structure_missing(claim: _Claim) -> ClaimResult:
    return claim._result(verdict=Verdict.ERROR, detail="no layer list was given to judge on (Evidence.planned is None)")


class ReceptiveFieldClaim(_Claim):
    """The receptive field (input pixels one output sees) at the output of a layer: `layer` (its name), else
    the last layer with a spatial (C, H, W) output. Exact, from the layer list: each conv or pool grows it by
    (kernel - 1) x dilation x jump and multiplies the jump by its stride (Araujo et al. 2019, 'Computing
    Receptive Fields of Convolutional Neural Networks', Distill); padding does not change it."""

    kind: Literal["receptive_field"]
    value: PosInt = Field(description="The README's receptive field, in input pixels")
    layer: str | None = Field(None, description="Name of the layer at whose output it is stated (default: the "
                                                "last layer with a spatial output)")

    trained: ClassVar[bool] = False

    def default_id(self):
        return "receptive-field" + (f"-{self.layer}" if self.layer else "")

    def claimed_text(self):
        return f"{self.value} px" + (f" at {self.layer}" if self.layer else "")

    def computed(self, planned: list) -> tuple[int, str]:
        """(receptive field, the layer it is taken at) from the spec's shape plan."""
        if self.layer is not None:
            found = [p for p in planned if p.name == self.layer]
            if not found:
                raise ValueError(f"no layer named {self.layer!r}")
            at = found[0]
        else:
            spatial = [p for p in planned if len(p.out_shape) == 3]
            if not spatial:
                raise ValueError("no layer with a spatial output")
            at = spatial[-1]
        return at.receptive_field.size, at.name

    def judge(self, evidence):
        if evidence.planned is None:
            return _structure_missing(self)
        try:
            size, name = self.computed(evidence.planned)
        except ValueError as exc:
            return self._result(verdict=Verdict.ERROR, detail=str(exc))
        ok = size == self.value
        verdict = Verdict.REPRODUCED if ok else Verdict.refuted_on(self.value > size)
        return self._result(verdict=verdict, band=[float(self.value)] * 2,
                            values=[float(size)], mean=float(size), std=0.0, measured=f"{size} px at {name}",
                            rule="exact, from the layer list's kernels, strides and dilations",
                            detail="" if ok else f"computed {size} px at {name}, claimed {self.value}")


class ParametersComparison(_Claim):
    """'Model 3 has fewer parameters than model 2': this spec's parameter count against another's, exactly
    (both from their shape plans). `higher`/`lower` are strict; `by` asks for at least that many more or fewer."""

    kind: Literal["parameters_comparison"]
    id: Identifier = Field(description="Required, unique within the spec")  # type: ignore[assignment]
    other: Annotated[str, Field(pattern=SPEC_REF_PATTERN)] = Field(
        description="The other spec: a name in the same folder, or slug/name (never a path)")
    direction: Literal["higher", "lower"]
    by: Annotated[int, Field(ge=0)] = Field(0, description="By at least this many parameters")
    readme: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)] | None = Field(
        None, description="The README's own counts, [other, this]")
    statement: Text
    expect: Literal[Verdict.SUPPORTED.value, Verdict.CONTRADICTED.value]  # type: ignore[assignment,valid-type]

    trained: ClassVar[bool] = False

    def other_id(self, spec_id: str) -> str:
        return self.other if "/" in self.other else f"{spec_id.split('/')[0]}/{self.other}"

    def claimed_text(self):
        by = f" by >= {self.by:,}" if self.by else ""
        text = f"parameters {self.direction}{by} than {self.other}"
        if self.readme:
            text += f"; README {self.readme[0]:,} -> {self.readme[1]:,}"
        return text

    def related_problems(self, spec_id, epochs_of):
        other_id = self.other_id(spec_id)
        if other_id == spec_id:
            return [("other", "a spec cannot be compared with itself")]
        return [("other", f"no spec {other_id!r}")] if epochs_of(other_id) is None else []

    def judge(self, evidence):
        other_id = self.other_id(evidence.spec_id)
        theirs = evidence.parameters_of(other_id)
        if theirs is None:
            return self._result(verdict=Verdict.NOT_JUDGED, detail=f"no spec {other_id} to count",
                                measured=f"needs {other_id}")
        mine = evidence.parameters
        diff = mine - theirs if self.direction == "higher" else theirs - mine
        ok = diff > 0 and diff >= self.by
        return self._result(
            verdict=Verdict.SUPPORTED if ok else Verdict.CONTRADICTED, values=[float(mine - theirs)],
            mean=float(mine - theirs),
            std=0.0, measured=f"{mine:,} vs {theirs:,} ({mine - theirs:+,})",
            rule="exact counts from both specs' shape plans",
            extra={"other": other_id, "statement": self.statement, "readme": self.readme,
                   "direction": self.direction, "by": self.by})


Claim = Annotated[
    Union[Parameters, TestFinal, TestPeak, TestAtEpoch, TestMeanLast, TestMinFrom, TestWindow, TestSpread, TestCurve,
          TrainFinal, TrainAtEpoch, TrainPeak, TrainTestGap, FirstEpochReaching, DoesNotConverge, Qualitative,
          Comparison, TestMinLast, TestAboveTrain, ReachesByEpoch, EpochBudget, ReceptiveFieldClaim,
          ParametersComparison],
    Field(discriminator="kind"),
]


@lru_cache(maxsize=1)
def _claim_adapter():
    from pydantic import TypeAdapter

    return TypeAdapter(Claim)


def judge_all(claims, evidence: Evidence) -> list[ClaimResult]:
    """Every claim of a spec: untrained ones always, trained ones when the evidence has curves."""
    out = []
    for claim in claims:
        if not claim.trained or evidence.curves is not None:
            out.append(claim.judge(evidence))
        elif claim.expect == Verdict.UNVERIFIABLE:
            out.append(claim.unverifiable())
    return out
