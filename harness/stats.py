"""The decision rules: prediction intervals, shares of seeds, epochs-to-target, paired differences.

Pure functions of numbers (scipy.stats for the quantiles and binomial intervals);
README.md, "Verdicts", states each rule and its source. A claim class in
harness/claims.py decides which rule fits it; nothing here knows claim kinds.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache

from scipy import stats

from harness.verdict import Verdict

MIN_SEEDS_TO_REFUTE = 3        # fewer seeds never refute a trained claim (at most inconclusive)
MIN_IDENTICAL_PAIRS = 2        # bit-identical curves on this many common seeds: the same computation
ROUNDING = 0.01                # one test image in pp: READMEs print two decimals
TEST_IMAGES = 10_000
TRAIN_IMAGES = 60_000
KNOWN_DF = math.inf            # the binomial floor is a known scale: normal quantiles
SHARE_CONFIDENCE = 0.90        # two-sided Clopper-Pearson: its upper bound is the one-sided 95% bound
SHARE_TARGET = 0.5             # a recipe "meets" a target when a typical (median) run does
REFUTE_LEVEL = 0.99            # a single figure is refuted outside this prediction interval (one look)


def per_look(confidence: float, looks: int) -> float:
    """The confidence each look of a ladder of `looks` looks uses so that the error across all of them stays at
    1 - confidence (Bonferroni: the error split equally over the looks; `--seeds auto` 3 -> 5 -> 10 has 3)."""
    return 1.0 - (1.0 - confidence) / max(1, looks)


def binomial_floor(accuracy_pct: float, images: int = TEST_IMAGES) -> float:
    """Half the binomial sd of an accuracy measured on `images` samples, in pp."""
    p = min(max(accuracy_pct / 100.0, 0.0), 1.0)
    return 50.0 * math.sqrt(p * (1.0 - p) / images)


@lru_cache(maxsize=1024)
def t_quantile(q: float, df: float) -> float:
    return float(stats.norm.ppf(q)) if math.isinf(df) else float(stats.t.ppf(q, df))


@dataclass(frozen=True)
class Noise:
    """The sigma a claim is judged with, and where it came from."""

    sigma: float
    df: float
    source: str   # seeds | pooled | floor

    def text(self) -> str:
        df = "normal" if math.isinf(self.df) else f"df {self.df:g}"
        return f"sigma {self.sigma:.3f} ({self.source}, {df})"


def noise(values: list[float], pooled: tuple[float, float] | None, floor: float) -> Noise:
    """Of the seeds' sd (df n-1), the README's pooled sd (its df) and the binomial floor (known: normal), the
    one giving the widest 99% interval, t_{0.995, df} * sigma: a larger scale with fewer df never narrows it
    (three seeds that agree slightly better than the floor do not buy a normal quantile)."""
    options = [Noise(floor, KNOWN_DF, "floor")]
    if len(values) > 1:
        options.append(Noise(statistics.stdev(values), len(values) - 1, "seeds"))
    if pooled is not None and pooled[1] > 0:
        options.append(Noise(pooled[0], pooled[1], "pooled"))
    return max(options, key=lambda n: t_quantile(0.995, n.df) * n.sigma)


def pooled_sd(groups: list[list[float]]) -> tuple[float, float] | None:
    """(pooled sd, its df) over groups of per-seed values; None without two seeds in any group."""
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    if df == 0:
        return None
    ss = sum((len(g) - 1) * statistics.variance(g) for g in groups if len(g) > 1)
    return math.sqrt(ss / df), float(df)


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float

    def __contains__(self, x: float) -> bool:
        return self.lo <= x <= self.hi


def prediction_interval(mean: float, n: int, sd: Noise, level: float) -> Interval:
    """Where one new run's value falls with probability `level`, widened by one test image for rounding."""
    half = t_quantile(0.5 + level / 2, sd.df) * sd.sigma * math.sqrt(1.0 + 1.0 / n) + ROUNDING
    return Interval(mean - half, mean + half)


