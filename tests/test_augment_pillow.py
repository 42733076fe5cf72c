"""The batched augmenter against Pillow, per transform and parameter set, with the parameters it drew.

torchvision's transforms on a PIL image are Pillow calls: RandomRotation is `Image.rotate(angle)`;
RandomAffine is `Image.transform(size, AFFINE, matrix)` with the inverse affine matrix torchvision
documents (rotation and scale about the centre (w * 0.5, h * 0.5), then the translation); CenterCrop is
`Image.crop` at round((size - crop) / 2) and Resize `Image.resize`. The references below rebuild that
path from Pillow's API and the documented math, so these tests run wherever Pillow does (torchvision
itself is compared in tests/test_augment.py where it imports).

What matches, and why not everything bit for bit:
- nearest rotation and affine: every pixel, except where the source point of an output pixel lies
  within TIE_PX of a pixel edge. There Pillow's nearest path, which steps through the image in
  16.16 fixed point, may land in the neighbouring pixel; the harness picks the pixel exact float64
  arithmetic picks. Measured: 1.2e-5 to 2.9e-5 of the pixels of 2,000 MNIST test digits, up to 1.3e-4 on
  uniform noise, all within 2.5e-4 px of an edge.
- bilinear rotation and affine, wherever the four source neighbours lie inside the image: the harness's
  float is at most 1/255 above Pillow's, which truncates its 8-bit result (never below it).
- bilinear CenterCrop + Resize when upscaling: within 1/255 (Pillow rounds each of its two passes).
Mismatches are xfail tests with their measured size (see each one): bilinear sampling near the image
edge and nearest resizing.
"""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from _support import synthetic_mnist
from PIL import Image
from pydantic import TypeAdapter

from harness.augment import Augmenter, Drawn, apply_drawn, draw
from harness.schema import AugmentationEntry, CenterCropResize, RandomAffine, RandomRotation

NEAREST, BILINEAR = Image.Resampling.NEAREST, Image.Resampling.BILINEAR
TIE_PX = 1e-3  # source points this close to a pixel edge may round either way (measured max 2.5e-4)
TIE_SHARE = 1e-3  # and there are few of them (measured at most 1.3e-4 of pixels)
LSB = 1 / 255
EPS = 1e-5  # float32 rounding of the harness's [0, 1] values
_ENTRIES = TypeAdapter(list[AugmentationEntry])

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.slow]  # tier: pytest -m slow


def augmenter(*entries) -> Augmenter:
    return Augmenter(_ENTRIES.validate_python(list(entries)))


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _noise(n: int, h: int = 28, w: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, h, w), generator=gen(seed), dtype=torch.uint8)


@pytest.fixture(scope="module", params=["synthetic", "noise", "mnist"])
def images(request) -> torch.Tensor:
    """uint8 [N, H, W]: synthetic digits, uniform noise (every neighbour differs, the hardest case for
    interpolation) and real MNIST test digits where MNIST_ROOT is set."""
    if request.param == "synthetic":
        return synthetic_mnist(train=96, test=0).train_images
    if request.param == "noise":
        return _noise(96)
    root = os.environ.get("MNIST_ROOT")
    if not root:
        pytest.skip("MNIST_ROOT is not set")
    from harness.data import load_file

    return load_file(Path(root), "t10k-images-idx3-ubyte", verify=False)[:256]


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W] -> float [N, 1, H, W] in [0, 1], as ToTensor gives."""
    return images.float().div(255).unsqueeze(1)


def from_pil(pictures) -> torch.Tensor:
    return as_float(torch.stack([torch.from_numpy(np.array(p)) for p in pictures]))


# --------------------------------------------------------------------------- the PIL-image path, rebuilt

def inverse_affine_matrix(width: int, height: int, angle: float, translate=(0.0, 0.0), scale: float = 1.0) -> list[float]:
    """Pillow's AFFINE data (a, b, c, d, e, f): output pixel (x, y) samples input (a x + b y + c, d x + e y + f).

    The forward map torchvision documents is M = T C RS C^-1: about the centre C = (w * 0.5, h * 0.5)
    rotate by `angle` degrees clockwise on screen (y points down) and scale by `scale`, then translate by T.
    Pillow needs M^-1 = C RS^-1 C^-1 T^-1, i.e. input = c + R(-angle) (output - c - t) / scale.
    """
    cx, cy = width * 0.5, height * 0.5
    rad = math.radians(angle)
    cos, sin = math.cos(rad) / scale, math.sin(rad) / scale
    # R(-a) / s = [[cos, sin], [-sin, cos]] (with cos, sin already divided by s)
    ox, oy = -cx - translate[0], -cy - translate[1]
    return [cos, sin, cos * ox + sin * oy + cx, -sin, cos, -sin * ox + cos * oy + cy]


def source_points(matrix, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each output pixel's centre lands in the input, in float64 (pixel i spans [i, i + 1))."""
    a, b, c, d, e, f = matrix
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                            torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    return a * xs + b * ys + c, d * xs + e * ys + f


