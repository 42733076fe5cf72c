"""Models built from specs against independent references, shape checking, and the K-copy stacked model.

The reference models below are written by hand from the READMEs in /work/shared/claims (code, tables
and diagrams), not from the specs, so a spec or a harness layer that drifts from what its README
documents shows up as a count, shape or layer-order difference.
"""


import pytest
import torch
import torch.nn.functional as F
from _support import spec_named
from torch import nn

from harness.model import (
    MAX_PARAMETERS,
    ArchitectureError,
    build_model,
    build_seeded,
    build_stacked,
    count_parameters,
    plan,
    summary,
)
from harness.schema import Architecture
from harness.specs import with_overrides
from harness.stacked import BatchedLinear, CopyDropout, FlatBatchNorm, StackedNet

pytestmark = pytest.mark.usefixtures("one_thread")

# --------------------------------------------------------------------------- hand-written README models


def readme003_v36(conv_bias: bool = False) -> nn.Sequential:
    """README 003, class OptimizedNetV36 as printed: conv1-conv5 3x3 with bias=False, a biased 1x1 conv_final,
    F.relu after every BN, two MaxPool2d(2, 2), GAP (F.avg_pool2d over the whole map), log_softmax."""

    def conv(i, o):
        return nn.Conv2d(i, o, kernel_size=3, padding=0, bias=conv_bias)

    return nn.Sequential(
        conv(1, 8), nn.BatchNorm2d(8), nn.ReLU(),        # 26x26
        conv(8, 10), nn.BatchNorm2d(10), nn.ReLU(),      # 24x24
        nn.MaxPool2d(2, 2),                              # 12x12
        conv(10, 12), nn.BatchNorm2d(12), nn.ReLU(),     # 10x10
        nn.MaxPool2d(2, 2),                              # 5x5
        conv(12, 16), nn.BatchNorm2d(16), nn.ReLU(),     # 3x3
        conv(16, 16), nn.BatchNorm2d(16), nn.ReLU(),     # 1x1
        nn.Conv2d(16, 10, kernel_size=1, bias=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LogSoftmax(dim=-1),
    )


# README 000, FINAL torchsummary table: (type, output shape, Param #), row by row
README000_TABLE = [
    ("Conv2d", (8, 28, 28), 80),
    ("BatchNorm2d", (8, 28, 28), 16),
    ("Conv2d", (16, 28, 28), 1168),
    ("BatchNorm2d", (16, 28, 28), 32),
    ("MaxPool2d", (16, 14, 14), 0),
    ("Conv2d", (24, 12, 12), 3480),
    ("BatchNorm2d", (24, 12, 12), 48),
    ("MaxPool2d", (24, 6, 6), 0),
    ("Conv2d", (32, 4, 4), 6944),
    ("BatchNorm2d", (32, 4, 4), 64),
    ("Conv2d", (8, 4, 4), 264),
    ("Linear", (50,), 6450),
    ("Dropout", (50,), 0),
    ("Linear", (10,), 510),
]


def readme000_final() -> nn.Sequential:
    """README 000's FINAL model, module for module from the torchsummary table (biased convs: 80 = 8*9 + 8;
    the 8x4x4 map flattened to 128 features: 6450 = 128*50 + 50). Activations are functional there, so
    the table does not show them; the comparison below leaves ReLU out."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 24, 3), nn.BatchNorm2d(24),
        nn.MaxPool2d(2),
        nn.Conv2d(24, 32, 3), nn.BatchNorm2d(32),
        nn.Conv2d(32, 8, 1),
        nn.Flatten(),
        nn.Linear(128, 50), nn.Dropout(),
        nn.Linear(50, 10),
    )


def readme001_gap() -> nn.Sequential:
    """README 001's shared network: seven Conv-BN-ReLU blocks (1->7->7->10, pool, ->10->12, pool, ->16->18 with
    padding 1), GAP, Linear(18, 10). The README gives no kernel size; its "Bias=False in conv layers" and the
    7,784 total fit 3x3 kernels only."""

    def block(i, o, padding=0):
        return [nn.Conv2d(i, o, 3, padding=padding, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(
        *block(1, 7), *block(7, 7), *block(7, 10), nn.MaxPool2d(2, 2),
        *block(10, 10), *block(10, 12), nn.MaxPool2d(2, 2),
        *block(12, 16, padding=1), *block(16, 18, padding=1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(18, 10),
    )


def readme004_iteration4() -> nn.Sequential:
    """README 004's final diagram: Conv2d(1,16,3) -> MaxPool2d(2) -> Conv2d(16,32,3) -> MaxPool2d(3) -> Flatten (288)
    -> Linear(288,65) -> ReLU -> Linear(65,10) -> LogSoftmax."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.MaxPool2d(3), nn.Flatten(),
        nn.Linear(288, 65), nn.ReLU(), nn.Linear(65, 10), nn.LogSoftmax(dim=1),
    )


