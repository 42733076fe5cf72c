"""The training loops the benchmark compares, each timed over the same number of steps per seed.

* plain: what a README's notebook does with the data already in memory: a
  DataLoader over the same tensors (shuffle, batch), one model, eager.
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
from harness.recipe import make_optimizer
from harness.specs import load_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"

# recipe -> variant -> {"per_seed", "peak_host_mib", "peak_gpu_mib"}; printed by conftest.py at the end
RESULTS: dict[str, dict[str, dict]] = {}


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


def plain_loop(s, data: MNIST, steps: int, device: torch.device):
    """One model, eager, DataLoader(shuffle=True) over normalized tensors, as the READMEs train."""
    norm = s.recipe.normalization
    x = data.train_images.float().div(255).sub(norm.mean).div(norm.std).unsqueeze(1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, data.train_labels),
                                         batch_size=s.recipe.batch_size, shuffle=True)
    torch.manual_seed(0)
    model = build_seeded(s.architecture, 0).to(device)
    opt = make_optimizer(s.recipe, model.parameters())

    def run():
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
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return steps * s.recipe.batch_size  # samples per seed

    return run


def engine_loop(s, data: MNIST, steps: int, device: torch.device, seeds: int):
    options = RunOptions(device=device, epochs=1, max_batches=steps, test_limit=1)

    def run():
        train(s, data, list(range(seeds)), options)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return steps * s.recipe.batch_size

    return run


def worker(spec_id: str, steps: int, seeds: int, go, out) -> None:
    """One single-threaded engine process of the 'workers' variant: warm up, wait for go, train, report."""
    torch.set_num_threads(1)
    s, data = spec(spec_id), mnist()
    run = engine_loop(s, data, steps, torch.device("cpu"), seeds)
    engine_loop(s, data, 2, torch.device("cpu"), seeds)()  # warm-up
    go.wait()
    started = time.perf_counter()
    with PeakRSS() as mem:
        run()
    out.put((time.perf_counter() - started, mem.peak))