def single_figure(claimed: float, values: list[float], sd: Noise, looks: int = 1) -> tuple[Verdict, Interval, Interval]:
    """A README's one-run figure against the seeds: inside the 95% PI reproduced, outside the 99% PI (per look of
    a seed ladder: `per_look`) refuted on the side where the README's figure lies."""
    n = len(values)
    mean = statistics.fmean(values)
    inner = prediction_interval(mean, n, sd, 0.95)
    outer = prediction_interval(mean, n, sd, per_look(REFUTE_LEVEL, looks))
    if claimed in inner:
        verdict = Verdict.REPRODUCED
    elif claimed not in outer:
        verdict = Verdict.refuted_on(claimed > outer.hi)
    else:
        verdict = Verdict.INCONCLUSIVE
    return cap(verdict, n), inner, outer


@lru_cache(maxsize=1024)
def share_interval(hits: int, n: int, confidence: float = SHARE_CONFIDENCE) -> Interval:
    """Clopper-Pearson interval of a binomial share."""
    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=confidence, method="exact")
    return Interval(float(ci.low), float(ci.high))


def share_verdict(hits: int, n: int, readme_above: bool = True, looks: int = 1) -> tuple[Verdict, Interval]:
    """A threshold target, on the share of seeds meeting it (90% Clopper-Pearson interval, per look of a seed
    ladder): decided only when the interval clears 1/2 on one side, each a one-sided 5% error when exactly half
    of all runs meet it. Refuted when its upper bound < 0.5 (fewer than half of all runs meet it), on the side the
    caller names (`readme_above`: the runs that miss fall short of the README's target); reproduced when its lower
    bound > 0.5 (most runs meet it); inconclusive otherwise."""
    ci = share_interval(hits, n, per_look(SHARE_CONFIDENCE, looks))
    if ci.hi < SHARE_TARGET:
        verdict = Verdict.refuted_on(readme_above)
    elif ci.lo > SHARE_TARGET:
        verdict = Verdict.REPRODUCED
    else:
        verdict = Verdict.INCONCLUSIVE
    return cap(verdict, n), ci


def epochs_verdict(claimed: Interval, epochs: list[float], censored_at: float | None = None,
                   looks: int = 1) -> tuple[Verdict, Interval, Interval]:
    """'First epoch reaching X': the README's epoch (or stated range of epochs) against the seeds' epochs.
    Reproduced when it meets the seeds' range; refuted when it lies outside `epochs_prediction` (the 99% log-normal
    prediction interval for one new run, per look of a seed ladder), on the side where the README's epoch lies
    (above: a later epoch than the runs need); inconclusive in between. Callers pass 'never' as `censored_at`,
    the epoch after the last."""
    inner = Interval(min(epochs), max(epochs))
    outer = epochs_prediction(epochs, censored_at, per_look(REFUTE_LEVEL, looks))
    if claimed.lo <= inner.hi and claimed.hi >= inner.lo:
        verdict = Verdict.REPRODUCED
    elif claimed.hi < outer.lo or claimed.lo > outer.hi:
        verdict = Verdict.refuted_on(claimed.lo > outer.hi)
    else:
        verdict = Verdict.INCONCLUSIVE
    return cap(verdict, len(epochs)), inner, outer


EPOCH_RESOLUTION = 1.0  # epochs are whole: a README's epoch is the ceiling of a continuous time to reach


def epochs_prediction(epochs: list[float], censored_at: float | None, level: float) -> Interval:
    """Where one new run's first epoch reaching X falls with probability `level`: epochs to a target are
    log-normal across seeds (right-skewed, positive), so exp(mean log +- t_{df} * sd log * sqrt(1 + 1/n)), widened
    by one epoch on each side for whole epochs. Its width shrinks with n (t and the sd settle), so its power grows
    with the seeds, unlike a widened range. A seed that never reaches X (censored at `censored_at`) leaves the
    upper tail unseen: no upper bound, so no later README epoch is refuted."""
    n = len(epochs)
    logs = [math.log(max(e, 1.0)) for e in epochs]
    sd = statistics.stdev(logs) if n > 1 else 0.0
    half = t_quantile(0.5 + level / 2, max(n - 1, 1)) * sd * math.sqrt(1.0 + 1.0 / n)
    mean = statistics.fmean(logs)
    censored = censored_at is not None and any(e >= censored_at for e in epochs)
    return Interval(math.exp(mean - half) - EPOCH_RESOLUTION,
                    math.inf if censored else math.exp(mean + half) + EPOCH_RESOLUTION)