def trace(model: nn.Module, input_shape=(1, 28, 28)) -> list[tuple[str, tuple, int]]:
    """(type, per-sample output shape, parameters) of every leaf module, in call order, from a real forward."""
    rows, hooks = [], []
    for m in model.modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(
                lambda mod, inp, out: rows.append((type(mod).__name__, tuple(out.shape[1:]),
                                                   sum(p.numel() for p in mod.parameters())))))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(2, *input_shape))
    for h in hooks:
        h.remove()
    return rows


def visible(rows, hide=("Flatten", "LogSoftmax")):
    return [r for r in rows if r[0] not in hide]


def param_shapes(model: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(p.shape) for p in model.parameters()]


REFERENCES = {
    # spec id: (hand-written model, total the README states, module types a README listing leaves out)
    "sub8k-15ep/experiment10": (readme003_v36, 6198, ("Flatten", "LogSoftmax")),
    "sub20k/final": (readme000_final, 19056, ("Flatten", "LogSoftmax", "ReLU")),
    "sub8k-20ep/model1": (readme001_gap, 7784, ("Flatten", "LogSoftmax")),
    "sub25k-95pct/iteration4": (readme004_iteration4, 24245, ("Flatten", "LogSoftmax")),
}


@pytest.mark.parametrize("spec_id", list(REFERENCES))
def test_harness_model_equals_the_readme_model(spec_id):
    reference, total, hide = REFERENCES[spec_id]
    hand = reference()
    arch = spec_named(spec_id).spec.architecture
    built = build_model(arch)
    assert count_parameters(hand) == (total, total)
    assert count_parameters(built) == (total, total)
    assert sum(p.parameters for p in plan(arch)) == total
    assert visible(trace(built), hide) == visible(trace(hand), hide)  # types, shapes, counts, in order
    assert param_shapes(built) == param_shapes(hand)


def test_readme000_reference_follows_its_torchsummary_table():
    """The hand model reproduces README 000's table row for row (80, 16, 1168, ..., 510); so does the harness."""
    assert visible(trace(readme000_final()), ("Flatten", "ReLU", "LogSoftmax")) == README000_TABLE
    built = trace(build_model(spec_named("sub20k/final").spec.architecture))
    assert visible(built, ("Flatten", "ReLU", "LogSoftmax")) == README000_TABLE


def test_readme003_v36_counts_6198_as_coded_and_6260_with_conv_biases():
    assert count_parameters(readme003_v36())[0] == 6198
    biased = readme003_v36(conv_bias=True)
    assert count_parameters(biased)[0] == 6260
    # README 003's own per-layer table: convs with biases 80, 730, 1092, 1744, 2320, 170; BN 124 in all
    convs = [m for m in biased if isinstance(m, nn.Conv2d)]
    assert [sum(p.numel() for p in c.parameters()) for c in convs] == [80, 730, 1092, 1744, 2320, 170]
    assert sum(p.numel() for m in biased if isinstance(m, nn.BatchNorm2d) for p in m.parameters()) == 124
    # the spec's finding override (conv bias on) builds the same 6,260-parameter network
    loaded = spec_named("sub8k-15ep/experiment10")
    finding = next(f for f in loaded.spec.findings if f.id == "printed-count-includes-conv-bias")
    arch = with_overrides(loaded, finding.overrides).architecture
    assert finding.parameters == 6260
    built = build_model(arch)
    assert count_parameters(built)[0] == 6260
    assert param_shapes(built) == param_shapes(biased)


def test_readme003_output_sizes_in_its_code_comments():
    rows = [r for r in trace(build_model(spec_named("sub8k-15ep/experiment10").spec.architecture))
            if r[0] in ("Conv2d", "MaxPool2d")]
    assert [r[1][1] for r in rows] == [26, 24, 12, 10, 5, 3, 1, 1]


