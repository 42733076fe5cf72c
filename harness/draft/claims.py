"""A model's figures as typed claims: one claim per figure, every place that states it in `where`.

Claim figures are copied from the README (never rounded or derived); expectations of trained
claims are the README taken at face value until a reproduction says otherwise; a parameter
claim's expectation follows the count of the draft's own layer list.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from pydantic import TypeAdapter, ValidationError

from harness.draft import figures as F
from harness.draft.readme import Readme
from harness.draft.repair import planned, suggestion
from harness.verdict import Verdict

EXPECT_REPRODUCED = Verdict.REPRODUCED.value  # `expect:` values are plain YAML strings

_WHAT = {"statement": "", "table": "table row", "log": "training log", "torchsummary": "torchsummary total"}


@lru_cache(maxsize=1)
def _claim_adapter():
    from harness.schema import Claim

    return TypeAdapter(Claim)


def accepted(claim: dict) -> bool:
    """Whether this harness's schema knows the claim (new kinds switch on once the schema has them)."""
    try:
        _claim_adapter().validate_python(claim)
        return True
    except ValidationError:
        return False


def parameter_count(layers: list) -> int | None:
    return planned(layers).parameters


def _where(readme: Readme, figs: list[F.Figure]) -> str:
    places = []
    for f in figs:
        text = readme.where(f.line, _WHAT.get(f.source, f.source))
        if text not in places:
            places.append(text)
    return "; ".join(places[:3]) + ("; ..." if len(places) > 3 else "")


def global_targets(readme: Readme, glob: list[F.Figure]) -> list[F.Figure]:
    """The README's accuracy targets ("over 99.4%", "> 95%") stated outside every model's section."""
    return [f for f in glob if f.kind != "parameters" and "band" in f.args and f.args["band"][1] == 100.0]


def constraint_text(readme: Readme, glob: list[F.Figure]) -> str:
    """The README's constraints in our words: parameter bounds and accuracy targets."""
    bounds = []
    for f in F.parameter_bounds(readme, range(1, len(readme.lines) + 1)):
        bound = f"{'<' if f.args['strict'] else '<='} {f.text}"
        if bound not in bounds:
            bounds.append(bound)
    targets = []
    for f in global_targets(readme, glob):
        t = f"{'mean of last ' + str(f.args['epochs']) + ' epochs ' if 'epochs' in f.args else ''}>= {f.text}%"
        if t not in targets:
            targets.append(t)
    parts = ([f"parameters {bounds[0]}"] if bounds else []) + [f"test accuracy {t}" for t in targets[:2]]
    return "; ".join(parts) or "not found in the README (to fill in)"


