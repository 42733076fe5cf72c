"""`python -m harness verify SPEC... [--seeds 0 1]`: retrain recorded seeds and compare with the record.

A record is only worth publishing if its curves come from the spec it names. This retrains the chosen
seeds of each spec from scratch (no cache, no record reuse) in the way the record says they were
trained (seeds stacked together, thread count, memory format), and compares every per-epoch figure
with the committed record: `bit-identical`, or the largest difference. Exit 1 when a seed differs
(on another CPU model or torch version the summation order may differ: the record's environment is
printed beside this one).
"""

from __future__ import annotations

from pathlib import Path

import torch

from harness.environment import capture, environment_key
from harness.records import read_record, record_path
from harness.terminal import safe

FIGURES = ("test_accuracy", "test_loss", "train_accuracy", "train_loss", "lr")


def add_command(sub) -> None:
    p = sub.add_parser("verify", help="retrain recorded seeds from scratch and compare them with the record")
    p.add_argument("specs", nargs="+", help="spec ids (sub25k-95pct/iteration4) or paths")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seed values (default: the record's first)")
    p.add_argument("--results", type=Path, default=Path("results"), help="where the records are")
    p.add_argument("--data-root", default=None, help="MNIST folder (default: $MNIST_ROOT)")
    p.set_defaults(func=cmd_verify)


def largest_difference(recorded: dict, fresh: dict) -> float:
    diffs = [abs(a - b) for name in FIGURES for a, b in zip(recorded[name], fresh[name]) if a == a and b == b]
    lengths = any(len(recorded[name]) != len(fresh[name]) for name in FIGURES)
    return float("inf") if lengths else max(diffs, default=0.0)


def verify(loaded, record: dict, seeds: list[int], mnist) -> list[tuple[int, float]]:
    """(seed, largest difference) per seed, each retrained the way the record says it was."""
    from harness.engine import RunOptions, train

    curves = {c["seed"]: c for c in record["curves"]}
    how = dict(zip(record["seeds"], record.get("trained_with") or [{}] * len(record["seeds"])))
    options = record.get("options", {})
    out, retrained = [], {}  # seeds stacked together train together once, however many of them are asked for
    for seed in seeds:
        trained = how.get(seed, {})
        group = tuple(trained.get("stack") or [seed])
        if group not in retrained:
            threads = torch.get_num_threads()
            torch.set_num_threads(int(trained.get("threads") or threads))
            try:
                fresh = train(loaded.spec, mnist, list(group), RunOptions(
                    epochs=options.get("epochs"), max_batches=options.get("max_batches"),
                    batch_size=options.get("batch_size"), train_limit=options.get("train_limit"),
                    test_limit=options.get("test_limit"), channels_last=trained.get("channels_last", True)))
            finally:
                torch.set_num_threads(threads)
            retrained[group] = {c.seed: c.to_json() for c in fresh}
        out.append((seed, largest_difference(curves[seed], retrained[group][seed])))
    return out


def cmd_verify(args) -> int:
    from harness.cli import find_spec
    from harness.data import load_mnist

    mnist = load_mnist(args.data_root)
    here = environment_key(capture(torch.device("cpu")))
    failed = False
    for ref in args.specs:
        loaded = find_spec(ref)
        record = read_record(record_path(args.results, loaded, "cpu"))
        if record is None:
            print(f"{safe(loaded.id)}: no CPU record in {args.results}")
            failed = True
            continue
        if record.get("training_hash") != loaded.training_hash:
            print(f"{safe(loaded.id)}: the record is stale (its spec's architecture or recipe changed)")
            failed = True
            continue
        there = environment_key(record["environment"])
        seeds = args.seeds or record["seeds"][:1]
        for seed, diff in verify(loaded, record, seeds, mnist):
            verdict = "bit-identical" if diff == 0 else f"differs: largest difference {diff:.3g}"
            failed |= diff != 0
            print(f"{safe(loaded.id)} seed {seed}: {verdict}")
        if there != here:
            print(f"  recorded on {safe(str(there))}; here {safe(str(here))}")
    return 1 if failed else 0
