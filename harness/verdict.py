"""The verdict: one typed value for every outcome a claim can have.

A `Verdict` is a `StrEnum`, so a spec's `expect:`, a record's JSON and the
report read and write plain strings ("refuted-above"), while the harness
compares members, never bare strings. Which verdicts pass their test, which
decide a claim, which are refutations and on which side, and the words a
reader sees are properties here, not switches scattered over the callers.
docs/verdicts.md states what each one means and the rule that gives it.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    REPRODUCED = "reproduced"          # the README's figure lies inside the runs' 95% prediction interval
    REFUTED_ABOVE = "refuted-above"    # the README's figure lies above the runs' 99% interval
    REFUTED_BELOW = "refuted-below"    # ... below it
    INCONCLUSIVE = "inconclusive"
    UNVERIFIABLE = "unverifiable"      # no figure the harness can measure
    SUPPORTED = "supported"            # a lesson: the difference clears `by` in the claimed direction
    CONTRADICTED = "contradicted"      # a lesson: the difference lies wholly on the other side of `by`
    NEGLIGIBLE = "negligible"          # a lesson: the difference is pinned inside +-delta (no effect worth the name)
    ERROR = "error"                    # the run failed: no verdict
    NOT_RUN = "not run"                # a trained claim with no run to judge it on
    NOT_JUDGED = "not judged"          # a lesson whose other spec has no run yet
    STALE = "stale"                    # a record trained with another training hash: listed, not judged

    @property
    def passing(self) -> bool:
        """An expected verdict whose test passes (the other measured verdicts are recorded as xfail)."""
        return self in (Verdict.REPRODUCED, Verdict.SUPPORTED)

    @property
    def refuted(self) -> bool:
        return self in (Verdict.REFUTED_ABOVE, Verdict.REFUTED_BELOW)

    @property
    def decided(self) -> bool:
        """The data settle the claim one way or the other."""
        return self.passing or self.refuted or self in (Verdict.CONTRADICTED, Verdict.NEGLIGIBLE)

    @property
    def measured(self) -> bool:
        """A verdict measured from runs (what `expect:` records and `harness expect` compares)."""
        return self.decided or self is Verdict.INCONCLUSIVE

    @property
    def side(self) -> str:
        """Where a refutation puts the README's figure ('' for every other verdict)."""
        return {Verdict.REFUTED_ABOVE: "README above the runs", Verdict.REFUTED_BELOW: "README below the runs"}.get(
            self, "")

    @property
    def label(self) -> str:
        """A short phrase for people (tables, summaries)."""
        return _LABELS[self]

    @staticmethod
    def refuted_on(readme_above: bool) -> Verdict:
        """The refutation naming the side on which the README's figure lies."""
        return Verdict.REFUTED_ABOVE if readme_above else Verdict.REFUTED_BELOW


_LABELS = {
    Verdict.REPRODUCED: "reproduced",
    Verdict.REFUTED_ABOVE: "refuted, README above the runs",
    Verdict.REFUTED_BELOW: "refuted, README below the runs",
    Verdict.INCONCLUSIVE: "inconclusive",
    Verdict.UNVERIFIABLE: "unverifiable",
    Verdict.SUPPORTED: "supported",
    Verdict.CONTRADICTED: "contradicted",
    Verdict.NEGLIGIBLE: "negligible (no effect worth the name)",
    Verdict.ERROR: "error",
    Verdict.NOT_RUN: "not run",
    Verdict.NOT_JUDGED: "not judged",
    Verdict.STALE: "stale",
}

# What a spec may record in `expect:`, per claim family (YAML values are the plain strings).
FIGURE_EXPECTATIONS = (Verdict.REPRODUCED, Verdict.REFUTED_ABOVE, Verdict.REFUTED_BELOW, Verdict.INCONCLUSIVE,
                       Verdict.UNVERIFIABLE)
LESSON_EXPECTATIONS = (Verdict.SUPPORTED, Verdict.CONTRADICTED, Verdict.NEGLIGIBLE, Verdict.INCONCLUSIVE)


# What a side means, by which way the measure is better: higher (accuracy), lower (epochs to reach, spread) or
# neither (a train-test gap, a parameter count: the side is stated literally).
_README_BETTER = ("the README reports better than the runs give: the claim overstates what the recipe as "
                  "specified gives")
_README_WORSE = ("the README reports worse than the runs give: the recipe as specified does better than "
                 "reported; a reconstruction or environment difference is the first suspect")


def miss_meaning(verdict: Verdict, better: str | None) -> str:
    """What a refutation's side means for a measure where `better` is "higher", "lower" or None (neither)."""
    if not verdict.refuted:
        return ""
    if better is None:
        return verdict.side
    readme_better = (verdict is Verdict.REFUTED_ABOVE) == (better == "higher")
    return f"{verdict.side}: {_README_BETTER if readme_better else _README_WORSE}"