def claims_for(readme: Readme, m, layers: list, epochs: int, shared_params: list, targets: list, bounds: list,
               arch_fid: dict | None, arch_source: str | None, decisions: list[str]):
    """(claims, architecture fidelity when the layers are inherited) of one model."""
    figs = list(m.figures)
    curve_claims = _curve(readme, m, figs)
    claims: list[dict] = []
    plan = planned(layers)
    computed = plan.parameters
    params = [f for f in figs if f.kind == "parameters"]
    if not params and len(shared_params) == 1:
        params = [f for f in _shared_figures(readme, shared_params[0])]
    count_fid = None
    by_value: dict[float, list[F.Figure]] = {}
    for f in params:
        by_value.setdefault(f.value, []).append(f)
    for i, (value, group) in enumerate(by_value.items()):
        approximate = any(f.args.get("approximate") for f in group)
        rounded = next((f for f in group if "band" in f.args), None)   # "13.7K": any count that rounds or truncates to it
        claim = {"kind": "parameters", "band": rounded.args["band"]} if rounded else \
            {"kind": "parameters", "value": int(value)}
        if i:
            claim = {"id": f"parameters-{i + 1}", **claim}
        if approximate and not rounded:
            claim["approximate"] = True
        claim["where"] = _where(readme, group)
        if rounded:
            claim["where"] += f" (written {rounded.text}: every count that rounds or truncates to it)"
            lo, hi = rounded.args["band"]
            matches = computed is not None and lo <= computed <= hi
        else:
            matches = computed is not None and (abs(computed - value) <= 0.01 * value if approximate
                                                else computed == value)
        if arch_fid is not None:
            above = computed is None or (computed < rounded.args["band"][0] if rounded else value > computed)
            claim["expect"] = EXPECT_REPRODUCED if matches else Verdict.refuted_on(above).value  # README's side
            if not matches and computed is None:
                claim["note"] = (f"the layer list read for {m.label} is not one the harness builds "
                                 f"({plan.problem}): fix it, then compare with {group[0].text}")
                decisions.append(f"{m.label}: its layer list is rejected ({plan.problem}): "
                                 f"{suggestion(plan.problem)}")
            elif not matches:
                source = "its code" if arch_fid.get("level") == "documented_in_code" else "the README"
                claim["note"] = (f"the layer list read from {source} gives {computed:,} parameters, not "
                                 f"{group[0].text}: a finding for a person to explain")
                decisions.append(f"{m.label}: the layers read from {source} give {computed:,} parameters but the "
                                 f"README states {group[0].text}: record a finding")
        elif matches:
            claim["expect"] = EXPECT_REPRODUCED
            count_fid = {"level": "reconstructed", "assumption": f"the layers of {arch_source}",
                         "why": f"this section documents no layers; its stated count {group[0].text} equals theirs"}
        else:
            claim["expect"] = Verdict.UNVERIFIABLE.value
            placeholder = f"{computed:,} parameters" if computed is not None else f"rejected: {plan.problem}"
            claim["note"] = (f"the draft has no layer list for {m.label} (its placeholder has "
                             f"{placeholder}): write its architecture, then expect reproduced")
            decisions.append(f"{m.label}: architecture not documented; write layers giving its stated count "
                             f"({group[0].text})")
        claims.append(claim)
    if count_fid is None and arch_fid is None:
        source = f"the layers of {arch_source}" if arch_source else "a placeholder (flatten, linear 10)"
        count_fid = {"level": "unknown", "assumption": f"placeholder: {source}; this iteration's layers are not documented"}
    claims.extend(_accuracy_claims(readme, m, figs, epochs, decisions))
    claims.extend(curve_claims)
    for b in bounds:
        claim = {"id": f"under-{int(b.value)}", "kind": "parameters", "band": b.args["band"],
                 "where": _where(readme, [b]) + " (the README's bound)"}
        lo, hi = b.args["band"]
        inside = computed is not None and lo <= computed <= hi
        known = arch_fid is not None or count_fid["level"] == "reconstructed"
        claim["expect"] = ((Verdict.REPRODUCED if inside else Verdict.refuted_on(computed is None or lo > computed))
                           if known else Verdict.UNVERIFIABLE).value
        if not known:
            claim["note"] = f"the draft has no layer list for {m.label}: write it, then expect reproduced"
        if accepted(claim) and claim["id"] not in {c.get("id") for c in claims}:
            claims.append(claim)
    for t in targets:
        kind = "test_accuracy_mean_last" if "epochs" in t.args else "test_accuracy_final"
        claim = {"id": f"target-{t.text}", "kind": kind, **({"epochs": t.args["epochs"]} if "epochs" in t.args else {}),
                 "band": t.args["band"], "where": _where(readme, [t]) + " (the README's target)",
                 "expect": EXPECT_REPRODUCED}
        if claim["id"] not in {c.get("id") for c in claims} and t.args.get("epochs", 0) <= epochs:
            claims.append(claim)
    return claims, count_fid


def _shared_figures(readme: Readme, value: float) -> list[F.Figure]:
    return [f for f in F.parameter_statements(readme) if f.value == value][:2]


