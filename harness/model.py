"""Build models from a declarative architecture; count and summarise them."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from harness.layers import Layer, ReceptiveField, Shape, ShapeError
from harness.limits import MAX_ACTIVATION_BYTES, MAX_FLOPS, MAX_LAYERS, MAX_PARAMETERS, mib
from harness.schema import Architecture
from harness.stacked import BatchedLinear, FlatBatchNorm, StackedNet, Unstacked

FLOAT_BYTES = 4


class ArchitectureError(ValueError):
    """A shape that does not work, with the layer's index for the error message."""

    def __init__(self, index: int | None, message: str):
        super().__init__(message)
        self.index, self.message = index, message


@dataclass(frozen=True)
class PlannedLayer:
    index: int
    name: str
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    parameters: int
    receptive_field: ReceptiveField
    flops: int = 0  # forward, one sample


def plan(arch: Architecture) -> list[PlannedLayer]:
    """Infer every layer's shapes, parameters and receptive field; raise on an impossible shape or on a
    model past the harness's limits (harness.limits), from the shapes alone, before anything is allocated.
    Linear in the number of layers."""
    layers = arch.layer_list()
    if len(layers) > MAX_LAYERS:
        raise ArchitectureError(None, f"{len(layers):,} layers is more than the harness builds ({MAX_LAYERS})")
    shape: Shape = tuple(arch.input)
    rf = ReceptiveField()
    planned, counts = [], Counter()
    activations = parameters = flops = 0
    for i, layer in enumerate(layers):
        try:
            out = layer.output_shape(shape)
        except ShapeError as exc:
            raise ArchitectureError(i, f"{layer.describe()} on input {'x'.join(map(str, shape))}: {exc}") from None
        counts[layer.kind] += 1
        name = layer.name or f"{layer.kind}{counts[layer.kind]}"
        rf = layer.receptive_field(rf, shape)
        p = PlannedLayer(i, name, layer, shape, out, layer.parameter_count(shape), rf, layer.flops(shape, out))
        planned.append(p)
        # checked layer by layer, so the message names the layer that crosses the limit
        activations += math.prod(out) * FLOAT_BYTES
        parameters += p.parameters
        flops += p.flops
        where = f"{layer.describe()} outputs {'x'.join(map(str, out))}"
        if parameters > MAX_PARAMETERS:
            raise ArchitectureError(i, f"{where}: the model reaches {parameters:,} parameters, more than the "
                                       f"harness builds ({MAX_PARAMETERS:,})")
        if activations > MAX_ACTIVATION_BYTES:
            raise ArchitectureError(i, f"{where}: the activations reach {mib(activations)} per sample, more "
                                       f"than the harness trains ({mib(MAX_ACTIVATION_BYTES)} per sample)")
        if flops > MAX_FLOPS:
            raise ArchitectureError(i, f"{where}: the forward pass reaches {flops / 1e9:,.2f} GFLOPs per sample, "
                                       f"more than the harness trains ({MAX_FLOPS / 1e9:g} GFLOPs per sample)")
        shape = out
    if shape != (arch.classes,):
        raise ArchitectureError(None, f"the model outputs {'x'.join(map(str, shape))} per sample, "
                                      f"expected {arch.classes} class scores")
    duplicates = sorted(n for n, k in Counter(p.name for p in planned).items() if k > 1)
    if duplicates:
        raise ArchitectureError(None, f"layer names must be unique: {', '.join(duplicates)}")
    return planned


def flops_per_sample(planned: list[PlannedLayer]) -> int:
    return sum(p.flops for p in planned)


def activation_bytes_per_sample(planned: list[PlannedLayer]) -> int:
    return sum(math.prod(p.out_shape) for p in planned) * FLOAT_BYTES


def build_model(arch: Architecture) -> nn.Sequential:
    """The plain nn.Module of one copy, initialised from torch's global RNG as usual."""
    return nn.Sequential(*[_named(p, p.layer.build(p.in_shape)) for p in plan(arch)])


def build_seeded(arch: Architecture, seed: int) -> nn.Sequential:
    """A plain model initialised as `torch.manual_seed(seed); Net()` would, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(arch)


def build_stacked(arch: Architecture, seeds: list[int]) -> StackedNet:
    """K copies in one module, copy k initialised exactly as `build_seeded(arch, seeds[k])`."""
    planned = plan(arch)
    net = StackedNet(_relu_in_place([_stacked_layer(p, len(seeds)) for p in planned]), copies=len(seeds))
    net.load_copies([build_seeded(arch, s) for s in seeds])
    return net


# Layers whose output is a fresh tensor that their own backward does not read (conv, linear and
# BatchNorm backward read the input): a ReLU right after one may overwrite it. Bitwise the same results,
# one allocation and one pass over memory less per ReLU (benchmarks/test_candidates.py, narrow recipes, one
# thread: 1.05-1.17x per step beside two training processes, 1.00-1.02x on a quiet machine). Were a backward
# ever to need the overwritten tensor, autograd's version check raises instead of computing a wrong gradient.
_FRESH_OUTPUT = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, BatchedLinear, FlatBatchNorm)


def _relu_in_place(modules: list[nn.Module]) -> list[nn.Module]:
    for before, module in zip(modules, modules[1:]):
        if type(module) is nn.ReLU and isinstance(before, _FRESH_OUTPUT):
            module.inplace = True
    return modules


def _stacked_layer(planned: PlannedLayer, copies: int) -> nn.Module:
    if planned.layer.stackable:
        return planned.layer.build_stacked(planned.in_shape, copies)
    if copies != 1:
        raise ValueError(f"{planned.layer.describe()} has no stacked form: train its seeds one at a time")
    return Unstacked(planned.layer.build(planned.in_shape))


def _named(planned: PlannedLayer, module: nn.Module) -> nn.Module:
    module.harness_name = planned.name  # shown by the summary
    return module


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameters, as torchsummary and `sum(p.numel())` count them."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def summary(arch: Architecture) -> str:
    """A per-layer table (type, output shape, parameters, receptive field), torchsummary-style."""
    planned = plan(arch)
    model = build_model(arch)
    total, trainable = count_parameters(model)
    rows = [("#", "layer", "type", "output", "params", "RF")]
    for p, module in zip(planned, model):
        rf = p.receptive_field
        rf_text = "global" if rf.is_global else f"{rf.size}x{rf.size}"
        rows.append((str(p.index), p.name, type(module).__name__, "x".join(map(str, p.out_shape)),
                     f"{p.parameters:,}", rf_text))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    line = "  ".join("-" * w for w in widths)

    def fmt(row):
        return "  ".join(c.rjust(w) if i in (0, 4) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

    final_rf = planned[-1].receptive_field
    pooled = any(p.layer.kind in ("gap", "adaptive_avgpool") and p.receptive_field.is_global for p in planned)
    how = "after global pooling" if pooled else "its linear layers see the whole feature map"
    rf_note = f"global ({how})" if final_rf.is_global else f"{final_rf.size}x{final_rf.size}"
    last_spatial = [p for p in planned if len(p.out_shape) == 3 and not p.receptive_field.is_global]
    if last_spatial:
        r = last_spatial[-1].receptive_field
        rf_note += f"; last feature map {r.size}x{r.size} (input {arch.input[1]}x{arch.input[2]})"
    return "\n".join([fmt(rows[0]), line, *(fmt(r) for r in rows[1:]), line,
                      f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                      f"Non-trainable params: {total - trainable:,}", f"Receptive field: {rf_note}"])
