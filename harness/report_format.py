"""Numbers for people in the report: no "-0.00", whole epochs as integers, open-ended bands as one bound,
a README's before/after figures at the same number of decimals."""

from __future__ import annotations

import math

OPEN = 99.99  # a band edge at or beyond +-100 (accuracy, pp) is open: "at least", "at most"


def num(x: float | None, decimals: int = 2, sign: bool = False) -> str:
    """2 decimals (a sign when asked); never "-0.00" (a value that rounds to zero prints as zero)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "never" if x > 0 else "-inf"
    x = round(float(x), decimals) + 0.0  # + 0.0: -0.0 becomes 0.0
    return f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"


def whole(*xs: float) -> bool:
    return all(x is not None and math.isfinite(x) and float(x).is_integer() for x in xs)


def interval(band, sign: bool = False) -> str:
    """[99.14, 99.53] -> '99.14-99.53'; [6, 11] -> '6-11'; [99.4, 100] -> '>= 99.40'; [-100, 0] -> '<= 0';
    an interval reaching below zero -> '-0.30 to +0.06'; counts of 1,000 and more with thousands separators."""
    if not band:
        return "-"
    lo, hi = (float(v) for v in band)
    if max(abs(lo), abs(hi)) >= 1000:
        return f"{lo:,.0f}" if lo == hi else f"{lo:,.0f}-{hi:,.0f}"
    d = 0 if whole(lo, hi) else 2
    if lo == hi:
        return num(lo, d, sign)
    if hi >= 100 - 1e-9 and lo > -OPEN and not sign:
        return f">= {num(lo, d)}"
    if lo <= -OPEN and hi < OPEN:
        return f"<= {num(hi, d, sign)}"
    if sign or lo < 0:
        return f"{num(lo, d, True)} to {num(hi, d, True)}"
    return f"{num(lo, d)}-{num(hi, d)}"


def decimals_of(x: float) -> int:
    text = f"{x:g}"
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def readme_pair(before: float, after: float) -> str:
    """The README's two figures and their difference at the same decimals: 99.3, 99.39 -> '99.30 -> 99.39 (+0.09)'."""
    d = max(decimals_of(before), decimals_of(after))
    return f"{before:.{d}f} -> {after:.{d}f} ({num(after - before, max(d, 2) if d else 0, True)})"
