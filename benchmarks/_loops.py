"""The training loops the benchmark compares, each timed over the same number of steps per seed.

* plain: what a README's notebook does with the data already in memory: a
  DataLoader over the same tensors (shuffle, batch; augmentation per sample in
  the Dataset when the recipe augments), one model, eager.
* engine: harness.engine.train on the same recipe, data on the device,
  seeds one at a time (stack=1) or several in one stacked module.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.data import MNIST, load_mnist
from harness.engine import RunOptions, train
from harness.model import build_seeded
from harness.recipe import make_optimizer, make_scheduler, steps_per_epoch
from harness.runner import plan_for
from harness.specs import load_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"

# recipe -> variant -> {"per_seed", "peak_host_mib", "peak_gpu_mib", "gflops", ...}; printed by conftest.py at the end
RESULTS: dict[str, dict[str, dict]] = {}
# recipe -> candidate -> {"per_seed", "gflops", "one_off_s", "note"} (test_candidates.py, --bench-candidates)
CANDIDATES: dict[str, dict[str, dict]] = {}


def mnist() -> MNIST:
    """Real MNIST when MNIST_ROOT is set; otherwise random digits of the same shape (speed is the same)."""
    if os.environ.get("MNIST_ROOT"):
        return load_mnist()
    g = torch.Generator().manual_seed(0)
    return MNIST(torch.randint(0, 256, (60000, 28, 28), generator=g, dtype=torch.uint8),
                 torch.randint(0, 10, (60000,), generator=g), torch.randint(0, 256, (10000, 28, 28), generator=g,
                                                                             dtype=torch.uint8),
                 torch.randint(0, 10, (10000,), generator=g), Path("/synthetic"))


def spec(spec_id: str):
    return load_spec(SPECS / f"{spec_id}.yaml").spec


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.peak, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PerSampleAugmented(torch.utils.data.Dataset):
    """The READMEs' data path: each sample a PIL image transformed on its own in __getitem__, on the CPU.

    torchvision's transforms where torchvision imports (what the READMEs call); otherwise the same PIL
    operations torchvision performs (crop, resize, rotate, affine), so the baseline costs what a
    README's loop costs."""

    def __init__(self, images, labels, recipe):
        self.images, self.labels, self.recipe = images.numpy(), labels, recipe
        self.transform = _torchvision_transform(recipe) or self._pil_transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), self.labels[i]

    def _pil_transform(self, img):
        import math
        import random

        from PIL import Image

        for entry in self.recipe.augmentation:
            (kind, op), = entry.model_dump().items()
            resample = Image.NEAREST if op.get("interpolation") == "nearest" else Image.BILINEAR
            if kind == "center_crop_resize":
                if random.random() < op["p"]:
                    left = round((img.width - op["crop"]) / 2)
                    img = img.crop((left, left, left + op["crop"], left + op["crop"]))
                img = img.resize((op["size"], op["size"]), Image.BILINEAR)
            elif kind == "random_rotation":
                d = op["degrees"]
                lo, hi = (-d, d) if isinstance(d, (int, float)) else d
                img = img.rotate(random.uniform(lo, hi), resample=resample, fillcolor=int(op["fill"]))
            else:  # random_affine: inverse map about the centre, as torchvision hands PIL
                d = op["degrees"]
                lo, hi = (-d, d) if isinstance(d, (int, float)) else d
                a = math.radians(random.uniform(lo, hi))
                tx, ty = ((round(random.uniform(-t * img.width, t * img.width)) for t in op["translate"])
                          if op["translate"] else (0, 0))
                sc = random.uniform(*op["scale"]) if op["scale"] else 1.0
                cx, cy = img.width * 0.5, img.height * 0.5
                m = [math.cos(a) / sc, math.sin(a) / sc, 0.0, -math.sin(a) / sc, math.cos(a) / sc, 0.0]
                m[2] = m[0] * (-cx - tx) + m[1] * (-cy - ty) + cx
                m[5] = m[3] * (-cx - tx) + m[4] * (-cy - ty) + cy
                img = img.transform(img.size, Image.AFFINE, m, resample, fillcolor=int(op["fill"]))
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(1, img.height, img.width)
        norm = self.recipe.normalization
        return x.float().div(255).sub(norm.mean).div(norm.std)


def _torchvision_transform(recipe):
    try:
        from torchvision.transforms import InterpolationMode, v2
    except Exception:
        return None
    steps = [v2.PILToTensor(), v2.ToDtype(torch.float32, scale=True)]
    for entry in recipe.augmentation:
        (kind, op), = entry.model_dump().items()
        mode = InterpolationMode.NEAREST if op.get("interpolation") == "nearest" else InterpolationMode.BILINEAR
        if kind == "center_crop_resize":
            steps += [v2.RandomApply([v2.CenterCrop(op["crop"])], p=op["p"]), v2.Resize((op["size"], op["size"]))]
        elif kind == "random_rotation":
            steps.append(v2.RandomRotation(op["degrees"], interpolation=mode, fill=op["fill"]))
        else:
            steps.append(v2.RandomAffine(op["degrees"], op["translate"], op["scale"], interpolation=mode,
                                         fill=op["fill"]))
    norm = recipe.normalization
    return v2.Compose([*steps, v2.Normalize([norm.mean], [norm.std])])


