"""Batched per-sample augmentation against its references: PIL (always) and torchvision (where it imports).

The harness re-implements torchvision's tensor-path geometry with one parameter set per sample and
per-seed generators. These tests pin both halves: the geometry equals the reference ops pixel for
pixel, and the parameters are drawn per sample, from the right generator, with torchvision's ranges,
rounding and angle conventions.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from _support import synthetic_mnist
from PIL import Image
from pydantic import TypeAdapter

import harness.augment as augment_module
from harness.augment import Augmenter, affine, center_crop_resize
from harness.schema import AugmentationEntry, CenterCropResize

NEAREST, BILINEAR = Image.Resampling.NEAREST, Image.Resampling.BILINEAR
ANGLES = [-15, -7.3, 0, 12.5, 90]
_ENTRIES = TypeAdapter(list[AugmentationEntry])


pytestmark = pytest.mark.usefixtures("one_thread")


def augmenter(*entries) -> Augmenter:
    """An Augmenter from recipe-style entries (`{"random_rotation": {"degrees": 15}}`), validated as specs are."""
    return Augmenter(_ENTRIES.validate_python(list(entries)))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module", params=["synthetic", "real"])
def digits(request) -> torch.Tensor:
    """32 uint8 28x28 digits: the synthetic set (always) and real MNIST test digits (when MNIST_ROOT is set)."""
    if request.param == "synthetic":
        return synthetic_mnist(train=32, test=0).train_images
    root = os.environ.get("MNIST_ROOT")
    if not root:
        pytest.skip("MNIST_ROOT is not set")
    from harness.data import load_file

    return load_file(Path(root), "t10k-images-idx3-ubyte", verify=False)[:32]


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W] -> float [N, 1, H, W] in [0, 1], as ToTensor gives."""
    return images.float().div(255).unsqueeze(1)


def pil_each(images: torch.Tensor, fn) -> torch.Tensor:
    """Apply a PIL operation to every uint8 image; back to float [N, 1, H, W] in [0, 1]."""
    return as_float(torch.stack([torch.from_numpy(np.array(fn(Image.fromarray(im.numpy())))) for im in images]))


def full(n: int, value: float) -> torch.Tensor:
    return torch.full((n,), float(value))


# --------------------------------------------------------------------------- PIL references (always run)

@pytest.mark.parametrize("angle", ANGLES)
def test_rotation_equals_pil_nearest_exactly(digits, angle):
    ref = pil_each(digits, lambda im: im.rotate(angle, resample=NEAREST))
    out = affine(as_float(digits), full(len(digits), angle))
    assert torch.equal(out, ref), f"{(out != ref).sum().item()} pixels differ from PIL at {angle} degrees"


@pytest.mark.parametrize(("angle", "shift"), [(12.5, (2, -3)), (-30, (-1, 1)), (0, (3, 0))])
def test_rotation_with_translation_and_fill_equals_pil_exactly(digits, angle, shift):
    """PIL's post-rotation translate is the harness's (x, y) pixel shift; fillcolor is the fill."""
    ref = pil_each(digits, lambda im: im.rotate(angle, resample=NEAREST, translate=shift, fillcolor=178))
    n = len(digits)
    out = affine(as_float(digits), full(n, angle), torch.tensor([shift] * n, dtype=torch.float), fill=178 / 255)
    assert torch.equal(out, ref)


def test_rotation_is_counter_clockwise():
    """A bright pixel right of the centre moves up (to a smaller row) under +90 degrees, as in PIL."""
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 13, 20] = 1.0  # row 13, column 20: right of the centre (13.5, 13.5)
    out = affine(x, full(1, 90))
    assert out.sum() == 1.0
    row, col = (out[0, 0] == 1).nonzero()[0].tolist()
    assert col in (13, 14) and row < 10


@pytest.mark.parametrize(("crop", "box"), [(22, (3, 3, 25, 25)), (21, (4, 4, 25, 25)), (14, (7, 7, 21, 21))])
def test_center_crop_resize_equals_pil_bilinear(digits, crop, box):
    """CenterCrop + Resize(28) bilinear. The box is torchvision's centre, top = round((28 - crop) / 2) with
    round half to even (3.5 -> 4); PIL rounds each of its two resize passes to uint8, hence 1/255."""
    ref = pil_each(digits, lambda im: im.crop(box).resize((28, 28), BILINEAR))
    apply = torch.ones(len(digits), dtype=torch.bool)
    out = center_crop_resize(as_float(digits), CenterCropResize(crop=crop, size=28), apply)
    torch.testing.assert_close(out, ref, rtol=0, atol=1 / 255 + 1e-5)


