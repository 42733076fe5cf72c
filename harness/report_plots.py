"""The report's plots: curves per record, a dot plot of each README's single-number claims, its comparisons.

Every mark a claim draws takes its verdict's colour (harness/report_verdicts.py), the same colour its table
row has, and shows the interval the verdict used: the per-epoch 95% prediction interval of a logged curve,
a figure's 95% interval (99% as a thin line), the seeds' range for 'first epoch reaching', a comparison's
95% paired CI against its threshold. The y range holds every judged value. A run of one epoch has no curve
to draw: its claims are in the README's dot plot. Images are 2x (180 dpi), cropped to their content, with
the legend below the axes.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from pathlib import Path

from harness.cache import atomic_write
from harness.claims import Mark
from harness.report_verdicts import style

DPI = 180  # 2x the 90 dpi of a 8.2-inch figure shown about 740 px wide: sharp on high-DPI screens
NO_MATHTEXT = {"text.parse_math": False, "text.usetex": False, "font.size": 9}
OPEN = 99.99  # band edges at or beyond +-100 are open ends ("at least"): never zoomed on
SEEDS = "#4a6fa5"  # the seeds' own data (not a verdict colour)


def plain(text) -> str:
    """A matplotlib label from an untrusted string (drawn with mathtext off; control characters dropped)."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(text))


def short(text: str, width: int = 70) -> str:
    text = plain(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path) -> Path:
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=DPI, bbox_inches="tight", pad_inches=0.08))
    return out


def _gap(curve: dict) -> list[float]:
    train, test = curve.get("train_accuracy") or [], curve["test_accuracy"]
    return [a - b for a, b in zip(train, test)]


# panel -> (per-epoch series of one seed's curve, y label, y limits)
PANELS = {
    "test": (lambda c: c["test_accuracy"], "test accuracy (%)", (0.0, 100.5)),
    "train": (lambda c: c.get("train_accuracy") or [], "train accuracy (%)", (0.0, 100.5)),
    "gap": (_gap, "train - test (pp)", (-100.5, 100.5)),
}


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v) and abs(v) < OPEN + 0.02]


# --------------------------------------------------------------------------- curves of one record

def plot_record(record: dict, spec, out: Path, results=None) -> Path | None:
    """Per panel (test; train or train-test gap when a claim is about them): the seeds' mean with their min and
    max as thin lines, each claim in its verdict's colour with the interval its verdict used, one legend below."""
    curves = [c for c in record.get("curves", []) if c.get("test_accuracy")]
    epochs = int(record.get("epochs") or max((len(c["test_accuracy"]) for c in curves), default=0))
    if not curves or epochs <= 1:  # one number per seed: drawn in the README's dot plot, not as a curve
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    judged = {r.claim_id: r for r in results or []}
    claims = [(c, judged.get(c.claim_id), c.marks(epochs)) for c in (spec.spec.claims if spec else [])]
    panels = ["test"] + [p for p in PANELS if p != "test" and any(m.panel == p for _, _, ms in claims for m in ms)]
    with plt.rc_context(NO_MATHTEXT):
        fig, axes = plt.subplots(len(panels), 1, figsize=(8.2, 2.9 * len(panels)), squeeze=False, sharex=True)
        handles: dict[str, object] = {}
        for ax, panel in zip(axes[:, 0], panels):
            series, ylabel, bounds = PANELS[panel]
            per_epoch = _envelope(ax, [series(c) for c in curves], handles)
            shown: list[float] = []
            for claim, result, marks in claims:
                label = f"{claim.claim_id}: {claim.claimed_text()} ({result.verdict if result else 'not run'})"
                for m in (m for m in marks if m.panel == panel):
                    shown += _draw_mark(ax, m, result, short(label, 90), handles)
            low, high = _zoom(shown, per_epoch, bounds)
            if panel == "gap":
                ax.axhline(0.0, color="grey", lw=0.8)
            ax.set_ylim(low, high)
            ax.set_xlim(0.5, epochs + 0.9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("epoch")
        axes[0, 0].set_title(plain(f"{record['spec']} ({record.get('device_kind', '?')}, {len(curves)} seeds)"),
                             fontsize=9)
        fig.tight_layout()
        fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
                   fontsize=8, frameon=False)
        _save(fig, out)
        plt.close(fig)
    return out