def curve_offsets(seed_curves: list[list[float]], readme: list[float], floors: list[float]) -> tuple[list[float], float]:
    """A logged curve as one draw: at each logged epoch, the distance from the seeds' mean in units of that
    epoch's sd (the seeds', never below the binomial floor), averaged over the epochs. Returns every seed's own
    average (the seeds' spread of it carries how a run's epochs move together) and the README curve's. Judged
    like one figure against the seeds' (`single_figure`): a curve offset at every epoch adds up, where the
    per-point rule let each epoch's noise hide it."""
    epochs = len(readme)
    means = [statistics.fmean(c[e] for c in seed_curves) for e in range(epochs)]
    sds = [max(statistics.stdev(c[e] for c in seed_curves) if len(seed_curves) > 1 else 0.0, floors[e], 1e-9)
           for e in range(epochs)]

    def offset(curve: list[float]) -> float:
        return statistics.fmean((curve[e] - means[e]) / sds[e] for e in range(epochs))

    return [offset(c) for c in seed_curves], offset(readme)


def curve_verdict(seed_curves: list[list[float]], readme: list[float], floors: list[float],
                  looks: int = 1) -> tuple[Verdict, Interval, Interval, float, list[float]]:
    """The README curve's mean offset (`curve_offsets`) against the seeds' own, by the single-figure rule (their sd
    with n - 1 df; the offsets are in sd units, so no floor; the 0.01 rounding term is negligible there)."""
    offsets, offset = curve_offsets(seed_curves, readme, floors)
    verdict, inner, outer = single_figure(offset, offsets, noise(offsets, None, 0.0), looks)
    return verdict, inner, outer, offset, offsets


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def cap(verdict: Verdict, n: int) -> Verdict:
    """Fewer than MIN_SEEDS_TO_REFUTE seeds refute nothing."""
    return Verdict.INCONCLUSIVE if verdict.refuted and n < MIN_SEEDS_TO_REFUTE else verdict


@dataclass(frozen=True)
class Paired:
    n: int
    mean: float            # mean difference, in the claimed direction (positive = as claimed)
    sd: float              # the sd the interval uses: the differences' own, or the floor where larger
    ci: Interval | None    # 95% interval; None below 2 pairs
    detectable: float      # half-width: the smallest difference this n tells from zero
    noise: Noise | None = None

    def verdict(self, by: float) -> Verdict:
        """supported: the CI clears `by`; contradicted: it lies wholly below `by`; inconclusive otherwise."""
        if self.ci is None:
            return Verdict.INCONCLUSIVE
        if self.ci.lo > by:
            return Verdict.SUPPORTED
        if self.ci.hi < by:
            return Verdict.CONTRADICTED
        return Verdict.INCONCLUSIVE

    def p_value(self, by: float) -> float | None:
        """Two-sided p of 'the mean difference is `by`', on the scale and quantiles the interval uses (the paired
        t with n - 1 df, or the floor's normal): p < 0.05 exactly when the 95% interval excludes `by`, so one
        lesson alone is decided as before, and a family of lessons can be adjusted (`holm`). None: no interval."""
        if self.ci is None or self.noise is None:
            return None
        se = self.sd / math.sqrt(self.n)
        if se == 0:
            return 1.0 if self.mean == by else 0.0
        z = abs(self.mean - by) / se
        tail = stats.norm.sf(z) if math.isinf(self.noise.df) else stats.t.sf(z, self.noise.df)
        return float(min(1.0, 2.0 * tail))


LESSON_FAMILY_ALPHA = 0.05  # familywise: the chance that a README gets any false supported/contradicted


