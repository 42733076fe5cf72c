"""The stacked model is exactly K copies of the README's model, for every layer kind in every position.

Reference: K plain models built with torch.nn directly (nn.Conv2d, nn.BatchNorm2d, nn.Dropout, ...), the
way a README's code builds them, not with the harness's own `Layer.build`. The stacked model is loaded
from them; forward outputs (train and eval mode) and every parameter's gradient must match copy by copy.
Dropout is random: its masks are tested for what nn.Dropout / nn.Dropout2d draw (independent per
sample, per element or channel, and per copy, at the right keep rate) and for seed equivalence.
"""

import math

import pytest
import torch
from torch import nn

from harness import layers
from harness.model import build_stacked, plan
from harness.schema import Architecture
from harness.stacked import CopyDropout, StackedNet

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

K = 3
BATCH = 6

# Every kind after every kind of input it can take: conv, pools, GAP, flatten, linear, dropout placements.
ARCHITECTURES = {
    "conv-bn-relu-maxpool-flatten-linear": [
        {"conv": {"out": 4, "kernel": 3, "padding": 1}}, "bn", "relu", {"maxpool": 2},
        {"conv": {"out": 6, "kernel": 3, "bias": False}}, "bn", "relu", "flatten", {"linear": 10}],
    "dropout-after-conv-pool-and-linear": [
        {"conv": {"out": 4, "kernel": 3}}, "relu", {"dropout": 0.25}, {"avgpool": 2}, {"dropout": 0.1},
        "flatten", {"linear": 12}, "relu", {"dropout": 0.5}, {"linear": 10}, "log_softmax"],
    "dropout2d-after-conv-and-pool": [
        {"conv": {"out": 5, "kernel": 3, "stride": 2}}, {"dropout2d": 0.2}, "relu", {"maxpool": {"kernel": 3, "stride": 2}},
        {"dropout2d": 0.3}, {"conv": {"out": 10, "kernel": 1}}, "gap", "flatten"],
    "gap-dropout-flatten-bn1d-linear": [
        {"conv": {"out": 8, "kernel": 5, "padding": 2, "groups": 1}}, "relu", "gap", {"dropout": 0.2}, "flatten",
        "bn", {"linear": 10}],
    "adaptive-pool-flatten-dropout-linear-bn": [
        {"conv": {"out": 4, "kernel": 3, "dilation": 2}}, "bn", {"adaptive_avgpool": 3}, "flatten",
        {"dropout": 0.3}, {"linear": {"out": 16, "bias": False}}, "bn", "relu", {"linear": 10}],
    "grouped-conv-ending-without-flatten": [
        {"conv": {"out": 4, "kernel": 3}}, "relu", {"conv": {"out": 8, "kernel": 3, "groups": 2}}, "bn", "relu",
        {"conv": {"out": 10, "kernel": 1}}, "gap"],
}


def architecture(name) -> Architecture:
    entries = ARCHITECTURES[name]
    if not any((e if isinstance(e, str) else next(iter(e))) == "flatten" for e in entries):
        entries = [*entries, "flatten"]
    return Architecture.model_validate({"layers": entries})


def torch_nn_model(arch: Architecture, seed: int) -> nn.Sequential:
    """The README's model, written with torch.nn by hand (independent of harness.layers.*.build)."""
    torch.manual_seed(seed)
    modules = []
    for p in plan(arch):
        layer, shape = p.layer, p.in_shape
        pair = layers._pair
        if isinstance(layer, layers.Conv):
            modules.append(nn.Conv2d(shape[0], layer.out, pair(layer.kernel), pair(layer.stride), pair(layer.padding),
                                     pair(layer.dilation), layer.groups, layer.bias))
        elif isinstance(layer, layers.BatchNorm):
            modules.append((nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[0]))
        elif isinstance(layer, layers.ReLU):
            modules.append(nn.ReLU())
        elif isinstance(layer, layers.MaxPool):
            modules.append(nn.MaxPool2d(layer.kernel, layer.stride))
        elif isinstance(layer, layers.AvgPool):
            modules.append(nn.AvgPool2d(layer.kernel, layer.stride))
        elif isinstance(layer, layers.GlobalAvgPool):
            modules.append(nn.AdaptiveAvgPool2d(1))
        elif isinstance(layer, layers.AdaptiveAvgPool):
            modules.append(nn.AdaptiveAvgPool2d(layer.size))
        elif isinstance(layer, layers.Flatten):
            modules.append(nn.Flatten())
        elif isinstance(layer, layers.Linear):
            modules.append(nn.Linear(shape[0], layer.out, layer.bias))
        elif isinstance(layer, layers.Dropout2d):
            modules.append(nn.Dropout2d(layer.p))
        elif isinstance(layer, layers.Dropout):
            modules.append(nn.Dropout(layer.p))
        elif isinstance(layer, layers.LogSoftmax):
            modules.append(nn.LogSoftmax(dim=1))
        else:
            raise AssertionError(f"no torch.nn reference for {layer.kind}: add one to this test")
    return nn.Sequential(*modules)


