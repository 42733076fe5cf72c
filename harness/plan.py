"""Know the cost before paying it: FLOPs and estimated wall time of an audit, before it trains.

    python -m harness plan                       # every spec, its default seeds, one process
    python -m harness plan -k "sub8k and not model3" --seeds 5 --workers 2

Per spec: FLOPs per seed (forward+backward per training sample, counted by
torch.utils.flop_counter.FlopCounterMode on one small batch of the built model,
times samples and epochs, plus the forward pass of every epoch's evaluation),
the seeds still to train (seeds in the results cache cost nothing), and the wall
time estimated from a short calibration: a few real training steps (the engine's
own TrainStep, at the stack size and memory format runner.plan_for picks), timed
on random digits of MNIST's shape (the speed does not depend
on the pixels). Calibrations are cached in the audit cache folder per machine
(CPU model, core count), torch version, thread count and training shape
(architecture, batch size, augmentation, optimizer, stack size), so only the
first estimate on a machine pays for them.

The estimate is for full training: a recipe that diverges stops early and costs less
(the engine ends a run once every seed diverged). The table's `last run` column shows
what the spec's committed record took, for comparison.

The pytest plugin prints the same estimate when `--reproduce` starts
("planned: N specs, X TFLOP, ~Y min on this machine").
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import torch

from harness.cache import ResultsCache, atomic_write_text
from harness.limits import MNIST_TEST_SAMPLES, MNIST_TRAIN_SAMPLES
from harness.specs import LoadedSpec
from harness.verdict import Verdict

TRAIN_SIZE, TEST_SIZE = MNIST_TRAIN_SAMPLES, MNIST_TEST_SAMPLES
CALIBRATION_SECONDS = 1.0   # seconds of timed training steps per calibration
CALIBRATION_MIN_STEPS, CALIBRATION_MAX_STEPS = 2, 50
CALIBRATION_METHOD = 3      # bump when time_training measures differently: older calibrations are ignored
FLOP_BATCH = 4              # samples per FLOP count (matmul and conv FLOPs are linear in the batch)


# --------------------------------------------------------------------------- -k expressions

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class KeywordError(ValueError):
    """A -k expression that does not parse."""


def keyword_matcher(expression: str | None):
    """A predicate on spec ids for a pytest-like -k expression.

    Identifiers match as case-insensitive substrings of the id; `and`, `or`, `not` and parentheses
    combine them with pytest's precedence (not > and > or). An empty expression matches everything."""
    tokens = _TOKEN.findall(expression or "")
    if not tokens:
        return lambda spec_id: True
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def parse_or():
        terms = [parse_and()]
        while peek() == "or":
            take()
            terms.append(parse_and())
        return lambda s: any(t(s) for t in terms)

    def parse_and():
        terms = [parse_not()]
        while peek() == "and":
            take()
            terms.append(parse_not())
        return lambda s: all(t(s) for t in terms)

    def parse_not():
        token = peek()
        if token == "not":
            take()
            inner = parse_not()
            return lambda s: not inner(s)
        if token == "(":
            take()
            inner = parse_or()
            if take_if(")") is None:
                raise KeywordError(f"-k {expression!r}: missing ')'")
            return inner
        if token is None or token in (")", "and", "or"):
            raise KeywordError(f"-k {expression!r}: expected a name, got {token or 'the end'!r}")
        word = take().lower()
        return lambda s: word in s.lower()

    def take_if(token):
        return take() if peek() == token else None

    predicate = parse_or()
    if pos != len(tokens):
        raise KeywordError(f"-k {expression!r}: unexpected {tokens[pos]!r}")
    return predicate


# --------------------------------------------------------------------------- FLOPs

def flops_per_sample(arch) -> tuple[float, float]:
    """(training FLOPs per sample: forward + loss + backward, evaluation FLOPs per sample: forward),
    as FlopCounterMode counts them (matmuls and convolutions) on one small batch of the built model."""
    from torch.utils.flop_counter import FlopCounterMode

    from harness.model import build_seeded

    model = build_seeded(arch, 0)
    x = torch.randn(FLOP_BATCH, *arch.input)
    y = torch.randint(0, arch.classes, (FLOP_BATCH,))
    model.train()
    with FlopCounterMode(display=False) as train_count:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as eval_count:
        model(x)
    return train_count.get_total_flops() / FLOP_BATCH, eval_count.get_total_flops() / FLOP_BATCH