def test_center_crop_is_centred():
    """A crop box one pixel off centre is far from the harness's output (the PIL comparison is not vacuous)."""
    images = synthetic_mnist(train=8, test=0).train_images
    out = center_crop_resize(as_float(images), CenterCropResize(crop=22), torch.ones(8, dtype=torch.bool))
    for box in [(2, 2, 24, 24), (4, 4, 26, 26), (3, 4, 25, 26)]:
        off = pil_each(images, lambda im, b=box: im.crop(b).resize((28, 28), BILINEAR))
        assert (out - off).abs().max() > 0.2


def test_center_crop_resize_leaves_unselected_samples_alone(digits):
    x = as_float(digits[:8])
    apply = torch.tensor([True, False] * 4)
    out = center_crop_resize(x, CenterCropResize(crop=22), apply)
    assert torch.equal(out[~apply], x[~apply])
    assert not torch.equal(out[apply], x[apply])


# --------------------------------------------------------------------------- Augmenter mechanics

def test_parameters_are_drawn_per_sample(monkeypatch):
    """One image repeated 64 times: every sample gets its own angle, and the outputs differ."""
    seen = {}
    real = augment_module.affine

    def spy(x, angle, *args, **kwargs):
        seen["angle"] = angle.clone()
        return real(x, angle, *args, **kwargs)

    monkeypatch.setattr(augment_module, "affine", spy)
    image = as_float(synthetic_mnist(train=1, test=0).train_images)
    x = image.expand(64, -1, -1, -1).unsqueeze(0).contiguous()
    out = augmenter({"random_rotation": {"degrees": 30}})(x, [gen(0)])[0]
    angles = seen["angle"]
    assert angles.shape == (64,) and angles.unique().numel() == 64
    assert angles.abs().max() <= 30 and angles.min() < -15 and angles.max() > 15
    assert len({tuple(o.flatten().tolist()) for o in out}) > 48


def test_same_generator_seed_same_output():
    x = as_float(synthetic_mnist(train=32, test=0).train_images).unsqueeze(0)
    aug = augmenter({"center_crop_resize": {"crop": 22, "p": 0.5}}, {"random_rotation": {"degrees": 15}},
                    {"random_affine": {"degrees": 7, "translate": [0.1, 0.1], "scale": [0.9, 1.1]}})
    first, second, other = aug(x, [gen(5)]), aug(x, [gen(5)]), aug(x, [gen(6)])
    assert torch.equal(first, second)
    assert not torch.equal(first, other)
    assert first.shape == x.shape


def test_stacked_copies_augment_as_single_runs():
    """Copy k of a K=3 stack, augmented with generator k, equals a K=1 call with that generator alone."""
    images = as_float(synthetic_mnist(train=48, test=0).train_images)
    x = images.reshape(3, 16, 1, 28, 28)  # each copy its own batch, as the engine feeds them
    aug = augmenter({"center_crop_resize": {"crop": 22, "p": 0.5}}, {"random_rotation": {"degrees": 15}},
                    {"random_affine": {"degrees": 7, "translate": [0.1, 0.1], "scale": [0.9, 1.1]}})
    together = aug(x, [gen(10), gen(11), gen(12)])
    for k in range(3):
        alone = aug(x[k:k + 1], [gen(10 + k)])[0]
        assert torch.equal(together[k], alone), f"copy {k} differs from its single run"
    assert not torch.equal(together[0], aug(x[0:1], [gen(11)])[0])


def test_center_crop_applies_with_probability_p():
    """p=0.1 over 4000 samples: a framed image loses its frame in about 10% of them (binomial, +-5 sd)."""
    n = 4000
    frame = torch.zeros(1, 1, 28, 28)
    frame[..., :3, :], frame[..., -3:, :], frame[..., :, :3], frame[..., :, -3:] = 1, 1, 1, 1  # gone after the crop
    x = frame.expand(n, -1, -1, -1).unsqueeze(0).contiguous()
    out = augmenter({"center_crop_resize": {"crop": 22, "size": 28, "p": 0.1}})(x, [gen(0)])[0]
    cropped = out[:, 0, 0, 0] == 0
    sd = (n * 0.1 * 0.9) ** 0.5
    assert abs(cropped.sum().item() - n * 0.1) < 5 * sd
    assert torch.equal(out[~cropped], x[0][~cropped])  # the rest untouched
    assert torch.equal(out[cropped][0], out[cropped][-1])  # and every cropped one cropped the same way


