"""The spec schema: what one documented iteration may say, and nothing else.

Every model forbids unknown keys and coerces no types. Optimizer and
scheduler fields are the keyword arguments of the real torch classes
(``type`` names the class); a field left out takes torch's own default,
so a spec states exactly what its README states.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from harness.layers import LayerEntry, NonNegInt, PosInt, Strict, entry_layer
from harness.limits import MAX_EPOCHS, MAX_LAYERS, MNIST_INPUT, MNIST_TRAIN_SAMPLES

Percent = Annotated[float, Field(ge=0.0, le=100.0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]
Text = Annotated[str, Field(min_length=1)]
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Band = Annotated[list[float], Field(min_length=2, max_length=2, description="[low, high], inclusive")]


# --------------------------------------------------------------------------- source and fidelity

class Source(Strict):
    file: Text = Field(description="README file name in shared/claims/")
    section: Text = Field(description="Section, table or log of the README that documents this iteration")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="SHA256 of the README (else _source.yaml's)")


class Fidelity(Strict):
    """How a detail of the spec is known."""

    level: Literal["documented", "documented_in_code", "reconstructed", "unknown"] = Field(
        description="documented: the README's text states it; documented_in_code: only the README's linked code or "
                    "notebook does; reconstructed: inferred; unknown: assumed")
    evidence: str | None = Field(None, description="Where the README states it, or what it was inferred from")
    assumption: str | None = Field(None, description="What the spec assumes (reconstructed, unknown)")
    why: str | None = Field(None, description="Why this assumption (reconstructed)")

    @model_validator(mode="after")
    def _complete(self):
        need = {"documented": ["evidence"], "documented_in_code": ["evidence"], "reconstructed": ["assumption", "why"],
                "unknown": ["assumption"]}
        missing = [f for f in need[self.level] if not getattr(self, f)]
        if missing:
            raise ValueError(f"a {self.level} detail needs {' and '.join(missing)}")
        return self


# Details every spec must label (after `extends` is resolved).
REQUIRED_FIDELITY = ("architecture", "recipe.optimizer", "recipe.scheduler", "recipe.loss", "recipe.batch_size",
                     "recipe.epochs", "recipe.normalization", "recipe.augmentation")


# --------------------------------------------------------------------------- architecture

class Architecture(Strict):
    input: Annotated[list[Annotated[int, Field(gt=0, le=4096)]], Field(min_length=3, max_length=3)] = Field(
        list(MNIST_INPUT), description="Channels, height, width of one sample: MNIST's 1x28x28, the only input fed")
    classes: PosInt = 10
    layers: Annotated[list[LayerEntry], Field(min_length=1, max_length=MAX_LAYERS)]
    defaults: dict[str, dict] | None = Field(
        None, description="Arguments given to every layer of a kind unless it sets them, e.g. {conv: {bias: false}}")
    modify: dict[str, dict | None] | None = Field(
        None, description="Changes to named layers of the inherited architecture; null removes the layer")

    @field_validator("input")
    @classmethod
    def _mnist_input(cls, value):
        if tuple(value) != MNIST_INPUT:
            raise ValueError(f"the harness trains on MNIST, whose samples are {'x'.join(map(str, MNIST_INPUT))}; "
                             f"a model declaring {'x'.join(map(str, value))} would be fed 28x28 images")
        return value

    def layer_list(self):
        return [entry_layer(e) for e in self.layers]


# --------------------------------------------------------------------------- optimizers

class _Optimizer(Strict):
    def kwargs(self) -> dict:
        return self.model_dump(exclude={"type"}, exclude_none=True)


class SGD(_Optimizer):
    type: Literal["SGD"]
    lr: PositiveFloat
    momentum: NonNegFloat | None = None
    dampening: NonNegFloat | None = None
    weight_decay: NonNegFloat | None = None
    nesterov: bool | None = None


class Adam(_Optimizer):
    type: Literal["Adam"]
    lr: PositiveFloat | None = None
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] | None = None
    eps: PositiveFloat | None = None
    weight_decay: NonNegFloat | None = None
    amsgrad: bool | None = None


class AdamW(Adam):
    type: Literal["AdamW"]  # type: ignore[assignment]


class RMSprop(_Optimizer):
    type: Literal["RMSprop"]
    lr: PositiveFloat | None = None
    alpha: Annotated[float, Field(gt=0, lt=1)] | None = None
    eps: PositiveFloat | None = None
    weight_decay: NonNegFloat | None = None
    momentum: NonNegFloat | None = None
    centered: bool | None = None


Optimizer = Annotated[SGD | Adam | AdamW | RMSprop, Field(discriminator="type")]


# --------------------------------------------------------------------------- schedulers

class _Scheduler(Strict):
    step_every: Literal["epoch", "batch"] = Field(
        "epoch", description="When scheduler.step() is called: after every epoch or after every batch")
    per_model: ClassVar[bool] = False  # decides from one model's metric: seeds cannot share a stacked model

    def kwargs(self) -> dict:
        return self.model_dump(exclude={"type", "step_every"}, exclude_none=True)

    def torch_kwargs(self, epochs: int, batches_per_epoch: int) -> dict:
        """The keyword arguments of torch.optim.lr_scheduler.<type> for a run of `epochs` epochs."""
        return self.kwargs()


class StepLR(_Scheduler):
    type: Literal["StepLR"]
    step_size: PosInt
    gamma: PositiveFloat | None = None


class MultiStepLR(_Scheduler):
    type: Literal["MultiStepLR"]
    milestones: Annotated[list[PosInt], Field(min_length=1)]
    gamma: PositiveFloat | None = None

    def torch_kwargs(self, epochs: int, batches_per_epoch: int) -> dict:
        return {**self.kwargs(), "milestones": list(self.milestones)}


class ExponentialLR(_Scheduler):
    type: Literal["ExponentialLR"]
    gamma: PositiveFloat


class CosineAnnealingLR(_Scheduler):
    type: Literal["CosineAnnealingLR"]
    T_max: PosInt
    eta_min: NonNegFloat | None = None


class OneCycleLR(_Scheduler):
    """Stepped per batch. `epochs` and `steps_per_epoch` default to the recipe's (len of the loader)."""

    type: Literal["OneCycleLR"]
    step_every: Literal["batch"] = "batch"
    max_lr: PositiveFloat
    total_steps: PosInt | None = None
    epochs: PosInt | None = None
    steps_per_epoch: PosInt | None = None
    pct_start: Annotated[float, Field(gt=0, lt=1)] | None = None
    anneal_strategy: Literal["cos", "linear"] | None = None
    cycle_momentum: bool | None = None
    base_momentum: NonNegFloat | None = None
    max_momentum: NonNegFloat | None = None
    div_factor: PositiveFloat | None = None
    final_div_factor: PositiveFloat | None = None
    three_phase: bool | None = None

    def torch_kwargs(self, epochs: int, batches_per_epoch: int) -> dict:
        """`epochs` and `steps_per_epoch` default to the run's (len of the loader) unless `total_steps` is given."""
        kwargs = self.kwargs()
        if "total_steps" not in kwargs:
            kwargs.setdefault("epochs", epochs)
            kwargs.setdefault("steps_per_epoch", batches_per_epoch)
        return kwargs