def plain_loop(s, data: MNIST, steps: int, device: torch.device):
    """One model, eager, DataLoader(shuffle=True) over the same tensors, as the READMEs train:
    normalized up front, or augmented per sample in __getitem__ when the recipe augments."""
    norm = s.recipe.normalization
    if s.recipe.augmentation:
        dataset = PerSampleAugmented(data.train_images, data.train_labels, s.recipe)
    else:
        x = data.train_images.float().div(255).sub(norm.mean).div(norm.std).unsqueeze(1)
        dataset = torch.utils.data.TensorDataset(x, data.train_labels)
    loader = torch.utils.data.DataLoader(dataset, batch_size=s.recipe.batch_size, shuffle=True)
    torch.manual_seed(0)
    model = build_seeded(s.architecture, 0).to(device)

    def run():
        opt = make_optimizer(s.recipe, model.parameters())  # the same recipe: optimizer and scheduler
        sched = make_scheduler(s.recipe, opt, s.recipe.epochs, steps_per_epoch(60000, s.recipe.batch_size))
        per_batch = sched is not None and s.recipe.scheduler.step_every == "batch"
        model.train()
        batches = iter(loader)
        for _ in range(steps):
            xb, yb = next(batches)
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            loss = F.nll_loss(out, yb) if s.recipe.loss.type == "nll" else F.cross_entropy(
                out, yb, label_smoothing=s.recipe.loss.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if per_batch:
                sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return steps * s.recipe.batch_size  # samples per seed

    return run


def engine_loop(s, data: MNIST, steps: int, device: torch.device, seeds: int):
    """The engine as the audit runs it: runner.plan_for decides stacking and memory format."""
    stack, channels_last = plan_for(device, s, seeds, None)
    options = RunOptions(device=device, epochs=1, max_batches=steps, test_limit=1, channels_last=channels_last)
    groups = [list(range(seeds))[i:i + stack] for i in range(0, seeds, stack)]

    def run():
        for group in groups:
            train(s, data, group, options)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return steps * s.recipe.batch_size

    return run


# --------------------------------------------------------------------------- the distance to the limit

_flops: dict[str, float] = {}


def train_flops_per_sample(s) -> float:
    """FLOPs of one training sample (forward + loss + backward) of the built model, as
    torch.utils.flop_counter.FlopCounterMode counts them (matmuls and convolutions); once per recipe."""
    from harness.plan import flops_per_sample

    key = s.model_dump_json(include={"architecture"})
    if key not in _flops:
        _flops[key] = flops_per_sample(s.architecture)[0]
    return _flops[key]


MATMUL_SIZE = 2048


def matmul_gflops(threads: int, seconds: float = 1.0) -> float:
    """fp32 GFLOP/s of a large matmul at `threads` threads: the arithmetic peak a training step can approach
    (best of three runs of about `seconds`/3 each)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
        out = torch.empty(MATMUL_SIZE, MATMUL_SIZE)
        for _ in range(2):
            torch.mm(a, b, out=out)  # warm-up
        best = 0.0
        for _ in range(3):
            n, started = 0, time.perf_counter()
            while n < 2 or time.perf_counter() - started < seconds / 3:
                torch.mm(a, b, out=out)
                n += 1
            best = max(best, 2 * MATMUL_SIZE ** 3 * n / (time.perf_counter() - started) / 1e9)
        return best
    finally:
        torch.set_num_threads(saved)


def matmul_worker(ready, out) -> None:
    """One single-threaded process of the two-worker peak: both multiply at once, as two xdist workers train."""
    torch.set_num_threads(1)
    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE), torch.randn(MATMUL_SIZE, MATMUL_SIZE)
    torch.mm(a, b)
    ready.wait()
    out.put(matmul_gflops(1, seconds=1.5))


def two_worker_peak() -> float:
    """Summed fp32 matmul GFLOP/s of two single-threaded processes running at the same time."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ready, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=matmul_worker, args=(ready, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    return sum(results)


def worker(spec_id: str, steps: int, seeds: int, ready, out) -> None:  # seeds: this worker's share
    """One single-threaded engine process of the 'workers' variant: warm up, wait for the other, train, report."""
    torch.set_num_threads(1)
    s, data = spec(spec_id), mnist()
    run = engine_loop(s, data, steps, torch.device("cpu"), seeds)
    engine_loop(s, data, 2, torch.device("cpu"), seeds)()  # warm-up
    ready.wait()  # a barrier: both train at once, neither while the other still loads data
    started = time.perf_counter()
    with PeakRSS() as mem:
        run()
    out.put((time.perf_counter() - started, mem.peak))
