"""What `python -m harness check` would reject in a drafted layer list, and the fix.

A torchsummary table lists modules only, so a model that ends in a 10-channel 1x1 map and
flattens it in `forward` (`x.view(-1, 10)`, then `F.log_softmax`) shows no Flatten row: read
as it stands, its layer list outputs 10x1x1 per sample, which `check` rejects. When adding a
`flatten` at the end (before a trailing `log_softmax`) is all that makes the harness's own
shape plan accept it, the draft adds it and labels it `reconstructed`. Any other problem is
left as it is, with the harness's message and a suggested fix for the person deciding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError


@dataclass
class Planned:
    """A layer list as the harness's shape plan sees it."""

    parameters: int | None      # None when the plan rejects the list
    problem: str | None         # the plan's message when it does


def planned(layers: list) -> Planned:
    from harness.model import ArchitectureError, plan
    from harness.schema import Architecture

    try:
        return Planned(sum(p.parameters for p in plan(Architecture.model_validate({"layers": layers}))), None)
    except ArchitectureError as exc:
        where = f"layer {exc.index + 1}: " if exc.index is not None else ""
        return Planned(None, where + exc.message)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        return Planned(None, f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg', exc)}")
    except (RecursionError, ValueError, TypeError) as exc:
        return Planned(None, str(exc)[:200])


def with_flatten(layers: list) -> list:
    """`layers` with a `flatten` before the trailing `log_softmax` (or at the end)."""
    tail = 1 if layers and layers[-1] == "log_softmax" else 0
    return [*layers[: len(layers) - tail], "flatten", *layers[len(layers) - tail:]]


def closed(layers: list) -> tuple[list, str | None]:
    """(layers, why) with the missing final `flatten` added when that alone makes the plan accept them;
    `why` is None when nothing was added."""
    first = planned(layers)
    if first.problem is None or not layers or "flatten" in layers[-2:]:
        return layers, None
    fixed = with_flatten(layers)
    if planned(fixed).problem is not None:   # the flatten alone does not give 10 class scores
        return layers, None
    shape = re.search(r"\d+x\d+x\d+", first.problem)
    return fixed, (f"the layers end in a {shape.group(0) if shape else 'feature'} map; a `flatten` was added "
                   "before the classifier output (torchsummary lists modules only: a `view`/`flatten` in forward "
                   "has no row)")


def suggestion(problem: str) -> str:
    """The fix to suggest for a message of the shape plan or of `check`."""
    low = problem.lower()
    if "class scores" in low:
        return ("make the last layer give 10 class scores: add `flatten` before the classifier (and a "
                "`linear: 10` if the map has more than 10 values)")
    if "larger than" in low or "kernel" in low and "input" in low:
        return "a kernel or pool is larger than its input: check padding and pool sizes against the README's shapes"
    if "channels" in low or "in_channels" in low:
        return "the channels do not chain: check each conv's `out` against the next layer's input"
    if "log_softmax" in low:
        return "add `log_softmax` as the last layer, or use the loss `cross_entropy`"
    if "names no field" in low:
        return "remove that fidelity entry, or give the spec the field it labels"
    if "alias" in low:
        return "write the shared value out in full (or share it with `extends`)"
    return "edit the spec at the line named so that `python -m harness check` accepts it"
