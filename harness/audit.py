"""One audit session: run each spec once, judge its claims, write its record.

Used by the pytest plugin (conftest.py) and by `python -m harness run`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from harness.cache import ResultsCache
from harness.claims import ClaimResult
from harness.data import MNIST, load_mnist
from harness.engine import RunOptions
from harness.records import RecordKept, RecordKeptWarning, build_record, load_records, read_record, record_path, write_record
from harness.results import SpecRun
from harness.runner import run_spec
from harness.specs import LoadedSpec, load_all
from harness.verdict import Verdict
from harness.verdicts import Judge, Run, mark_failed_run, planned_parameters, scope_of

# The smoke tier: every optimizer, schedule, augmentation and dropout path runs, on a sliver of data.
SMOKE = dict(epochs=1, max_batches=2, train_limit=512, test_limit=256)
SMOKE_BATCH = 64
SMOKE_SEEDS = [0, 1]  # two copies, so the stacked path runs too


def resolve_device(name: str | None, worker: str | None = None) -> torch.device:
    """`auto` picks CUDA when present; an xdist worker gets its own GPU (gw0 -> cuda:0, gw1 -> cuda:1, ...)."""
    name = name or "auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        index = int(worker[2:]) % torch.cuda.device_count() if worker and worker.startswith("gw") else 0
        device = torch.device("cuda", index)
    return device


@dataclass
class Audit:
    device: torch.device
    data_root: str | None = None
    seeds: int | str | None = None         # None: each spec's own default; "auto": more where undecided
    max_seeds: int = 10                    # the cap of --seeds auto
    cache: ResultsCache | None = None      # None: no cache
    refresh: bool = False                  # --no-cache: train even when cached (and refresh the cache)
    results_dir: Path | None = None        # None: write no records
    timeout: float | None = None
    progress: bool = False
    stack: int | None = None               # seeds per stacked model (None: runner.plan_for's measured choice)
    train_subset: int | None = None        # first N training samples (quick checks, tests; recorded)
    test_subset: int | None = None
    _mnist: MNIST | None = None
    _runs: dict[str, tuple[SpecRun, list[ClaimResult]]] = field(default_factory=dict)
    _judge: Judge | None = None
    records_written: list[Path] = field(default_factory=list)
    records_kept: list[str] = field(default_factory=list)  # records a run did not cover, left as they were

    @property
    def mnist(self) -> MNIST:
        if self._mnist is None:
            self._mnist = load_mnist(self.data_root, fetch=True)  # no root given: the cache folder's copy
        return self._mnist

    @property
    def adaptive(self) -> bool:
        return self.seeds == AUTO

    @property
    def looks(self) -> int:
        """How many looks the sitting's seed ladder takes (1: a fixed number of seeds)."""
        return ladder_looks(self.max_seeds) if self.adaptive else 1

    def seeds_for(self, loaded: LoadedSpec) -> list[int]:
        if self.adaptive:
            return more_seeds(loaded.spec.seed_values, AUTO_STEPS[0])
        return list(range(self.seeds)) if self.seeds else loaded.spec.seed_values

    def next_seeds(self, seeds: list[int]) -> list[int] | None:
        """`--seeds auto`: the next step of the ladder (3 -> 5 -> 10, capped), or None at the cap."""
        if not self.adaptive:
            return None
        step = next_step(len(seeds), self.max_seeds)
        return more_seeds(seeds, step) if step else None

    def committed_record(self, loaded: LoadedSpec) -> dict | None:
        """The spec's record on this device kind, whose seeds the runner reuses (none with --no-cache)."""
        if self.results_dir is None or self.refresh:
            return None
        return read_record(record_path(self.results_dir, loaded, self.device.type))

    def run_of(self, loaded: LoadedSpec) -> SpecRun | None:
        """The spec's run of this session, if it ran."""
        return self._runs[loaded.id][0] if loaded.id in self._runs else None

    def reproduce(self, loaded: LoadedSpec, seeds: list[int] | None = None) -> tuple[SpecRun, list[ClaimResult]]:
        """Full documented training (cached per session and on disk), every claim judged, record written.

        With `--seeds auto`, a spec with an own trained claim not final (inconclusive, or reproduced before the
        ladder's last look) gets more seeds (3 -> 5 -> 10, up to --max-seeds), reusing the seeds already trained;
        each look judges at its share of the error (`looks`); `seeds` asks for a larger set explicitly."""
        done = self._runs.get(loaded.id)
        if done is not None and (seeds is None or set(seeds) <= set(done[0].seeds)):
            return done
        seeds = seeds or self.seeds_for(loaded)
        while True:
            run, results = self._run_and_judge(loaded, seeds)
            grown = self.next_seeds(run.seeds) if not_final(loaded, results) and run.outcome == "ok" else None
            if grown is None:
                break
            seeds = grown
        if self.results_dir is not None:
            try:
                self.records_written.append(write_record(self.results_dir, loaded,
                                                         build_record(loaded, run, results, planned_parameters(loaded))))
            except RecordKept as exc:  # the run is judged and shown; the record it does not cover stays
                self.records_kept.append(str(exc))
                warnings.warn(str(exc), RecordKeptWarning, stacklevel=2)
        self._runs[loaded.id] = (run, results)
        return run, results

    def _run_and_judge(self, loaded: LoadedSpec, seeds: list[int]) -> tuple[SpecRun, list[ClaimResult]]:
        options = RunOptions(device=self.device, timeout=self.timeout, progress=self.progress, label=loaded.id,
                             train_limit=self.train_subset, test_limit=self.test_subset)
        run = run_spec(loaded, self.mnist, seeds, options, self.cache, self.refresh, self.stack,
                       record=self.committed_record(loaded), with_recorded=self.seeds in (None, AUTO))
        judge = self.judge_for(loaded)
        if self.adaptive:  # the record says its seeds came from the ladder: every later reader judges them alike
            run.options = {**run.options, "looks": self.looks}
        judged = Run(loaded.id, run.environment["device"].split(":")[0], run.seeds, run.curves, run.epochs,
                     scope_of(run.options), looks=self.looks)
        if run.outcome == "ok":
            judge.add(judged)
        results = judge.judge(loaded, judged if run.curves else None)
        if run.outcome != "ok":
            mark_failed_run(loaded, results, run.outcome, run.error)
        return run, results

    def judge_for(self, loaded: LoadedSpec) -> Judge:
        """The session's judge: this session's runs and the committed records of fresh runs (pools and
        comparisons draw on the README's other specs without training them)."""
        if self._judge is None:
            specs, _ = load_all(loaded.path.parent.parent)
            records = load_records(self.results_dir) if self.results_dir is not None else []
            self._judge = Judge.from_records(specs, records)
        return self._judge

    def judged(self, loaded: LoadedSpec, claim_id: str) -> ClaimResult:
        """One claim of a spec, judged now. A comparison is judged from the other spec's run of this session or
        its record; where neither exists the other spec is trained here, on the same seed values."""
        run, results = self.reproduce(loaded)
        found = next(r for r in results if r.claim_id == claim_id)
        claim = next(c for c in loaded.spec.claims if c.claim_id == claim_id)
        undecided_story = self.adaptive and claim.judged_after_others and found.verdict == Verdict.INCONCLUSIVE
        if found.verdict != Verdict.NOT_JUDGED and not undecided_story:
            return found
        judge = self.judge_for(loaded)
        if self.results_dir is not None:  # another worker may have recorded the other spec meanwhile
            judge.merge(Judge.from_records(list(judge.specs.values()), load_records(self.results_dir)).runs)
        kind = run.environment["device"].split(":")[0]
        result = judge.judge_claim(loaded, claim, judge.runs.get((loaded.id, kind)))
        other = judge.specs.get(claim.runs_needed_of(loaded.id) or "")
        if result.verdict == Verdict.NOT_JUDGED and other is not None and run.outcome == "ok":
            self.reproduce(other, run.seeds)  # the lesson's other spec, on the same seed values (once per session)
            result = judge.judge_claim(loaded, claim, judge.runs.get((loaded.id, kind)))
        tried = set()
        while self.adaptive and result.verdict == Verdict.INCONCLUSIVE and other is not None and run.outcome == "ok":
            paired = len(result.extra.get("common_seeds") or [])  # how many of this spec's seeds the other has
            n = lesson_seed_count(len(run.seeds), paired, self.max_seeds)
            grown = more_seeds(run.seeds, n) if n else None
            if grown is None or tuple(grown) in tried:  # capped, or a run that cannot give these seeds
                break
            tried.add(tuple(grown))
            self.reproduce(other, grown)
            run, _ = self.reproduce(loaded, grown)
            result = judge.judge_claim(loaded, claim, judge.runs.get((loaded.id, kind)))
        return result

    def smoke(self, loaded: LoadedSpec) -> SpecRun:
        batch = min(loaded.spec.recipe.batch_size, SMOKE_BATCH)
        options = RunOptions(device=self.device, label=f"smoke {loaded.id}", batch_size=batch, **SMOKE)
        return run_spec(loaded, self.mnist, SMOKE_SEEDS, options, cache=None, stack=len(SMOKE_SEEDS))