def sample_matrix(drawn: Drawn, i: int, width: int, height: int) -> list[float]:
    """The inverse matrix of sample i's drawn parameters (RandomRotation's angle is counter-clockwise)."""
    if isinstance(drawn.op, RandomRotation):
        return inverse_affine_matrix(width, height, -float(drawn.angle[i]))
    shift = drawn.translate[i].tolist() if drawn.translate is not None else (0.0, 0.0)
    scale = float(drawn.scale[i]) if drawn.scale is not None else 1.0
    return inverse_affine_matrix(width, height, float(drawn.angle[i]), shift, scale)


def pil_reference(image: Image.Image, drawn: Drawn, i: int) -> Image.Image:
    """What torchvision does to a PIL image with sample i's parameters (fill given in ToTensor units)."""
    op = drawn.op
    resample = NEAREST if op.interpolation == "nearest" else BILINEAR
    fill = round(op.fill * 255)
    if isinstance(op, RandomRotation):  # torchvision's F.rotate on a PIL image: Image.rotate itself
        return image.rotate(float(drawn.angle[i]), resample=resample, fillcolor=fill)
    matrix = sample_matrix(drawn, i, *image.size)  # F.affine on a PIL image: Image.transform, inverse matrix
    return image.transform(image.size, Image.Transform.AFFINE, matrix, resample=resample, fillcolor=fill)


def augment_and_reference(images: torch.Tensor, entry: dict, seed: int = 0):
    """The augmenter's output for one op, the parameters it drew, and Pillow's output for those parameters."""
    rec: list[Drawn] = []
    out = augmenter(entry)(as_float(images).unsqueeze(0), [gen(seed)], record=rec)[0]
    (drawn,) = rec
    ref = from_pil(pil_reference(Image.fromarray(im.numpy()), drawn, i) for i, im in enumerate(images))
    return out, ref, drawn


def exact_nearest(image: torch.Tensor, matrix, fill: float) -> torch.Tensor:
    """Nearest sampling in float64: the input pixel containing each source point, fill outside."""
    h, w = image.shape
    sx, sy = source_points(matrix, w, h)
    ix, iy = sx.floor().long(), sy.floor().long()
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    out = torch.full((h, w), fill)
    out[inside] = image.float()[iy[inside], ix[inside]] / 255
    return out


def edge_distance(matrix, width: int, height: int) -> torch.Tensor:
    sx, sy = source_points(matrix, width, height)
    return torch.minimum((sx - sx.round()).abs(), (sy - sy.round()).abs())


def interior(matrix, width: int, height: int) -> torch.Tensor:
    """Output pixels whose bilinear neighbours all lie inside the input (no edge or fill involved)."""
    sx, sy = source_points(matrix, width, height)
    return (sx >= 0.5) & (sx <= width - 0.5) & (sy >= 0.5) & (sy <= height - 0.5)


