"""The training engine: the seeds of one spec trained together on one device.

The data set lives on the training device; each step gathers K batches (one
per seed, each from that seed's own shuffled order), augments them per
sample, normalizes, and trains the K-copy model of `harness.stacked`.
Each seed owns three generators (data order, augmentation, dropout) and its
initialisation comes from `torch.manual_seed(seed)`, so copy k is the same
run whether it trains alone or beside others.

A copy whose loss turns NaN/inf is recorded as diverged: its later epochs
repeat the evaluation of its diverged state (what an uninterrupted run would
report) and the run stops early once every copy has diverged. Runs past
their time budget raise `RunTimeout` carrying what was measured; a
checkpoint after every epoch lets a killed run resume bit for bit.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from harness.augment import Augmenter
from harness.data import MNIST
from harness.environment import configure_determinism, retain_freed_memory
from harness.model import build_stacked
from harness.recipe import copy_losses, make_optimizer, make_scheduler, steps_per_epoch
from harness.results import SeedCurve
from harness.schema import Spec

CHECK_EVERY = 25  # steps between host syncs (divergence, time budget, progress)
EARLY_CHECKS = frozenset({1, 2, 4, 8, 16})  # extra checks at the start: diverging recipes stop within a few steps


class CheckpointDiscarded(RuntimeError):
    """A checkpoint could not be used; `train` starts again from scratch."""


class RunTimeout(RuntimeError):
    def __init__(self, message: str, curves: list[SeedCurve]):
        super().__init__(message)
        self.curves = curves


@dataclass
class RunOptions:
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    epochs: int | None = None         # fewer epochs than the recipe (smoke)
    max_batches: int | None = None    # batches per epoch cap (smoke)
    train_limit: int | None = None    # first N training samples (smoke, tests)
    test_limit: int | None = None     # first N test samples
    batch_size: int | None = None     # smaller batches than the recipe (smoke)
    timeout: float | None = None      # seconds for the whole run
    checkpoint: Path | None = None    # resume from / save to this file after every epoch
    progress: bool = False
    label: str = ""
    channels_last: bool | None = None  # memory format; runner.plan_for picks the measured best

    def shape_key(self) -> dict:
        """The options that change results (part of the cache key)."""
        return {"epochs": self.epochs, "max_batches": self.max_batches, "batch_size": self.batch_size,
                "train_limit": self.train_limit, "test_limit": self.test_limit}


# --------------------------------------------------------------------------- device data

class DeviceData:
    """MNIST on the training device: uint8 train images, normalized float test images."""

    def __init__(self, mnist: MNIST, device: torch.device, mean: float, std: float,
                 train_limit: int | None = None, test_limit: int | None = None,
                 test_mean: float | None = None, test_std: float | None = None):
        self.train_x = mnist.train_images[:train_limit].to(device)
        self.train_y = mnist.train_labels[:train_limit].to(device)
        self.mean, self.std = mean, std
        test = mnist.test_images[:test_limit].to(device).float().div_(255).unsqueeze(1)
        # a README's test transform may normalize with other values than its training transform
        self.test_x = test.sub_(mean if test_mean is None else test_mean).div_(std if test_std is None else test_std)
        self.test_y = mnist.test_labels[:test_limit].to(device)

    @property
    def train_size(self) -> int:
        return self.train_x.shape[0]


_data_cache: dict[tuple, DeviceData] = {}


def device_data(mnist: MNIST, spec: Spec, options: RunOptions) -> DeviceData:
    norm = spec.recipe.normalization
    mean, std = (norm.mean, norm.std) if norm else (0.0, 1.0)
    test_norm = spec.recipe.test_normalization
    test_mean, test_std = (test_norm.mean, test_norm.std) if test_norm else (None, None)  # None: training's
    key = (str(mnist.root), str(options.device), mean, std, options.train_limit, options.test_limit, test_mean,
           test_std)
    if key not in _data_cache:
        if len(_data_cache) > 4:
            _data_cache.clear()
        _data_cache[key] = DeviceData(mnist, options.device, mean, std, options.train_limit, options.test_limit,
                                      test_mean, test_std)
    return _data_cache[key]


# --------------------------------------------------------------------------- seeds and environment

def seed_generators(seed: int, device: torch.device) -> dict[str, torch.Generator]:
    """One independent stream per purpose, derived from the seed."""
    gens = {}
    for offset, purpose in enumerate(("order", "augment", "dropout"), start=1):
        g = torch.Generator(device=device)
        g.manual_seed(seed * 1_000_003 + offset)
        gens[purpose] = g
    return gens


# --------------------------------------------------------------------------- training

class SchedulerBoundary:
    """The one place the LR scheduler is stepped: after each batch, or after each epoch (with its test
    metric for ReduceLROnPlateau), as the recipe says."""

    def __init__(self, recipe, scheduler):
        self.scheduler = scheduler
        self.every = recipe.scheduler.step_every if scheduler is not None else None
        self.monitor = getattr(recipe.scheduler, "monitor", None)

    def after_batch(self) -> None:
        if self.every == "batch":
            self.scheduler.step()

    def after_epoch(self, test_loss: list[float], test_accuracy: list[float]) -> None:
        if self.every != "epoch":
            return
        if self.monitor is None:
            self.scheduler.step()
        else:  # one model per decision: runner.plan_for never stacks a plateau recipe
            assert len(test_loss) == 1, "ReduceLROnPlateau decides per seed; its seeds train one at a time"
            self.scheduler.step(test_loss[0] if self.monitor == "test_loss" else test_accuracy[0])


class TrainStep:
    """One optimisation step of the K-copy model on one batch per copy; free of host syncs."""

    def __init__(self, spec: Spec, model, optimizer, boundary: SchedulerBoundary, data: DeviceData, gens, fmt):
        self.recipe, self.model, self.optimizer, self.data, self.fmt = spec.recipe, model, optimizer, data, fmt
        self.boundary = boundary
        self.augment = Augmenter(spec.recipe.augmentation)
        self.augment_gens = [g["augment"] for g in gens]

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx [K, b] -> (per-copy loss [K], per-copy correct count [K])."""
        data, (h, w) = self.data, self.data.train_x.shape[1:]
        x = data.train_x[idx].unsqueeze(2).float().div_(255)             # [K, b, 1, H, W]
        if self.augment:
            x = self.augment(x, self.augment_gens)
        x = x.sub_(data.mean).div_(data.std).transpose(0, 1).reshape(idx.shape[1], -1, h, w)  # [b, K*C, H, W]
        y = data.train_y[idx]
        out = self.model(x.contiguous(memory_format=self.fmt))           # [K, b, classes]
        losses = copy_losses(self.recipe, out, y)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        self.boundary.after_batch()
        return losses.detach(), (out.detach().argmax(-1) == y).sum(1)