class ReduceLROnPlateau(_Scheduler):
    """Stepped after every epoch on a test metric, as READMEs of this genre do (`scheduler.step(test_loss)`).
    One decision per seed: a spec with it trains each seed as its own model."""

    type: Literal["ReduceLROnPlateau"]
    per_model: ClassVar[bool] = True
    step_every: Literal["epoch"] = "epoch"
    monitor: Literal["test_loss", "test_accuracy"] = Field(
        "test_loss", description="What `scheduler.step()` is given after each epoch")
    mode: Literal["min", "max"] | None = None
    factor: Annotated[float, Field(gt=0, lt=1)] | None = None
    patience: NonNegInt | None = None
    threshold: NonNegFloat | None = None
    threshold_mode: Literal["rel", "abs"] | None = None
    cooldown: NonNegInt | None = None
    min_lr: NonNegFloat | None = None
    eps: NonNegFloat | None = None

    def kwargs(self) -> dict:
        return self.model_dump(exclude={"type", "step_every", "monitor"}, exclude_none=True)


Scheduler = Annotated[StepLR | MultiStepLR | ExponentialLR | CosineAnnealingLR | OneCycleLR | ReduceLROnPlateau,
                      Field(discriminator="type")]


# --------------------------------------------------------------------------- loss, data, augmentation