def _envelope(ax, seeds: list[list[float]], handles: dict) -> list[list[float]]:
    """The seeds' mean per epoch, their min and max as thin lines; returns the per-epoch values."""
    length = min(len(s) for s in seeds)
    per_epoch = [[s[e] for s in seeds if math.isfinite(s[e])] for e in range(length)]
    xs = [e + 1 for e, vals in enumerate(per_epoch) if vals]
    per_epoch = [vals for vals in per_epoch if vals]
    if not xs:
        return []
    lines = ax.plot(xs, [min(v) for v in per_epoch], color=SEEDS, lw=0.6, alpha=0.7)
    ax.plot(xs, [max(v) for v in per_epoch], color=SEEDS, lw=0.6, alpha=0.7)
    handles.setdefault(f"seeds' min and max (n={len(seeds)})", lines[0])
    handles.setdefault("seeds' mean", ax.plot(xs, [statistics.fmean(v) for v in per_epoch], color=SEEDS, lw=1.6)[0])
    return per_epoch


def _draw_mark(ax, m: Mark, result, label: str, handles: dict) -> list[float]:
    """One mark in its verdict's colour with the interval the verdict used; returns the y values to show."""
    colour = style(result.verdict if result else "not run").colour
    extra = (result.extra if result else None) or {}
    band = result.band if result and result.band else None
    first = label not in handles
    if m.style == "curve":
        return _draw_curve(ax, m, extra.get("points") or [], colour, label, handles)
    if m.style == "span":
        lo, hi = m.ys
        h = ax.fill_between([m.xs[0], m.xs[1]], lo, hi, color=colour, alpha=0.15, lw=0)
        ax.hlines([y for y in (lo, hi) if abs(y) < OPEN], m.xs[0], m.xs[1], colors=colour, lw=0.8)
        if first:
            handles[label] = h
        return _finite((lo, hi)) + _finite(result.values if result else [])
    if m.style == "threshold":
        ax.axhline(m.ys[0], color=colour, ls=":", lw=1)
        h = ax.plot(m.xs[:1], m.ys[:1], marker="v", ms=7, ls="none", color=colour)[0]
        if band:  # the seeds' range of epochs: where the claimed epoch must fall
            ax.hlines(m.ys[0], band[0], band[1], colors=colour, lw=4, alpha=0.35)
        handles.setdefault(label, h)
        return [m.ys[0]]
    # a figure at one epoch (point) or over epochs (line): its 95% interval as a bar, its 99% as a thin line
    x0, x1 = (m.xs[0], m.xs[0]) if m.style == "point" else (m.xs[0], m.xs[1])
    at = x1  # the figure is known at the end of its span (a peak, the mean of the last epochs)
    outer = extra.get("refuted_outside")
    if outer:
        ax.vlines(at, outer[0], outer[1], colors=colour, lw=0.8)
    if band:
        ax.vlines(at, band[0], band[1], colors=colour, lw=4, alpha=0.4)
    if m.style == "point":
        h = ax.plot([x0], [m.ys[0]], marker="D", ms=6, ls="none", color=colour, mec="black", mew=0.5)[0]
    else:
        h = ax.hlines(m.ys[0], x0 - 0.3, x1 + 0.3, colors=colour, lw=1.3)
    handles.setdefault(label, h)
    return _finite([m.ys[0], *(band or []), *(outer or []), *(result.values if result else [])])


def _draw_curve(ax, m: Mark, points: list[dict], colour: str, label: str, handles: dict) -> list[float]:
    """The README's logged curve over the per-epoch 95% (and 99%) prediction intervals its verdict used."""
    judged = [p for p in points if p.get("accepted")]
    if judged:
        xs = [p["epoch"] for p in judged]
        outer = [p.get("refuted_outside") or p["accepted"] for p in judged]
        ax.fill_between(xs, [o[0] for o in outer], [o[1] for o in outer], color=colour, alpha=0.08, lw=0, step=None)
        h = ax.fill_between(xs, [p["accepted"][0] for p in judged], [p["accepted"][1] for p in judged],
                            color=colour, alpha=0.2, lw=0)
        handles.setdefault("README log: 95% prediction interval per epoch (99% lighter)", h)
    line = ax.plot(m.xs, m.ys, ls="--", lw=1, color="black")[0]
    for p in judged:  # each logged point in its own verdict's colour
        ax.plot([p["epoch"]], [p["claimed"]], marker="o", ms=4, ls="none", color=style(p["verdict"]).colour,
                mec="black", mew=0.4)
    handles.setdefault(label, line)
    return _finite([*m.ys, *(v for p in judged for v in p["accepted"])])