@dataclass
class Prepared:
    """What trains `seeds` together: the stacked model, its optimizer and schedule, the seeds' generators, the step."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    boundary: SchedulerBoundary
    gens: list[dict[str, torch.Generator]]
    step: TrainStep


def prepare(spec: Spec, data: DeviceData, seeds: list[int], device: torch.device, fmt, epochs: int,
            steps: int) -> Prepared:
    """The one setup of a training run, shared by `train` and the plan's calibration (plan.time_training),
    so the step it times is the step the audit runs: device flags, allocator, model, optimizer, schedule."""
    configure_determinism(device)
    retain_freed_memory(device)
    recipe = spec.recipe
    model = build_stacked(spec.architecture, seeds).to(device=device, memory_format=fmt)
    gens = [seed_generators(s, device) for s in seeds]
    model.set_dropout_generators([g["dropout"] for g in gens])
    optimizer = make_optimizer(recipe, model.parameters())
    scheduler = make_scheduler(recipe, optimizer, epochs, steps)
    boundary = SchedulerBoundary(recipe, scheduler)
    return Prepared(model, optimizer, scheduler, boundary, gens, TrainStep(spec, model, optimizer, boundary, data,
                                                                           gens, fmt))


def train(spec: Spec, mnist: MNIST, seeds: list[int], options: RunOptions) -> list[SeedCurve]:
    """Train `seeds` of `spec` together; one SeedCurve per seed.

    With `options.checkpoint`, the state after every epoch (the last included) is saved there and a
    run finding it resumes; the caller removes it once the curves are stored (runner.py)."""
    recipe, device, k = spec.recipe, options.device, len(seeds)
    data = device_data(mnist, spec, options)
    epochs, batch = options.epochs or recipe.epochs, options.batch_size or recipe.batch_size
    steps = steps_per_epoch(data.train_size, batch)
    if options.max_batches:
        steps = min(steps, options.max_batches)
    fmt = torch.channels_last if options.channels_last else torch.contiguous_format  # runner.plan_for decides

    run = prepare(spec, data, seeds, device, fmt, epochs, steps)
    model, optimizer, scheduler, boundary, gens, train_step = (run.model, run.optimizer, run.scheduler, run.boundary,
                                                               run.gens, run.step)
    curves = [SeedCurve(seed) for seed in seeds]
    diverged = torch.zeros(k, dtype=torch.bool, device=device)
    start_epoch = 0
    if options.checkpoint:
        try:
            resumed = _resume(options.checkpoint, seeds, model, optimizer, scheduler, gens, device)
        except CheckpointDiscarded:
            return train(spec, mnist, seeds, options)  # the file is gone; rebuild everything it may have touched
        if resumed is not None:
            start_epoch, curves, diverged = resumed

    started = time.monotonic()
    bar = _progress(options, epochs * steps, start_epoch * steps)
    for epoch in range(start_epoch, epochs):
        if bool(diverged.all()):
            break  # resumed after the epoch where every copy diverged
        model.train()
        order = torch.stack([torch.randperm(data.train_size, generator=g["order"], device=device) for g in gens])
        loss_sum = torch.zeros(k, device=device)
        correct = torch.zeros(k, dtype=torch.long, device=device)
        seen = bar_step = 0
        for step in range(steps):
            idx = order[:, step * batch:(step + 1) * batch]
            losses, hits = train_step(idx)
            diverged |= ~torch.isfinite(losses)
            loss_sum += losses
            correct += hits
            seen += idx.shape[1]
            if (step + 1) % CHECK_EVERY == 0 or (epoch == 0 and step + 1 in EARLY_CHECKS):  # the only host syncs
                _check_time(options, started, curves, epoch)
                bar.update(step + 1 - bar_step)
                bar_step = step + 1
                if options.progress:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{(loss_sum / (step + 1)).mean().item():.4f}",
                                    acc=f"{100 * correct.sum().item() / (k * seen):.2f}",
                                    samples_s=f"{k * seen / max(time.monotonic() - started, 1e-9):,.0f}")
                if bool(diverged.all()):
                    break  # nothing left to learn; the evaluation below records the diverged state
        bar.update(step + 1 - bar_step)
        test_acc, test_loss = evaluate(model, data, recipe.test_batch_size, fmt)
        boundary.after_epoch(test_loss, test_acc)
        train_acc = (100.0 * correct.double() / seen).tolist()
        train_loss = (loss_sum.double() / (step + 1)).tolist()
        _record_epoch(curves, epoch, diverged.tolist(), test_acc, test_loss, train_acc, train_loss,
                      optimizer.param_groups[0]["lr"])
        if options.checkpoint:
            _save_checkpoint(options.checkpoint, seeds, epoch + 1, model, optimizer, scheduler, gens, curves, diverged)
        if bool(diverged.all()):
            break
        if epoch + 1 < epochs:
            _check_time(options, started, curves, epoch + 1)
    bar.close()
    _fill_diverged(curves, epochs)
    return curves


@torch.no_grad()
def evaluate(model, data: DeviceData, batch_size: int, fmt=torch.contiguous_format) -> tuple[list[float], list[float]]:
    """Test accuracy (percent) and mean cross-entropy per copy, model in eval mode."""
    model.eval()
    k = model.copies
    correct = torch.zeros(k, dtype=torch.long, device=data.test_x.device)
    loss = torch.zeros(k, dtype=torch.float64, device=data.test_x.device)
    for start in range(0, data.test_x.shape[0], batch_size):
        x, y = data.test_x[start:start + batch_size], data.test_y[start:start + batch_size]
        c = x.shape[1]
        x = x.repeat(1, k, 1, 1) if c > 1 else x.expand(-1, k, -1, -1)
        out = model(x.contiguous(memory_format=fmt))  # [K, b, classes]
        targets = y.expand(k, -1)
        loss += torch.nn.functional.cross_entropy(out.transpose(1, 2), targets, reduction="none").sum(1).double()
        correct += (out.argmax(-1) == targets).sum(1)
    n = data.test_x.shape[0]
    return (100.0 * correct.double() / n).tolist(), (loss / n).tolist()


def _record_epoch(curves, epoch, diverged, test_acc, test_loss, train_acc, train_loss, lr):
    for i, curve in enumerate(curves):
        if curve.outcome == "diverged":
            continue  # already filled up to the end by _fill_diverged
        if diverged[i]:
            curve.outcome, curve.diverged_epoch = "diverged", epoch + 1
            train_acc[i] = train_loss[i] = math.nan  # an epoch that diverged has no meaningful training figures
        curve.test_accuracy.append(test_acc[i])
        curve.test_loss.append(test_loss[i])
        curve.train_accuracy.append(train_acc[i])
        curve.train_loss.append(train_loss[i])
        curve.lr.append(lr)


def _fill_diverged(curves, epochs):
    """A diverged model stays diverged: its remaining epochs repeat its last evaluation."""
    for curve in curves:
        while curve.outcome == "diverged" and len(curve.test_accuracy) < epochs:
            curve.test_accuracy.append(curve.test_accuracy[-1])
            curve.test_loss.append(curve.test_loss[-1])
            curve.train_accuracy.append(math.nan)
            curve.train_loss.append(math.nan)
            curve.lr.append(curve.lr[-1])


def _check_time(options, started, curves, epochs_done):
    if options.timeout is not None and time.monotonic() - started > options.timeout:
        for c in curves:
            c.outcome, c.detail = "timeout", f"stopped after {epochs_done} complete epochs"
        raise RunTimeout(f"{options.label or 'run'} exceeded its {options.timeout:g} s budget "
                         f"after {epochs_done} epochs", curves)


class _NoBar:
    def update(self, n): pass
    def set_postfix(self, **kw): pass
    def close(self): pass


def _progress(options: RunOptions, total: int, initial: int):
    if not options.progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=options.label, unit="batch", leave=False,
                file=sys.__stderr__, dynamic_ncols=True, mininterval=1.0)


# --------------------------------------------------------------------------- checkpoints

CHECKPOINT_FORMAT = 2


def _save_checkpoint(path: Path, seeds, epoch, model, optimizer, scheduler, gens, curves, diverged) -> None:
    """Tensors and plain values only: `_resume` loads it with `weights_only=True` (no pickle code runs)."""
    state = {"format": CHECKPOINT_FORMAT, "seeds": list(seeds), "epoch": epoch, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "generators": [{p: g.get_state() for p, g in gen.items()} for gen in gens],
             "curves": [c.to_json() for c in curves], "diverged": diverged.cpu()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)  # atomic: a kill leaves the previous checkpoint intact
    finally:
        tmp.unlink(missing_ok=True)


def _resume(path: Path, seeds, model, optimizer, scheduler, gens, device):
    """(epoch, curves, diverged) from a checkpoint of this very run, or None to start fresh.

    A damaged, foreign or unreadable checkpoint is discarded with a warning: it never blocks a spec."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if state.get("format") != CHECKPOINT_FORMAT or state.get("seeds") != list(seeds):
            raise ValueError("not a checkpoint of this run")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        for gen, saved in zip(gens, state["generators"], strict=True):
            for purpose, g in gen.items():
                g.set_state(saved[purpose].cpu())
        curves = [SeedCurve.from_json(c) for c in state["curves"]]
        return int(state["epoch"]), curves, state["diverged"].to(device)
    except Exception as exc:  # any unreadable file means: start fresh
        warnings.warn(f"discarding checkpoint {path}: {type(exc).__name__}: {exc}; the run starts fresh",
                      RuntimeWarning, stacklevel=2)
        path.unlink(missing_ok=True)
        # a partial load may have touched the model or optimizer: the caller rebuilds them
        raise CheckpointDiscarded from exc