def test_random_affine_draws_whole_pixel_translations_within_range(monkeypatch):
    """On a 20x40 image, translate [0.1, 0.1] gives x shifts round(U(-4, 4)), y shifts round(U(-2, 2)) (x, y order)."""
    seen = {}

    def spy(x, angle, translate=None, scale=None, interpolation="nearest", fill=0.0):
        seen.update(angle=angle, translate=translate, scale=scale, interpolation=interpolation, fill=fill)
        return x

    monkeypatch.setattr(augment_module, "affine", spy)
    x = torch.zeros(1, 3000, 1, 20, 40)
    augmenter({"random_affine": {"degrees": [5, 10], "translate": [0.1, 0.1], "scale": [0.9, 1.1]}})(x, [gen(0)])
    t = seen["translate"]
    assert t.shape == (3000, 2)
    assert torch.equal(t, t.round())
    assert set(t[:, 0].tolist()) == set(range(-4, 5))
    assert set(t[:, 1].tolist()) == set(range(-2, 3))
    # end values come from rounding half the width of a unit around them: P(4) = 0.5/8 (not 1/9, not 0)
    assert 0.03 < (t[:, 0] == 4).float().mean() < 0.1
    s = seen["scale"]
    assert s.min() >= 0.9 and s.max() <= 1.1 and s.std() > 0.05
    a = seen["angle"]  # RandomAffine's angle is clockwise: the counter-clockwise affine gets it negated
    assert a.min() >= -10 and a.max() <= -5


def test_random_affine_translate_rounding_bound(monkeypatch):
    """translate 0.1 on 28 px: U(-2.8, 2.8) rounded, so shifts reach 3 px but never 4."""
    seen = {}
    monkeypatch.setattr(augment_module, "affine", lambda x, angle, translate=None, *a, **k: seen.update(t=translate) or x)
    augmenter({"random_affine": {"degrees": 0, "translate": [0.1, 0.1]}})(torch.zeros(1, 2000, 1, 28, 28), [gen(1)])
    assert set(seen["t"].flatten().tolist()) == set(range(-3, 4))


def test_random_affine_without_translate_or_scale_passes_none(monkeypatch):
    seen = {}
    monkeypatch.setattr(augment_module, "affine", lambda x, angle, translate=None, scale=None, *a, **k:
                        seen.update(t=translate, s=scale) or x)
    augmenter({"random_affine": {"degrees": 10}})(torch.zeros(1, 4, 1, 28, 28), [gen(0)])
    assert seen == {"t": None, "s": None}


def test_fill_zero_leaves_zeros_outside():
    x = torch.ones(1, 4, 1, 28, 28)
    out = augmenter({"random_rotation": {"degrees": [45, 45], "fill": 0}})(x, [gen(0)])[0]
    for corner in (out[:, 0, 0, 0], out[:, 0, 0, -1], out[:, 0, -1, 0], out[:, 0, -1, -1]):
        assert torch.equal(corner, torch.zeros(4))
    assert torch.equal(out[:, 0, 14, 14], torch.ones(4))