class FlopCounts:
    """flops_per_sample per architecture, kept in `<cache>/plan/flops.json` (counting costs ~0.5 s a model)."""

    def __init__(self, root: Path):
        self.path = Path(root) / "plan" / "flops.json"
        try:
            self.counts = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(self.counts, dict):
                self.counts = {}
        except (OSError, ValueError):
            self.counts = {}
        self.changed = False

    def get(self, arch) -> tuple[float, float]:
        blob = json.dumps([torch.__version__, arch.model_dump(mode="json", warnings=False)], sort_keys=True)
        key = hashlib.sha256(blob.encode()).hexdigest()[:20]
        value = self.counts.get(key)
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)):
            value = self.counts[key] = list(flops_per_sample(arch))
            self.changed = True
        return value[0], value[1]

    def save(self) -> None:
        if self.changed:
            atomic_write_text(self.path, json.dumps(self.counts, indent=1))


# --------------------------------------------------------------------------- calibration

# The modules whose code runs in a training step: a change to them can change its speed.
TIMED_MODULES = ("engine", "model", "stacked", "layers", "recipe", "augment", "data", "environment")
HARNESS_DIR = Path(__file__).resolve().parent


@cache
def code_key(root: Path = HARNESS_DIR, modules: tuple[str, ...] = TIMED_MODULES) -> str:
    """A hash of the training-step modules' syntax trees without docstrings: edits to code re-time the
    step (a timing cache, so a stale entry misleads the plan), edits to comments or docs do not."""
    digest = hashlib.sha256()
    for name in modules:
        try:
            tree = ast.parse((Path(root) / f"{name}.py").read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            digest.update(f"{name}: unreadable".encode())
            continue
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]  # the docstring
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()[:16]


def machine_key(device: torch.device, threads: int) -> dict:
    """What a calibration depends on besides the training shape (the training code included)."""
    from harness.environment import device_name

    return {"device": device.type, "device_name": device_name(device), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "threads": threads, "method": CALIBRATION_METHOD, "code": code_key()}


def shape_key(loaded: LoadedSpec, copies: int, channels_last: bool | None) -> str:
    """The training shape a step's time depends on; specs differing only in lr, epochs or claims share it."""
    spec = loaded.spec
    dumped = spec.model_dump(mode="json", include={"architecture", "recipe"}, warnings=False)
    recipe = dumped["recipe"]
    shape = {"architecture": dumped["architecture"], "batch_size": recipe["batch_size"],
             "test_batch_size": recipe.get("test_batch_size"), "augmentation": recipe.get("augmentation"),
             "optimizer": recipe["optimizer"]["type"], "loss": recipe["loss"]["type"],
             "copies": copies, "channels_last": channels_last}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:20]


class Calibrations:
    """Measured training step times on this machine, kept in `<cache>/plan/` as JSON."""

    def __init__(self, root: Path, device: torch.device, threads: int):
        self.machine = machine_key(device, threads)
        name = hashlib.sha256(json.dumps(self.machine, sort_keys=True).encode()).hexdigest()[:16]
        self.path = Path(root) / "plan" / f"calibration-{name}.json"
        self.entries: dict[str, dict] = {}
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            if stored.get("machine") == self.machine and isinstance(stored.get("entries"), dict):
                self.entries = stored["entries"]
        except (OSError, ValueError, AttributeError):
            pass  # none yet, or damaged: calibrate again

    def get(self, key: str) -> dict | None:
        entry = self.entries.get(key)
        if not (isinstance(entry, dict) and isinstance(entry.get("step_s"), (int, float))):
            return None
        if entry.get("busy") and not busy():
            return None  # measured while other work shared the cores, and they are free now: measure again
        return entry

    def put(self, key: str, entry: dict) -> None:
        self.entries[key] = entry
        atomic_write_text(self.path, json.dumps({"machine": self.machine, "entries": self.entries}, indent=1))


_digits = {}


