"""RandomResizedCrop and a separate test-set normalisation (issue 23), against torchvision's documented semantics.

torchvision does not import beside this CPU-only torch, so, as tests/test_augment_pillow.py does for the other
ops: the box draw is checked against torchvision's `RandomResizedCrop.get_params` algorithm written out here from
its documentation and source (10 tries of a uniform area share and a log-uniform aspect ratio, then a centre
crop), consuming the same generator; the crop-and-resize against Pillow's `crop` and `resize` (torchvision's PIL
path) within 1/255; and the test transform's Normalize against (x / 255 - mean) / std.
"""

import math

import numpy as np
import pytest
import torch
from _support import synthetic_mnist
from PIL import Image
from pydantic import TypeAdapter, ValidationError

from harness.augment import Augmenter, Drawn, apply_drawn, draw
from harness.engine import DeviceData
from harness.schema import AugmentationEntry, RandomResizedCrop, Recipe

ENTRIES = TypeAdapter(list[AugmentationEntry])
LSB, EPS = 1 / 255, 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def op(**kw) -> RandomResizedCrop:
    return RandomResizedCrop(**kw)


def torchvision_get_params(height, width, scale, ratio, g):
    """torchvision.transforms.RandomResizedCrop.get_params, transcribed (its RNG calls in order, on `g`)."""
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=g).item()
        aspect_ratio = torch.exp(torch.empty(1).uniform_(log_ratio[0].item(), log_ratio[1].item(), generator=g)).item()
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = torch.randint(0, height - h + 1, size=(1,), generator=g).item()
            j = torch.randint(0, width - w + 1, size=(1,), generator=g).item()
            return i, j, h, w
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


@pytest.mark.parametrize("scale, ratio", [([0.08, 1.0], [3 / 4, 4 / 3]), ([0.85, 1.0], [0.75, 1.33]),
                                          ([0.5, 0.5], [1.0, 1.0])])
def test_boxes_are_drawn_as_torchvision_draws_them(scale, ratio):
    x = torch.zeros(64, 1, 28, 28)
    drawn = draw(op(scale=scale, ratio=ratio), x, 64, [gen(3)])
    reference, g = [], gen(3)
    for _ in range(64):
        reference.append(torchvision_get_params(28, 28, scale, ratio, g))
    assert drawn.box.tolist() == [list(r) for r in reference]


def test_impossible_boxes_fall_back_to_the_centre_crop():
    # on a square image a 3:1 to 4:1 box of 90% of the area never fits: torchvision crops the centre at ratio 3
    drawn = draw(op(scale=[0.9, 1.0], ratio=[3.0, 4.0]), torch.zeros(5, 1, 28, 28), 5, [gen(0)])
    assert drawn.box.tolist() == [[9, 0, 9, 28]] * 5  # h = round(28 / 3) = 9, top = (28 - 9) // 2
    tall = draw(op(scale=[0.9, 1.0], ratio=[0.25, 0.3]), torch.zeros(2, 1, 28, 28), 2, [gen(0)])
    assert tall.box.tolist() == [[0, 10, 28, 8]] * 2  # w = round(28 * 0.3) = 8


def test_boxes_follow_the_stated_area_and_ratio():
    drawn = draw(op(scale=[0.5, 0.9], ratio=[0.8, 1.25]), torch.zeros(2000, 1, 28, 28), 2000, [gen(1)])
    top, left, h, w = drawn.box.T.double()
    area = h * w / 784
    assert area.min() >= 0.5 - 0.08 and area.max() <= 0.9 + 0.08  # sides are rounded to whole pixels
    assert (w / h).min() >= 0.8 * 0.9 and (w / h).max() <= 1.25 * 1.1
    assert (top + h).max() <= 28 and (left + w).max() <= 28 and top.min() >= 0 and left.min() >= 0


@pytest.fixture(scope="module", params=["synthetic", "noise"])
def images(request) -> torch.Tensor:
    if request.param == "synthetic":
        return synthetic_mnist(train=64, test=0).train_images
    return torch.randint(0, 256, (64, 28, 28), generator=gen(5), dtype=torch.uint8)