@pytest.mark.parametrize("kind", ["random_rotation", "random_affine"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_nonzero_fill_appears_in_the_corners(kind, interpolation):
    x = torch.ones(1, 4, 1, 28, 28) * 0.2
    out = augmenter({kind: {"degrees": [45, 45], "fill": 0.7, "interpolation": interpolation}})(x, [gen(0)])[0]
    corners = out[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    torch.testing.assert_close(corners, torch.full_like(corners, 0.7))
    torch.testing.assert_close(out[:, 0, 14, 14], torch.full((4,), 0.2))


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "bilinear with fill 0: torchvision's transforms blend with the sampled mask, img * mask + (1 - mask) * fill, "
    "which for fill 0 still scales the half-pixel ring at the image edge by mask < 1; the harness returns the "
    "zero-padded sample unscaled. Measured, rotation U(-15, 15): 3e-5 of MNIST test-digit pixels off by more than "
    "1/255 (up to 54/255), 6.5% on uniform noise (up to 63/255); torchvision 0.28.0 agrees with the blend. "
    "No spec uses bilinear rotation or affine."))
def test_bilinear_fill_zero_equals_the_mask_blend():
    x = torch.rand(16, 1, 28, 28, generator=gen(5))
    angle = torch.linspace(-15, 15, 16)
    out = affine(x, angle, interpolation="bilinear", fill=0.0)
    mask = affine(torch.ones_like(x), angle, interpolation="bilinear", fill=0.0)
    torch.testing.assert_close(out, out * mask, rtol=0, atol=1e-5)


# --------------------------------------------------------------------------- torchvision references

@pytest.fixture(scope="module")
def tv():
    """torchvision where it imports. Beside a CPU-only torch its wheels can fail at import with a RuntimeError
    ("operator torchvision::nms does not exist"), not an ImportError: skip on either (tests/test_augment_pillow.py
    checks the same semantics against Pillow everywhere)."""
    try:
        import torchvision
    except Exception as exc:  # any failure to import means: no reference here
        pytest.skip(f"torchvision does not import here: {type(exc).__name__}: {exc}")
    return torchvision


@pytest.mark.parametrize("angle", ANGLES + [45, -33.3])
def test_rotation_equals_torchvision_rotate(tv, digits, angle):
    from torchvision.transforms import functional as TF

    x = as_float(digits)
    ref = torch.stack([TF.rotate(im, angle) for im in x])  # NEAREST, counter-clockwise
    assert torch.equal(affine(x, full(len(x), angle)), ref)


AFFINE_CASES = [(10, [2, -3], 1.1), (-7, [0, 1], 0.9), (33.3, [-2, 2], 1.0), (0, [3, 0], 1.05), (-20, [-1, -1], 0.95)]


@pytest.mark.parametrize(("angle", "shift", "scale"), AFFINE_CASES)
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", [(28, 28), (20, 32)])
def test_affine_equals_torchvision_affine(tv, angle, shift, scale, interpolation, size):
    """torchvision F.affine's angle is clockwise: the harness's affine takes it negated."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    x = torch.rand(8, 1, *size, generator=gen(0))
    mode = InterpolationMode.NEAREST if interpolation == "nearest" else InterpolationMode.BILINEAR
    ref = torch.stack([TF.affine(im, angle, shift, scale, [0.0, 0.0], interpolation=mode) for im in x])
    n = len(x)
    out = affine(x, full(n, -angle), torch.tensor([shift] * n, dtype=torch.float), full(n, scale), interpolation)
    if interpolation == "nearest":
        assert torch.equal(out, ref)
    else:
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_fill_equals_torchvision(tv, interpolation):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    x = torch.rand(4, 1, 28, 28, generator=gen(1))
    mode = InterpolationMode.NEAREST if interpolation == "nearest" else InterpolationMode.BILINEAR
    ref = torch.stack([TF.rotate(im, 45, interpolation=mode, fill=[0.7]) for im in x])
    torch.testing.assert_close(affine(x, full(4, 45), interpolation=interpolation, fill=0.7), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("crop", [22, 21, 28])
def test_center_crop_resize_equals_torchvision(tv, digits, crop):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    x = as_float(digits)
    ref = torch.stack([TF.resize(TF.center_crop(im, crop), [28, 28], interpolation=InterpolationMode.BILINEAR,
                                 antialias=True) for im in x])
    out = center_crop_resize(x, CenterCropResize(crop=crop, size=28), torch.ones(len(x), dtype=torch.bool))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("degrees", [10.0, -25.0, 90.0])
def test_augmenter_random_affine_is_clockwise_like_torchvision(tv, degrees):
    """RandomAffine(degrees=[a, a]) rotates every sample by a degrees clockwise, as torchvision's does."""
    from torchvision import transforms as T

    x = torch.rand(8, 1, 28, 28, generator=gen(2))
    out = augmenter({"random_affine": {"degrees": [degrees, degrees]}})(x.unsqueeze(0), [gen(0)])[0]
    ref = torch.stack([T.RandomAffine(degrees=(degrees, degrees))(im) for im in x])
    assert torch.equal(out, ref)
    if degrees % 360:
        assert not torch.equal(out, affine(x, full(8, degrees)))  # not the counter-clockwise rotation


@pytest.mark.parametrize("degrees", [15.0, -40.0])
def test_augmenter_random_rotation_is_counter_clockwise_like_torchvision(tv, degrees):
    from torchvision import transforms as T

    x = torch.rand(8, 1, 28, 28, generator=gen(3))
    out = augmenter({"random_rotation": {"degrees": [degrees, degrees]}})(x.unsqueeze(0), [gen(0)])[0]
    ref = torch.stack([T.RandomRotation(degrees=(degrees, degrees))(im) for im in x])
    assert torch.equal(out, ref)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "torchvision's RandomRotation/RandomAffine hand a tensor the fill as a list ([0.0]), and its bilinear tensor "
    "path then multiplies by the sampled mask; the harness skips the mask when fill is 0. Measured with torchvision "
    "0.28.0, 20 degrees on uniform noise: 6.6% of pixels differ, up to 62/255; the harness times the mask equals "
    "torchvision within 3e-6. No spec uses bilinear rotation or affine."))
