"""Value types of the audit's command-line options, checked when the command line is parsed.

Each is an argparse `type=` callable (pytest's `addoption` takes the same), so `--shard 3/2`,
`--seeds 0`, `--train-subset -5` or `--run-timeout -1` are usage errors before anything is collected
or trained. Imports nothing heavy: the pytest entry point loads this module in every pytest run.
"""

from __future__ import annotations

import argparse
import math
import re

from harness.limits import MAX_SEEDS

SHARD_PATTERN = re.compile(r"^(\d+)/(\d+)$")


class OptionValueError(argparse.ArgumentTypeError, ValueError):
    """A bad option value; argparse (and so pytest) prints the message as a usage error."""


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4): the second of four shards; K counts from 1."""
    match = SHARD_PATTERN.match(text.strip())
    if not match:
        raise OptionValueError(f"--shard {text!r}: expected K/N, e.g. 1/4")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise OptionValueError(f"--shard {text}: K must be between 1 and N")
    return index, count


def _integer(text: str, what: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise OptionValueError(f"{text!r}: expected a whole number of {what}") from None


def seed_count(text: str) -> int | str:
    """A number of seeds, or `auto` (more seeds where a verdict is undecided, up to --max-seeds)."""
    if text == "auto":
        return text
    n = _integer(text, "seeds")
    if not 1 <= n <= MAX_SEEDS:
        raise OptionValueError(f"{text}: seeds per spec must be between 1 and {MAX_SEEDS}")
    return n


def seed_cap(text: str) -> int:
    """--max-seeds: a number of seeds (not `auto`), within the same bounds as --seeds."""
    n = seed_count(text)
    if n == "auto":
        raise OptionValueError("--max-seeds takes a number")
    return n


def positive_count(text: str) -> int:
    """A number of samples or seeds per stacked model: 1 or more."""
    n = _integer(text, "items")
    if n < 1:
        raise OptionValueError(f"{text}: must be 1 or more")
    return n


def seconds(text: str) -> float:
    """A time budget: 0 or more seconds (0 stops a run at its first check)."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise OptionValueError(f"{text!r}: expected a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise OptionValueError(f"{text}: must be a finite number of seconds, 0 or more")
    return value


# --------------------------------------------------------------------------- the shared options (defined once)

# name -> argparse/pytest keyword arguments: pytest's `addoption` and argparse's `add_argument` take the same,
# so `harness run`, `harness plan` and pytest parse each option with one type, one default and one help.
SHARED_OPTIONS: dict[str, dict] = {
    "--seeds": dict(type=seed_count, default=None,
                    help="seeds per spec, or `auto`: 3, then 5, then 10 where a claim or comparison is undecided "
                         "(default: each spec's `seeds`)"),
    "--max-seeds": dict(type=seed_cap, default=10, help="the cap of --seeds auto (default: 10)"),
    "--device": dict(default="auto", help="cpu, cuda, cuda:N or auto (default: auto)"),
    "--data-root": dict(default=None, help="MNIST folder (default: $MNIST_ROOT, else the cache folder's mnist/)"),
    "--no-cache": dict(action="store_true", help="retrain even when a cached result exists"),
    "--audit-cache": dict(default=None, help="results cache folder (default: $AUDIT_CACHE_DIR or "
                                             "~/.cache/mnist-readme-audit)"),
    "--run-timeout": dict(type=seconds, default=None, metavar="S",
                          help="wall-clock budget per spec run, seconds (an overrun is recorded as `timeout`)"),
    "--stack": dict(type=positive_count, default=None,
                    help="seeds trained together in one stacked model (default: measured per model on CPU, "
                         "all on CUDA; see README)"),
    "--train-subset": dict(type=positive_count, default=None, metavar="N",
                           help="train on the first N samples only (quick checks; recorded, never mistaken for a "
                                "full run)"),
    "--test-subset": dict(type=positive_count, default=None, metavar="N", help="evaluate on the first N test samples"),
    "--shard": dict(type=parse_shard, default=None, metavar="K/N",
                    help="run the K-th of N deterministic shards of the specs (a spec is never split; nightly jobs)"),
}


def add_shared(add, *names: str, **dests: str) -> None:
    """Declare `names` with `add` (argparse's `add_argument` or pytest's `addoption`); `dests` renames an
    option's attribute where a command already reads it under another name (run_timeout="timeout")."""
    for name in names:
        kwargs = dict(SHARED_OPTIONS[name])
        dest = dests.get(name.lstrip("-").replace("-", "_"))
        if dest:
            kwargs["dest"] = dest
        add(name, **kwargs)
