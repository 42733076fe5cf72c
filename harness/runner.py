"""Run one spec for a set of seeds: cache first, train what is missing, capture faults.

A fault (time budget, CUDA out of memory, any other error) becomes the run's
outcome, recorded with whatever was measured; it never takes the suite down.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import replace

import torch

from harness.cache import ResultsCache, code_version
from harness.data import MNIST
from harness.engine import RunOptions, RunTimeout, environment, environment_key, train
from harness.results import SeedCurve, SpecRun
from harness.specs import LoadedSpec


def _is_oom(exc: BaseException) -> bool:
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    return isinstance(exc, oom_types) or "out of memory" in str(exc).lower()


NARROW = 20  # widest conv (output channels) of a "narrow" model, for the CPU plan below


def cpu_plan(arch, seeds: int) -> tuple[int, bool]:
    """(seeds per stacked model, channels_last) on CPU, as measured on 2 cores (README, Performance).

    Narrow models (every conv <= 20 channels: READMEs 001 and 003) run 1.6-2.1x faster with all
    seeds stacked in channels_last; wider ones lose by stacking and gain 1.3-1.4x from channels_last
    alone, one seed at a time."""
    from harness.layers import Conv

    widest = max((layer.out for layer in arch.layer_list() if isinstance(layer, Conv)), default=0)
    if widest <= NARROW:
        return seeds, seeds > 1
    return 1, True


def plan_for(device: torch.device, arch, seeds: int, stack: int | None) -> tuple[int, bool | None]:
    """Seeds per stacked model and memory format. On CUDA, a step of these small models is bound by
    kernel launches, which stacking amortises, so every seed trains together (not measured here)."""
    if device.type == "cuda":
        return stack or seeds, None
    size, channels_last = cpu_plan(arch, seeds)
    if stack:
        size, channels_last = stack, stack > 1 or channels_last
    return size, channels_last


def run_spec(loaded: LoadedSpec, mnist: MNIST, seeds: list[int], options: RunOptions,
             cache: ResultsCache | None = None, refresh: bool = False, stack: int | None = None) -> SpecRun:
    spec = loaded.spec
    epochs = options.epochs or spec.recipe.epochs
    env = environment(options.device)
    # the plan (seeds per stacked model, memory format) changes results bitwise: it is part of the cache key
    size, channels_last = plan_for(options.device, spec.architecture, len(seeds), stack)
    if options.channels_last is None:
        options = replace(options, channels_last=channels_last)
    shape = {**options.shape_key(), "stack": size, "channels_last": options.channels_last}
    run = SpecRun(loaded.id, list(seeds), [], [], 0.0, epochs, env,
                  options={**shape, "device": str(options.device), "timeout": options.timeout})
    keys = {}
    if cache is not None:
        env_key = environment_key(options.device)
        keys = {s: cache.key(loaded.training_hash, env_key, shape, s) for s in seeds}
    found = {} if (cache is None or refresh) else {s: cache.get(loaded.file_id, keys[s]) for s in seeds}
    missing = [s for s in seeds if found.get(s) is None]
    if missing:
        lock = cache.lock(loaded.file_id) if cache is not None else None
        if lock is not None:
            lock.acquire()
        try:
            if cache is not None and not refresh:  # another worker may have trained them meanwhile
                found.update({s: c for s in missing if (c := cache.get(loaded.file_id, keys[s])) is not None})
                missing = [s for s in seeds if found.get(s) is None]
            for group in (missing[i:i + size] for i in range(0, len(missing), size)):
                found.update(_train(loaded, mnist, group, options, cache, keys, run))
                if run.outcome != "ok":
                    break
        finally:
            if lock is not None:
                lock.release()
    for s in seeds:  # seeds left untrained after a failed group are on record as such
        if found.get(s) is None:
            found[s] = SeedCurve(s, outcome=run.outcome, detail=f"not trained: the run ended with {run.outcome}")
    run.curves = [found[s] for s in seeds]
    run.from_cache = [s not in missing for s in seeds]
    return run


def _train(loaded, mnist, seeds, options, cache, keys, run: SpecRun) -> dict[int, SeedCurve]:
    checkpoint = options.checkpoint
    if cache is not None and checkpoint is None:
        checkpoint = cache.checkpoint_path(loaded.file_id, [keys[s] for s in seeds])
    options = replace(options, checkpoint=checkpoint, label=options.label or loaded.id)
    started = time.monotonic()
    curves: list[SeedCurve] = []
    try:
        curves = train(loaded.spec, mnist, seeds, options)
        run.stacks.append(list(seeds))
    except RunTimeout as exc:
        run.outcome, run.error = "timeout", str(exc)
        curves = exc.curves
    except Exception as exc:  # recorded, never raised: the rest of the suite carries on
        run.outcome = "oom" if _is_oom(exc) else "error"
        run.error = f"{type(exc).__name__}: {exc}"
        run.error_trace = traceback.format_exc(limit=8)
        curves = [SeedCurve(s, outcome=run.outcome, detail=run.error) for s in seeds]
        if options.device.type == "cuda":
            torch.cuda.empty_cache()
    finally:
        run.train_seconds += time.monotonic() - started
    by_seed = {c.seed: c for c in curves}
    if cache is not None and run.outcome == "ok":
        meta = {"spec": loaded.id, "code": code_version(), "seeds_trained_together": list(seeds),
                "train_seconds": run.train_seconds, "environment": run.environment}
        for seed, curve in by_seed.items():
            cache.put(loaded.file_id, keys[seed], curve, meta)
    return by_seed