# --------------------------------------------------------------------------- nearest: pixel for pixel

NEAREST_CASES = {
    "rotation 15 (the course specs)": {"random_rotation": {"degrees": 15, "fill": 0}},
    "rotation 180, fill": {"random_rotation": {"degrees": 180, "fill": 178 / 255}},
    "rotation [-5, 20]": {"random_rotation": {"degrees": [-5, 20]}},
    "affine 7, translate 0.1 (sub8k-15ep)": {"random_affine": {"degrees": 7, "translate": [0.1, 0.1]}},
    "affine 30, translate, scale, fill": {"random_affine": {"degrees": 30, "translate": [0.2, 0.1], "scale": [0.8, 1.2],
                                                            "fill": 51 / 255}},
    "affine scale only": {"random_affine": {"scale": [0.5, 1.5]}},
    "affine translate only": {"random_affine": {"translate": [0.3, 0.3]}},
}


def _check_nearest(images, out, ref, drawn):
    """Harness and Pillow agree on every pixel except a few whose source point is a tie (within TIE_PX of an
    edge); the harness equals exact float64 sampling there too, up to float32 ties."""
    n, h, w = images.shape
    differ = 0
    for i in range(n):
        matrix = sample_matrix(drawn, i, w, h)
        dist = edge_distance(matrix, w, h)
        bad = out[i, 0] != ref[i, 0]
        differ += int(bad.sum())
        assert (dist[bad] < TIE_PX).all(), (
            f"sample {i}: {int((bad & (dist >= TIE_PX)).sum())} pixels differ from Pillow away from any tie "
            f"(max difference {(out[i, 0] - ref[i, 0]).abs().max().item() * 255:.0f}/255)")
        off = out[i, 0] != exact_nearest(images[i], matrix, drawn.op.fill)
        assert (dist[off] < 1e-4).all(), f"sample {i}: the harness differs from exact nearest sampling"
    assert differ <= TIE_SHARE * out.numel(), f"{differ} of {out.numel()} pixels differ from Pillow"


@pytest.mark.parametrize("entry", NEAREST_CASES.values(), ids=NEAREST_CASES.keys())
def test_nearest_equals_pillow_with_the_drawn_parameters(images, entry):
    out, ref, drawn = augment_and_reference(images, entry)
    _check_nearest(images, out, ref, drawn)


@pytest.mark.parametrize("entry", [NEAREST_CASES["rotation 15 (the course specs)"],
                                   NEAREST_CASES["affine 30, translate, scale, fill"]], ids=["rotation", "affine"])
def test_nearest_equals_pillow_on_non_square_images(entry):
    """20 x 32 images: the centre is (w * 0.5, h * 0.5) and x shifts scale with the width in both."""
    images = _noise(64, 20, 32, seed=3)
    out, ref, drawn = augment_and_reference(images, entry, seed=4)
    _check_nearest(images, out, ref, drawn)


FIXED_EXACT = [  # (op, angle, translate, scale): parameter sets whose source points are all > TIE_PX from an edge
    (RandomRotation(degrees=30), 21.5, None, None),
    (RandomRotation(degrees=30), -17.3, None, None),
    (RandomAffine(degrees=30, translate=[0.1, 0.1]), -23.7, (2.0, -3.0), None),
    (RandomAffine(degrees=15, translate=[0.1, 0.1], scale=[0.8, 1.2]), 14.9, (-1.0, 2.0), 1.13),
    (RandomAffine(degrees=15, scale=[0.5, 1.5]), 8.93, None, 0.77),
]


