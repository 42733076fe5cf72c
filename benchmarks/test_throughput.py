"""Training throughput per seed: the project's engine against a plain PyTorch loop.

    pytest benchmarks/ --benchmark-only                       # table + ratios
    pytest benchmarks/ --benchmark-only --benchmark-save=cpu  # keep JSON; later --benchmark-compare

Recipes: 001's 7,784-parameter model at batch 128; 000's final 19,056-parameter
model at batch 512; 003's final model with its augmentation. The engine runs
as the audit does (runner.plan_for: narrow models stack their seeds; wider
ones train one seed at a time; channels_last where it was measured to win;
`2 workers` is `pytest -n 2` on 2 cores, one thread each). Each variant
trains `--bench-samples` samples per seed per round (whole batches) on the same data.
"""

import multiprocessing as mp

import pytest
import torch
from _loops import RESULTS, PeakRSS, engine_loop, mnist, plain_loop, spec, worker

RECIPES = {
    "001 7,784 params, bs 128": "sub8k-20ep/model1",
    "000 19,056 params, bs 512": "sub20k/final",
    "003 final + augmentation": "sub8k-15ep/experiment10",
}


def steps_for(config, s) -> int:
    return max(1, -(-config.getoption("bench_samples") // s.recipe.batch_size))


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


def _record(benchmark, recipe, variant, seeds, samples_per_seed, peak, device):
    per_seed = seeds * samples_per_seed / benchmark.stats.stats.mean  # seed-samples per second
    gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    benchmark.extra_info.update(recipe=recipe, variant=variant, seeds=seeds, samples_per_second_per_seed=per_seed,
                                peak_host_mib=peak / 2**20, peak_gpu_mib=gpu, torch=torch.__version__,
                                threads=torch.get_num_threads(), device=str(device))
    RESULTS.setdefault(recipe, {})[variant] = {"per_seed": per_seed, "peak_host_mib": peak / 2**20, "peak_gpu_mib": gpu}


@pytest.mark.parametrize("recipe", list(RECIPES))
@pytest.mark.parametrize("variant", ["plain", "engine, 1 seed", "engine, 4 seeds", "engine, 8 seeds"])
def test_throughput(benchmark, recipe, variant, data, device, pytestconfig):
    seeds = dict(_variants(device)).get(variant, "missing")
    if seeds == "missing":
        pytest.skip("8 seeds are measured on CUDA only")
    s = spec(RECIPES[recipe])
    steps = steps_for(pytestconfig, s)
    benchmark.group = recipe
    run = plain_loop(s, data, steps, device) if seeds is None else engine_loop(s, data, steps, device, seeds)
    run()  # warm-up (allocator, oneDNN/cuDNN plans)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with PeakRSS() as mem:
        samples = benchmark.pedantic(run, rounds=5, iterations=1)
    _record(benchmark, recipe, variant, seeds or 1, samples, mem.peak, device)


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_throughput_two_workers(benchmark, recipe, device, pytestconfig):
    """The audit as `pytest -n 2` runs it on 2 cores: two single-threaded engine processes at once,
    each training 2 seeds the way the audit would (stacked or one by one, per runner.plan_for)."""
    if device.type != "cpu":
        pytest.skip("the CPU deployment; on GPUs each worker has its own device")
    spec_id = RECIPES[recipe]
    steps = steps_for(pytestconfig, spec(spec_id))
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
    peak = sum(m for _, m in results)
    benchmark.extra_info.update(recipe=recipe, variant="engine, 2 workers x 2 seeds", seeds=4,
                                samples_per_second_per_seed=per_seed, peak_host_mib=peak / 2**20)
    RESULTS.setdefault(recipe, {})["engine, 2 workers x 2 seeds"] = {"per_seed": per_seed, "peak_host_mib": peak / 2**20}