def _curve(readme: Readme, m, figs: list[F.Figure]) -> list[dict]:
    """The curve claim (if the schema has it) or per-epoch claims; the curve's final, peak and train final
    join the model's figures."""
    if m.curve is None:
        return []
    test = m.curve.test
    known = [f for f in test if f is not None]
    out = []
    if known:
        last = test[-1]
        if last is not None:
            figs.append(F.Figure("test_accuracy_final", last.value, last.text, last.line, m.curve.source))
        best = max(known, key=lambda f: f.value)
        figs.append(F.Figure("test_accuracy_peak", best.value, best.text, best.line, m.curve.source))
        where = f"{'training log' if m.curve.source == 'log' else 'epoch table'}, " \
                f"{readme.where(m.curve.line)}, {len(test)} epochs"
        curve = {"kind": "test_accuracy_curve", "values": [f.value if f else None for f in test], "where": where,
                 "expect": EXPECT_REPRODUCED}
        if accepted(curve):
            out.append(curve)
        else:
            for f in known[:-1] if last is not None else known:
                out.append({"kind": "test_accuracy_at_epoch", "epoch": f.args["epoch"], "value": f.value,
                            "where": readme.where(f.line, "training log" if m.curve.source == "log" else "epoch table"),
                            "expect": EXPECT_REPRODUCED})
    train = [f for f in m.curve.train if f is not None]
    if train and m.curve.train[-1] is not None:
        f = m.curve.train[-1]
        figs.append(F.Figure("train_accuracy_final", f.value, f.text, f.line, m.curve.source))
    if train and accepted({"kind": "train_accuracy_peak", "value": 50.0, "where": "x", "expect": EXPECT_REPRODUCED}):
        best = max(train, key=lambda f: f.value)
        figs.append(F.Figure("train_accuracy_peak", best.value, best.text, best.line, m.curve.source))
    return out


def _accuracy_claims(readme: Readme, m, figs: list[F.Figure], epochs: int, decisions: list[str]) -> list[dict]:
    groups: dict[tuple, list[F.Figure]] = {}
    ambiguous = []
    for f in figs:
        if f.kind == "parameters":
            continue
        if f.kind == "ambiguous":
            ambiguous.append(f)
            continue
        band = tuple(f.args.get("band", ()))
        extra = f.args.get("epochs", f.args.get("threshold"))
        groups.setdefault((f.kind, extra, band, f.value), []).append(f)
    unread: dict[str, list[int]] = {}
    for f in ambiguous:
        same = [k for k in groups if k[3] is not None and math.isclose(k[3], f.value)]
        if same:
            groups[same[0]].append(f)
        else:
            unread.setdefault(f.text, []).append(f.line)
    stalled = any(re.search(r"(not|never|failed to) (converge|improve|learn)|diverge", readme.plain_line(n), re.I)
                  for a, b in m.sections for n in range(a, b + 1))
    for text, lines in unread.items():
        hint = " (the section says training did not converge: a does_not_converge claim, with a band you choose?)" \
            if stalled and float(text) < 20 else " (final, peak, or something else?)"
        decisions.append(f"{m.label}: accuracy {text}% (line {', '.join(map(str, lines))}) is not read as a claim{hint}")
    out, ids = [], set()
    for (kind, n, band, value), group in groups.items():
        if n is not None and n > epochs and kind != "first_epoch_reaching":
            decisions.append(f"{m.label}: {kind} over {n} epochs is beyond the recipe's {epochs}; not written")
            continue
        claim: dict = {"kind": kind}
        if kind == "first_epoch_reaching":
            if value is not None and value > epochs:
                decisions.append(f"{m.label}: {kind} {n:g}% at epoch {value:g} is beyond the recipe's {epochs}")
                continue
            claim.update(threshold=n, value=None if value is None else int(value))
            n = None
        if n is not None:
            claim["epochs"] = n
        if value is not None and not band and kind != "first_epoch_reaching":
            claim["value"] = value
        if band:
            claim["band"] = list(band)
        if any(f.args.get("estimated") for f in group):
            claim["estimated"] = True
        ident = _default_id(claim)
        if ident in ids:
            claim = {"id": f"{ident}-{'above-' + group[0].text if band else len(ids) + 1}", **claim}
        claim["where"] = _where(readme, group)
        claim["expect"] = EXPECT_REPRODUCED
        if not accepted(claim):
            decisions.append(f"{m.label}: {kind} {group[0].text} not written (this schema does not take it)")
            continue
        ids.add(claim.get("id", ident))
        out.append(claim)
    return out


def _default_id(claim: dict) -> str:
    if "epochs" in claim:
        return f"test-accuracy-mean-last{claim['epochs']}"
    if "threshold" in claim:
        return f"first-epoch-{claim['threshold']:g}pct"
    return claim["kind"].replace("_", "-")