@pytest.mark.parametrize("spec_id", list(REFERENCES))
def test_plan_shapes_and_counts_match_the_built_modules(spec_id):
    arch = spec_named(spec_id).spec.architecture
    planned = plan(arch)
    rows = trace(build_model(arch))
    assert len(rows) == len(planned)
    for p, (_, shape, params) in zip(planned, rows):
        assert p.out_shape == shape, f"layer {p.index} ({p.name})"
        assert p.parameters == params, f"layer {p.index} ({p.name})"


def test_every_spec_plans_what_it_builds(spec):
    """Across all specs: plan's shapes and counts are what the modules really produce and hold."""
    arch = spec.spec.architecture
    planned = plan(arch)
    rows = trace(build_model(arch), tuple(arch.input))
    assert [(p.out_shape, p.parameters) for p in planned] == [(s, n) for _, s, n in rows]
    assert rows[-1][1] == (arch.classes,)


# --------------------------------------------------------------------------- receptive field


def test_receptive_field_matches_readme003_table():
    """README 003 prints RF 3, 5, 6, 10, 12, 20, 28, 28 (jumps 1, 1, 2, 2, 4, 4, 4, 4) after these layers."""
    by_name = {p.name: p for p in plan(spec_named("sub8k-15ep/experiment10").spec.architecture)}
    names = ["conv1", "conv2", "maxpool1", "conv3", "maxpool2", "conv4", "conv5", "conv_final"]
    assert [by_name[n].receptive_field.size for n in names] == [3, 5, 6, 10, 12, 20, 28, 28]
    assert [by_name[n].receptive_field.jump for n in names] == [1, 1, 2, 2, 4, 4, 4, 4]
    assert not any(by_name[n].receptive_field.is_global for n in names)
    assert by_name["gap1"].receptive_field.is_global


def test_receptive_field_of_strided_and_dilated_convs():
    arch = Architecture.model_validate({"layers": [
        {"conv": {"out": 4, "kernel": 3, "stride": 2}},               # 3, jump 2
        {"conv": {"out": 4, "kernel": 3, "dilation": 2}},             # 3 + 2*2*2 = 11
        {"avgpool": 2},                                               # 11 + 1*2 = 13, jump 4
        "flatten", {"linear": 10}]})
    sizes = [(p.receptive_field.size, p.receptive_field.jump) for p in plan(arch)]
    assert sizes[:3] == [(3, 2), (11, 2), (13, 4)]


# --------------------------------------------------------------------------- summary


def test_summary_lists_every_layer_and_the_total():
    arch = spec_named("sub20k/final").spec.architecture
    planned = plan(arch)
    lines = summary(arch).splitlines()
    assert "Total params: 19,056" in lines
    assert "Trainable params: 19,056" in lines
    assert "Non-trainable params: 0" in lines
    for p in planned:
        rows = [line for line in lines if line.split()[:2] == [str(p.index), p.name]]
        assert len(rows) == 1, f"layer {p.index} {p.name}"
        assert "x".join(map(str, p.out_shape)) in rows[0].split()
        assert f"{p.parameters:,}" in rows[0].split()
    layer_rows = [line for line in lines if line.split() and line.split()[0].isdigit()]
    assert len(layer_rows) == len(planned) == 21


# --------------------------------------------------------------------------- shape errors


def arch_of(*layers, **kw) -> Architecture:
    return Architecture.model_validate({"layers": list(layers), **kw})


def test_kernel_larger_than_its_input_names_the_layer():
    arch = arch_of({"conv": {"out": 4, "kernel": 3}}, {"maxpool": 2}, {"maxpool": 2}, {"maxpool": 2},  # 26, 13, 6, 3
                   {"conv": {"out": 8, "kernel": 5}}, "flatten", {"linear": 10})
    with pytest.raises(ArchitectureError) as info:
        plan(arch)
    assert info.value.index == 4
    assert "3x3" in str(info.value)
    with pytest.raises(ArchitectureError):
        build_model(arch)


def test_padding_makes_the_same_kernel_fit():
    arch = arch_of({"conv": {"out": 4, "kernel": 3}}, {"maxpool": 2}, {"maxpool": 2}, {"maxpool": 2},
                   {"conv": {"out": 8, "kernel": 5, "padding": 1}}, "flatten", {"linear": 10})
    assert plan(arch)[4].out_shape == (8, 1, 1)


