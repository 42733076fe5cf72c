"""Training throughput per seed, and its distance to the machine's limit: the engine against a plain PyTorch loop.

    pytest benchmarks/ --benchmark-only                       # table + ratios
    pytest benchmarks/ --benchmark-only --benchmark-save=cpu  # keep JSON; later --benchmark-compare

Recipes: 001's 7,784-parameter model at batch 128; 000's final 19,056-parameter
model at batch 512; 003's final model with its augmentation; 000's iteration 1,
a 350,000-parameter network at batch 512 (the audit's most compute-bound model).
The engine runs as the audit does (runner.plan_for: narrow models stack their
seeds; wider ones train one seed at a time; channels_last where it was measured
to win; `2 workers` is `pytest -n 2` on 2 cores, one thread each). Each variant
trains `--bench-samples` samples per seed per round (whole batches; a fifth of
that for iteration 1) on the same data. Every variant runs with the allocator
the engine sets (environment.retain_freed_memory); `glibc malloc defaults`
repeats the two workers with it switched off, its A/B in fresh processes.

Beside seed-samples/s every variant reports achieved GFLOP/s (seed-samples/s x
the recipe's training FLOPs per sample, forward + backward, counted once with
torch.utils.flop_counter.FlopCounterMode) and its share of the machine's fp32
peak, measured in the same session as a 2048x2048 matmul at the same threads
(the in-process variants: torch's thread count; the two workers: two
single-threaded processes multiplying at once). All of it lands in
pytest-benchmark's `extra_info` and in the table printed at the end; nothing is
asserted about speed.
"""

import multiprocessing as mp

import pytest
import torch
from _loops import (
    RESULTS,
    PeakRSS,
    engine_loop,
    matmul_gflops,
    mnist,
    plain_loop,
    spec,
    train_flops_per_sample,
    two_worker_peak,
    worker,
)

from harness.environment import RETAIN_SWITCH, retain_freed_memory
from harness.runner import plan_for

RECIPES = {
    "001 7,784 params, bs 128": "sub8k-20ep/model1",
    "000 19,056 params, bs 512": "sub20k/final",
    "003 final + augmentation": "sub8k-15ep/experiment10",
    "000 iteration 1, 350k params": "sub20k/iteration1",
}
SAMPLE_SHARE = {"sub20k/iteration1": 5}  # ten times the FLOPs per sample of the others: a fifth of the samples


def steps_for(config, s, spec_id: str = "") -> int:
    samples = config.getoption("bench_samples") // SAMPLE_SHARE.get(spec_id, 1)
    return max(1, -(-samples // s.recipe.batch_size))


@pytest.fixture(scope="session", autouse=True)
def retained_memory(device):
    """Every in-process variant, the plain loop too, with the allocator the engine sets on its first call
    (process-wide, not undoable): `vs plain` compares the loops, not the allocators. The two-worker
    variants measure the allocator itself, each in fresh processes."""
    retain_freed_memory(device)


@pytest.fixture(scope="session")
def peak(device):
    """The fp32 matmul peak of this machine, measured now: {threads or 'two workers': GFLOP/s}."""
    if device.type != "cpu":
        return {}
    return {torch.get_num_threads(): matmul_gflops(torch.get_num_threads()), "two workers": two_worker_peak()}


@pytest.fixture(scope="session")
def data():
    return mnist()


@pytest.fixture(scope="session")
def device(pytestconfig):
    name = pytestconfig.getoption("bench_device")
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))


def _variants(device):
    out = [("plain", None), ("engine, 1 seed", 1), ("engine, 4 seeds", 4)]
    if device.type == "cuda":
        out.append(("engine, 8 seeds", 8))
    return out


def _limit(s, per_seed: float, peak_gflops: float | None) -> dict:
    """Achieved GFLOP/s and share of the fp32 peak for `per_seed` seed-samples/s of recipe `s`."""
    flops = train_flops_per_sample(s)
    gflops = per_seed * flops / 1e9
    return {"train_flops_per_sample": flops, "gflops": gflops, "peak_gflops": peak_gflops,
            "share_of_peak": gflops / peak_gflops if peak_gflops else None}


