"""Candidate speed-ups, measured beside the engine and never inside it (`--bench-candidates`).

    pytest benchmarks/test_candidates.py --benchmark-only --bench-candidates

Each candidate trains the engine's own step (harness.engine.TrainStep on a
model from harness.model.build_stacked) with one change, at one thread (what
each `pytest -n 2` worker gets on 2 cores), for `--bench-samples`/4 samples per
seed and round, against the audit's plan for 3 seeds (runner.plan_for: stack
and memory format), the two alternating round by round so that the load of a
shared machine hits both; `vs audit plan` is the median of the paired rounds'
ratios of seed-samples/s. The engine is untouched: a candidate that wins is for the
lead to adopt, knowing which ones change results bitwise:

* `stack N`                 seeds per stacked model (bitwise: changes the grouping, see README Determinism)
* `memory format flipped`   channels_last <-> contiguous (bitwise: changes sums)
* `torch.compile`           the stacked model compiled; `one-off s` is the compile time, paid per spec and stack
* `oneDNN off`              torch.backends.mkldnn disabled (native kernels; changes sums)
* `flush denormals`         torch.set_flush_denormal(True) (changes results where denormals occur)
* `foreach optimizer`       the same optimizer with foreach=True; the note says whether the parameters after
                            the timed steps are bitwise equal to the plain optimizer's
* `ReLU out of place`       undoes the engine's in-place ReLUs (harness/model.py: a ReLU after a conv,
                            BatchNorm or linear overwrites its input), to show what they buy; the note says
                            whether the parameters after the timed steps are bitwise equal to the engine's
* `eval: conv+BN folded`    evaluation only, each conv's BatchNorm folded into its weights (eval-only numerics);
                            its seed-samples/s are evaluated samples, against `eval: as is`
"""

import copy
import time

import pytest
import torch
from _loops import CANDIDATES, mnist, spec, train_flops_per_sample

from harness.engine import DeviceData, SchedulerBoundary, TrainStep, evaluate, seed_generators
from harness.model import build_stacked
from harness.recipe import make_optimizer, make_scheduler, steps_per_epoch
from harness.runner import plan_for

RECIPES = {
    "001 7,784 params, bs 128": "sub8k-20ep/model1",
    "000 19,056 params, bs 512": "sub20k/final",
    "003 final + augmentation": "sub8k-15ep/experiment10",
    "000 iteration 1, 350k params": "sub20k/iteration1",
}
SAMPLE_SHARE = {"sub20k/iteration1": 20}  # of --bench-samples, per seed and round (others: a quarter)
AUDIT_SEEDS = 3
ROUNDS = 4  # paired rounds (audit plan, candidate), in ABBA order
CANDIDATE_NAMES = ["audit plan", "stack 1", "stack 3", "stack 6", "stack 12", "memory format flipped",
                   "torch.compile", "oneDNN off", "flush denormals", "foreach optimizer", "ReLU out of place",
                   "eval: as is", "eval: conv+BN folded"]


@pytest.fixture(scope="module")
def data():
    return mnist()


@pytest.fixture
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