def random_digits():
    """Random images of MNIST's shape and size: training speed does not depend on the pixels."""
    from harness.data import MNIST

    if not _digits:
        g = torch.Generator().manual_seed(0)
        _digits["mnist"] = MNIST(torch.randint(0, 256, (TRAIN_SIZE, 28, 28), generator=g, dtype=torch.uint8),
                                 torch.randint(0, 10, (TRAIN_SIZE,), generator=g),
                                 torch.randint(0, 256, (TEST_SIZE, 28, 28), generator=g, dtype=torch.uint8),
                                 torch.randint(0, 10, (TEST_SIZE,), generator=g), Path("/plan-calibration"))
    return _digits["mnist"]


def busy() -> float | None:
    """The 1-minute load average per core when it exceeds 1 (other work competes for the cores), else None."""
    try:
        per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return None
    return per_core if per_core > 1.0 else None


def time_training(loaded: LoadedSpec, copies: int, channels_last: bool | None, device: torch.device,
                  seconds: float = CALIBRATION_SECONDS) -> dict:
    """Seconds per training step of `copies` stacked seeds, measured on the engine's own step
    (engine.TrainStep, set up by engine.prepare as engine.train sets it up) on random digits: 2 warm-up steps, then
    steps until `seconds` have passed (at least CALIBRATION_MIN_STEPS). The step includes the batch's
    gather, augmentation, normalization, forward, loss, backward, optimizer and scheduler."""
    from harness.engine import DeviceData, prepare
    from harness.recipe import steps_per_epoch

    spec, recipe = loaded.spec, loaded.spec.recipe
    norm = recipe.normalization
    data = DeviceData(random_digits(), device, norm.mean if norm else 0.0, norm.std if norm else 1.0, test_limit=1)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        prepared = prepare(spec, data, list(range(copies)), device, fmt, recipe.epochs,
                           steps_per_epoch(TRAIN_SIZE, recipe.batch_size))
    model, gens, step = prepared.model, prepared.gens, prepared.step
    order = torch.stack([torch.randperm(data.train_size, generator=g["order"], device=device) for g in gens])
    batch, per_epoch = recipe.batch_size, data.train_size // recipe.batch_size
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *a: None)
    model.train()

    def run(i):
        step(order[:, (i % per_epoch) * batch:(i % per_epoch + 1) * batch])

    for i in range(2):
        run(i)
    sync(device)
    n, started = 0, time.perf_counter()
    while n < CALIBRATION_MAX_STEPS and (n < CALIBRATION_MIN_STEPS or time.perf_counter() - started < seconds):
        run(2 + n)
        n += 1
    sync(device)
    return {"step_s": (time.perf_counter() - started) / n, "steps_timed": n, "spec": loaded.id, "busy": busy(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


# --------------------------------------------------------------------------- the plan

@dataclass
class SpecPlan:
    id: str
    seeds: int                      # seeds the run asks for
    to_train: int                   # of which not in the results cache
    epochs: int
    flops_per_seed: float           # training (forward+backward) and evaluation FLOPs of one seed's run
    groups: list[int] = field(default_factory=list)   # seeds per stacked model, one entry per training run
    seconds: float | None = None    # estimated wall time of what is left to train (None: not calibrated)
    busy: float | None = None       # load per core when its calibration ran, where above 1
    last_run: tuple[float, int] | None = None  # (training seconds, threads) of the committed record, if any

    @property
    def flops(self) -> float:
        return self.flops_per_seed * self.to_train


@dataclass
class AuditPlan:
    specs: list[SpecPlan]
    workers: int
    threads: int
    device: str

    @property
    def flops(self) -> float:
        return sum(s.flops for s in self.specs)

    @property
    def training_specs(self) -> list[SpecPlan]:
        return [s for s in self.specs if s.to_train]

    @property
    def seconds(self) -> float | None:
        """Wall time with `workers` processes, each spec on one worker (longest first to the least loaded)."""
        times = [s.seconds for s in self.training_specs]
        if any(t is None for t in times):
            return None
        loads = [0.0] * max(1, self.workers)
        for t in sorted(times, reverse=True):
            loads[loads.index(min(loads))] += t
        return max(loads)


def reused_seeds(loaded: LoadedSpec, seeds: list[int], options, cache: ResultsCache | None,
                 record: dict | None) -> set[int]:
    """Seeds runner.run_spec would not train: in the results cache or in the spec's committed record
    of the same computation (the runner's own keys and rules)."""
    from harness.environment import capture, environment_key
    from harness.runner import reusable_seeds

    env_key, shape = environment_key(capture(options.device)), options.shape_key()
    keys = {s: ResultsCache.key(loaded.training_hash, env_key, shape, s) for s in seeds}
    found = set(cache.get_many(loaded.file_id, keys)) if cache is not None else set()
    if record is not None:
        found |= set(reusable_seeds(record, loaded, env_key, shape))
    return found & set(seeds)


def last_run(record: dict | None) -> tuple[float, int] | None:
    """(training seconds, torch threads) of the committed record's run: what this spec cost last time."""
    if not record or not isinstance(record.get("train_seconds"), (int, float)):
        return None
    threads = ((record.get("environment") or {}).get("determinism") or {}).get("torch_threads")
    return float(record["train_seconds"]), threads if isinstance(threads, int) else 0


def make_plan(specs: list[LoadedSpec], *, seeds: int | None = None, workers: int = 1,
              device: torch.device | None = None, cache: ResultsCache | None = None,
              results_dir: Path | None = None, stack: int | None = None,
              train_subset: int | None = None, test_subset: int | None = None, calibrate: bool = True,
              recalibrate: bool = False, calibration_root: Path | None = None, log=None,
              seed_values: dict[str, list[int]] | None = None) -> AuditPlan:
    """FLOPs and estimated wall time of reproducing `specs` (the threads each of `workers` processes gets,
    as harness.audit.threads_for_worker gives them). Seeds in `cache` or in a committed record under
    `results_dir` cost nothing; with neither, every seed is counted. `seed_values` (spec id -> seeds, as
    harness.audit.auto_seeds gives them) overrides `seeds` for the specs it names."""
    from harness.engine import RunOptions
    from harness.recipe import steps_per_epoch
    from harness.records import read_record, record_path
    from harness.runner import plan_for

    device = device or torch.device("cpu")
    threads = max(1, (os.cpu_count() or 1) // workers) if device.type == "cpu" else torch.get_num_threads()
    plan_root = calibration_root or (cache or ResultsCache()).root
    calibrations, flop_counts = Calibrations(plan_root, device, threads), FlopCounts(plan_root)
    train_size = min(train_subset or TRAIN_SIZE, TRAIN_SIZE)
    test_size = min(test_subset or TEST_SIZE, TEST_SIZE)
    options = RunOptions(device=device, train_limit=train_subset, test_limit=test_subset)
    rows, measured = [], set()  # measured: the calibrations of this call (--recalibrate measures each once)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for loaded in specs:
            spec = loaded.spec
            seed_list = (seed_values or {}).get(loaded.id) or (list(range(seeds)) if seeds else spec.seed_values)
            size, channels_last = plan_for(device, spec, len(seed_list), stack)
            record = read_record(record_path(results_dir, loaded, device.type)) if results_dir is not None else None
            cached = reused_seeds(loaded, seed_list, options, cache, record)
            missing = [s for s in seed_list if s not in cached]
            train_flops, eval_flops = flop_counts.get(spec.architecture)
            epochs = spec.recipe.epochs
            row = SpecPlan(loaded.id, len(seed_list), len(missing), epochs,
                           epochs * (train_size * train_flops + test_size * eval_flops),
                           [len(missing[i:i + size]) for i in range(0, len(missing), size)], last_run=last_run(record))
            if calibrate:
                steps = steps_per_epoch(train_size, spec.recipe.batch_size)
                row.seconds = 0.0
                for copies in row.groups:
                    key = shape_key(loaded, copies, channels_last)
                    entry = calibrations.get(key) if key in measured or not recalibrate else None
                    if entry is None:
                        if log:
                            log(f"calibrating {loaded.id} ({copies} seed{'s' * (copies > 1)} stacked, "
                                f"{threads} thread{'s' * (threads > 1)})")
                        entry = time_training(loaded, copies, channels_last, device)
                        calibrations.put(key, entry)
                        measured.add(key)
                    row.busy = max(row.busy or 0.0, entry.get("busy") or 0.0) or None
                    # evaluation: its forward FLOPs at the training step's FLOP rate (forward-only passes
                    # run at least as fast per FLOP, so this errs long; it is ~5% of an epoch)
                    per_sample = entry["step_s"] / (copies * spec.recipe.batch_size)
                    evaluation = test_size * copies * per_sample * eval_flops / max(train_flops, 1.0)
                    row.seconds += epochs * (steps * entry["step_s"] + evaluation)
            rows.append(row)
    finally:
        torch.set_num_threads(saved_threads)
        flop_counts.save()
    return AuditPlan(rows, workers, threads, str(device))


# --------------------------------------------------------------------------- progress against the plan

@dataclass
class Progress:
    """`pytest --reproduce`'s ETA: the share of the planned work judged so far, and the time it took.

    Work is each spec's estimated seconds (FLOPs where uncalibrated); the time left is the elapsed time
    scaled by the work left over the work done, so a machine slower or faster than its calibration
    corrects the estimate as specs finish."""

    work: dict[str, float]              # spec id -> planned work, for the specs that train
    started: float = field(default_factory=time.monotonic)
    done: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, plan: AuditPlan) -> Progress | None:
        training = plan.training_specs
        if not training:
            return None
        timed = all(s.seconds is not None for s in training)
        return cls({s.id: (s.seconds if timed else s.flops) or 0.0 for s in training})

    def judged(self, *spec_ids: str, now: float | None = None) -> str | None:
        """A line when a judged claim shows planned specs trained for the first time; None otherwise.
        A comparison names both of its specs: its partner may have no claim of its own selected."""
        fresh = {s for s in spec_ids if s in self.work} - self.done
        if not fresh:
            return None
        self.done |= fresh
        elapsed = (time.monotonic() if now is None else now) - self.started
        total = sum(self.work.values())
        done = sum(self.work[s] for s in self.done)
        text = f"progress: {len(self.done)} of {len(self.work)} planned specs trained, {_duration(elapsed)} elapsed"
        if len(self.done) == len(self.work):
            return text + "; all trained"
        if done <= 0 or total <= 0:
            return text
        return text + f", about {_duration(elapsed * (total - done) / done)} left"


def trained_by(row: dict) -> list[str]:
    """The specs a judged claim row shows trained: its own, and a judged comparison's other spec."""
    from harness.claims import is_comparison

    judged = is_comparison(row) and row.get("verdict") not in (Verdict.NOT_JUDGED, Verdict.NOT_RUN, Verdict.ERROR)
    return [row["spec"], row["extra"]["other"]] if judged else [row["spec"]]


# --------------------------------------------------------------------------- output

def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def summary_line(plan: AuditPlan) -> str:
    """'planned: N specs, X TFLOP, ~Y min on this machine' (specs still to train; cached seeds cost nothing)."""
    training = plan.training_specs
    cached = len(plan.specs) - len(training)
    if not training:
        return f"planned: nothing to train; {cached} spec{'' if cached == 1 else 's'} served from the results cache"
    text = f"planned: {len(training)} spec{'' if len(training) == 1 else 's'}, {plan.flops / 1e12:,.1f} TFLOP"
    if plan.seconds is not None:
        text += f", ~{_duration(plan.seconds)} on this machine"
        text += f" ({plan.workers} worker{'s' * (plan.workers > 1)} x {plan.threads} thread{'s' * (plan.threads > 1)})"
    if cached:
        text += f"; {cached} more served from the results cache"
    load = max((s.busy or 0.0 for s in training), default=0.0)
    if load:
        text += (f" [calibrated while the machine was busy ({load:.1f} runnable tasks per core): pessimistic; "
                 f"`python -m harness plan --recalibrate` on a quiet machine]")
    return text


def format_plan(plan: AuditPlan) -> str:
    rows = [("spec", "seeds", "to train", "stacks", "epochs", "TFLOP/seed", "TFLOP", "est. wall", "last run")]
    for s in plan.specs:
        last = f"{_duration(s.last_run[0])}, {s.last_run[1] or '?'} thr" if s.last_run else "-"
        rows.append((s.id, str(s.seeds), str(s.to_train), "+".join(map(str, s.groups)) or "-", str(s.epochs),
                     f"{s.flops_per_seed / 1e12:.2f}", f"{s.flops / 1e12:.2f}", _duration(s.seconds), last))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    times = [s.seconds for s in plan.training_specs]
    total = None if any(t is None for t in times) else sum(times)
    lines += ["-" * len(lines[0]),
              f"total: {plan.flops / 1e12:,.2f} TFLOP; training time summed over specs {_duration(total)}",
              summary_line(plan)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the CLI and the pytest plugin

AUTO_NOTE = ("--seeds auto: each spec at the next step of the 3 -> 5 -> 10 ladder that its records' verdicts ask "
             "for (undecided, or reproduced before the last look; a lesson's two specs together); a verdict still "
             "not final after it climbs on to {cap} seeds in the same sitting, which this estimate cannot know.")


def auto_seed_values(specs: list[LoadedSpec], results_dir: Path | None, device: torch.device,
                     max_seeds: int) -> dict[str, list[int]]:
    """`--seeds auto`'s seeds per spec for the next sitting, judged from the committed records (none: the
    ladder's first step everywhere)."""
    from harness.audit import auto_seeds
    from harness.records import load_records

    records = load_records(results_dir) if results_dir is not None else []
    return auto_seeds(specs, records, device.type, max_seeds)


def spec_ids_of(nodeids) -> list[str]:
    """Spec ids of the claim tests among pytest node ids (`...::test_claim[slug/name:claim]`), in order."""
    from harness.pytest_options import CLAIM_NODE

    seen = {}
    for nodeid in nodeids:
        match = CLAIM_NODE.search(nodeid)
        if match:
            seen.setdefault(match["spec"], None)
    return list(seen)


def partners_of(specs: list[LoadedSpec], nodeids) -> set[str]:
    """The other specs of the comparison claims among `nodeids` (`test_claim[slug/name:claim]`)."""
    from harness.pytest_options import claim_of_node

    wanted = {pair for nodeid in nodeids if (pair := claim_of_node(nodeid))}
    out = set()
    for loaded in specs:
        for claim in loaded.spec.claims:
            other = claim.runs_needed_of(loaded.id)
            if (loaded.id, claim.claim_id) in wanted and other is not None:
                out.add(other)
    return out


def announce(config, specs: list[LoadedSpec], nodeids, workers: int, results_dir: Path, write) -> Progress | None:
    """Print the estimate as `pytest --reproduce` starts, for the specs whose claim tests will run; the
    returned Progress turns each spec's first judged claim into an ETA line."""
    from harness.audit import AUTO, resolve_device

    ids = set(spec_ids_of(nodeids))
    ids |= partners_of(specs, nodeids)  # a selected lesson trains its other spec too
    all_specs, specs = specs, [s for s in specs if s.id in ids]
    if not specs:
        return None
    cache_dir = config.getoption("audit_cache")
    refresh = config.getoption("no_cache")
    said = []

    def log(message):
        if not said:
            said.append(message)
            write("planned: calibrating the estimate (a few training steps per model, once per machine)")

    try:
        seeds, device = config.getoption("seeds"), resolve_device(config.getoption("device"))
        seed_values = auto_seed_values(all_specs, None if refresh else results_dir, device,
                                       config.getoption("max_seeds")) if seeds == AUTO else None
        plan = make_plan(specs, seeds=None if seeds == AUTO else seeds, workers=max(1, workers), device=device,
                         cache=None if refresh else ResultsCache(Path(cache_dir) if cache_dir else None),
                         results_dir=None if refresh else results_dir, stack=config.getoption("stack"),
                         calibration_root=Path(cache_dir) if cache_dir else None,
                         train_subset=config.getoption("train_subset"), test_subset=config.getoption("test_subset"),
                         log=log, seed_values=seed_values)
    except Exception as exc:  # an estimate must never stop the audit
        write(f"planned: {len(specs)} specs (no estimate: {type(exc).__name__}: {exc})")
        return None
    write(summary_line(plan))
    return Progress.of(plan)