@pytest.mark.parametrize(("op", "angle", "shift", "scale"), FIXED_EXACT)
def test_apply_drawn_equals_pillow_bit_for_bit(images, op, angle, shift, scale):
    """apply_drawn, the augmenter's pure params -> output step, on hand-picked parameters: no tie, no excuse."""
    n = len(images)
    drawn = Drawn(op, angle=torch.full((n,), angle),
                  translate=None if shift is None else torch.tensor([shift] * n),
                  scale=None if scale is None else torch.full((n,), scale))
    out = apply_drawn(as_float(images), drawn)
    ref = from_pil(pil_reference(Image.fromarray(im.numpy()), drawn, i) for i, im in enumerate(images))
    h, w = images.shape[1:]
    assert all(edge_distance(sample_matrix(drawn, i, w, h), w, h).min() > TIE_PX for i in range(n))
    assert torch.equal(out, ref), f"{int((out != ref).sum())} pixels differ from Pillow"


def test_nearest_comparison_sees_a_wrong_angle():
    """Not vacuous: Pillow rotating by the drawn angle + 0.5 degrees, or clockwise, is far from the harness."""
    images = synthetic_mnist(train=32, test=0).train_images
    out, _, drawn = augment_and_reference(images, NEAREST_CASES["rotation 15 (the course specs)"])
    for change in (lambda a: a + 0.5, lambda a: -a):
        wrong = from_pil(Image.fromarray(im.numpy()).rotate(change(float(drawn.angle[i])), resample=NEAREST)
                         for i, im in enumerate(images))
        assert (out != wrong).float().mean() > 0.02


# --------------------------------------------------------------------------- bilinear: within 1/255

BILINEAR_CASES = {
    "rotation 15": {"random_rotation": {"degrees": 15, "interpolation": "bilinear"}},
    "affine 30, translate, scale": {"random_affine": {"degrees": 30, "translate": [0.2, 0.1], "scale": [0.8, 1.2],
                                                      "interpolation": "bilinear"}},
}


@pytest.mark.parametrize("entry", BILINEAR_CASES.values(), ids=BILINEAR_CASES.keys())
def test_bilinear_equals_pillow_inside_the_image(images, entry):
    """Where all four neighbours are inside the image, the harness is 0 to 1/255 above Pillow: Pillow
    truncates its 8-bit bilinear result. Within [-EPS, 1/255 + EPS] on every such pixel."""
    out, ref, drawn = augment_and_reference(images, entry)
    n, h, w = images.shape
    diffs = torch.cat([(out[i, 0] - ref[i, 0])[interior(sample_matrix(drawn, i, w, h), w, h)] for i in range(n)])
    assert diffs.numel() > 0.5 * out.numel()
    assert diffs.min() >= -EPS and diffs.max() <= LSB + EPS, (diffs.min().item() * 255, diffs.max().item() * 255)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "bilinear near the image edge: Pillow gives the fill once a source point leaves [0, w) x [0, h) and clamps "
    "neighbours inside it; the harness (torchvision's tensor path) blends with the fill over the half-pixel ring "
    "around the image. Measured with these tests' draws on 2,000 MNIST test digits: 2.6e-5 of pixels off by more "
    "than 1/255, up to 108/255; on uniform noise 6% of pixels, up to 170/255. No spec uses bilinear rotation or "
    "affine."))
@pytest.mark.parametrize("entry", BILINEAR_CASES.values(), ids=BILINEAR_CASES.keys())
def test_bilinear_equals_pillow_everywhere(entry):
    images = _noise(32)
    out, ref, _ = augment_and_reference(images, entry)
    assert (out - ref).abs().max() <= LSB + EPS


# --------------------------------------------------------------------------- center crop and resize

def pil_center_crop_resize(image: Image.Image, crop: int, size: int, resample) -> Image.Image:
    """torchvision CenterCrop then Resize on a PIL image: the box starts at round((side - crop) / 2)."""
    left, top = round((image.width - crop) / 2), round((image.height - crop) / 2)
    return image.crop((left, top, left + crop, top + crop)).resize((size, size), resample)