class Trainer:
    """The engine's training step, set up as engine.train sets it up, with the candidate's change."""

    def __init__(self, s, mnist_data, copies: int, channels_last: bool | None, compiled=False, foreach=None,
                 relu_out_of_place=False):
        device = torch.device("cpu")
        norm = s.recipe.normalization
        self.data = DeviceData(mnist_data, device, norm.mean if norm else 0.0, norm.std if norm else 1.0)
        self.fmt = torch.channels_last if channels_last else torch.contiguous_format
        seeds = list(range(copies))
        self.model = build_stacked(s.architecture, seeds).to(memory_format=self.fmt)
        if relu_out_of_place:
            for m in self.model.layers:
                if isinstance(m, torch.nn.ReLU):
                    m.inplace = False
        gens = [seed_generators(k, device) for k in seeds]
        self.model.set_dropout_generators([g["dropout"] for g in gens])
        if foreach is None:
            self.optimizer = make_optimizer(s.recipe, self.model.parameters())
        else:
            kwargs = s.recipe.optimizer.kwargs()
            if "betas" in kwargs:
                kwargs["betas"] = tuple(kwargs["betas"])
            self.optimizer = getattr(torch.optim, s.recipe.optimizer.type)(self.model.parameters(), foreach=foreach,
                                                                           **kwargs)
        self.batch = s.recipe.batch_size
        scheduler = make_scheduler(s.recipe, self.optimizer, s.recipe.epochs, steps_per_epoch(60000, self.batch))
        net = torch.compile(self.model) if compiled else self.model
        self.step = TrainStep(s, net, self.optimizer, SchedulerBoundary(s.recipe, scheduler), self.data, gens, self.fmt)
        self.order = torch.stack([torch.randperm(self.data.train_size, generator=g["order"]) for g in gens])
        self.position = 0
        self.model.train()

    def run(self, steps: int) -> None:
        per_epoch = self.data.train_size // self.batch
        for _ in range(steps):
            start = (self.position % per_epoch) * self.batch
            self.step(self.order[:, start:start + self.batch])
            self.position += 1


def fold_conv_bn(model):
    """An eval-only copy of a stacked model with each Conv2d's following BatchNorm2d folded into the conv."""
    folded = copy.deepcopy(model).eval()
    layers = folded.layers
    pairs = 0
    with torch.no_grad():
        for i in range(len(layers) - 1):
            conv, bn = layers[i], layers[i + 1]
            if not (isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)):
                continue
            scale = bn.running_var.add(bn.eps).rsqrt()
            if bn.affine:
                scale = scale * bn.weight
            shift = -bn.running_mean * scale + (bn.bias if bn.affine else 0)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            conv.bias = torch.nn.Parameter(bias * scale + shift)
            layers[i + 1] = torch.nn.Identity()
            pairs += 1
    return folded, pairs


