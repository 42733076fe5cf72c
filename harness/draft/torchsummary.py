"""A torchsummary table back into a layer list.

The table gives each module's type, output shape and parameter count. A conv's kernel and
bias follow from its count (k*k*in*out + out*bias), its padding from the output size; a
pool's kernel from the size ratio. Activations applied as functions do not appear in the
table: where the table has none, ReLU is assumed after each conv block and hidden linear
layer (the parameter count does not depend on it), and the caller says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from harness.draft.readme import Readme

_ROW = re.compile(r"^\s*([A-Za-z][A-Za-z0-9]*)-(\d+)\s+\[\s*-1\s*((?:,\s*\d+\s*)+)\]\s+([\d,]+)\s*$")
_TOTAL = re.compile(r"^\s*Total params:\s*([\d,]+)\s*$")


@dataclass
class SummaryTable:
    line: int                       # the first module row
    total: int | None
    total_line: int | None
    total_text: str | None
    layers: list = field(default_factory=list)    # YAML layer entries
    problems: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)


def summary_tables(readme: Readme) -> list[SummaryTable]:
    """Every run of torchsummary module rows, with the `Total params` line that closes it."""
    out: list[SummaryTable] = []
    rows: list[tuple[int, str, list[int], int]] = []
    for n in range(1, len(readme.lines) + 2):
        m = _ROW.match(readme.line(n))
        if m:
            dims = [int(x) for x in m.group(3).strip(", ").split(",")]
            rows.append((n, m.group(1), dims, int(m.group(4).replace(",", ""))))
            continue
        if not rows:
            continue
        table = SummaryTable(rows[0][0], None, None, None)
        for k in range(n, min(n + 6, len(readme.lines) + 1)):
            t = _TOTAL.match(readme.line(k))
            if t:
                table.total, table.total_line, table.total_text = int(t.group(1).replace(",", "")), k, t.group(1)
                break
        first = _ROW.match(readme.line(rows[0][0])).group(2)
        if first != "1":  # a table's tail (pasted twice, or cut): its input is not the 1x28x28 image
            table.problems.append(f"line {rows[0][0]}: the rows start at module {first}, not 1: "
                                  "a fragment of a table, not rebuilt")
        else:
            _rebuild(table, rows)
        out.append(table)
        rows = []
    return out


def _rebuild(table: SummaryTable, rows) -> None:
    shape: tuple[int, ...] = (1, 28, 28)
    has_activation = any(kind in ("ReLU", "ReLU6", "LeakyReLU") for _, kind, _, _ in rows)
    layers: list = []
    for i, (n, kind, out, count) in enumerate(rows):
        out_shape = tuple(out)
        entry = _layer(kind, shape, out_shape, count)
        if entry is None:
            table.problems.append(f"line {n}: {kind} with output {list(out_shape)} and {count:,} parameters "
                                  "is not a layer the drafter can rebuild")
            table.layers = []
            return
        if entry == "skip":
            continue
        if isinstance(entry, dict) and "linear" in entry and len(shape) == 3:
            layers.append("flatten")
        layers.append(entry)
        following = rows[i + 1][1] if i + 1 < len(rows) else None
        if not has_activation and _activation_after(kind, following, i == len(rows) - 1):
            layers.append("relu")
        shape = out_shape
    if not has_activation:
        table.assumptions.append("ReLU after every conv block and hidden linear layer (the table shows none: "
                                 "activations applied as functions are not modules)")
    table.layers = layers


def _activation_after(kind: str, following: str | None, last: bool) -> bool:
    if last:
        return False
    if kind == "Conv2d":
        return following not in ("BatchNorm2d",)
    if kind == "BatchNorm2d":
        return True
    if kind == "Linear":
        return following not in ("BatchNorm1d",)
    return kind == "BatchNorm1d"


def _layer(kind: str, shape: tuple, out: tuple, count: int):
    if kind == "Conv2d" and len(shape) == 3 and len(out) == 3:
        return _conv(shape, out, count)
    if kind in ("BatchNorm2d", "BatchNorm1d") and count in (2 * out[0], 0):
        return "bn" if count else {"bn": {"affine": False}}
    if kind in ("MaxPool2d", "AvgPool2d") and len(shape) == 3 and count == 0:
        if out[1:] == (1, 1) and shape[1] == shape[2]:
            return {"maxpool" if kind == "MaxPool2d" else "avgpool": shape[1]}
        k = shape[1] // out[1] if out[1] else 0
        if k >= 1 and shape[1] // k == out[1] and shape[2] // k == out[2]:
            return {"maxpool" if kind == "MaxPool2d" else "avgpool": k}
        return None
    if kind == "AdaptiveAvgPool2d" and count == 0:
        return "gap" if out[1:] == (1, 1) else {"adaptive_avgpool": out[1]}
    if kind in ("Dropout", "Dropout2d") and count == 0:
        return {kind.lower(): None}  # p is not in the table: see fill_dropout
    if kind in ("ReLU", "ReLU6") and count == 0:
        return "relu"
    if kind == "Flatten":
        return "flatten"
    if kind == "LogSoftmax":
        return "log_softmax"
    if kind == "Linear" and len(out) == 1:
        features = math.prod(shape)
        if count == features * out[0] + out[0]:
            return {"linear": out[0]}
        if count == features * out[0]:
            return {"linear": {"out": out[0], "bias": False}}
        return None
    return None


def _conv(shape: tuple, out: tuple, count: int):
    c_in, h, w = shape
    c_out = out[0]
    for bias in (True, False):
        weights = count - (c_out if bias else 0)
        if weights <= 0 or weights % (c_in * c_out):
            continue
        k = math.isqrt(weights // (c_in * c_out))
        if k * k * c_in * c_out != weights:
            continue
        for stride in (1, 2):
            for padding in range(0, k):
                oh = (h + 2 * padding - k) // stride + 1
                ow = (w + 2 * padding - k) // stride + 1
                if (oh, ow) == out[1:]:
                    args = {"out": c_out, "kernel": k}
                    if padding:
                        args["padding"] = padding
                    if stride != 1:
                        args["stride"] = stride
                    if not bias:
                        args["bias"] = False
                    return {"conv": args}
    return None


def fill_dropout(layers: list, p: float) -> list:
    """Dropout layers whose probability the evidence did not give get `p`."""
    out = []
    for entry in layers:
        if isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in ("dropout", "dropout2d") \
                and next(iter(entry.values())) is None:
            entry = {next(iter(entry)): p}
        out.append(entry)
    return out


def unknown_dropout(layers: list) -> bool:
    return any(isinstance(e, dict) and next(iter(e)) in ("dropout", "dropout2d") and next(iter(e.values())) is None
               for e in layers)
