"""Judging runs against the current specs and rules, apart from training.

Records keep each seed's curves; every reader (the report, `expect`, the pytest
plugin, `python -m harness run`) judges them afresh here, so an edited claim,
band or rule takes effect without retraining and a stored verdict is never
shown stale. A record whose training hash differs from its spec's is "stale":
listed, not judged. The README's other fresh runs of the same device kind give
the pooled noise scale, and a comparison finds its other spec's seeds here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from harness import stats
from harness.claims import ClaimResult, Evidence, OtherRun, judge_all
from harness.results import SeedCurve
from harness.specs import LoadedSpec
from harness.verdict import Verdict

STALE = Verdict.STALE


def structure_of(loaded: LoadedSpec, known: dict[str, LoadedSpec] | None = None) -> dict:
    """Evidence's structure fields: the spec, its shape plan, and a lookup of another spec's parameter count
    (from `known`, else loaded from this spec's root; None where there is no such spec)."""
    from harness.model import plan
    from harness.specs import SpecError, find_spec

    def parameters_of(spec_id: str) -> int | None:
        try:
            other = (known or {}).get(spec_id) or find_spec(spec_id, loaded.path.parent.parent)
        except (SpecError, OSError):
            return None
        return planned_parameters(other)

    return {"spec": loaded, "planned": plan(loaded.spec.architecture), "parameters_of": parameters_of}


def planned_parameters(loaded: LoadedSpec) -> int:
    """The parameter count, from the shape plan (the one source of counts)."""
    from harness.model import plan

    return sum(p.parameters for p in plan(loaded.spec.architecture))


SCOPE = ("train_limit", "test_limit", "epochs", "max_batches", "batch_size")  # options that shrink a run


def scope_of(options: dict) -> tuple:
    """What a run left out (all None: the full documented run); runs compare only within one scope."""
    return tuple(options.get(k) for k in SCOPE)


def is_full_run(record: dict) -> bool:
    """A complete run on the full data with the spec's own epochs and batch size."""
    return record.get("outcome") == "ok" and not any(scope_of(record.get("options", {})))


def is_stale(record: dict, loaded: LoadedSpec) -> bool:
    """The spec's training (or the training code's semantics) changed since the record's run."""
    from harness.cache import TRAINING_SEMANTICS

    return (record.get("training_hash") != loaded.training_hash
            or record.get("semantics_version", TRAINING_SEMANTICS) != TRAINING_SEMANTICS)


@dataclass
class Run:
    """One spec's seeds on one device kind, from a record or this session."""

    spec_id: str
    device_kind: str
    seeds: list[int]
    curves: list[SeedCurve]
    epochs: int
    scope: tuple = (None,) * len(SCOPE)
    created: str = ""
    looks: int = 1  # `--seeds auto`: the ladder's looks the seeds came from (recorded in the record's options)

    @property
    def full(self) -> bool:
        return not any(self.scope)


def run_of_record(record: dict) -> Run:
    curves = [SeedCurve.from_json(c) for c in record.get("curves", [])]
    options = record.get("options", {})
    return Run(record["spec"], record.get("device_kind", "?"), list(record.get("seeds", [])), curves,
               int(record.get("epochs", 0)), scope_of(options), record.get("created", ""), int(options.get("looks", 1)))


@dataclass
class Judge:
    """Judges runs of `specs`; knows every fresh complete run (per spec and device kind): full runs give the
    pooled noise scale, and a comparison pairs with the other spec's run of the same scope."""

    specs: dict[str, LoadedSpec]
    runs: dict[tuple[str, str], Run] = field(default_factory=dict)
    _families: dict[tuple, dict] = field(default_factory=dict)  # README -> its lessons' raw p (see in_family)

    @classmethod
    def from_records(cls, specs: list[LoadedSpec], records: list[dict]) -> Judge:
        judge = cls({s.id: s for s in specs})
        for record in sorted(records, key=lambda r: r.get("created", "")):
            loaded = judge.specs.get(record.get("spec"))
            if loaded is not None and not is_stale(record, loaded) and record.get("outcome") == "ok":
                judge.add(run_of_record(record))
        return judge

    def add(self, run: Run) -> None:
        """A fresh run (a newer one replaces an older one); only full runs enter the pooled noise scale."""
        self.runs[(run.spec_id, run.device_kind)] = run
        self._families.clear()  # a lesson's p may change with any run of its README

    def merge(self, runs: dict[tuple[str, str], Run]) -> None:
        """Runs recorded meanwhile (by another worker), where this judge knows none of that spec and kind."""
        for key, run in runs.items():
            if key not in self.runs:
                self.add(run)

    def evidence(self, loaded: LoadedSpec, run: Run | None, parameters: int | None = None) -> Evidence:
        kind = run.device_kind if run else None
        neighbours = [(r.curves, r.epochs) for (sid, dk), r in sorted(self.runs.items())
                      if dk == kind and r.full and sid.split("/")[0] == loaded.slug]

        def other(spec_id: str) -> OtherRun | None:
            found = self.runs.get((spec_id, kind))
            if found is None or found.scope != run.scope:  # a subset run compares only with its like
                return None
            return OtherRun(found.spec_id, found.seeds, found.curves, found.epochs)

        return Evidence(loaded.id, run.curves if run else None, run.epochs if run else loaded.spec.recipe.epochs,
                        planned_parameters(loaded) if parameters is None else parameters, neighbours, other,
                        run.looks if run else 1, **self.structure(loaded))

    def structure(self, loaded: LoadedSpec) -> dict:
        """What claims on the model's structure read (its layers, other specs' counts), for Evidence."""
        return structure_of(loaded, self.specs)

    def judge(self, loaded: LoadedSpec, run: Run | None) -> list[ClaimResult]:
        results = judge_all(loaded.spec.claims, self.evidence(loaded, run))
        claims = {c.claim_id: c for c in loaded.spec.claims}
        return [self.in_family(loaded, claims[r.claim_id], r, run) for r in results]

    def judge_claim(self, loaded: LoadedSpec, claim, run: Run | None) -> ClaimResult:
        """One claim of a spec, judged now (a lesson: decided within its README's family)."""
        return self.in_family(loaded, claim, claim.judge(self.evidence(loaded, run)), run)

    def in_family(self, loaded: LoadedSpec, claim, result: ClaimResult, run: Run | None) -> ClaimResult:
        """A lesson decided together with every lesson of its README (the spec folder): Holm's adjustment over
        all of them, a lesson with no run or too few pairs counting with p = 1 (never decided, still counted, so
        the family and its verdicts do not depend on what happens to be trained first). stats.holm; docs/verdicts.md."""
        if not claim.in_family or run is None:
            return result
        family = self._family_p(loaded.slug, run)
        family[(loaded.id, claim.claim_id)] = claim.family_p(result)  # this run's own judgement
        keys = sorted(family)
        adjusted = dict(zip(keys, stats.holm([family[k] for k in keys])))
        return claim.decide_in_family(result, adjusted[(loaded.id, claim.claim_id)], len(keys), run.looks)

    def _family_p(self, slug: str, run: Run) -> dict[tuple[str, str], float]:
        """(spec id, claim id) -> raw p of every lesson in the README `slug`, from the runs known of `run`'s device
        kind and scope (cached until a run is added)."""
        key = (slug, run.device_kind, run.scope)
        if key not in self._families:
            family = {}
            for loaded in sorted(self.specs.values(), key=lambda s: s.id):
                if loaded.slug != slug:
                    continue
                mine = self.runs.get((loaded.id, run.device_kind))
                usable_run = mine if mine is not None and mine.scope == run.scope else None
                for claim in loaded.spec.claims:
                    if claim.in_family:
                        result = claim.judge(self.evidence(loaded, usable_run)) if usable_run else None
                        family[(loaded.id, claim.claim_id)] = claim.family_p(result) if result else 1.0
            self._families[key] = family
        return dict(self._families[key])

    def judge_record(self, loaded: LoadedSpec, record: dict) -> list[ClaimResult] | str:
        """A record's claims judged now, or STALE when the spec's training changed since."""
        if is_stale(record, loaded):
            return STALE
        results = self.judge(loaded, run_of_record(record))
        if record.get("outcome", "ok") != "ok":
            mark_failed_run(loaded, results, record.get("outcome"), record.get("error"))
        return results


def mark_failed_run(loaded: LoadedSpec, results: list[ClaimResult], outcome: str | None, error: str | None) -> None:
    """A run that did not finish carries no verdict for its trained claims."""
    trained = {c.claim_id for c in loaded.spec.claims if c.trained}
    for r in results:
        if r.claim_id in trained and r.verdict not in (Verdict.UNVERIFIABLE, Verdict.NOT_JUDGED):
            r.verdict, r.detail = Verdict.ERROR, f"run {outcome}: {error}"


def newest_records(records: list[dict]) -> dict[str, list[dict]]:
    """spec id -> newest record per device kind."""
    best: dict[tuple[str, str], dict] = {}
    for r in records:
        key = (r["spec"], r.get("device_kind", "?"))
        if key not in best or r.get("created", "") > best[key].get("created", ""):
            best[key] = r
    out: dict[str, list[dict]] = defaultdict(list)
    for (spec_id, _), r in sorted(best.items()):
        out[spec_id].append(r)
    return out
