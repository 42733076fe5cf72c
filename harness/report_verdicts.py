"""How the report shows each verdict: one table (label, colour, summary column, order) for tables, plots and legends.

Every place that colours, orders or counts a verdict reads VERDICTS, so a new verdict value is one row here
(and a value missing from it is still shown and counted, under its own name, in grey). Claims and lessons
(comparison claims) are counted in separate groups of summary columns: `inconclusive` is one verdict with one
colour in both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

CLAIM, LESSON = "claims", "lessons"


@dataclass(frozen=True)
class VerdictStyle:
    name: str            # the verdict value as judged (ClaimResult.verdict)
    label: str           # words for people (legend, summary header)
    colour: str          # strong colour: plot marks, legend swatches, verdict text
    tint: str            # light colour: a table row's background
    column: str          # the summary column it is counted under (within its group)
    groups: tuple[str, ...] = (CLAIM,)
    direction: str = ""  # shown beside the count when one column holds several directions ("2 above, 1 below")


GREEN, RED, AMBER, GREY, BLUE, PURPLE, LIGHT = "#1a7f37", "#cf222e", "#b08800", "#6e7781", "#0969da", "#8250df", "#afb8c1"

VERDICTS: tuple[VerdictStyle, ...] = (
    VerdictStyle("reproduced", "reproduced", GREEN, "#e6f4ea", "reproduced"),
    VerdictStyle("refuted-above", "refuted: README above the runs", RED, "#fde8e8", "refuted", direction="above"),
    VerdictStyle("refuted-below", "refuted: README below the runs", RED, "#fde8e8", "refuted", direction="below"),
    VerdictStyle("refuted", "refuted", RED, "#fde8e8", "refuted"),
    VerdictStyle("supported", "supported", GREEN, "#e6f4ea", "supported", (LESSON,)),
    VerdictStyle("contradicted", "contradicted", RED, "#fde8e8", "contradicted", (LESSON,)),
    VerdictStyle("negligible", "negligible (smaller than it matters)", BLUE, "#ddf4ff", "negligible", (LESSON,)),
    VerdictStyle("inconclusive", "inconclusive", AMBER, "#fff4d6", "inconclusive", (CLAIM, LESSON)),
    VerdictStyle("unverifiable", "unverifiable (no figure to measure)", GREY, "#f0f0f0", "unverifiable"),
    VerdictStyle("error", "error (the run failed)", PURPLE, "#f3e8ff", "other", (CLAIM, LESSON)),
    VerdictStyle("not judged", "not judged", LIGHT, "#fafafa", "other", (CLAIM, LESSON)),
    VerdictStyle("not run", "not run", LIGHT, "#fafafa", "other", (CLAIM, LESSON)),
    VerdictStyle("stale", "stale (spec changed since the run)", LIGHT, "#eeeeee", "other", (CLAIM, LESSON)),
)
_BY_NAME = {v.name: v for v in VERDICTS}


def style(verdict: str) -> VerdictStyle:
    """The verdict's row; an unknown value gets a grey row of its own (counted under its own name)."""
    return _BY_NAME.get(verdict) or VerdictStyle(verdict, verdict, GREY, "#f0f0f0", verdict, (CLAIM, LESSON))


def order(verdict: str) -> int:
    names = [v.name for v in VERDICTS]
    return names.index(verdict) if verdict in names else len(names)


def columns(group: str, seen: set[str] = frozenset()) -> list[str]:
    """The summary columns of a group, in table order, then a column per unknown verdict seen, then `other`."""
    cols = [v.column for v in VERDICTS if group in v.groups and v.column != "other"]
    cols += sorted({style(s).column for s in seen} - set(cols) - {"other"})
    return list(dict.fromkeys(cols + ["other"]))


def count_cell(counts: Counter, column: str) -> tuple[int, str]:
    """How many verdicts fall in a summary column and, where it holds directions, how they split."""
    inside = {name: n for name, n in counts.items() if style(name).column == column and n}
    total = sum(inside.values())
    split = [f"{n} {style(name).direction}" for name, n in sorted(inside.items(), key=lambda kv: order(kv[0]))
             if style(name).direction]
    return total, (f"{total} ({', '.join(split)})" if split else str(total))


def legend(verdicts: set[str] | None = None) -> list[VerdictStyle]:
    """The verdicts to explain, one entry per colour and label, in table order (all of them when None)."""
    names = [v.name for v in VERDICTS] if verdicts is None else sorted(verdicts, key=order)
    return [style(n) for n in names]