AUTO = "auto"
AUTO_STEPS = (3, 5, 10)  # seeds where a verdict is undecided (issue: seeds where they decide)


def ladder_looks(max_seeds: int) -> int:
    """The looks of the ladder up to the cap (3 -> 5 -> 10: 3; a cap of 5: 2; of 7: 3, 3 -> 5 -> 7)."""
    n, looks = AUTO_STEPS[0], 1
    while (n := next_step(n, max_seeds)) is not None:
        looks += 1
    return looks


def not_final(loaded: LoadedSpec, results: list[ClaimResult]) -> bool:
    """A spec's own trained claim the ladder must look at again: inconclusive, or reproduced (a README figure
    seen agreeing with few seeds; stopping there would favour 'reproduced', so only a refutation, which spends the
    look's share of the error, ends the ladder early). Lessons grow in Audit.judged."""
    trained = {c.claim_id for c in loaded.spec.claims if c.trained and not c.judged_after_others}
    return any(r.verdict in (Verdict.INCONCLUSIVE, Verdict.REPRODUCED) for r in results if r.claim_id in trained)


def next_step(n: int, max_seeds: int) -> int | None:
    """The ladder's next seed count after n (3 -> 5 -> 10, then the cap), or None at the cap."""
    bigger = [s for s in AUTO_STEPS if n < s <= max_seeds]
    if not bigger and n < max_seeds:
        return max_seeds
    return bigger[0] if bigger else None


