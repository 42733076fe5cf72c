"""Layer kinds of the declarative architecture.

Each kind is a small pydantic model holding its arguments and knowing four
things: its output shape for a given input shape (per sample, no batch
dimension), its plain ``nn.Module``, its K-copy "stacked" module (see
``harness.stacked``) and its effect on the receptive field.

In YAML a layer is either a bare kind (``relu``) or a one-key mapping
(``conv: {out: 8, kernel: 3}``); kinds with one obvious argument accept a
scalar (``maxpool: 2``, ``dropout: 0.1``, ``linear: 10``).
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from torch import nn

from harness import stacked
from harness.limits import MAX_INT

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A layer cannot accept the shape that reaches it."""


class Strict(BaseModel):
    """Base of every spec model: unknown keys and coerced types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


PosInt = Annotated[int, Field(gt=0, le=MAX_INT)]
Channels = Annotated[int, Field(gt=0, le=65536)]
Size = Annotated[int, Field(gt=0, le=1024)]
NonNegInt = Annotated[int, Field(ge=0, le=MAX_INT)]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]
IntPair = Union[Size, Annotated[list[Size], Field(min_length=2, max_length=2)]]
Padding = Annotated[int, Field(ge=0, le=1024)]
NonNegPair = Union[Padding, Annotated[list[Padding], Field(min_length=2, max_length=2)]]


def _pair(v: int | list[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _spatial(shape: Shape, kind: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"{kind} needs a (channels, height, width) input, got {_fmt(shape)}")
    return shape  # type: ignore[return-value]


def _fmt(shape: Shape) -> str:
    return "x".join(str(s) for s in shape)


class ReceptiveField(BaseModel):
    """Receptive field size and jump (input pixels between adjacent outputs)."""

    size: int = 1
    jump: int = 1
    is_global: bool = False

    def through(self, kernel: int, stride: int, dilation: int = 1) -> ReceptiveField:
        return ReceptiveField(size=self.size + (kernel - 1) * dilation * self.jump,
                              jump=self.jump * stride, is_global=self.is_global)


class Layer(Strict):
    kind: ClassVar[str]
    shorthand: ClassVar[str | None] = None  # field that a scalar value sets
    # False: no exact K-copy form (harness.stacked); such a model trains one seed at a time, as its plain module
    stackable: ClassVar[bool] = True
    name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                             description="Optional name, used by `architecture.modify` and in summaries.")

    @model_validator(mode="before")
    @classmethod
    def _scalar_shorthand(cls, value):
        if cls.shorthand and not isinstance(value, dict):
            return {cls.shorthand: value}
        return {} if value is None else value

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def parameter_count(self, in_shape: Shape) -> int:
        """Trainable parameters, computed from shapes alone (no allocation)."""
        return 0

    def receptive_field(self, rf: ReceptiveField, in_shape: Shape) -> ReceptiveField:
        return rf

    def flops(self, in_shape: Shape, out_shape: Shape) -> int:
        """Forward FLOPs for one sample, from shapes alone: one per output value unless the kind says more."""
        return math.prod(out_shape)

    def build(self, in_shape: Shape) -> nn.Module:
        raise NotImplementedError

    def build_stacked(self, in_shape: Shape, copies: int) -> nn.Module:
        """Module computing `copies` independent copies of this layer at once."""
        return self.build_stacked_from_plain(in_shape, copies)

    def build_stacked_from_plain(self, in_shape: Shape, copies: int) -> nn.Module:
        return self.build(in_shape)  # parameter-free, channel-wise layers need no change

    def describe(self) -> str:
        return self.kind


class Conv(Layer):
    """nn.Conv2d; `out` channels, `in` inferred."""

    kind = "conv"
    out: Channels
    kernel: IntPair
    stride: IntPair = 1
    padding: NonNegPair = 0
    dilation: IntPair = 1
    groups: PosInt = 1
    bias: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        c, h, w = _spatial(shape, "conv")
        if c % self.groups or self.out % self.groups:
            raise ShapeError(f"conv groups={self.groups} must divide in={c} and out={self.out}")
        geometry = (self.kernel, self.stride, self.padding, self.dilation)
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(v) for v in geometry)
        oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        ow = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        if oh < 1 or ow < 1:
            raise ShapeError(f"conv {kh}x{kw} (padding {ph}) does not fit its {h}x{w} input")
        return (self.out, oh, ow)

    def parameter_count(self, in_shape):
        kh, kw = _pair(self.kernel)
        return self.out * (in_shape[0] // self.groups) * kh * kw + (self.out if self.bias else 0)

    def receptive_field(self, rf, in_shape):
        return rf.through(_pair(self.kernel)[0], _pair(self.stride)[0], _pair(self.dilation)[0])

    def flops(self, in_shape, out_shape):
        kh, kw = _pair(self.kernel)
        return 2 * math.prod(out_shape) * (in_shape[0] // self.groups) * kh * kw

    def build(self, in_shape):
        return nn.Conv2d(in_shape[0], self.out, _pair(self.kernel), _pair(self.stride), _pair(self.padding),
                         _pair(self.dilation), self.groups, self.bias)

    def build_stacked(self, in_shape, copies):
        return nn.Conv2d(copies * in_shape[0], copies * self.out, _pair(self.kernel), _pair(self.stride),
                         _pair(self.padding), _pair(self.dilation), copies * self.groups, self.bias)

    def describe(self):
        k = _pair(self.kernel)
        extra = "".join([f" s{_pair(self.stride)[0]}" if self.stride != 1 else "",
                         f" p{_pair(self.padding)[0]}" if self.padding != 0 else "",
                         "" if self.bias else " nobias"])
        return f"conv {k[0]}x{k[1]}->{self.out}{extra}"


class BatchNorm(Layer):
    """nn.BatchNorm2d after a conv, nn.BatchNorm1d after a linear/flatten."""

    kind = "bn"
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Annotated[float, Field(gt=0, le=1)] = 0.1
    affine: bool = True

    def output_shape(self, shape):
        if len(shape) not in (1, 3):
            raise ShapeError(f"bn needs a (C,) or (C, H, W) input, got {_fmt(shape)}")
        return shape

    def parameter_count(self, in_shape):
        return 2 * in_shape[0] if self.affine else 0

    def build(self, in_shape):
        cls = nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d
        return cls(in_shape[0], eps=self.eps, momentum=self.momentum, affine=self.affine)

    def build_stacked(self, in_shape, copies):
        if len(in_shape) == 3:
            return nn.BatchNorm2d(copies * in_shape[0], eps=self.eps, momentum=self.momentum, affine=self.affine)
        return stacked.FlatBatchNorm(copies, in_shape[0], eps=self.eps, momentum=self.momentum, affine=self.affine)


class ReLU(Layer):
    kind = "relu"

    def build(self, in_shape):
        return nn.ReLU()


class _Pool(Layer):
    shorthand = "kernel"
    kernel: IntPair
    stride: IntPair | None = None
    padding: NonNegPair = 0

    def _geometry(self):
        k = _pair(self.kernel)
        return k, (_pair(self.stride) if self.stride is not None else k), _pair(self.padding)

    def output_shape(self, shape):
        c, h, w = _spatial(shape, self.kind)
        (kh, kw), (sh, sw), (ph, pw) = self._geometry()
        if ph * 2 > kh or pw * 2 > kw:
            raise ShapeError(f"{self.kind} padding must be at most half the kernel")
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if oh < 1 or ow < 1:
            raise ShapeError(f"{self.kind} {kh}x{kw} does not fit its {h}x{w} input")
        return (c, oh, ow)

    def receptive_field(self, rf, in_shape):
        (k, _), (s, _), _ = self._geometry()
        return rf.through(k, s)

    def flops(self, in_shape, out_shape):
        (kh, kw), _, _ = self._geometry()
        return math.prod(out_shape) * kh * kw

    def describe(self):
        return f"{self.kind} {_pair(self.kernel)[0]}"


class MaxPool(_Pool):
    kind = "maxpool"

    def build(self, in_shape):
        k, s, p = self._geometry()
        return nn.MaxPool2d(k, s, p)


class AvgPool(_Pool):
    kind = "avgpool"

    def build(self, in_shape):
        k, s, p = self._geometry()
        return nn.AvgPool2d(k, s, p)


class AdaptiveAvgPool(Layer):
    """nn.AdaptiveAvgPool2d to a fixed `size`."""

    kind = "adaptive_avgpool"
    shorthand = "size"
    size: IntPair

    def output_shape(self, shape):
        c, _, _ = _spatial(shape, self.kind)
        return (c, *_pair(self.size))

    def receptive_field(self, rf, in_shape):
        if _pair(self.size) == (1, 1):
            return ReceptiveField(size=rf.size, jump=rf.jump, is_global=True)
        # each output averages about in/out inputs
        k = -(-in_shape[1] // _pair(self.size)[0])
        return rf.through(k, k)

    def flops(self, in_shape, out_shape):
        return math.prod(in_shape) + math.prod(out_shape)

    def build(self, in_shape):
        return nn.AdaptiveAvgPool2d(_pair(self.size))


class GlobalAvgPool(Layer):
    """Global average pooling to (C, 1, 1); follow it with `flatten`."""

    kind = "gap"

    def output_shape(self, shape):
        c, _, _ = _spatial(shape, self.kind)
        return (c, 1, 1)

    def receptive_field(self, rf, in_shape):
        return ReceptiveField(size=rf.size, jump=rf.jump, is_global=True)

    def flops(self, in_shape, out_shape):
        return math.prod(in_shape)

    def build(self, in_shape):
        return nn.AdaptiveAvgPool2d(1)


class Flatten(Layer):
    kind = "flatten"

    def output_shape(self, shape):
        return (math.prod(shape),)

    def flops(self, in_shape, out_shape):
        return 0  # a view

    def receptive_field(self, rf, in_shape):
        # what follows a flatten (linear layers) sees every position of the map
        return ReceptiveField(size=rf.size, jump=rf.jump, is_global=rf.is_global or len(in_shape) == 3)

    def build(self, in_shape):
        return nn.Flatten()

    def build_stacked(self, in_shape, copies):
        return stacked.StackedFlatten(copies, in_shape)


class Linear(Layer):
    kind = "linear"
    shorthand = "out"
    out: Channels
    bias: bool = True

    def parameter_count(self, in_shape):
        return in_shape[0] * self.out + (self.out if self.bias else 0)

    def output_shape(self, shape):
        if len(shape) != 1:
            raise ShapeError(f"linear needs a flat input, got {_fmt(shape)} (add `flatten` before it)")
        return (self.out,)

    def flops(self, in_shape, out_shape):
        return 2 * in_shape[0] * self.out

    def build(self, in_shape):
        return nn.Linear(in_shape[0], self.out, self.bias)

    def build_stacked(self, in_shape, copies):
        return stacked.BatchedLinear(copies, in_shape[0], self.out, self.bias)

    def describe(self):
        return f"linear ->{self.out}"


class Dropout(Layer):
    kind = "dropout"
    shorthand = "p"
    p: Probability

    def build(self, in_shape):
        return nn.Dropout(self.p)

    def build_stacked(self, in_shape, copies):
        return stacked.CopyDropout(copies, self.p, channelwise=False)

    def describe(self):
        return f"dropout {self.p:g}"


class Dropout2d(Dropout):
    kind = "dropout2d"

    def output_shape(self, shape):
        _spatial(shape, self.kind)
        return shape

    def build(self, in_shape):
        return nn.Dropout2d(self.p)

    def build_stacked(self, in_shape, copies):
        return stacked.CopyDropout(copies, self.p, channelwise=True)


class LogSoftmax(Layer):
    kind = "log_softmax"

    def output_shape(self, shape):
        if len(shape) != 1:
            raise ShapeError(f"log_softmax needs a flat input, got {_fmt(shape)}")
        return shape

    def build(self, in_shape):
        return nn.LogSoftmax(dim=-1)


KINDS: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (Conv, BatchNorm, ReLU, MaxPool, AvgPool, AdaptiveAvgPool, GlobalAvgPool, Flatten, Linear,
                Dropout, Dropout2d, LogSoftmax)
}
BARE_KINDS = tuple(k for k, cls in KINDS.items()
                   if all(not f.is_required() for n, f in cls.model_fields.items()))


def layer_kind_of(value) -> str | None:
    """The kind a raw YAML layer entry names (`relu`, or the single key of a mapping)."""
    if isinstance(value, str):
        return value if value in KINDS else None
    if isinstance(value, Layer):
        return value.kind
    if isinstance(value, BaseModel):  # a validated entry, `{kind: args}`
        return next(iter(type(value).model_fields))
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if key in KINDS else None
    return None


def _layer_entry_schema(kind: str, cls: type[Layer]):
    """`{kind: args}` for the JSON Schema, plus the bare string where all args are optional."""
    arg_type = cls
    if cls.shorthand:
        field = cls.model_fields[cls.shorthand]
        scalar = field.annotation
        if field.metadata:  # keep the field's limits (`linear: 0` is as wrong as `linear: {out: 0}`)
            scalar = Annotated.__class_getitem__((field.annotation, *field.metadata))
        arg_type = Union[scalar, cls]  # type: ignore[assignment]
    entry = type(f"{cls.__name__}Entry", (Strict,), {"__annotations__": {kind: arg_type}})
    entry.__doc__ = cls.__doc__ or f"`{kind}` layer"
    return Annotated[entry, Tag(kind)]


LayerEntry = Annotated[
    Union[tuple([_layer_entry_schema(k, c) for k, c in KINDS.items()]  # noqa: UP007 (built at runtime)
                + [Annotated[Literal[BARE_KINDS], Tag("bare")]])],  # type: ignore[misc]
    Discriminator(lambda v: "bare" if isinstance(v, str) else layer_kind_of(v),
                  custom_error_type="unknown_layer",
                  custom_error_message="a layer is a bare kind or a one-key mapping, one of: " + ", ".join(KINDS)),
]


def entry_layer(entry) -> Layer:
    """The `Layer` held by a validated entry."""
    if isinstance(entry, str):
        return KINDS[entry]()
    kind = next(iter(type(entry).model_fields))
    args = getattr(entry, kind)
    return args if isinstance(args, Layer) else KINDS[kind].model_validate(args)