def test_linear_without_flatten_is_refused():
    arch = arch_of({"conv": {"out": 4, "kernel": 3}}, "relu", {"linear": 10})
    with pytest.raises(ArchitectureError) as info:
        plan(arch)
    assert info.value.index == 2
    assert "flatten" in str(info.value)


@pytest.mark.parametrize("layers", [
    [{"conv": {"out": 4, "kernel": 3}}, "flatten", {"linear": 12}],
    [{"conv": {"out": 10, "kernel": 28}}],                     # 10x1x1, not flattened
    [{"conv": {"out": 10, "kernel": 3}}, "gap"],
])
def test_model_must_end_in_ten_scores(layers):
    with pytest.raises(ArchitectureError) as info:
        plan(arch_of(*layers))
    assert info.value.index is None
    assert "10" in str(info.value)


def test_classes_sets_the_expected_output():
    assert plan(arch_of("flatten", {"linear": 12}, classes=12))[-1].out_shape == (12,)


def test_too_many_parameters_is_refused_before_allocating():
    # 64x28x28 = 50,176 features into 60,000 units: about 3e9 parameters (12 GB) if it were built
    arch = arch_of({"conv": {"out": 64, "kernel": 3, "padding": 1}}, "flatten", {"linear": 60000}, {"linear": 10})
    import resource

    for build in (plan, build_model, lambda a: build_stacked(a, [0, 1])):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        with pytest.raises(ArchitectureError) as info:
            build(arch)
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 1 << 20  # < 1 GiB more: never allocated
        assert info.value.index == 2  # the layer that crosses the limit
        assert f"{MAX_PARAMETERS:,}" in str(info.value)


def test_parameter_limit_is_exact():
    # flatten 784 -> linear n -> linear 10: 785n + 10n + 10 parameters
    below = (MAX_PARAMETERS - 10) // 795
    assert sum(p.parameters for p in plan(arch_of("flatten", {"linear": below}, {"linear": 10}))) <= MAX_PARAMETERS
    with pytest.raises(ArchitectureError):
        plan(arch_of("flatten", {"linear": below + 1}, {"linear": 10}))


# --------------------------------------------------------------------------- the stacked model

SMALL = {
    "flat": [{"conv": {"out": 4, "kernel": 3}}, "bn", "relu", {"dropout2d": 0.2}, {"maxpool": 2}, "flatten",
             {"linear": 16}, "bn", "relu", {"dropout": 0.3}, {"linear": 10}, "log_softmax"],
    "gap": [{"conv": {"out": 4, "kernel": 3, "bias": False}}, "bn", "relu", {"dropout2d": 0.25}, {"maxpool": 2},
            {"conv": {"out": 6, "kernel": 3, "padding": 1}}, "relu", {"avgpool": 2}, "gap", "flatten",
            {"linear": 16}, "bn", "relu", {"dropout": 0.3}, {"linear": 10}, "log_softmax"],
    "conv-head": [{"conv": {"out": 6, "kernel": 5, "stride": 2}}, "bn", "relu", {"dropout2d": 0.1},
                  {"adaptive_avgpool": 3}, {"conv": {"out": 10, "kernel": 1}}, "gap", "flatten", "log_softmax"],
}
SEEDS = [1, 2, 3]


@pytest.fixture(params=list(SMALL))
def small_arch(request) -> Architecture:
    return Architecture.model_validate({"layers": SMALL[request.param]})


def inputs(copies: int, batch: int = 8, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, 1, 28, 28, generator=g) for _ in range(copies)]


def stack_inputs(xs: list[torch.Tensor]) -> torch.Tensor:
    """Copy k's batch [B, C, H, W] -> channels k*C..(k+1)*C of the stacked input [B, K*C, H, W]."""
    return torch.cat(xs, dim=1)


def gens(*seeds) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def test_stacked_modules_are_the_batched_kinds(small_arch):
    kinds = {type(m) for m in build_stacked(small_arch, SEEDS).layers}
    assert CopyDropout in kinds
    if "linear" in {layer.kind for layer in small_arch.layer_list()}:
        assert {BatchedLinear, FlatBatchNorm} <= kinds