@pytest.mark.parametrize("crop", [22, 21, 14, 27])
def test_center_crop_resize_bilinear_equals_pillow_within_1_255(images, crop):
    """Through the augmenter with p 0.5: the samples it drew to crop are within 1/255 of Pillow (which rounds
    each of its two 8-bit passes), the others untouched."""
    rec: list[Drawn] = []
    x = as_float(images)
    out = augmenter({"center_crop_resize": {"crop": crop, "size": 28, "p": 0.5}})(x.unsqueeze(0), [gen(1)], record=rec)[0]
    apply = rec[0].apply
    assert 0.3 < apply.float().mean() < 0.7
    ref = from_pil(pil_center_crop_resize(Image.fromarray(im.numpy()), crop, 28, BILINEAR) for im in images[apply])
    torch.testing.assert_close(out[apply], ref, rtol=0, atol=LSB + EPS)
    assert torch.equal(out[~apply], x[~apply])


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "nearest Resize: the harness uses F.interpolate's 'nearest' (source index floor(i * in / out), torchvision's "
    "tensor path); Pillow samples at pixel centres, floor((i + 0.5) * in / out). Measured, crop 22 -> 28: 17% of "
    "MNIST test-digit pixels differ (58% on noise), by up to 255/255; equal only at whole-number ratios (14 -> 28). "
    "No spec resizes with nearest."))
@pytest.mark.parametrize("crop", [22, 21])
def test_center_crop_resize_nearest_equals_pillow(crop):
    images = _noise(32)
    op = CenterCropResize(crop=crop, size=28, interpolation="nearest")
    out = apply_drawn(as_float(images), Drawn(op, apply=torch.ones(len(images), dtype=torch.bool)))
    ref = from_pil(pil_center_crop_resize(Image.fromarray(im.numpy()), crop, 28, NEAREST) for im in images)
    assert torch.equal(out, ref)


def test_center_crop_resize_keeps_the_input_size():
    """Resizing down never happens: RandomApply leaves unselected samples at the input size, so `size` must be the
    input side (a smaller one cannot be batched), and the crop is at most that side. Pillow's and torchvision's
    antialiased downscaling, which the harness's 2x2 bilinear would not match, is out of reach."""
    x = as_float(_noise(4))
    apply = torch.tensor([True, False, True, False])
    assert apply_drawn(x, Drawn(CenterCropResize(crop=22, size=28), apply=apply)).shape == x.shape
    with pytest.raises(RuntimeError):
        apply_drawn(x, Drawn(CenterCropResize(crop=28, size=20), apply=apply))


def test_course_pipeline_equals_pillow_end_to_end(images):
    """The course specs' list (crop 22 with p 0.1, resize 28, rotation 15, nearest, fill 0) against the same
    steps on PIL images with the drawn parameters: within 1/255 (the resize's rounding, copied by the nearest
    rotation) except at rotation ties; exact on the samples left uncropped."""
    rec: list[Drawn] = []
    entries = [{"center_crop_resize": {"crop": 22, "size": 28, "p": 0.1}}, {"random_rotation": {"degrees": 15}}]
    out = augmenter(*entries)(as_float(images).unsqueeze(0), [gen(2)], record=rec)[0]
    crop, rotation = rec
    assert 0 < crop.apply.sum() < len(images)
    n, h, w = images.shape
    ties = 0
    for i, image in enumerate(images):
        picture = Image.fromarray(image.numpy())
        if crop.apply[i]:
            picture = pil_center_crop_resize(picture, 22, 28, BILINEAR)
        ref = from_pil([pil_reference(picture, rotation, i)])[0, 0]
        tie = edge_distance(sample_matrix(rotation, i, w, h), w, h) < TIE_PX
        ties += int(tie.sum())
        diff = (out[i, 0] - ref).abs()[~tie]
        assert diff.max() <= (LSB + EPS if crop.apply[i] else 0), (i, diff.max().item() * 255)
    assert ties <= 10 * TIE_SHARE * out.numel()


# --------------------------------------------------------------------------- the hook changes nothing

PIPELINE = [{"center_crop_resize": {"crop": 22, "p": 0.5}},
            {"random_rotation": {"degrees": [-5, 20], "interpolation": "bilinear", "fill": 0.3}},
            {"random_affine": {"degrees": 7, "translate": [0.1, 0.2], "scale": [0.9, 1.1], "fill": 0.2}}]


