"""Run one spec for a set of seeds: reuse what exists, train what is missing, capture faults.

A seed's curves come from, in order: the results cache, the committed record
of an earlier run (same training hash, training semantics, environment and run
shape), or training. Seeds trained together are cached as one atomic entry
before their checkpoint is removed, so a kill at any point resumes exactly.
A fault (time budget, CUDA out of memory, any other error) becomes the run's
outcome, recorded with whatever was measured; it never takes the suite down.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import replace

import torch

from harness.cache import TRAINING_SEMANTICS, ResultsCache, remove_stale_temporaries
from harness.data import MNIST
from harness.engine import RunOptions, RunTimeout, train
from harness.environment import capture, environment_key
from harness.results import SeedCurve, SpecRun
from harness.specs import LoadedSpec

NARROW = 20  # widest conv (output channels) of a "narrow" model, for the CPU plan below


def _is_oom(exc: BaseException) -> bool:
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    return isinstance(exc, oom_types) or "out of memory" in str(exc).lower()


def stackable(spec) -> bool:
    """Can the seeds train as one stacked model and stay exactly the README's model each?
    Not when a layer has no stacked form, nor when the scheduler decides per model (ReduceLROnPlateau)."""
    layers_ok = all(layer.stackable for layer in spec.architecture.layer_list())
    return layers_ok and not (spec.recipe.scheduler is not None and spec.recipe.scheduler.per_model)


def cpu_plan(arch, seeds: int) -> tuple[int, bool]:
    """(seeds per stacked model, channels_last) on CPU, as measured on 2 cores (docs/performance.md).

    Narrow models (every conv <= 20 channels: READMEs 001 and 003) run 1.6-2.1x faster with all
    seeds stacked in channels_last; wider ones lose by stacking and gain 1.3-1.4x from channels_last
    alone, one seed at a time."""
    from harness.layers import Conv

    widest = max((layer.out for layer in arch.layer_list() if isinstance(layer, Conv)), default=0)
    if widest <= NARROW:
        return seeds, seeds > 1
    return 1, True


def plan_for(device: torch.device, spec, seeds: int, stack: int | None) -> tuple[int, bool | None]:
    """Seeds per stacked model and memory format. On CUDA, a step of these small models is bound by
    kernel launches, which stacking amortises, so every seed trains together (not measured here)."""
    if device.type == "cuda":
        size, channels_last = stack or seeds, None
    else:
        size, channels_last = cpu_plan(spec.architecture, seeds)
        if stack:
            size, channels_last = stack, stack > 1 or channels_last
    if not stackable(spec):
        size = 1
    return size, channels_last


def reusable_seeds(record: dict | None, loaded: LoadedSpec, env_key: dict, shape: dict) -> dict[int, tuple]:
    """{seed: (curve, how it was trained)} from a committed record of the same computation."""
    if not record or record.get("training_hash") != loaded.training_hash:
        return {}
    if record.get("semantics_version") != TRAINING_SEMANTICS or record.get("outcome") != "ok":
        return {}
    if environment_key(record.get("environment") or {}) != env_key:
        return {}
    if {k: (record.get("options") or {}).get(k) for k in shape} != shape:
        return {}
    out = {}
    per_seed = record.get("trained_with") or [{} for _ in record.get("curves", [])]
    for curve, how in zip(record.get("curves", []), per_seed):
        if curve.get("outcome") in ("ok", "diverged"):
            seed_curve = SeedCurve.from_json(curve)
            out[seed_curve.seed] = (seed_curve, {**how, "source": "record"})
    return out


def run_spec(loaded: LoadedSpec, mnist: MNIST, seeds: list[int], options: RunOptions,
             cache: ResultsCache | None = None, refresh: bool = False, stack: int | None = None,
             record: dict | None = None, with_recorded: bool = False) -> SpecRun:
    """Curves for `seeds` of `loaded`; `record` is the spec's committed record, whose seeds are reused.
    `with_recorded`: also every other seed the record holds for this computation (free, and the
    verdict rests on more runs: what `expect --write` judged)."""
    spec = loaded.spec
    epochs = options.epochs or spec.recipe.epochs
    env = capture(options.device)
    env_key = environment_key(env)
    if with_recorded and record is not None:
        recorded = reusable_seeds(record, loaded, env_key, options.shape_key())
        seeds = list(seeds) + sorted(s for s in recorded if s not in seeds)
    size, channels_last = plan_for(options.device, spec, len(seeds), stack)
    if options.channels_last is None:
        options = replace(options, channels_last=channels_last)
    shape = options.shape_key()
    run = SpecRun(loaded.id, list(seeds), [], [], 0.0, epochs, env,
                  options={**shape, "stack": size, "channels_last": options.channels_last,
                           "device": str(options.device), "timeout": options.timeout})
    keys = {s: ResultsCache.key(loaded.training_hash, env_key, shape, s) for s in seeds}
    found: dict[int, tuple[SeedCurve, dict]] = {}

    def look_up() -> list[int]:
        if not refresh:
            if cache is not None:
                hits = cache.get_many(loaded.file_id, {s: keys[s] for s in seeds if s not in found})
                found.update({s: (c, {**meta.get("trained_with", {}), "source": "cache"}) for s, (c, meta) in hits.items()})
            for s, hit in reusable_seeds(record, loaded, env_key, shape).items():
                if s in keys and s not in found:
                    found[s] = hit
        return [s for s in seeds if s not in found]

    missing = look_up()
    if missing:
        lock = cache.lock(loaded.file_id) if cache is not None else None
        if lock is not None:
            lock.acquire()
        try:
            missing = look_up()  # another worker may have trained them meanwhile
            for group in (missing[i:i + size] for i in range(0, len(missing), size)):
                found.update(_train(loaded, mnist, group, options, cache, keys, run))
                if run.outcome != "ok":
                    break
        finally:
            if lock is not None:
                lock.release()
    for s in seeds:  # seeds left untrained after a failed group are on record as such
        if s not in found:
            found[s] = (SeedCurve(s, outcome=run.outcome, detail=f"not trained: the run ended with {run.outcome}"),
                        {"source": "none"})
    run.curves = [found[s][0] for s in seeds]
    run.trained_with = [found[s][1] for s in seeds]
    run.from_cache = [found[s][1].get("source") != "trained" for s in seeds]
    if run.outcome == "ok":
        problem = hollow(run.curves, epochs)
        if problem:  # an "ok" record must carry what it claims to: never empty or NaN accuracies
            run.outcome, run.error = "error", problem
    if cache is not None:
        sweep_checkpoints(cache, loaded, keys, found)
    return run


def hollow(curves: list[SeedCurve], epochs: int) -> str | None:
    """Why curves marked ok do not hold a run's figures (an epoch missing, an accuracy NaN), else None.
    A diverged seed is an outcome of its own: its NaN loss is what it measured."""
    for c in curves:
        if c.outcome != "ok":
            continue
        if len(c.test_accuracy) != epochs or len(c.train_accuracy) != epochs:
            return (f"seed {c.seed}: {len(c.test_accuracy)} test and {len(c.train_accuracy)} train figures for "
                    f"{epochs} epochs")
        if any(not math.isfinite(a) for a in (*c.test_accuracy, *c.train_accuracy)):
            return f"seed {c.seed}: an accuracy is not a number (NaN or infinite)"
    return None


def checkpoint_plan(how: dict) -> dict:
    """What names a group's checkpoint: how it trains (stack, threads, memory format, CPU kind), not where a
    seed was served from."""
    return {k: v for k, v in how.items() if k != "source"}


def sweep_checkpoints(cache: ResultsCache, loaded: LoadedSpec, keys: dict[int, str], found: dict) -> None:
    """A kill between a group's cache write and its checkpoint's removal leaves the checkpoint behind; once
    the group is cached it can never be resumed, so it goes (its path is rebuilt from how the group trained)."""
    for _, how in found.values():
        group = how.get("stack") or []
        if how.get("source") == "cache" and group and all(g in keys for g in group):
            cache.checkpoint_path(loaded.file_id, [keys[g] for g in group], checkpoint_plan(how)).unlink(missing_ok=True)


def _train(loaded, mnist, seeds, options, cache, keys, run: SpecRun) -> dict[int, tuple[SeedCurve, dict]]:
    how = {"source": "trained", "stack": list(seeds), "threads": torch.get_num_threads(),
           "channels_last": bool(options.channels_last)}
    if options.device.type == "cpu":  # where these bits hold (docs/determinism.md)
        how["cpu_kind"] = run.environment.get("cpu_kind")
    checkpoint = options.checkpoint
    if cache is not None and checkpoint is None:
        checkpoint = cache.checkpoint_path(loaded.file_id, [keys[s] for s in seeds], checkpoint_plan(how))
        remove_stale_temporaries(checkpoint.parent, checkpoint.name)
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
        run.error_trace = traceback.format_exc()
        curves = [SeedCurve(s, outcome=run.outcome, detail=run.error) for s in seeds]
        if options.device.type == "cuda":
            torch.cuda.empty_cache()
    finally:
        run.train_seconds += time.monotonic() - started
    by_seed = {c.seed: (c, how) for c in curves}
    if run.outcome == "ok":
        if cache is not None:
            cache.put_group(loaded.file_id, {keys[s]: c for s, (c, _) in by_seed.items()},
                            {"spec": loaded.id, "trained_with": how, "train_seconds": round(run.train_seconds, 3),
                             "environment": run.environment})
        if checkpoint is not None:
            checkpoint.unlink(missing_ok=True)  # only now: a kill before this line resumes from the last epoch
    return by_seed