def test_crop_and_resize_equals_pillow_within_1_255(images):
    """torchvision's PIL path: img.crop((left, top, left + w, top + h)).resize((28, 28), BILINEAR). Pillow rounds
    to 8 bits, so within one level; every box enlarges (or keeps) the crop, where antialias plays no part."""
    x = images.float().div(255).unsqueeze(1)
    record: list[Drawn] = []
    augmenter = Augmenter(ENTRIES.validate_python([{"random_resized_crop": {"scale": [0.3, 1.0]}}]))
    out = augmenter(x.unsqueeze(0), [gen(2)], record=record)[0]
    ref = []
    for image, (top, left, h, w) in zip(images, record[0].box.tolist()):
        picture = Image.fromarray(image.numpy()).crop((left, top, left + w, top + h))
        ref.append(torch.from_numpy(np.array(picture.resize((28, 28), Image.Resampling.BILINEAR))))
    ref = torch.stack(ref).float().div(255).unsqueeze(1)
    torch.testing.assert_close(out, ref, rtol=0, atol=LSB + EPS)
    assert len({tuple(b) for b in record[0].box.tolist()}) > 50  # a different box per sample


def test_a_full_box_keeps_the_image():
    x = torch.rand(3, 1, 28, 28, generator=gen(0))
    full = Drawn(op(), box=torch.tensor([[0, 0, 28, 28]] * 3))
    assert torch.equal(apply_drawn(x, full), x)


def test_stacked_copies_draw_what_single_runs_draw():
    entries = ENTRIES.validate_python([{"random_resized_crop": {"scale": [0.5, 1.0]}}, {"random_rotation": {"degrees": 10}}])
    x = torch.rand(2, 8, 1, 28, 28, generator=gen(0))
    together = Augmenter(entries)(x.clone(), [gen(10), gen(11)])
    alone = [Augmenter(entries)(x[k:k + 1].clone(), [gen(10 + k)])[0] for k in range(2)]
    assert torch.equal(together[0], alone[0]) and torch.equal(together[1], alone[1])


def test_the_yaml_form_is_checked():
    assert ENTRIES.validate_python([{"random_resized_crop": {}}])[0].random_resized_crop.scale == [0.08, 1.0]
    with pytest.raises(ValidationError, match="low, high"):
        op(scale=[0.9, 0.5])
    with pytest.raises(ValidationError):
        op(scale=[0.0, 1.0])
    with pytest.raises(ValidationError, match="random_resized_crop"):
        ENTRIES.validate_python([{"random_resized_cropp": {}}])


# --------------------------------------------------------------------------- the test set's own normalisation

def test_test_images_take_their_own_normalisation():
    mnist = synthetic_mnist(train=16, test=8)
    same = DeviceData(mnist, torch.device("cpu"), 0.1307, 0.3081)
    other = DeviceData(mnist, torch.device("cpu"), 0.1307, 0.3081, test_mean=0.5, test_std=0.5)
    raw = mnist.test_images.float().div(255).unsqueeze(1)
    torch.testing.assert_close(same.test_x, (raw - 0.1307) / 0.3081)
    torch.testing.assert_close(other.test_x, (raw - 0.5) / 0.5)
    assert (other.mean, other.std) == (0.1307, 0.3081) and torch.equal(other.train_x, same.train_x)


def test_recipe_field_defaults_to_training_normalisation_and_leaves_hashes_alone():
    base = {"epochs": 1, "batch_size": 8, "optimizer": {"type": "SGD", "lr": 0.1}, "loss": {"type": "nll"},
            "normalization": {"mean": 0.1307, "std": 0.3081}}
    recipe = Recipe.model_validate(base)
    assert recipe.test_normalization is None
    assert "test_normalization" not in recipe.model_dump(mode="json", exclude_defaults=True)  # training_form
    assert Recipe.model_validate({**base, "test_normalization": {"mean": 0.5, "std": 0.5}}).test_normalization.std == 0.5


def test_both_train_through_the_engine(tiny_mnist):
    """A recipe with RandomResizedCrop and its own test normalisation trains; the test normalisation changes only
    the evaluation (same training losses, different test losses)."""
    from _support import spec_named

    from harness.engine import RunOptions, train
    from harness.specs import with_overrides

    loaded = spec_named("heavy-to-8k/model3")
    small = RunOptions(epochs=1, batch_size=64, train_limit=256, test_limit=128)
    crop = with_overrides(loaded, {"recipe": {"augmentation": [{"random_resized_crop": {"scale": [0.8, 1.0]}}]}})
    shifted = with_overrides(loaded, {"recipe": {"augmentation": [{"random_resized_crop": {"scale": [0.8, 1.0]}}],
                                                 "test_normalization": {"mean": 0.5, "std": 0.5}}})
    a, b = train(crop, tiny_mnist, [0], small)[0], train(shifted, tiny_mnist, [0], small)[0]
    assert a.outcome == b.outcome == "ok" and a.train_loss == b.train_loss and a.test_loss != b.test_loss
