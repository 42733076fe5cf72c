"""A draft against a hand-written spec folder for the same README.

For every numeric claim a person wrote (all but qualitative ones), the draft's spec of the same
name either has the same claim (kind, epoch or epoch count, value, band: `extracted`), or its
logged curve gives the same figure (`via curve`: a test accuracy at epoch N, the first epoch
reaching X), or not. Parameter counts: read (the draft claims the same count) and rebuilt (the
draft's own layer list has exactly that count). Every figure in the draft is looked up in the
README: `invented` lists those it does not contain, and must stay empty.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.draft.sources import claim_figures, default_claims_dir, figure_pattern
from harness.specs import load_all, load_source_info

MATCH_ARGS = ("epoch", "epochs", "threshold")


@dataclass
class Comparison:
    readme: str
    hand_folder: str
    hand_specs: int = 0
    draft_specs: int = 0
    draft_errors: list[str] = field(default_factory=list)
    numeric: int = 0
    extracted: int = 0
    via_curve: int = 0
    missed: list[str] = field(default_factory=list)
    parameter_claims: int = 0
    parameters_read: int = 0
    parameters_rebuilt: int = 0
    invented: list[str] = field(default_factory=list)
    draft_figures: int = 0

    @property
    def share(self) -> float:
        return (self.extracted + self.via_curve) / self.numeric if self.numeric else 0.0

    def row(self) -> str:
        return (f"| {self.readme} | `{self.hand_folder}` | {self.draft_specs} / {self.hand_specs} | "
                f"{self.extracted} + {self.via_curve} of {self.numeric} ({self.share:.0%}) | "
                f"{self.parameters_read} / {self.parameters_rebuilt} of {self.parameter_claims} | "
                f"{len(self.invented)} of {self.draft_figures} |")


HEADER = ("| README | hand-written folder | specs (draft / hand) | numeric claims extracted + via curve | "
          "parameter counts read / rebuilt exactly | draft figures not in the README |\n|---|---|---|---|---|---|")


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return math.isclose(float(a), float(b), abs_tol=1e-9)


def _matches(hand, drafted) -> bool:
    if hand.kind != drafted.kind:
        return False
    for arg in MATCH_ARGS:
        if not _same(getattr(hand, arg, None), getattr(drafted, arg, None)):
            return False
    hv, dv = getattr(hand, "value", None), getattr(drafted, "value", None)
    if hv is not None and not _same(hv, dv):
        return False
    hb = getattr(hand, "band", None)
    if hv is None and hb is not None:
        return _same(list(hb), list(getattr(drafted, "band", None) or []) or None)
    return hv is not None or hb is None


def _curve_of(spec) -> list | None:
    for c in spec.claims:
        if c.kind == "test_accuracy_curve":
            return list(c.values)
    points = {c.epoch: c.value for c in spec.claims if c.kind == "test_accuracy_at_epoch"}
    final = next((c.value for c in spec.claims if c.kind == "test_accuracy_final" and c.value is not None), None)
    if not points:
        return None
    n = spec.recipe.epochs
    return [points.get(e, final if e == n else None) for e in range(1, n + 1)]


def _via_curve(hand, curve: list | None) -> bool:
    if not curve:
        return False
    if hand.kind == "test_accuracy_at_epoch" and hand.value is not None and hand.epoch <= len(curve):
        return curve[hand.epoch - 1] is not None and _same(curve[hand.epoch - 1], hand.value)
    if hand.kind == "first_epoch_reaching" and None not in curve:
        first = next((i for i, v in enumerate(curve, start=1) if v >= hand.threshold), None)
        return first == hand.value
    return False


def compare(hand_folder: Path, claims_dir: Path | None = None, code: list[Path] | None = None) -> Comparison:
    from harness.draft import write

    info = load_source_info(hand_folder)
    readme = (claims_dir or default_claims_dir()) / info.file
    result = Comparison(info.file, str(hand_folder))
    text = readme.read_text(encoding="utf-8", errors="replace")
    hand, _ = load_all(hand_folder)
    result.hand_specs = len(hand)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / hand_folder.name
        write(readme, hand_folder.name, out, code)
        drafts, errors = load_all(out)
    result.draft_specs = len(drafts)
    result.draft_errors = [str(e) for e in errors]
    by_name = {d.name: d for d in drafts}
    for d in drafts:
        for c in d.spec.claims:
            for label, figure in claim_figures(c):
                result.draft_figures += 1
                if not figure_pattern(figure).search(text):
                    result.invented.append(f"{d.name}:{c.claim_id} {label} {figure:g}")
    for h in hand:
        mine = by_name.get(h.name)
        for c in h.spec.claims:
            if c.kind in ("qualitative", "comparison"):
                continue
            if c.kind == "parameters" and c.value is not None:
                result.parameter_claims += 1
                if mine and any(_matches(c, x) for x in mine.spec.claims):
                    result.parameters_read += 1
                    if mine.spec.fidelity["architecture"].level != "unknown" and _built(mine) == c.value:
                        result.parameters_rebuilt += 1
            result.numeric += 1
            if mine and any(_matches(c, x) for x in mine.spec.claims):
                result.extracted += 1
            elif mine and _via_curve(c, _curve_of(mine.spec)):
                result.via_curve += 1
            else:
                result.missed.append(f"{h.name}:{c.claim_id}")
    return result


def _built(loaded) -> int:
    from harness.model import plan

    return sum(p.parameters for p in plan(loaded.spec.architecture))