def test_stacked_starts_as_the_seeded_models(small_arch):
    net = build_stacked(small_arch, SEEDS).eval()
    xs = inputs(3)
    out = net(stack_inputs(xs))
    assert out.shape == (3, 8, 10)
    for k, seed in enumerate(SEEDS):
        torch.testing.assert_close(out[k], build_seeded(small_arch, seed).eval()(xs[k]), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out[0], out[1])


def test_build_seeded_is_seeded_and_leaves_the_global_rng_alone(small_arch):
    state = torch.get_rng_state()
    a, b, c = build_seeded(small_arch, 5), build_seeded(small_arch, 5), build_seeded(small_arch, 6)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        plain = build_model(small_arch)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), plain.parameters()))


def randomise(models: list[nn.Module], seed: int) -> None:
    """Non-trivial parameters and BatchNorm statistics (positive variances), so eval-mode BN matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in models:
            for name, t in list(m.named_parameters()) + list(m.named_buffers()):
                if t.dtype == torch.long:
                    t.fill_(int(torch.randint(1, 100, (), generator=g)))
                elif name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.5)


def test_loaded_copies_compute_their_plain_models_in_eval(small_arch):
    plains = [build_seeded(small_arch, s) for s in SEEDS]
    randomise(plains, 7)
    net = build_stacked(small_arch, [40, 41, 42])
    net.load_copies(plains)
    net.eval()
    xs = inputs(3, seed=1)
    out = net(stack_inputs(xs))
    for k, plain in enumerate(plains):
        torch.testing.assert_close(out[k], plain.eval()(xs[k]), rtol=1e-5, atol=1e-5)


def test_train_mode_copy_equals_a_single_stacked_run(small_arch):
    """Batch statistics and dropout masks per copy: copy k of K=3 with generator k is the K=1 model with it."""
    xs = inputs(3, seed=2)
    net = build_stacked(small_arch, SEEDS).train()
    net.set_dropout_generators(gens(10, 11, 12))
    out = net(stack_inputs(xs))
    for k, seed in enumerate(SEEDS):
        single = build_stacked(small_arch, [seed]).train()
        single.set_dropout_generators(gens(10 + k))
        torch.testing.assert_close(out[k], single(xs[k])[0], rtol=1e-5, atol=1e-5)
        # and the running statistics moved the same way
        moved = net.extract_copy(k, build_seeded(small_arch, 0))
        ref = single.extract_copy(0, build_seeded(small_arch, 0))
        for (name, a), (_, b) in zip(moved.state_dict().items(), ref.state_dict().items()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"copy {k} {name}")
    other = build_stacked(small_arch, [SEEDS[0]]).train()
    other.set_dropout_generators(gens(99))
    assert not torch.allclose(out[0], other(xs[0])[0])  # dropout is live: another generator, other masks


def test_in_place_relus_train_bit_for_bit_as_out_of_place_ones(small_arch):
    """The engine's ReLUs overwrite a fresh conv, BatchNorm or linear output: the same bits, less memory."""
    nets = [build_stacked(small_arch, SEEDS).train() for _ in range(2)]
    relus = [m for m in nets[1].layers if isinstance(m, nn.ReLU)]
    assert any(m.inplace for m in relus)
    for m in relus:
        m.inplace = False
    optimizers = [torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9) for net in nets]
    for net in nets:
        net.set_dropout_generators(gens(10, 11, 12))
    for step in range(3):
        x = stack_inputs(inputs(3, seed=step))
        for net, optimizer in zip(nets, optimizers):
            optimizer.zero_grad()
            net(x).pow(2).sum().backward()
            optimizer.step()
    for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values()):
        assert torch.equal(a, b)


def test_only_a_relu_after_a_fresh_output_is_in_place():
    arch = Architecture.model_validate({"layers": [
        "relu", {"conv": {"out": 4, "kernel": 3}}, "relu", {"maxpool": 2}, "relu", "bn", "relu", {"dropout": 0.1},
        "relu", "flatten", "relu", {"linear": 10}, "relu", "log_softmax"]})
    layers = list(build_stacked(arch, SEEDS).layers)
    after = [type(before).__name__ for before, m in zip([None, *layers], layers) if isinstance(m, nn.ReLU) and m.inplace]
    assert after == ["Conv2d", "BatchNorm2d", "BatchedLinear"]  # never the input, a pooled map, a mask or a view
    assert not any(m.inplace for m in build_model(arch) if isinstance(m, nn.ReLU))  # the plain reference is plain