def lesson_alpha(looks: int = 1) -> float:
    """The level a README's Holm-adjusted lesson p-values are held to at each look of a seed ladder."""
    return 1.0 - per_look(1.0 - LESSON_FAMILY_ALPHA, looks)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979, Scand. J. Statist. 6:65-70): sorted ascending, the i-th
    smallest (from 0) is multiplied by m - i, made monotone, capped at 1. Rejecting where the adjusted p < alpha
    keeps the chance of any false rejection in the family at most alpha, whatever the dependence between tests."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def paired(differences: list[float], floor: float = 0.0) -> Paired:
    """Mean of paired differences with its 95% interval: the wider of the paired-t interval,
    t_{0.975, n-1} * sd / sqrt(n), and the floor's, z_{0.975} * floor / sqrt(n) (the noise floor of a
    difference, a known scale), so a floor never narrows what the seeds say."""
    n = len(differences)
    if n == 0:
        return Paired(0, math.nan, math.nan, None, math.nan)
    mean = statistics.fmean(differences)
    if n < 2:
        return Paired(n, mean, math.nan, None, math.nan)
    options = [Noise(statistics.stdev(differences), n - 1, "seeds"), Noise(floor, KNOWN_DF, "floor")]
    sd = max(options, key=lambda o: t_quantile(0.975, o.df) * o.sigma)  # ties: the seeds
    half = t_quantile(0.975, sd.df) * sd.sigma / math.sqrt(n)
    return Paired(n, mean, sd.sigma, Interval(mean - half, mean + half), half, sd)


EQUIVALENCE_CONFIDENCE = 0.90  # two one-sided tests at 5% each (Schuirmann 1987): the 90% interval inside +-delta
POWER = 0.80                   # the power at which the difference a lesson's n detects is stated


def interval_at(p: Paired, confidence: float) -> Interval | None:
    """The lesson's interval at another confidence, on the same scale and quantiles as its 95% one."""
    if p.ci is None or p.noise is None:
        return None
    half = t_quantile(0.5 + confidence / 2, p.noise.df) * p.sd / math.sqrt(p.n)
    return Interval(p.mean - half, p.mean + half)


def negligible(p: Paired, delta: float | None, looks: int = 1) -> bool:
    """Two one-sided tests (Schuirmann 1987, J. Pharmacokin. Biopharm. 15:657-680): the difference is shown to lie
    within +-delta, no effect worth the name, when its 90% interval (per look of a seed ladder) lies inside
    (-delta, delta)."""
    ci = interval_at(p, per_look(EQUIVALENCE_CONFIDENCE, looks))
    return delta is not None and ci is not None and -delta < ci.lo and ci.hi < delta


def detectable_with_power(p: Paired, power: float = POWER) -> float | None:
    """The true difference this n finds (its 95% interval excludes zero) with probability `power`, at the scale
    measured: (t_{0.975} + t_{power}) * sd / sqrt(n), the standard two-sided minimum detectable difference (NIST/
    SEMATECH e-Handbook 7.2.2.2, with t for z). A property of the design, not of the observed difference."""
    if p.ci is None or p.noise is None:
        return None
    df = p.noise.df
    return (t_quantile(0.975, df) + t_quantile(power, df)) * p.sd / math.sqrt(p.n)


def excluded_beyond(p: Paired) -> float | None:
    """Differences larger than this in either direction lie outside the 95% interval: excluded at 95%."""
    return None if p.ci is None else max(abs(p.ci.lo), abs(p.ci.hi))


def one_pair_interval(p: Paired) -> Interval | None:
    """Where the difference of ONE pair of single runs falls with 95% probability (the README printed one run of
    each): the paired differences' own sd is a single pair's, so mean +- t_{0.975} * sd * sqrt(1 + 1/n), widened by
    one test image for rounding."""
    if p.ci is None or p.noise is None:
        return None
    half = t_quantile(0.975, p.noise.df) * p.sd * math.sqrt(1.0 + 1.0 / p.n) + ROUNDING
    return Interval(p.mean - half, p.mean + half)