def _record(benchmark, s, recipe, variant, seeds, samples_per_seed, peak_rss, device, peak_gflops):
    per_seed = seeds * samples_per_seed / benchmark.stats.stats.mean  # seed-samples per second
    gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    limit = _limit(s, per_seed, peak_gflops)
    benchmark.extra_info.update(recipe=recipe, variant=variant, seeds=seeds, samples_per_second_per_seed=per_seed,
                                peak_host_mib=peak_rss / 2**20, peak_gpu_mib=gpu, torch=torch.__version__,
                                threads=torch.get_num_threads(), device=str(device), **limit)
    RESULTS.setdefault(recipe, {})[variant] = {"per_seed": per_seed, "peak_host_mib": peak_rss / 2**20,
                                               "peak_gpu_mib": gpu, **limit}


@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("variant", ["plain", "engine, 1 seed", "engine, 4 seeds", "engine, 8 seeds"])
def test_throughput(benchmark, recipe, variant, data, device, pytestconfig, peak):
    seeds = dict(_variants(device)).get(variant, "missing")
    if seeds == "missing":
        pytest.skip("8 seeds are measured on CUDA only")
    s = spec(RECIPES[recipe])
    if seeds and seeds > 1 and plan_for(device, s, seeds, None)[0] == 1:
        pytest.skip("the audit trains this model one seed at a time (runner.plan_for): the same as 1 seed, repeated")
    steps = steps_for(pytestconfig, s, RECIPES[recipe])
    benchmark.group = recipe
    run = plain_loop(s, data, steps, device) if seeds is None else engine_loop(s, data, steps, device, seeds)
    run()  # warm-up (allocator, oneDNN/cuDNN plans)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with PeakRSS() as mem:
        samples = benchmark.pedantic(run, rounds=5, iterations=1)
    _record(benchmark, s, recipe, variant, seeds or 1, samples, mem.peak, device, peak.get(torch.get_num_threads()))


TWO_WORKERS = "engine, 2 workers x 2 seeds"
MALLOC_DEFAULTS = "the same, glibc malloc defaults"  # environment.retain_freed_memory switched off: its A/B


@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("variant", [TWO_WORKERS, MALLOC_DEFAULTS])
def test_throughput_two_workers(benchmark, recipe, variant, device, pytestconfig, peak, monkeypatch):
    """The audit as `pytest -n 2` runs it on 2 cores: two single-threaded engine processes at once,
    each training 2 seeds the way the audit would (stacked or one by one, per runner.plan_for).
    Fresh processes, so the allocator's A/B is fair: mallopt cannot be undone in a process."""
    if device.type != "cpu":
        pytest.skip("the CPU deployment; on GPUs each worker has its own device")
    if variant == MALLOC_DEFAULTS:
        monkeypatch.setenv(RETAIN_SWITCH, "0")  # inherited by the spawned workers
    spec_id = RECIPES[recipe]
    steps = steps_for(pytestconfig, spec(spec_id), spec_id)
    benchmark.group = recipe
    ctx = mp.get_context("spawn")

    def both():
        ready, out = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=worker, args=(spec_id, steps, 2, ready, out)) for _ in range(2)]
        for p in procs:
            p.start()
        results = [out.get(timeout=900) for _ in procs]
        for p in procs:
            p.join()
        return results

    results = benchmark.pedantic(both, rounds=1, iterations=1)
    seconds = max(t for t, _ in results)  # both ran at once; the slower one bounds the wall time
    per_seed = 2 * 2 * steps * spec(spec_id).recipe.batch_size / seconds
    rss = sum(m for _, m in results)
    limit = _limit(spec(spec_id), per_seed, peak.get("two workers"))
    benchmark.extra_info.update(recipe=recipe, variant=variant, seeds=4, threads="2 x 1",
                                samples_per_second_per_seed=per_seed, peak_host_mib=rss / 2**20, **limit)
    RESULTS.setdefault(recipe, {})[variant] = {"per_seed": per_seed,
                                                                     "peak_host_mib": rss / 2**20, **limit}
