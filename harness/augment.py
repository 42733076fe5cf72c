"""Per-sample augmentation, batched, on the training device.

Each op follows the semantics of the torchvision transform the READMEs use
(tensor path: `F.affine_grid`/`F.grid_sample` with `align_corners=False`,
rotation about the image centre (RandomRotation counter-clockwise, RandomAffine
clockwise, as torchvision's F.rotate and F.affine),
integer-pixel translations, zero fill), but draws one set of parameters per
sample instead of one per call, and draws them from each seed's own
generator so that K seeds trained together see exactly what K single runs
would. Images are float in [0, 1] before normalization, shape [N, C, H, W].

kornia offers similar geometry, but its defaults (align_corners, parameter
sampling through its own RNG) differ from torchvision's; torch's own grid ops
match torchvision's tensor path directly, as tests/test_augment.py checks, and
its PIL-image path (Pillow) within the limits specs/README.md lists, as
tests/test_augment_pillow.py checks with the parameters each op drew
(`draw` then `apply_drawn`; `Augmenter(..., record=[])` collects them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from harness.schema import CenterCropResize, RandomAffine, RandomResizedCrop, RandomRotation, augmentation_op


def _uniform(n: int, low: float, high: float, generator, device) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(low, high, generator=generator)


def _degree_range(degrees) -> tuple[float, float]:
    return (-float(degrees), float(degrees)) if isinstance(degrees, (int, float)) else (float(degrees[0]), float(degrees[1]))


def center_crop_resize(x: torch.Tensor, op: CenterCropResize, apply: torch.Tensor) -> torch.Tensor:
    """CenterCrop(crop) then Resize(size) on the samples where `apply` is true (RandomApply with p)."""
    h, w = x.shape[-2:]
    top, left = int(round((h - op.crop) / 2.0)), int(round((w - op.crop) / 2.0))
    crop = x[..., top:top + op.crop, left:left + op.crop]
    resized = F.interpolate(crop, size=(op.size, op.size), mode=op.interpolation,
                            **({"align_corners": False} if op.interpolation == "bilinear" else {}))
    return torch.where(apply.view(-1, 1, 1, 1), resized, x)


def affine(x: torch.Tensor, angle: torch.Tensor, translate: torch.Tensor | None = None,
           scale: torch.Tensor | None = None, interpolation: str = "nearest", fill: float = 0.0) -> torch.Tensor:
    """torchvision F.affine per sample: rotate by `angle` degrees (counter-clockwise) and scale about the
    centre, then translate by `translate` pixels ([N, 2], x then y)."""
    n, _, h, w = x.shape
    rad = angle.to(x.dtype) * (math.pi / 180.0)
    s = torch.ones_like(rad) if scale is None else scale.to(x.dtype)
    cos, sin = torch.cos(rad) / s, torch.sin(rad) / s
    # Inverse map, output pixel -> input pixel, in coordinates centred on the image (y down):
    # x_in = R(-angle) S^-1 (x_out - t). Written in affine_grid's normalised coordinates.
    theta = torch.empty(n, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    if translate is None:
        theta[:, :, 2] = 0
    else:
        tx, ty = translate[:, 0].to(x.dtype), translate[:, 1].to(x.dtype)
        theta[:, 0, 2] = -(cos * tx - sin * ty) * 2.0 / w
        theta[:, 1, 2] = -(sin * tx + cos * ty) * 2.0 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if fill == 0:
        return F.grid_sample(x, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    # as torchvision: sample a mask with the image and blend the fill where the source was outside
    ones = torch.ones_like(x[:, :1])
    out = F.grid_sample(torch.cat([x, ones], 1), grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    img, mask = out[:, :-1], out[:, -1:]
    return img * mask + (1.0 - mask) * fill


@dataclass(frozen=True)
class Drawn:
    """What one op drew for a stack, one row per sample (copies in order, [K*B]), in torchvision's units.

    `angle` is in degrees in the convention of the torchvision transform the op stands for: RandomRotation's
    counter-clockwise, RandomAffine's clockwise. `translate` is [N, 2] whole pixels, x then y.
    Fields an op does not draw are None.
    """

    op: CenterCropResize | RandomRotation | RandomAffine | RandomResizedCrop
    apply: torch.Tensor | None = None
    angle: torch.Tensor | None = None
    translate: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    box: torch.Tensor | None = None  # RandomResizedCrop: [N, 4] top, left, height, width (torchvision's i, j, h, w)


def resized_crop_box(op: RandomResizedCrop, height: int, width: int, g: torch.Generator, device) -> tuple[int, ...]:
    """One sample's box, drawn as torchvision's RandomResizedCrop.get_params draws it (its documented algorithm,
    transcribed): up to 10 tries of a float32 uniform area share and a log-uniform aspect ratio, the box's sides
    rounded half to even (Python's round), then a uniform top and left; failing that, the centre crop of the ratio
    nearest the image's."""
    area = height * width
    log_lo, log_hi = math.log(op.ratio[0]), math.log(op.ratio[1])
    for _ in range(10):
        target = area * torch.empty(1, device=device).uniform_(op.scale[0], op.scale[1], generator=g).item()
        aspect = math.exp(torch.empty(1, device=device).uniform_(log_lo, log_hi, generator=g).item())
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=g, device=device).item())
            left = int(torch.randint(0, width - w + 1, (1,), generator=g, device=device).item())
            return top, left, h, w
    ratio = width / height
    if ratio < min(op.ratio):
        w, h = width, int(round(width / min(op.ratio)))
    elif ratio > max(op.ratio):
        h, w = height, int(round(height * max(op.ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(x: torch.Tensor, op: RandomResizedCrop, box: torch.Tensor) -> torch.Tensor:
    """Each sample's box resized to `size`, as torchvision's tensor path (F.resized_crop: crop, then resize with
    antialias; a box never exceeds the image, so every resize here enlarges or keeps, where antialias changes
    nothing). One interpolation per sample: the boxes differ in size."""
    out = []
    kw = {"align_corners": False, "antialias": True} if op.interpolation == "bilinear" else {}
    for sample, (top, left, h, w) in zip(x, box.tolist()):
        crop = sample[None, :, top:top + h, left:left + w]
        out.append(F.interpolate(crop, size=(op.size, op.size), mode=op.interpolation, **kw))
    return torch.cat(out)


def _per_copy(generators, draw) -> torch.Tensor:
    return torch.cat([draw(g) for g in generators])


def draw(op, x: torch.Tensor, b: int, generators: list[torch.Generator]) -> Drawn:
    """Draw `op`'s parameters for x [K*B, C, H, W], b samples from each generator in turn, in torchvision's order."""
    dev, (h, w) = x.device, x.shape[-2:]
    if isinstance(op, CenterCropResize):
        return Drawn(op, apply=_per_copy(generators, lambda g: torch.rand(b, generator=g, device=dev)) < op.p)
    if isinstance(op, RandomRotation):
        lo, hi = _degree_range(op.degrees)
        return Drawn(op, angle=_per_copy(generators, lambda g: _uniform(b, lo, hi, g, dev)))
    if isinstance(op, RandomAffine):
        lo, hi = _degree_range(op.degrees)
        angles, shifts, scales = [], [], []
        for g in generators:  # per copy, in torchvision's order: angle, translation, scale
            angles.append(_uniform(b, lo, hi, g, dev))
            if op.translate is not None:
                max_dx, max_dy = op.translate[0] * w, op.translate[1] * h
                # torchvision rounds each drawn shift to whole pixels (round half to even, as torch.round)
                shifts.append(torch.stack([torch.round(_uniform(b, -max_dx, max_dx, g, dev)),
                                           torch.round(_uniform(b, -max_dy, max_dy, g, dev))], dim=1))
            if op.scale is not None:
                scales.append(_uniform(b, op.scale[0], op.scale[1], g, dev))
        return Drawn(op, angle=torch.cat(angles), translate=torch.cat(shifts) if shifts else None,
                     scale=torch.cat(scales) if scales else None)
    if isinstance(op, RandomResizedCrop):  # per sample, in torchvision's order (a Python loop: tries vary)
        boxes = [resized_crop_box(op, h, w, g, dev) for g in generators for _ in range(b)]
        return Drawn(op, box=torch.tensor(boxes, dtype=torch.long).reshape(-1, 4))
    raise TypeError(f"unknown augmentation {op!r}")


def apply_drawn(x: torch.Tensor, drawn: Drawn) -> torch.Tensor:
    """The op with its drawn parameters on x [N, C, H, W]: a pure function of both, no random numbers."""
    op = drawn.op
    if isinstance(op, CenterCropResize):
        return center_crop_resize(x, op, drawn.apply)
    if isinstance(op, RandomRotation):
        return affine(x, drawn.angle, interpolation=op.interpolation, fill=op.fill)
    if isinstance(op, RandomAffine):
        # RandomAffine hands its angle to F.affine, whose angle is clockwise (F.rotate's is counter-clockwise)
        return affine(x, -drawn.angle, drawn.translate, drawn.scale, op.interpolation, op.fill)
    if isinstance(op, RandomResizedCrop):
        return random_resized_crop(x, op, drawn.box)
    raise TypeError(f"unknown augmentation {op!r}")


class Augmenter:
    """The recipe's augmentation list as one callable over a stack of K copies' batches.

    `__call__(x, generators)` takes x [K, B, C, H, W] and one generator per copy;
    parameters for copy k are drawn from generators[k] in a fixed order. Pass a list as `record`
    to get each op's `Drawn` parameters appended to it (tests compare them with reference ops).
    """

    def __init__(self, entries):
        self.ops = [augmentation_op(e) for e in entries]

    def __bool__(self):
        return bool(self.ops)

    def __call__(self, x: torch.Tensor, generators: list[torch.Generator],
                 record: list[Drawn] | None = None) -> torch.Tensor:
        k, b = x.shape[:2]
        flat = x.reshape(k * b, *x.shape[2:])
        for op in self.ops:
            drawn = draw(op, flat, b, generators)
            if record is not None:
                record.append(drawn)
            flat = apply_drawn(flat, drawn)
        return flat.reshape(x.shape)