@pytest.mark.parametrize("kind", ["random_rotation", "random_affine"])
def test_augmenter_bilinear_fill_zero_like_torchvision(tv, kind):
    from torchvision import transforms as T
    from torchvision.transforms import InterpolationMode

    x = torch.rand(8, 1, 28, 28, generator=gen(4))
    out = augmenter({kind: {"degrees": [20, 20], "interpolation": "bilinear"}})(x.unsqueeze(0), [gen(0)])[0]
    op = T.RandomRotation if kind == "random_rotation" else T.RandomAffine
    ref = torch.stack([op(degrees=(20, 20), interpolation=InterpolationMode.BILINEAR)(im) for im in x])
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("seed", range(8))
def test_single_sample_draws_like_torchvision(tv, seed):
    """For one sample the harness draws crop, rotation, affine parameters in torchvision's order and ranges:
    generator seed s gives what torch.manual_seed(s) gives the torchvision pipeline."""
    from torchvision import transforms as T

    image = torch.rand(1, 1, 28, 28, generator=gen(100 + seed))
    aug = augmenter({"center_crop_resize": {"crop": 22, "size": 28, "p": 0.5}}, {"random_rotation": {"degrees": 15}},
                    {"random_affine": {"degrees": 7, "translate": [0.1, 0.1], "scale": [0.9, 1.1]}})
    out = aug(image.unsqueeze(0), [gen(seed)])[0, 0]
    pipeline = T.Compose([T.RandomApply([T.CenterCrop(22)], p=0.5), T.Resize((28, 28)), T.RandomRotation(15),
                          T.RandomAffine(degrees=7, translate=(0.1, 0.1), scale=(0.9, 1.1))])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ref = pipeline(image[0])
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_single_sample_random_affine_non_square_like_torchvision(tv, seed):
    """x shifts scale with the width and y shifts with the height, as torchvision's get_params."""
    from torchvision import transforms as T

    image = torch.rand(1, 1, 20, 32, generator=gen(200 + seed))
    out = augmenter({"random_affine": {"degrees": 20, "translate": [0.2, 0.1], "scale": [0.8, 1.2]}})(
        image.unsqueeze(0), [gen(seed)])[0, 0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ref = T.RandomAffine(degrees=20, translate=(0.2, 0.1), scale=(0.8, 1.2))(image[0])
    assert torch.equal(out, ref)


def test_pipeline_draws_like_torchvision_on_pil_images(tv):
    """The PIL path end to end: torchvision's pipeline on PIL images, seeded per sample, against the harness with
    the same seeds. Within 1/255 (Pillow's 8-bit resize) except where a nearest rotation or affine meets a tie
    (a source point within about 1e-3 px of a pixel edge, see tests/test_augment_pillow.py): measured 4.2e-4 of
    pixels here with torchvision 0.28.0 (2.4e-4 over 300 samples), bound 3e-3."""
    from torchvision import transforms as T

    images = synthetic_mnist(train=64, test=0).train_images
    aug = augmenter({"center_crop_resize": {"crop": 22, "size": 28, "p": 0.5}}, {"random_rotation": {"degrees": 15}},
                    {"random_affine": {"degrees": 7, "translate": [0.1, 0.1], "scale": [0.9, 1.1]}})
    pipeline = T.Compose([T.RandomApply([T.CenterCrop(22)], p=0.5), T.Resize((28, 28)), T.RandomRotation(15),
                          T.RandomAffine(degrees=7, translate=(0.1, 0.1), scale=(0.9, 1.1))])
    out, ref = [], []
    for seed, image in enumerate(images):
        out.append(aug(as_float(image[None]).unsqueeze(0), [gen(seed)])[0, 0])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            ref.append(pil_each(image[None], pipeline)[0])
    diff = (torch.stack(out) - torch.stack(ref)).abs()
    assert (diff > 1 / 255 + 1e-5).float().mean() < 3e-3