def test_dropout_masks_come_from_each_copys_generator():
    """Dropout2d zeroes whole channels of one copy; copy k's mask is drawn from generator k only."""
    drop = CopyDropout(3, 0.5, channelwise=True).train()
    drop.generators = gens(0, 1, 2)
    x = torch.ones(4, 3 * 5, 2, 2)
    out = drop(x)
    per_channel = out.amax(dim=(2, 3))
    assert torch.equal(out, per_channel[:, :, None, None].expand_as(out))  # whole channels
    assert set(per_channel.unique().tolist()) == {0.0, 2.0}
    single = CopyDropout(1, 0.5, channelwise=True).train()
    single.generators = gens(1)
    assert torch.equal(out[:, 5:10], single(torch.ones(4, 5, 2, 2)))
    flat = CopyDropout(3, 0.5, channelwise=False).train()
    flat.generators = gens(0, 1, 2)
    y = flat(torch.ones(3, 4, 6))
    single_flat = CopyDropout(1, 0.5, channelwise=False).train()
    single_flat.generators = gens(2)
    assert torch.equal(y[2:], single_flat(torch.ones(1, 4, 6)))
    assert torch.equal(flat.eval()(torch.ones(3, 4, 6)), torch.ones(3, 4, 6))


def test_extract_copy_round_trips(small_arch):
    net = build_stacked(small_arch, SEEDS)
    for k, seed in enumerate(SEEDS):  # fresh: the seeded models come back out
        out = net.extract_copy(k, build_seeded(small_arch, 99))
        ref = build_seeded(small_arch, seed)
        for (name, a), (_, b) in zip(out.state_dict().items(), ref.state_dict().items()):
            assert torch.equal(a, b), f"copy {k} {name}"
    randomise([net], 3)  # changed stacked state -> plain models -> a new stacked model: identical
    plains = [net.extract_copy(k, build_seeded(small_arch, 99)) for k in range(3)]
    again = build_stacked(small_arch, [7, 8, 9])
    again.load_copies(plains)
    for (name, a), (_, b) in zip(net.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    xs = inputs(3, seed=4)
    out = net.eval()(stack_inputs(xs))
    for k, plain in enumerate(plains):
        torch.testing.assert_close(out[k], plain.eval()(xs[k]), rtol=1e-5, atol=1e-5)


def split_grads(net: StackedNet, copies: int) -> list[list[torch.Tensor]]:
    """Each parameter's gradient cut into its copies' parts (all stacked parameters are copy-major on dim 0)."""
    return [list(p.grad.chunk(copies, dim=0)) for p in net.parameters()]


def test_copy_gradients_depend_only_on_that_copys_loss(small_arch):
    xs = inputs(3, seed=5)
    y = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(0))
    net = build_stacked(small_arch, SEEDS).train()
    net.set_dropout_generators(gens(20, 21, 22))
    out = net(stack_inputs(xs))
    F.nll_loss(out[0], y).backward()
    parts = split_grads(net, 3)
    assert all(torch.count_nonzero(g[1]) == 0 and torch.count_nonzero(g[2]) == 0 for g in parts)
    assert sum(torch.count_nonzero(g[0]).item() for g in parts) > 0
    # and copy 0's gradient is the single run's
    single = build_stacked(small_arch, [SEEDS[0]]).train()
    single.set_dropout_generators(gens(20))
    F.nll_loss(single(xs[0])[0], y).backward()
    for g, p in zip(parts, single.parameters()):
        # atol: a conv bias in front of BatchNorm has a true gradient of 0, computed as rounding noise
        torch.testing.assert_close(g[0].reshape(p.grad.shape), p.grad, rtol=1e-4, atol=2e-5)


def test_stacked_spec_models_equal_their_seeded_models():
    """A real spec with dropout at every block (README 001 model 2), eval mode."""
    arch = spec_named("sub8k-20ep/model2").spec.architecture
    net = build_stacked(arch, [0, 1]).eval()
    xs = inputs(2, batch=4, seed=6)
    out = net(stack_inputs(xs))
    for k in range(2):
        torch.testing.assert_close(out[k], build_seeded(arch, k).eval()(xs[k]), rtol=1e-5, atol=1e-5)