def stacked_from(arch, plain_models) -> StackedNet:
    net = build_stacked(arch, list(range(len(plain_models))))
    net.load_copies(plain_models)
    return net


def dropout_off(model):
    """Dropout in eval mode, everything else (BatchNorm batch statistics) in train mode."""
    model.train()
    for m in model.modules():
        if isinstance(m, (nn.Dropout, nn.Dropout2d, CopyDropout)):
            m.eval()
    return model


def test_every_layer_kind_is_covered():
    covered = {layers.layer_kind_of(e) for entries in ARCHITECTURES.values() for e in entries}
    assert covered >= set(layers.KINDS), set(layers.KINDS) - covered


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_stacked_forward_and_gradients_equal_k_torch_nn_models(name, mode, one_thread):
    """In float64, so that a different order of float sums cannot hide a real difference: equal to 1e-9."""
    arch = architecture(name)
    plain = [torch_nn_model(arch, seed).double() for seed in range(K)]
    stacked = stacked_from(arch, plain).double()
    for model in [*plain, stacked]:
        dropout_off(model) if mode == "train" else model.eval()
    x = torch.randn(BATCH, 1, 28, 28, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    out = stacked(x.repeat(1, K, 1, 1))                      # [K, B, classes]
    out.pow(2).sum().backward()
    for k, model in enumerate(plain):
        expected = model(x)
        expected.pow(2).sum().backward()
        torch.testing.assert_close(out[k], expected, rtol=1e-9, atol=1e-9)
        extracted = _copy_gradients(stacked, k, arch)
        reference = [p.grad for p in model.parameters()]
        assert len(extracted) == len(reference)
        for got, want in zip(extracted, reference):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
    if mode == "train":  # BatchNorm running statistics moved per copy as in each plain model
        for k, model in enumerate(plain):
            extracted = stacked.extract_copy(k, torch_nn_model(arch, 99).double())
            for (name_b, got), (_, want) in zip(extracted.named_buffers(), model.named_buffers()):
                torch.testing.assert_close(got.double(), want.double(), rtol=1e-9, atol=1e-9, msg=name_b)


def _copy_gradients(stacked: StackedNet, k: int, arch) -> list[torch.Tensor]:
    """Copy k's parameter gradients, in the plain model's parameter order."""
    holder = stacked_from(arch, [torch_nn_model(arch, 0) for _ in range(K)]).double()
    with torch.no_grad():
        for mine, theirs in zip(holder.parameters(), stacked.parameters()):
            mine.copy_(theirs.grad)
    return list(holder.extract_copy(k, torch_nn_model(arch, 0).double()).parameters())


# --------------------------------------------------------------------------- dropout masks

def _mask(p: float, channelwise: bool, shape, copies=K, seeds=(0, 1, 2)):
    """Copy-major masks (output of ones / keep) from CopyDropout with per-copy generators."""
    drop = CopyDropout(copies, p, channelwise).train()
    drop.generators = [torch.Generator().manual_seed(s) for s in seeds[:copies]]
    x = torch.ones(shape, requires_grad=True)
    y = drop(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # gradient = mask / keep, as nn.Dropout's
    return y.detach() * (1 - p)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_elementwise_dropout_on_feature_maps_draws_per_sample_element_and_copy(p):
    b, c, h, w = 64, 4, 6, 6
    mask = _mask(p, False, (b, K * c, h, w)).reshape(b, K, c, h, w)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    n = mask.numel()
    keep = mask.mean().item()
    assert abs(keep - (1 - p)) < 4 * math.sqrt(p * (1 - p) / n)  # the right keep rate (4 sigma)
    assert not torch.equal(mask[0], mask[1])                      # per sample (was: one mask per batch)
    assert not torch.equal(mask[:, 0], mask[:, 1])                # per copy
    per_map = mask.flatten(3).float().std(dim=3)
    assert (per_map > 0).float().mean() > 0.9                     # per element within a channel's map


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_channelwise_dropout_draws_per_sample_channel_and_copy(p):
    b, c, h, w = 256, 4, 5, 5
    mask = _mask(p, True, (b, K * c, h, w)).reshape(b, K, c, h, w)
    assert torch.equal(mask, mask[..., :1, :1].expand_as(mask))   # one value per channel, as nn.Dropout2d
    per_channel = mask[..., 0, 0]
    keep = per_channel.mean().item()
    assert abs(keep - (1 - p)) < 4 * math.sqrt(p * (1 - p) / per_channel.numel())
    assert not torch.equal(per_channel[0], per_channel[1]) and not torch.equal(per_channel[:, 0], per_channel[:, 1])


@pytest.mark.parametrize(("shape", "channelwise"), [((16, K * 3, 4, 4), False), ((16, K * 3, 4, 4), True),
                                                    ((K, 16, 20), False)], ids=["map", "map-channels", "flat"])
def test_copy_k_draws_the_masks_of_a_single_run_with_its_seed(shape, channelwise):
    stacked = _mask(0.3, channelwise, shape)
    for k, seed in enumerate((0, 1, 2)):
        single_shape = (shape[0], shape[1] // K, *shape[2:]) if len(shape) == 4 else (1, *shape[1:])
        alone = _mask(0.3, channelwise, single_shape, copies=1, seeds=(seed,))
        copy = stacked[:, k * (shape[1] // K):(k + 1) * (shape[1] // K)] if len(shape) == 4 else stacked[k:k + 1]
        assert torch.equal(copy, alone)


def test_channelwise_masks_are_unchanged_bit_for_bit():
    """Dropout2d draws the same numbers as before the element-wise fix (001 model 2's records stay valid)."""
    b, c = 8, 5
    gens = [torch.Generator().manual_seed(s) for s in range(K)]
    old = torch.stack([torch.empty((b, c)).bernoulli_(0.9, generator=g) for g in gens], dim=1).reshape(b, K * c, 1, 1)
    new = _mask(0.1, True, (b, K * c, 3, 3))[..., :1, :1]
    assert torch.equal(old, new)


def test_stacked_dropout_is_identity_in_eval_mode():
    drop = CopyDropout(K, 0.5, False).eval()
    x = torch.randn(4, K * 2, 3, 3)
    assert torch.equal(drop(x), x)


# --------------------------------------------------------------------------- layers without a stacked form

class _Unstackable(layers.Layer):
    """A layer the stacked form cannot represent (test-only)."""

    kind = "relu"
    stackable = False

    def build(self, in_shape):
        return nn.ReLU()


def test_a_layer_without_a_stacked_form_trains_unstacked(monkeypatch):
    from harness.runner import plan_for, stackable

    monkeypatch.setattr(layers, "ReLU", _Unstackable)
    monkeypatch.setitem(layers.KINDS, "relu", _Unstackable)
    arch = Architecture.model_validate({"layers": ARCHITECTURES["conv-bn-relu-maxpool-flatten-linear"]})
    assert not all(layer.stackable for layer in arch.layer_list())

    class SpecLike:
        architecture = arch
        recipe = type("R", (), {"scheduler": None})()

    assert not stackable(SpecLike)
    assert plan_for(torch.device("cpu"), SpecLike, 5, None)[0] == 1
    assert plan_for(torch.device("cpu"), SpecLike, 5, 5)[0] == 1  # even when asked to stack
    with pytest.raises(ValueError, match="no stacked form"):
        build_stacked(arch, [0, 1])
    single = build_stacked(arch, [0]).eval()
    plain = torch_nn_model(arch, 0).eval()
    single.load_copies([plain])
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(single(x)[0], plain(x))


def test_a_plateau_scheduler_trains_each_seed_alone():
    from harness.runner import plan_for

    arch = architecture("conv-bn-relu-maxpool-flatten-linear")

    from harness.schema import ReduceLROnPlateau

    class SpecLike:
        architecture = arch
        recipe = type("R", (), {"scheduler": ReduceLROnPlateau(type="ReduceLROnPlateau")})()

    assert plan_for(torch.device("cpu"), SpecLike, 4, 4)[0] == 1