class CrossEntropy(Strict):
    type: Literal["cross_entropy"]
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    needs_log_softmax: ClassVar[bool] = False  # applied to logits

    def per_sample(self, logits, labels):
        """nn.CrossEntropyLoss's per-sample values (reduction='none')."""
        import torch.nn.functional as F

        return F.cross_entropy(logits, labels, reduction="none", label_smoothing=self.label_smoothing)


class NLL(Strict):
    """nn.NLLLoss on a model that ends with log_softmax."""

    type: Literal["nll"]
    needs_log_softmax: ClassVar[bool] = True  # the model's output must be log-probabilities

    def per_sample(self, log_probs, labels):
        """nn.NLLLoss's per-sample values (reduction='none')."""
        import torch.nn.functional as F

        return F.nll_loss(log_probs, labels, reduction="none")


Loss = Annotated[CrossEntropy | NLL, Field(discriminator="type")]


class Normalization(Strict):
    mean: float
    std: PositiveFloat


Interpolation = Literal["nearest", "bilinear"]


class CenterCropResize(Strict):
    """torchvision RandomApply([CenterCrop(crop)], p) followed by Resize(size)."""

    crop: PosInt
    size: PosInt = 28
    p: Annotated[float, Field(gt=0, le=1)] = 1.0
    interpolation: Interpolation = "bilinear"


class RandomRotation(Strict):
    """torchvision RandomRotation: uniform angle in [-d, d] or [lo, hi] degrees, about the centre."""

    degrees: NonNegFloat | Annotated[list[float], Field(min_length=2, max_length=2)]
    interpolation: Interpolation = "nearest"
    fill: float = 0.0


class RandomAffine(Strict):
    """torchvision RandomAffine without shear: rotation, integer-pixel translation, scale."""

    degrees: NonNegFloat | Annotated[list[float], Field(min_length=2, max_length=2)] = 0.0
    translate: Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=2, max_length=2)] | None = None
    scale: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2)] | None = None
    interpolation: Interpolation = "nearest"
    fill: float = 0.0


class RandomResizedCrop(Strict):
    """torchvision RandomResizedCrop: a box of a random share `scale` of the image's area and a random aspect ratio
    (log-uniform in `ratio`), up to 10 tries, else the centre crop of the ratio nearest the image's; the box is
    resized to `size`, which must be the input side (a box never exceeds the image, so nothing is resized down)."""

    size: PosInt = 28
    scale: Annotated[list[Annotated[float, Field(gt=0, le=1)]], Field(min_length=2, max_length=2)] = [0.08, 1.0]
    ratio: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2)] = [3 / 4, 4 / 3]
    interpolation: Interpolation = "bilinear"

    @model_validator(mode="after")
    def _ordered(self):
        if self.scale[0] > self.scale[1] or self.ratio[0] > self.ratio[1]:
            raise ValueError("scale and ratio must be [low, high]")
        return self


class RandomResizedCropEntry(Strict):
    random_resized_crop: RandomResizedCrop


class CenterCropResizeEntry(Strict):
    center_crop_resize: CenterCropResize


class RandomRotationEntry(Strict):
    random_rotation: RandomRotation


class RandomAffineEntry(Strict):
    random_affine: RandomAffine