def _zoom(claimed: list[float], per_epoch: list[list[float]], bounds: tuple[float, float]) -> tuple[float, float]:
    """Every judged value and the seeds over the second half of training, padded."""
    late = [v for vals in per_epoch[len(per_epoch) // 2:] for v in vals]
    ys = [y for y in claimed + late if math.isfinite(y)]
    if not ys:
        return bounds
    low, high = min(ys), max(ys)
    pad = max(0.1, 0.08 * (high - low))
    return max(bounds[0], low - pad), min(bounds[1], high + pad)


# --------------------------------------------------------------------------- a README's single-number claims

def dot_rows(items) -> list[tuple]:
    """(spec report, row, claim) of every trained claim judged on one number per seed, in page order."""
    from harness.report import single_rows

    out = []
    for item in items:
        for r in single_rows(item):
            claim = item.claim(r["claim_id"])
            if claim is not None and claim.trained and _finite(r.get("values") or []):
                out.append((item, r, claim))
    return out


def plot_dots(slug: str, items, out: Path) -> Path | None:
    """One row per claim with its own x range: the seeds as points, the interval the verdict used (95% thick,
    99% thin; a target's band; the seeds' range of epochs), the README's figure as a diamond in the verdict's
    colour."""
    rows = dot_rows(items)
    if not rows:
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    with plt.rc_context(NO_MATHTEXT):
        fig, axes = plt.subplots(len(rows), 1, figsize=(8.2, 0.46 * len(rows) + 0.6), squeeze=False)
        for ax, (item, r, claim) in zip(axes[:, 0], rows):
            colour = style(r["verdict"]).colour
            values = _finite(r["values"])
            extra = r.get("extra") or {}
            band, outer = r.get("band"), extra.get("refuted_outside")
            claimed = getattr(claim, "value", None)
            xs = list(values) + ([] if claimed is None else [float(claimed)])
            outer = [float(v) for v in outer or [] if v is not None and math.isfinite(v)]  # an open end: no line past it
            if len(outer) == 2:
                ax.hlines(0, outer[0], outer[1], colors=colour, lw=1)
            xs += outer
            if band:  # a target's open end (">= 99.4" is [99.4, 100]) stops at the axis, not at 100
                is_open = [abs(abs(v) - 100.0) < 1e-9 for v in band]
                xs += [v for v, o in zip(band, is_open) if not o]
                lo, hi = min(xs), max(xs)
                pad = max(0.05, 0.1 * (hi - lo))
                ax.hlines(0, lo - pad if is_open[0] else band[0], hi + pad if is_open[1] else band[1],
                          colors=colour, lw=7, alpha=0.35)
            jitter = [((i % 5) - 2) * 0.06 for i in range(len(values))]
            if claimed is not None:  # under the seeds: a README figure among them must not hide them
                ax.plot([claimed], [0], "D", ms=7, color=colour, mec="black", mew=0.6, alpha=0.85, zorder=2)
            ax.plot(values, jitter, "o", ms=3, color=SEEDS, alpha=0.8, zorder=3)
            lo, hi = min(xs), max(xs)
            epochs = getattr(claim, "axis", "%") == "epochs"
            pad = max(0.6 if epochs else 0.05, 0.1 * (hi - lo))  # epochs: at least one whole epoch either side
            ax.set_xlim(lo - pad, hi + pad)
            if epochs:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            ax.set_ylim(-0.5, 0.5)
            ax.set_yticks([])
            unit = getattr(claim, "axis", "%")
            ax.set_ylabel(short(f"{item.spec.name}: {r['claim_id']}", 40), rotation=0, ha="right", va="center",
                          fontsize=8)
            ax.text(1.01, 0.5, short(f"{r['claimed']} ({r['verdict']})", 44), transform=ax.transAxes,
                    fontsize=8, va="center", color=colour)
            ax.tick_params(axis="x", labelsize=7, pad=1)
            ax.set_xlabel(unit, fontsize=7, labelpad=0)
            ax.xaxis.set_label_coords(1.0, -0.05)
            ax.grid(axis="x", alpha=0.3)
        axes[0, 0].set_title(plain(f"{slug}: single-number claims (dots: seeds; bar: the interval the verdict "
                                   "used, thin: 99%; diamond: README)"), fontsize=8)
        fig.subplots_adjust(hspace=1.1)
        _save(fig, out)
        plt.close(fig)
    return out


# --------------------------------------------------------------------------- a README's comparisons

def plot_comparisons(slug: str, stories, out: Path) -> Path | None:
    """One panel per unit (pp, epochs), one row per lesson: the measured difference (this - other, as in the
    table) with its 95% CI in the verdict's colour, the README's difference as a cross, the lesson's
    threshold (0 or `by`, on the claimed side) as a bar; symlog when one row would squash the rest."""
    from harness.report import unit_of

    panels: dict[str, list] = defaultdict(list)
    for item, r in stories:
        if (r.get("extra") or {}).get("difference") is not None:
            panels[unit_of(item, r)].append((item, r))
    if not panels:
        return None
    plt = _pyplot()
    units = sorted(panels, key=lambda u: u != "pp")
    heights = [0.42 * len(panels[u]) + 0.7 for u in units]
    with plt.rc_context(NO_MATHTEXT):
        fig, axes = plt.subplots(len(units), 1, figsize=(8.2, sum(heights) + 0.4), squeeze=False,
                                 gridspec_kw={"height_ratios": heights})
        for ax, unit in zip(axes[:, 0], units):
            xs = []
            rows = panels[unit]
            for y, (_item, r) in enumerate(rows):
                extra = r["extra"]
                colour = style(r["verdict"]).colour
                sign = 1.0 if extra.get("direction") == "higher" else -1.0
                by = sign * float(extra.get("by") or 0.0)
                ax.plot([by, by], [y - 0.38, y + 0.38], color="black", lw=1.4)  # the threshold the CI must clear
                if extra.get("ci"):
                    ax.hlines(y, extra["ci"][0], extra["ci"][1], colors=colour, lw=2.5)
                    xs += extra["ci"]
                ax.plot([extra["difference"]], [y], "o", color=colour, ms=5)
                xs += [extra["difference"], by]
                if extra.get("readme"):
                    before, after = extra["readme"]
                    ax.plot([after - before], [y], "x", color="black", ms=6)
                    xs.append(after - before)
            _symlog_if_squashed(ax, xs)
            ax.axvline(0, color="grey", lw=0.6)
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([_lesson_label(item, r) for item, r in rows], fontsize=8)
            ax.set_ylim(len(rows) - 0.5, -0.5)
            ax.set_xlabel(f"difference, this - other ({unit})", fontsize=8)
            ax.grid(axis="x", alpha=0.3)
        axes[0, 0].set_title(plain(f"{slug}: lessons (o measured, 95% CI; x README; | threshold; ↑ claims higher, "
                                   "↓ lower)"), fontsize=8)
        fig.tight_layout()
        _save(fig, out)
        plt.close(fig)
    return out


def _lesson_label(item, r: dict) -> str:
    """'↑ iteration3 vs iteration2: Adam trains ...' on at most two lines."""
    import textwrap

    extra = r["extra"]
    text = (f"{'↑' if extra.get('direction') == 'higher' else '↓'} {item.spec.name} vs "
            f"{extra.get('other', '?').split('/')[-1]}: {extra.get('statement', '')}")
    return "\n".join(textwrap.wrap(plain(text), 52, max_lines=2, placeholder="…"))


def _symlog_if_squashed(ax, xs: list[float]) -> None:
    """A log-modulus axis when one value is over 10 times the typical spread: every row stays readable."""
    mags = sorted(abs(x) for x in xs if math.isfinite(x) and x != 0)
    if len(mags) < 3:
        return
    typical = mags[len(mags) // 2]
    if mags[-1] > 10 * max(typical, 0.05):
        from matplotlib.ticker import FixedLocator, FuncFormatter

        linthresh = max(typical, 0.05)
        ax.set_xscale("symlog", linthresh=linthresh, linscale=1.0)
        # ticks at 0 and the powers of ten from the linear part's edge out, printed plainly (mathtext is off)
        low, high = min(xs), max(xs)
        powers = [10.0 ** k for k in range(math.ceil(math.log10(linthresh)), math.ceil(math.log10(mags[-1])) + 1)]
        ticks = [0.0] + [t for p in powers for t in (p, -p) if low - p / 2 <= t <= high + p / 2]
        ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
        ax.xaxis.set_minor_locator(FixedLocator([]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:+g}" if x else "0"))


# --------------------------------------------------------------------------- all of them

def draw_plots(by_source, results_dir: Path) -> tuple[dict[str, list[str]], dict]:
    """Every record's curves (spec id -> paths relative to results/) and each README's dot and comparison plot
    ((kind, slug) -> path)."""
    from harness.report import _comparisons, anchor

    spec_plots: dict[str, list[str]] = defaultdict(list)
    plots: dict = {}
    folder = results_dir / "plots"
    for slug, items in by_source.items():
        for item in items:
            for record in item.records:
                name = f"{item.spec.file_id}.{anchor(record.get('device_kind', 'x'))}.png"
                png = plot_record(record, item.spec, folder / name, item.results.get(record.get("_path", "")))
                if png is not None:
                    spec_plots[item.spec.id].append(f"plots/{png.name}")
        for kind, draw, what in (("comparisons", plot_comparisons, _comparisons(items)), ("dots", plot_dots, items)):
            png = draw(slug, what, folder / f"{slug}--{kind}.png")
            if png is not None:
                plots[(kind, slug)] = f"plots/{png.name}"
    drawn = {Path(p).name for p in [*plots.values(), *(p for ps in spec_plots.values() for p in ps)]}
    for old in folder.glob("*.png"):  # a plot no longer drawn (a one-epoch run's curve, a renamed spec)
        if old.name not in drawn:
            old.unlink()
    return spec_plots, plots
