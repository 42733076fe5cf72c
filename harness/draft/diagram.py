"""Layer lists written as text: "Conv2d(1→7) + BatchNorm + ReLU", "Conv2d(1,16,3x3) → MaxPool2d(2x2) → ...".

Such diagrams give channels and sometimes kernels, rarely bias or padding. A diagram is used
only when its shapes fit (a Linear's stated input equals the flattened size reaching it);
where kernels or bias are not written, the combination whose parameter count equals the
model's stated count is chosen (3x3 first), and the caller labels the result reconstructed.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from harness.draft.readme import Readme, plain

_ARROW = r"\s*(?:→|->|,|to)\s*"
_TOKENS = re.compile(
    r"(?P<conv>Conv2d\(\s*(?P<cin>\d+)" + _ARROW + r"(?P<cout>\d+)(?:\s*,\s*(?:kernel_size\s*=\s*)?(?P<k>\d+)(?:x\d+)?)?"
    r"(?:\s*,\s*padding\s*=\s*(?P<pad>\d+))?\s*\))"
    r"|(?P<linear>Linear\(\s*(?P<fin>\d+)" + _ARROW + r"(?P<fout>\d+)\s*\))"
    r"|(?P<pool>MaxPool2d\(\s*(?P<pk>\d+)(?:x\d+)?(?:\s*,\s*(?P<ps>\d+))?\s*\))"
    r"|(?P<bn>BatchNorm2d|BatchNorm|\bBN\b)"
    r"|(?P<gap>Global Average Pool\w*|\bGAP\b|AdaptiveAvgPool2d\(\s*1\s*\))"
    r"|(?P<relu>\bReLU\b)|(?P<logsm>LogSoftmax)|(?P<flatten>\bFlatten\b)", re.I)


@dataclass
class Diagram:
    line: int
    tokens: list = field(default_factory=list)   # (kind, args) in order
    layers: list = field(default_factory=list)
    assumed: list[str] = field(default_factory=list)
    problem: str | None = None


def diagrams(readme: Readme) -> list[Diagram]:
    """Runs of consecutive lines that name layers (code with `nn.` or `self.` is left to modelcode)."""
    out: list[Diagram] = []
    current: Diagram | None = None
    for n in range(1, len(readme.lines) + 1):
        raw = readme.line(n)
        text = plain(raw)
        found = [] if re.search(r"\bnn\.|self\.|\bdef\b|^\s*\|", raw) else list(_TOKENS.finditer(text))
        has_conv = any(m.group("conv") or m.group("linear") for m in found)
        if found and (has_conv or current is not None):
            current = current or Diagram(n)
            current.tokens.extend(_token(m) for m in found)
        elif current is not None and not re.match(r"\s*(input|-|\*)?\s*$", text, re.I):
            out.append(current)
            current = None
    if current is not None:
        out.append(current)
    return [d for d in out if any(k in ("conv", "linear") for k, _ in d.tokens)]


def _token(m: re.Match) -> tuple[str, dict]:
    if m.group("conv"):
        return "conv", {"cin": int(m.group("cin")), "out": int(m.group("cout")),
                        "kernel": int(m.group("k")) if m.group("k") else None,
                        "padding": int(m.group("pad")) if m.group("pad") else 0}
    if m.group("linear"):
        return "linear", {"fin": int(m.group("fin")), "out": int(m.group("fout"))}
    if m.group("pool"):
        k = int(m.group("pk"))
        return "pool", {"kernel": k, "stride": int(m.group("ps")) if m.group("ps") else k}
    return next(k for k in ("bn", "gap", "relu", "logsm", "flatten") if m.group(k)), {}


def resolve(diagram: Diagram, count: int | None, conv_bias: bool | None, approximate: bool = False) -> Diagram:
    """Fill unknown kernels and bias so that the shapes fit and, given a count, the count matches."""
    from harness.draft.claims import parameter_count

    convs = [a for k, a in diagram.tokens if k == "conv"]
    unknown = [a for a in convs if a["kernel"] is None]
    biases = [conv_bias] if conv_bias is not None else [True, False]
    kernels = [3, 1, 5] if unknown else [None]
    tried = []
    for k, bias in itertools.product(kernels, biases):
        layers = _layers(diagram.tokens, k, bias)
        if layers is None:
            diagram.problem = "its Linear input does not equal the flattened size reaching it (pools missing?)"
            continue
        total = parameter_count(layers)
        if total is None:
            diagram.problem = "its shapes do not fit a 1x28x28 input"
            continue
        tried.append(total)
        close = count is not None and (abs(total - count) <= 0.01 * count if approximate else total == count)
        if count is None or close:
            diagram.layers, diagram.problem = layers, None
            if unknown:
                diagram.assumed.append(f"{k}x{k} kernels (not written in the diagram)")
            if conv_bias is None and convs:
                diagram.assumed.append(f"conv bias {'on' if bias else 'off'} (not stated)")
            return diagram
    if tried and count is not None:
        diagram.problem = f"no kernel and bias choice gives the stated {count:,} (tried: {', '.join(map(str, tried))})"
    return diagram


def _layers(tokens, kernel, bias) -> list | None:
    """The layer list, or None when a Linear's stated input cannot be the flattened size."""
    from harness.draft.claims import parameter_count

    layers: list = []
    for kind, a in tokens:
        if kind == "conv":
            args = {"out": a["out"], "kernel": a["kernel"] or kernel}
            if a["padding"]:
                args["padding"] = a["padding"]
            if bias is False:
                args["bias"] = False
            layers.append({"conv": args})
        elif kind == "pool":
            layers.append({"maxpool": a["kernel"] if a["stride"] == a["kernel"] else
                           {"kernel": a["kernel"], "stride": a["stride"]}})
        elif kind == "linear":
            flat = _flat_size(layers)
            if flat is None:
                return None
            if flat[1] and _last(layers) != "flatten":
                layers.append("flatten")
            if flat[0] != a["fin"]:
                return None
            layers.append({"linear": a["out"]})
        elif kind == "logsm":
            layers.append("log_softmax")
        elif kind == "flatten":
            if _last(layers) != "flatten":
                layers.append("flatten")
        else:
            layers.append(kind)
    if layers and parameter_count(layers) is None:
        return layers  # reported as a shape problem by the caller
    return layers


def _last(layers):
    return layers[-1] if layers and isinstance(layers[-1], str) else None


def _flat_size(layers) -> tuple[int, bool] | None:
    """(features reaching a Linear, whether a flatten must come first) for the layers so far."""
    from pydantic import ValidationError

    from harness.model import ArchitectureError, plan
    from harness.schema import Architecture

    if not layers:
        return 28 * 28, True
    flat = _last(layers) == "flatten"
    probe = [*layers, *([] if flat else ["flatten"]), {"linear": 10}]
    try:
        planned = plan(Architecture.model_validate({"layers": probe}))
    except (ValidationError, ArchitectureError):
        return None
    before = planned[-2].in_shape if not flat else (0,)
    return planned[-1].in_shape[0], len(before) > 1