def lesson_seed_count(mine: int, theirs: int, max_seeds: int) -> int | None:
    """`--seeds auto` on an undecided lesson: the seeds both its specs are brought to. Two specs level with each
    other take the ladder's next step; otherwise the one with fewer seeds catches up with the other. Never past
    the cap; None when neither can grow. The one rule of Audit.judged (in a sitting) and auto_seeds (its price)."""
    if mine == theirs:
        return next_step(mine, max_seeds)
    level = min(max(mine, theirs), max_seeds)
    return level if level > min(mine, theirs) else None


def auto_seeds(specs: list[LoadedSpec], records: list[dict], device_kind: str = "cpu",
               max_seeds: int = 10) -> dict[str, list[int]]:
    """Spec id -> the seeds a `--seeds auto` sitting trains it to at least, judged from `records` (the
    harness plan's price of the next sitting). A spec without a fresh complete record starts the ladder;
    an undecided own claim takes the next step; an undecided lesson brings the spec with fewer seeds up to
    the other's, or both to the next step. A verdict still undecided after that step climbs on to the cap
    in the same sitting, which no estimate can know in advance."""
    judge = Judge.from_records(specs, records)
    have = {sid: run.seeds for (sid, kind), run in judge.runs.items() if kind == device_kind and run.full}
    target: dict[str, int] = {}

    def grow(spec_id: str, n: int | None) -> None:
        if n:
            target[spec_id] = max(target.get(spec_id, 0), n)

    for loaded in specs:
        seeds = have.get(loaded.id)
        if seeds is None:
            grow(loaded.id, AUTO_STEPS[0])
            continue
        results = judge.judge(loaded, judge.runs[(loaded.id, device_kind)])
        if not_final(loaded, results):
            grow(loaded.id, next_step(len(seeds), max_seeds))
        for r in results:
            if r.kind != "comparison" or r.verdict != Verdict.INCONCLUSIVE:
                continue
            other = (r.extra or {}).get("other")
            step = lesson_seed_count(len(seeds), len(have.get(other) or []), max_seeds)
            grow(loaded.id, step)
            grow(other, step)
    out = {}
    for loaded in specs:
        seeds = have.get(loaded.id) or []
        n = target.get(loaded.id, len(seeds))
        out[loaded.id] = more_seeds(seeds or loaded.spec.seed_values, n) if n > len(seeds) else seeds
    return out


def more_seeds(seeds: list[int], n: int) -> list[int]:
    """`seeds` followed by the smallest unused seed values, n in all (a README's own seed stays first)."""
    out = list(seeds)
    candidate = 0
    while len(out) < n:
        if candidate not in out:
            out.append(candidate)
        candidate += 1
    return out


def progress_wanted(environ=None, stderr_is_tty: bool | None = None) -> bool:
    """Progress bars for a person at a terminal; quiet under xdist workers and in CI logs."""
    environ = os.environ if environ is None else environ
    if environ.get("PYTEST_XDIST_WORKER") or environ.get("CI"):
        return False
    if stderr_is_tty is None:
        try:
            stderr_is_tty = os.isatty(2)
        except OSError:
            stderr_is_tty = False
    return stderr_is_tty


def threads_for_worker() -> None:
    """Under xdist on CPU, share the cores instead of oversubscribing them."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