def _timed(trainer, steps, rounds=2) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        trainer.run(steps)
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("candidate", CANDIDATE_NAMES)
@pytest.mark.parametrize("recipe", list(RECIPES))
def test_candidate(benchmark, recipe, candidate, data, pytestconfig, one_thread):
    if not pytestconfig.getoption("bench_candidates"):
        pytest.skip("candidate speed-ups run with --bench-candidates")
    spec_id = RECIPES[recipe]
    s = spec(spec_id)
    stack, plan_channels_last = plan_for(torch.device("cpu"), s, AUDIT_SEEDS, None)
    channels_last, ratio = plan_channels_last, None
    samples = pytestconfig.getoption("bench_samples") // SAMPLE_SHARE.get(spec_id, 4)
    steps = max(2, -(-samples // s.recipe.batch_size))
    benchmark.group = f"candidates: {recipe}"
    note, one_off = "", None
    copies, kwargs, settings = stack, {}, None
    if candidate.startswith("stack "):
        copies = int(candidate.split()[1])
        if copies == stack:
            pytest.skip("the audit's plan itself")
        channels_last = copies > 1 or channels_last  # as plan_for does for an explicit --stack
    elif candidate == "memory format flipped":
        channels_last = not channels_last
        note = "channels_last" if channels_last else "contiguous"
    elif candidate == "torch.compile":
        kwargs["compiled"] = True
    elif candidate == "foreach optimizer":
        kwargs["foreach"] = True
    elif candidate == "ReLU out of place":
        kwargs["relu_out_of_place"] = True
    elif candidate == "oneDNN off":
        settings = _OneDNNOff
    elif candidate == "flush denormals":
        settings = _FlushDenormal

    if candidate.startswith("eval: "):
        trainer = Trainer(s, data, copies, channels_last)
        trainer.run(2)
        folded, pairs = fold_conv_bn(trainer.model)
        models = [trainer.model, folded] if "folded" in candidate else [trainer.model]
        test_batch, times = s.recipe.test_batch_size, [[] for _ in models]
        for m in models:
            evaluate(m, trainer.data, test_batch, trainer.fmt)  # warm-up

        def paired_round():  # as is and folded, in ABBA order
            pairs = list(zip(models, times))
            for m, spent in pairs if len(times[0]) % 2 == 0 else pairs[::-1]:
                t0 = time.perf_counter()
                evaluate(m, trainer.data, test_batch, trainer.fmt)
                spent.append(time.perf_counter() - t0)

        benchmark.pedantic(paired_round, rounds=ROUNDS, iterations=1)
        eval_epoch = min(times[-1])
        per_seed = copies * trainer.data.test_x.shape[0] / eval_epoch
        if len(models) == 2:
            ratio = sorted(a / b for a, b in zip(*times))[len(times[0]) // 2]
        train_epoch = _timed(trainer, steps, 1) / steps * steps_per_epoch(60000, s.recipe.batch_size)
        note = (f"{pairs} conv+BN folded; " if "folded" in candidate else "") + \
            f"evaluation is {100 * eval_epoch / (eval_epoch + train_epoch):.1f}% of an epoch"
        gflops = None
    else:
        context = settings or _Nothing
        with context():
            started = time.perf_counter()
            trainer = Trainer(s, data, copies, channels_last, **kwargs)
            trainer.run(2)  # warm-up (and compilation)
            first = time.perf_counter() - started
        # the audit's plan runs alternately with the candidate, so load changes on a shared machine hit both
        # for `audit plan` itself the partner is an identical trainer: an A/A control of the pairing's noise
        base = Trainer(s, data, stack, plan_channels_last)
        base.run(2)
        times, ratios = [], []

        def timed_run(which, context_factory):
            with context_factory():
                t0 = time.perf_counter()
                which.run(steps)
                return time.perf_counter() - t0

        def paired_round():  # ABBA: the order alternates, so drifting load favours neither
            if len(times) % 2 == 0:
                base_s = timed_run(base, _Nothing)
                times.append(timed_run(trainer, context))
            else:
                times.append(timed_run(trainer, context))
                base_s = timed_run(base, _Nothing)
            ratios.append((copies / times[-1]) / (stack / base_s))

        benchmark.pedantic(paired_round, rounds=ROUNDS, iterations=1)
        per_seed = copies * steps * s.recipe.batch_size / min(times)
        ratio = sorted(ratios)[len(ratios) // 2]  # median of the paired rounds
        if candidate == "torch.compile":
            one_off = max(0.0, first - 2 * min(times) / steps)
        if candidate in ("foreach optimizer", "ReLU out of place"):  # the same steps, plain: bitwise the same?
            reference = Trainer(s, data, copies, channels_last)
            reference.run(trainer.position)
            same = all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(), reference.model.parameters()))
            plain = "the plain optimizer's" if candidate == "foreach optimizer" else "the engine's"
            note = f"parameters bitwise equal to {plain}" if same else "parameters DIFFER (not bitwise-neutral)"
        gflops = per_seed * train_flops_per_sample(s) / 1e9
    if candidate == "audit plan":
        note = f"stack {stack}, {'channels_last' if channels_last else 'contiguous'}; ratio: A/A control"
    entry = {"per_seed": per_seed, "gflops": gflops if gflops is not None else float("nan"), "one_off_s": one_off,
             "note": note, "ratio": ratio}
    benchmark.extra_info.update(recipe=recipe, candidate=candidate, copies=copies, channels_last=channels_last,
                                threads=1, samples_per_second_per_seed=per_seed, gflops=gflops, one_off_s=one_off,
                                ratio_to_audit_plan=ratio, note=note)
    # evaluation rows count evaluated samples: a table of their own, against `eval: as is`
    CANDIDATES.setdefault(f"{recipe} (eval)" if candidate.startswith("eval: ") else recipe, {})[candidate] = entry


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _OneDNNOff:
    def __enter__(self):
        self._flags = torch.backends.mkldnn.flags(enabled=False)
        self._flags.__enter__()
        return self

    def __exit__(self, *exc):
        return self._flags.__exit__(*exc)


class _FlushDenormal:
    def __enter__(self):
        self.supported = torch.set_flush_denormal(True)
        return self

    def __exit__(self, *exc):
        torch.set_flush_denormal(False)
        return False