def _augmentation_key(value):
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    if isinstance(value, Strict):
        return next(iter(type(value).model_fields))
    return None


AugmentationEntry = Annotated[
    Union[Annotated[CenterCropResizeEntry, Tag("center_crop_resize")],
          Annotated[RandomRotationEntry, Tag("random_rotation")],
          Annotated[RandomAffineEntry, Tag("random_affine")],
          Annotated[RandomResizedCropEntry, Tag("random_resized_crop")]],
    Discriminator(_augmentation_key, custom_error_type="unknown_augmentation",
                  custom_error_message="an augmentation is a one-key mapping: center_crop_resize, random_rotation, "
                                       "random_affine or random_resized_crop"),
]


def augmentation_op(entry) -> Strict:
    return getattr(entry, next(iter(type(entry).model_fields)))


class Recipe(Strict):
    epochs: Annotated[int, Field(gt=0, le=MAX_EPOCHS)]
    batch_size: Annotated[int, Field(gt=0, le=MNIST_TRAIN_SAMPLES)]
    test_batch_size: Annotated[int, Field(gt=0, le=MNIST_TRAIN_SAMPLES)] = Field(
        1000, description="Evaluation batch; no effect on results in eval mode")
    optimizer: Optimizer
    scheduler: Scheduler | None = None
    loss: Loss
    normalization: Normalization | None = None
    augmentation: list[AugmentationEntry] = Field(default_factory=list, description="Applied in order, per sample")
    test_normalization: Normalization | None = Field(
        None, description="The test images' Normalize when it differs from training's (default: `normalization`)")


# --------------------------------------------------------------------------- claims

# One class per claim kind, with its behaviour, in harness/claims.py; re-exported here for the spec model.
from harness.claims import (  # noqa: E402
    Claim,
    DoesNotConverge,
    Expectation,
    FirstEpochReaching,
    Qualitative,
    TestAtEpoch,
    TestCurve,
    TestFinal,
    TestMeanLast,
    TestMinFrom,
    TestPeak,
    TestSpread,
    TestWindow,
    TrainAtEpoch,
    TrainFinal,
    TrainPeak,
    TrainTestGap,
)

__all__ = ["Claim", "DoesNotConverge", "Expectation", "FirstEpochReaching", "Qualitative",
           "TestAtEpoch", "TestCurve", "TestFinal", "TestMeanLast", "TestMinFrom", "TestPeak", "TestSpread",
           "TestWindow", "TrainAtEpoch", "TrainFinal", "TrainPeak", "TrainTestGap"]


# --------------------------------------------------------------------------- findings and the spec

class Finding(Strict):
    """Something the README says that contradicts itself or the harness, kept with the spec."""

    id: Identifier
    kind: Literal["self_contradiction", "inconsistency", "ambiguity"]
    summary: Text
    where: Text
    overrides: dict | None = Field(
        None, description="Spec overrides (merged like `extends`) under which the README's other figure holds")
    parameters: PosInt | None = Field(None, description="Parameter count of the spec with `overrides` applied")

    @model_validator(mode="after")
    def _count_with_overrides(self):
        if (self.overrides is None) != (self.parameters is None):
            raise ValueError("`overrides` and `parameters` go together")
        return self


class Spec(Strict):
    """One documented iteration of one README."""

    title: Text
    extends: str | None = Field(None, description="Spec this one changes (name in the same folder, or slug/name)")
    source: Source
    architecture: Architecture
    recipe: Recipe
    seeds: PosInt | Annotated[list[NonNegInt], Field(min_length=1)] = Field(
        3, description="Seeds trained by default: a count (seeds 0..N-1) or the README's own values, e.g. [1] "
                       "(--seeds overrides)")

    @property
    def seed_values(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)
    claims: Annotated[list[Claim], Field(min_length=1)]
    fidelity: dict[str, Fidelity]
    findings: list[Finding] = Field(default_factory=list)
    notes: str | None = None
