"""K independent copies of a model in one module.

Training the seeds of a spec together is the main speed lever: one kernel
launch (and one Python dispatch) serves K models. Copy k of every layer is
mathematically the same as a model of its own:

* images travel as ``[B, K*C, H, W]``, copy-major channels, so a conv with
  ``groups=K`` and a BatchNorm2d over ``K*C`` channels act per copy;
* flat features travel as ``[K, B, F]``, so linear layers are one batched
  matmul with a ``[K, out, in]`` weight;
* dropout draws each copy's mask from that copy's own generator, so copy k
  sees the same masks as a single run with the same seed.

Parameters are loaded from (and extracted to) ordinary per-seed modules, which
keeps PyTorch's default initialisation and makes equivalence easy to test.
"""

from __future__ import annotations

import torch
from torch import nn


class StackedFlatten(nn.Module):
    """``[B, K*C, H, W]`` -> ``[K, B, C*H*W]`` (each copy flattened as nn.Flatten would)."""

    def __init__(self, copies: int, in_shape: tuple[int, ...]):
        super().__init__()
        self.copies, self.spatial = copies, len(in_shape) == 3

    def forward(self, x):
        if not self.spatial:
            return x
        return x.reshape(x.shape[0], self.copies, -1).transpose(0, 1)


class BatchedLinear(nn.Module):
    """K linear layers as one batched matmul on ``[K, B, in]``."""

    def __init__(self, copies: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(copies, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(copies, 1, out_features)) if bias else None

    def forward(self, x):
        w = self.weight.transpose(1, 2)
        return torch.bmm(x, w) if self.bias is None else torch.baddbmm(self.bias, x, w)


class FlatBatchNorm(nn.Module):
    """BatchNorm1d per copy on ``[K, B, F]`` (one BatchNorm1d over K*F features)."""

    def __init__(self, copies: int, features: int, **kwargs):
        super().__init__()
        self.bn = nn.BatchNorm1d(copies * features, **kwargs)

    def forward(self, x):
        k, b, f = x.shape
        return self.bn(x.transpose(0, 1).reshape(b, k * f)).reshape(b, k, f).transpose(0, 1)


class CopyDropout(nn.Module):
    """Dropout whose mask for copy k comes from generator k, drawn as nn.Dropout / nn.Dropout2d would.

    Element-wise (nn.Dropout) on flat ``[K, B, F]`` or spatial ``[B, K*C, H, W]`` features: one
    Bernoulli draw per sample and element. Channel-wise (nn.Dropout2d) on ``[B, K*C, H, W]``: one
    draw per sample and channel. Copy k's mask has the shape a single model's would have, so a seed
    sees the same masks alone or stacked. Scaled by 1/(1-p) in training, identity in eval.
    """

    def __init__(self, copies: int, p: float, channelwise: bool):
        super().__init__()
        self.copies, self.p, self.channelwise = copies, p, channelwise
        self.generators: list[torch.Generator] | None = None  # set by the engine, one per copy

    def _masks(self, shape, like):
        gens = self.generators or [None] * self.copies
        keep = 1.0 - self.p
        return [torch.empty(shape, device=like.device, dtype=like.dtype).bernoulli_(keep, generator=g) for g in gens]

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if x.dim() == 3:  # flat features [K, B, F]: copy k's mask is [B, F]
            mask = torch.stack(self._masks(x.shape[1:], x), dim=0)
        else:  # feature maps [B, K*C, H, W]: copy k's mask is [B, C, H, W] (or [B, C, 1, 1] channel-wise)
            b, kc, h, w = x.shape
            shape = (b, kc // self.copies, 1, 1) if self.channelwise else (b, kc // self.copies, h, w)
            mask = torch.cat(self._masks(shape, x), dim=1)
        return x * mask / (1.0 - self.p)


class Unstacked(nn.Module):
    """A layer's plain module in a one-copy StackedNet: flat features travel as ``[1, B, F]``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        return self.module(x[0]).unsqueeze(0) if x.dim() == 3 else self.module(x)


class StackedNet(nn.Module):
    """A model of K copies: input ``[B, K*C, H, W]``, output ``[K, B, classes]``."""

    def __init__(self, modules: list[nn.Module], copies: int):
        super().__init__()
        self.copies = copies
        self.layers = nn.Sequential(*modules)

    def forward(self, x):
        out = self.layers(x)
        if out.dim() == 4:  # a net ending without flatten (e.g. 1x1 conv + GAP): [B, K*C, 1, 1]
            out = out.reshape(out.shape[0], self.copies, -1).transpose(0, 1)
        return out

    def set_dropout_generators(self, generators: list[torch.Generator]) -> None:
        for m in self.layers:
            if isinstance(m, CopyDropout):
                m.generators = generators

    def load_copies(self, plain_models: list[nn.Module]) -> None:
        """Copy the parameters and buffers of K plain models (same layer list) into this one."""
        assert len(plain_models) == self.copies
        with torch.no_grad():
            for i, target in enumerate(self.layers):
                sources = [m[i] for m in plain_models]
                for name, tensor in _tensors(target).items():
                    parts = [_tensors(s)[name] for s in sources]
                    tensor.copy_(_join(target, parts).reshape(tensor.shape))

    def extract_copy(self, k: int, plain_model: nn.Module) -> nn.Module:
        """Write copy k's parameters and buffers into a plain model and return it."""
        with torch.no_grad():
            for i, source in enumerate(self.layers):
                for name, tensor in _tensors(plain_model[i]).items():
                    tensor.copy_(_split(source, _tensors(source)[name], self.copies)[k].reshape(tensor.shape))
        return plain_model


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers by their plain-module name (FlatBatchNorm and Unstacked wrap one)."""
    if isinstance(module, FlatBatchNorm):
        module = module.bn
    elif isinstance(module, Unstacked):
        module = module.module
    out = dict(module.named_parameters(recurse=False))
    out.update((n, b) for n, b in module.named_buffers(recurse=False) if b is not None)
    return out


def _join(target: nn.Module, parts: list[torch.Tensor]) -> torch.Tensor:
    if parts[0].dim() == 0:  # num_batches_tracked: equal across copies
        return parts[0]
    return torch.stack(parts) if isinstance(target, BatchedLinear) else torch.cat(parts)


def _split(source: nn.Module, tensor: torch.Tensor, copies: int) -> list[torch.Tensor]:
    if tensor.dim() == 0:
        return [tensor] * copies
    return list(tensor.unbind(0) if isinstance(source, BatchedLinear) else tensor.chunk(copies))