def test_record_and_apply_drawn_reproduce_the_augmenter():
    """Recording changes nothing, and replaying the recorded parameters with apply_drawn gives the output."""
    x = torch.rand(3, 16, 1, 28, 28, generator=gen(0))
    aug = augmenter(*PIPELINE)
    plain = aug(x, [gen(s) for s in (1, 2, 3)])
    rec: list[Drawn] = []
    recorded = aug(x, [gen(s) for s in (1, 2, 3)], record=rec)
    assert torch.equal(plain, recorded)
    assert [type(d.op) for d in rec] == [CenterCropResize, RandomRotation, RandomAffine]
    assert all(len(t) == 48 for d in rec for t in (d.apply, d.angle, d.translate, d.scale) if t is not None)
    replay = x.reshape(48, 1, 28, 28)
    for drawn in rec:
        replay = apply_drawn(replay, drawn)
    assert torch.equal(replay.reshape(x.shape), plain)


def _legacy_draws(op, g: torch.Generator, b: int, h: int, w: int) -> dict:
    """The draws the augmenter made before the hook existed, spelled out: their order and amount per copy."""
    if isinstance(op, CenterCropResize):
        return {"apply": torch.rand(b, generator=g) < op.p}
    lo, hi = (-op.degrees, op.degrees) if isinstance(op.degrees, (int, float)) else op.degrees
    angle = torch.empty(b).uniform_(lo, hi, generator=g)
    if isinstance(op, RandomRotation):
        return {"angle": angle}
    out = {"angle": angle}
    if op.translate is not None:
        dx = torch.empty(b).uniform_(-op.translate[0] * w, op.translate[0] * w, generator=g).round()
        dy = torch.empty(b).uniform_(-op.translate[1] * h, op.translate[1] * h, generator=g).round()
        out["translate"] = torch.stack([dx, dy], 1)
    if op.scale is not None:
        out["scale"] = torch.empty(b).uniform_(op.scale[0], op.scale[1], generator=g)
    return out


def test_draws_are_unchanged_by_the_hook():
    """Training stays bit-identical: the same values in the same order from each copy's generator, nothing
    more drawn (the generators end in the same state), and the same output as the ops applied by hand."""
    x = torch.rand(3, 16, 1, 28, 28, generator=gen(0))
    aug = augmenter(*PIPELINE)
    gens, mirror = [gen(s) for s in (1, 2, 3)], [gen(s) for s in (1, 2, 3)]
    rec: list[Drawn] = []
    out = aug(x, gens, record=rec)
    expected = x.reshape(48, 1, 28, 28)
    for op, drawn in zip(aug.ops, rec):
        per_copy = [_legacy_draws(op, g, 16, 28, 28) for g in mirror]
        legacy = {key: torch.cat([d[key] for d in per_copy]) for key in per_copy[0]}
        for key, value in legacy.items():
            assert torch.equal(getattr(drawn, key), value), f"{type(op).__name__}.{key} drawn differently"
        expected = apply_drawn(expected, drawn)
    assert torch.equal(out, expected.reshape(x.shape))
    assert all(torch.equal(g.get_state(), m.get_state()) for g, m in zip(gens, mirror))


def test_draw_is_the_augmenters_first_step():
    """draw() alone consumes what the augmenter consumes for that op."""
    op = RandomAffine(degrees=7, translate=[0.1, 0.1], scale=[0.9, 1.1])
    x = torch.zeros(2 * 5, 1, 28, 28)
    g1, g2 = [gen(7), gen(8)], [gen(7), gen(8)]
    drawn = draw(op, x, 5, g1)
    augmenter({"random_affine": op.model_dump()})(x.reshape(2, 5, 1, 28, 28), g2)
    assert drawn.angle.shape == (10,) and drawn.translate.shape == (10, 2) and drawn.scale.shape == (10,)
    assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(g1, g2))
