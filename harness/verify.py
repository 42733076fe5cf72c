"""`python -m harness verify SPEC... [--seeds 0 1]`: retrain recorded seeds and compare them bit for bit.

A record is only worth publishing if its curves come from the spec it names. This retrains the chosen
seeds of each spec from scratch (no cache, no record reuse) the way the record says they were trained
(seeds stacked together, thread count, memory format) and compares every per-epoch figure with the
record: `bit-identical`, or the largest difference.

Bits hold only on one CPU kind (vendor, ATen's kernel level, oneDNN's instruction set:
`environment.cpu_kind`); each seed says where it was trained. A seed is checked

* here, where this CPU is of its kind (or the record names none: it was written before kinds were);
* in a child process pinned to its kind (`environment.ISA_SWITCHES`), where this CPU offers more than
  that kind and the pins reproduce it exactly (an AVX-512 EPYC runs an AVX2 EPYC's arithmetic);
* against a *witness*: the same seed retrained on another kind, kept in `results/bits/` (`--witness
  KIND` writes one), so a machine of that kind checks the record too;
* by consistency where none of these applies: the seed retrained here is one more draw of the recipe
  (bits differ across kinds, the recipe does not), judged against the record's seeds epoch by epoch
  (`consistent`); it passes when every epoch lies inside its prediction interval, and is never called
  bit-identical.

Exit 1 when a checked seed differs (or a retrained one is not consistent), 2 on bad input (a spec, a seed
or a data folder), else 0.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.terminal import safe

FIGURES = ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "lr")
BITS_FORMAT = 1
WITNESS_LEVELS = ("AVX2", "AVX512")  # environment.ISA_SWITCHES' keys (tested equal; that module imports torch)
NO_EMULATION = "AUDIT_VERIFY_CHILD"  # set in a pinned child: it checks what it can run and never pins again


def add_command(sub) -> None:
    p = sub.add_parser("verify", help="retrain recorded seeds from scratch and compare them with the record")
    p.add_argument("specs", nargs="+", help="spec ids (sub25k-95pct/iteration4) or paths")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seed values (default: the record's first)")
    p.add_argument("--results", type=Path, default=Path("results"), help="where the records are")
    p.add_argument("--data-root", default=None, help="MNIST folder (default: $MNIST_ROOT)")
    p.add_argument("--witness", metavar="KIND", choices=WITNESS_LEVELS, default=None,
                   help="retrain the seeds pinned to this instruction-set level (AVX2, AVX512) and keep them in "
                        "results/bits/ as the record's witness for CPUs of that kind")
    p.add_argument("--stamp", action="store_true",
                   help="write this CPU's kind into the record for seeds that named none and came out bit-identical")
    p.set_defaults(func=cmd_verify)


def largest_difference(recorded: dict, fresh: dict) -> float:
    diffs = [abs(a - b) for name in FIGURES for a, b in zip(recorded[name], fresh[name]) if a == a and b == b]
    lengths = any(len(recorded[name]) != len(fresh[name]) for name in FIGURES)
    return float("inf") if lengths else max(diffs, default=0.0)


# --------------------------------------------------------------------------- where a seed's bits hold

def seed_kinds(record: dict) -> dict[int, str | None]:
    """{seed: the CPU kind that trained it}; None for seeds recorded before records named kinds."""
    how = record.get("trained_with") or [{}] * len(record.get("seeds", []))
    return {seed: (h or {}).get("cpu_kind") for seed, h in zip(record.get("seeds", []), how)}


def pins_for(kind: str, here: str, flags: set[str] | None = None) -> dict[str, str] | None:
    """The environment that makes this CPU compute as `kind` does, or None where it cannot (another
    vendor, a wider instruction set than this CPU has, or pins that would not give exactly `kind`)."""
    from harness.environment import ISA_SWITCHES, _cpuinfo, onednn_isa

    try:
        vendor, level, isa = kind.split(" ")
        here_vendor, here_level, _ = here.split(" ")
    except (AttributeError, ValueError):
        return None
    order = list(ISA_SWITCHES)
    if vendor != here_vendor or level not in order or here_level not in order:
        return None
    if order.index(level) > order.index(here_level):
        return None
    pins = ISA_SWITCHES[level]
    flags = set(_cpuinfo().get("flags", "").split()) if flags is None else flags
    return pins if onednn_isa(flags, pins) == isa else None


# --------------------------------------------------------------------------- witnesses

def bits_path(results: Path, file_id: str) -> Path:
    return Path(results) / "bits" / f"{file_id}.cpu.json"


def read_witnesses(results: Path, loaded) -> list[dict]:
    """Witness seeds of this spec's current training (another training hash: not this computation)."""
    try:
        data = json.loads(bits_path(results, loaded.file_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("format") != BITS_FORMAT or data.get("training_hash") != loaded.training_hash:
        return []
    return [w for w in data.get("witnesses", []) if isinstance(w, dict) and {"cpu_kind", "seed", "curve"} <= set(w)]


def add_witness(results: Path, loaded, record: dict, kind: str, seed: int, curve: dict, cpu_model: str) -> Path:
    from harness.cache import atomic_write_text
    from harness.paths import inside

    path = bits_path(results, loaded.file_id)
    inside(Path(results), path, "witness file")
    kept = [w for w in read_witnesses(results, loaded) if (w["cpu_kind"], w["seed"]) != (kind, seed)]
    kept.append({"cpu_kind": kind, "seed": seed, "trained_on": cpu_model, "curve": curve,
                 "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    data = {"format": BITS_FORMAT, "spec": loaded.id, "training_hash": loaded.training_hash,
            "semantics_version": record.get("semantics_version"),
            "witnesses": sorted(kept, key=lambda w: (w["cpu_kind"], w["seed"]))}
    atomic_write_text(path, json.dumps(data, indent=1, allow_nan=True) + "\n")
    return path


# --------------------------------------------------------------------------- retraining

def retrain(loaded, record: dict, seeds: list[int], mnist) -> dict[int, dict]:
    """{seed: curve} for `seeds`, each group of seeds stacked together retrained once, as recorded."""
    import torch

    from harness.engine import RunOptions, train

    how = dict(zip(record["seeds"], record.get("trained_with") or [{}] * len(record["seeds"])))
    options = record.get("options", {})
    fresh: dict[int, dict] = {}
    for seed in seeds:
        if seed in fresh:
            continue
        trained = how.get(seed) or {}
        group = list(trained.get("stack") or [seed])
        threads = torch.get_num_threads()
        torch.set_num_threads(int(trained.get("threads") or threads))
        try:
            curves = train(loaded.spec, mnist, group, RunOptions(
                epochs=options.get("epochs"), max_batches=options.get("max_batches"),
                batch_size=options.get("batch_size"), train_limit=options.get("train_limit"),
                test_limit=options.get("test_limit"), channels_last=trained.get("channels_last", True)))
        finally:
            torch.set_num_threads(threads)
        fresh.update({c.seed: c.to_json() for c in curves})
    return fresh


def verify(loaded, record: dict, seeds: list[int], mnist) -> list[tuple[int, float]]:
    """(seed, largest difference against the record) per seed, retrained here."""
    curves = {c["seed"]: c for c in record["curves"]}
    fresh = retrain(loaded, record, seeds, mnist)
    return [(seed, largest_difference(curves[seed], fresh[seed])) for seed in seeds]


CONSISTENCY_ALPHA = 0.01  # a whole curve's false alarm rate: Bonferroni over its epochs


def consistent(fresh: dict, recorded: list[dict], alpha: float = CONSISTENCY_ALPHA) -> tuple[bool | None, str]:
    """Is a seed retrained on another CPU kind one more run of the recipe the record's seeds come from?
    `recorded`: the record's OTHER seeds (its own twin would judge it against itself).

    At each epoch its test accuracy must lie inside the record seeds' prediction interval for one new run
    (stats.prediction_interval with stats.noise: the seeds' sd or the binomial floor, whichever is wider) at
    level 1 - alpha/E over E epochs, so a true curve is refused at most alpha of the time whatever E is
    (Bonferroni; simulated in tests/test_cpu_kind.py). (ok, the worst epoch in words); ok is None where
    fewer than two other seeds leave nothing to judge against."""
    import statistics

    from harness import stats

    curve = fresh["test_accuracy"]
    epochs = len(curve)
    worst, ok = "", True
    for e, value in enumerate(curve):
        values = [c["test_accuracy"][e] for c in recorded if len(c["test_accuracy"]) > e]
        if len(values) < 2:
            return None, f"epoch {e + 1}: fewer than 2 other recorded seeds to judge against"
        if value != value:
            return False, f"epoch {e + 1}: NaN"
        mean = statistics.fmean(values)
        sd = stats.noise(values, None, stats.binomial_floor(mean))
        interval = stats.prediction_interval(mean, len(values), sd, 1 - alpha / epochs)
        if value not in interval:
            ok, worst = False, f"epoch {e + 1}: {value:.2f} outside {interval.lo:.2f}-{interval.hi:.2f}"
    return ok, worst or f"every epoch of {epochs} inside the record's other seeds' {1 - alpha:.0%} band (n={len(recorded)})"


@dataclass
class Check:
    """One comparison: a seed's expected curve (the record's, or a witness) and the kind it holds on."""

    seed: int
    kind: str | None
    curve: dict
    label: str  # "record" or "witness"
    pinned: bool = False  # a witness trained by pinning a wider CPU: its kind's own CPUs may still differ


def _stamp(path: Path, record: dict, seeds: list[int], kind: str) -> None:
    from harness.records import save_record

    per_seed = record.get("trained_with") or [{} for _ in record["seeds"]]
    for i, seed in enumerate(record["seeds"]):
        if seed in seeds and not per_seed[i].get("cpu_kind"):
            per_seed[i] = {**per_seed[i], "cpu_kind": kind}
    record["trained_with"] = per_seed
    save_record(path, record)


def _pinned_child(args, ref: str, seeds: list[int], pins: dict[str, str], *extra: str) -> int:
    """`verify` in a fresh process whose CPU arithmetic is pinned (the switches are read at import)."""
    command = [sys.executable, "-m", "harness", "verify", ref, "--results", str(args.results), *extra, "--seeds",
               *map(str, seeds)]
    if args.data_root:
        command += ["--data-root", str(args.data_root)]
    return subprocess.run(command, env={**os.environ, **pins, NO_EMULATION: "1"}).returncode


def verify_spec(args, ref: str, mnist, here: str, cpu_model: str) -> int:
    """0 all checked seeds bit-identical (or none checkable), 1 one differs, 2 bad input."""
    from harness.records import read_record, record_path
    from harness.specs import find_spec

    loaded = find_spec(ref)
    path = record_path(args.results, loaded, "cpu")
    record = read_record(path)
    if record is None:
        print(f"{safe(loaded.id)}: no CPU record in {safe(str(args.results))} (train it with `python -m harness run`)")
        return 2
    if record.get("training_hash") != loaded.training_hash:
        print(f"{safe(loaded.id)}: the record is stale (its spec's architecture or recipe changed)")
        return 1
    seeds = args.seeds or record["seeds"][:1]
    unknown = [s for s in seeds if s not in record["seeds"]]
    if unknown:
        print(f"{safe(loaded.id)}: seeds {unknown} are not in the record (it holds {record['seeds']})")
        return 2
    curves = {c["seed"]: c for c in record["curves"]}
    kinds = seed_kinds(record)
    if args.witness:
        return _write_witness(args, ref, loaded, record, seeds, here, cpu_model)
    checks = [Check(s, kinds.get(s), curves[s], "record") for s in seeds]
    checks += [Check(w["seed"], w["cpu_kind"], w["curve"], "witness", "pinned" in str(w.get("trained_on", "")))
               for w in read_witnesses(args.results, loaded)
               if w["seed"] in seeds]
    child = bool(os.environ.get(NO_EMULATION))  # a pinned child checks only its kind: unnamed seeds are the parent's
    here_checks = [c for c in checks if c.kind == here or (c.kind is None and not child)]
    failed = False
    native: dict[int, dict] = {}

    def natively(wanted: list[int]) -> dict[int, dict]:  # each seed retrained here at most once
        missing = [s for s in wanted if s not in native]
        if missing:
            native.update(retrain(loaded, record, missing, mnist))
        return native

    if here_checks:
        fresh = natively(sorted({c.seed for c in here_checks}))
        for c in here_checks:
            diff = largest_difference(c.curve, fresh[c.seed])
            verdict = "bit-identical" if diff == 0 else f"differs: largest difference {diff:.3g}"
            where = f"on {safe(here)}" if c.kind else f"on {safe(here)}; the record names no CPU kind for it"
            print(f"{safe(loaded.id)} seed {c.seed} ({c.label}): {verdict} {where}")
            if diff != 0 and c.pinned and not child:  # the record's own seed is still judged as a draw below
                print(f"  the witness was computed by pinning a wider CPU, which this {safe(here)} does not match "
                      "bit for bit; not counted as a failure")
            else:
                failed |= diff != 0
        if args.stamp:
            same = [c.seed for c in here_checks if c.kind is None and c.label == "record"
                    and largest_difference(c.curve, fresh[c.seed]) == 0]
            if same:
                _stamp(path, record, same, here)
                print(f"  stamped seeds {same} of {safe(str(path))} with {safe(here)}")
    elsewhere = [c for c in checks if c.kind not in (None, here)]
    if child:
        return 1 if failed else 0
    for kind in sorted({c.kind for c in elsewhere}):
        these = sorted({c.seed for c in elsewhere if c.kind == kind})
        pins = pins_for(kind, here)
        if pins is None:
            failed |= not _check_consistency(loaded, record, [c for c in elsewhere if c.kind == kind], natively, here)
            continue
        print(f"{safe(loaded.id)} seeds {these}: checking as {safe(kind)} in a pinned process")
        sys.stdout.flush()
        failed |= _pinned_child(args, ref, these, pins) != 0
    return 1 if failed else 0


def _check_consistency(loaded, record: dict, checks: list[Check], natively, here: str) -> bool:
    """Seeds whose bits hold on a kind this CPU can neither be nor pin: retrained here, judged as draws."""
    seeds = sorted({c.seed for c in checks if c.label == "record"})
    if not seeds:  # a witness of a kind we cannot compute adds nothing a record seed does not
        return True
    fresh = natively(seeds)
    good = True
    for seed in seeds:
        ok, why = consistent(fresh[seed], [c for c in record["curves"] if c["seed"] != seed])
        kind = next(c.kind for c in checks if c.seed == seed)
        good &= ok is not False
        word = {True: "consistent", False: "NOT consistent", None: "not checked"}[ok]
        diff = largest_difference({c["seed"]: c for c in record["curves"]}[seed], fresh[seed])
        print(f"{safe(loaded.id)} seed {seed} (record): {word} ({safe(why)}); retrained on {safe(here)}, "
              f"its bits hold on {safe(kind)} (largest difference {diff:.3g})")
    return good


def _write_witness(args, ref, loaded, record, seeds, here: str, cpu_model: str) -> int:
    from harness.data import load_mnist
    from harness.environment import ISA_SWITCHES, cpu_kind

    if not os.environ.get(NO_EMULATION):  # pin in a fresh process: the switches only act at import
        return _pinned_child(args, ref, seeds, ISA_SWITCHES[args.witness], "--witness", args.witness)
    kind = cpu_kind()
    if kind.split(" ")[1] != args.witness:
        print(f"{safe(loaded.id)}: this CPU cannot compute as {args.witness} (it runs as {safe(kind)})")
        return 2
    fresh = retrain(loaded, record, seeds, load_mnist(args.data_root))
    for seed in seeds:
        path = add_witness(args.results, loaded, record, kind, seed, fresh[seed], f"{cpu_model}, pinned to {args.witness}")
        diff = largest_difference({c["seed"]: c for c in record["curves"]}[seed], fresh[seed])
        print(f"{safe(loaded.id)} seed {seed}: witness on {safe(kind)} kept in {safe(str(path))} "
              f"(largest difference from the record: {diff:.3g})")
    return 0


def cmd_verify(args) -> int:
    from harness.data import DataError, load_mnist
    from harness.environment import cpu_kind, cpu_model
    from harness.specs import SpecError

    try:
        mnist = None if args.witness else load_mnist(args.data_root)
    except DataError as exc:
        print(exc, file=sys.stderr)
        return 2
    here, model = cpu_kind(), cpu_model()
    worst = 0
    for ref in args.specs:  # a bad spec fails itself, the others are still verified
        try:
            code = verify_spec(args, ref, mnist, here, model)
        except SpecError as exc:
            print(exc, file=sys.stderr)
            code = 2
        except DataError as exc:
            print(exc, file=sys.stderr)
            code = 2
        worst = max(worst, code)
    return worst
