"""The audit's pytest options, registered as a pytest11 entry point.

pytest picks its rootdir (and so its ini file and testpaths) before any
plugin's options are known, taking every existing path on the command line for
a test path. `--data-root ../shared/data/mnist` therefore moves the rootdir
out of the project, while `--data-root=../shared/data/mnist` does not; an
installed plugin at least lets pytest parse the option, and
`check_path_options` turns the wrong rootdir into a clear usage error.
conftest.py adds the same options itself when the package is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PLUGIN_NAME = "mnist_audit"
PATH_OPTIONS = ("--specs", "--data-root", "--results", "--audit-cache")


def add_options(parser) -> None:
    group = parser.getgroup("audit", "README claim audit")
    group.addoption("--specs", default=None, help="spec folder or file (default: specs/)")
    group.addoption("--data-root", default=None, help="MNIST folder (default: $MNIST_ROOT)")
    group.addoption("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    group.addoption("--seeds", type=int, default=None, help="seeds per spec (default: each spec's `seeds`)")
    group.addoption("--smoke", action="store_true", help="also run the smoke tier")
    group.addoption("--reproduce", action="store_true", help="also run full reproductions and judge claims")
    group.addoption("--no-cache", action="store_true", help="retrain even when a cached result exists")
    group.addoption("--audit-cache", default=None, help="results cache folder (default: $AUDIT_CACHE_DIR or "
                                                        "~/.cache/mnist-readme-audit)")
    group.addoption("--timeout", type=float, default=None, help="wall-clock budget per spec run, seconds")
    group.addoption("--stack", type=int, default=None, help="seeds trained together in one stacked model "
                                                            "(default: measured per model on CPU, all on CUDA; see README)")
    group.addoption("--train-subset", type=int, default=None, metavar="N",
                    help="train on the first N samples only (quick checks; recorded, never mistaken for a full run)")
    group.addoption("--test-subset", type=int, default=None, metavar="N", help="evaluate on the first N test samples")
    group.addoption("--shard", default=None, metavar="K/N",
                    help="run the K-th of N deterministic shards of the specs (a spec is never split; nightly jobs)")
    group.addoption("--results", default=None, help="where run records and the report go (default: <rootdir>/results)")
    group.addoption("--no-report", action="store_true", help="do not regenerate results/REPORT.md at the end")


def pytest_addoption(parser) -> None:
    add_options(parser)


def check_path_options(config) -> None:
    """Refuse `--data-root DIR` (a separate DIR) when pytest took DIR for a test path outside the project."""
    args = list(config.invocation_params.args)
    misplaced = config.inipath is None or not Path(config.invocation_params.dir).is_relative_to(config.rootpath)
    for i, arg in enumerate(args[:-1]):
        if arg in PATH_OPTIONS and Path(args[i + 1]).exists() and misplaced:
            raise pytest.UsageError(
                f"{arg} {args[i + 1]}: pytest took {args[i + 1]} for a test path and chose the rootdir "
                f"{config.rootpath}; write {arg}={args[i + 1]} (with '=')")


def check_shard(config) -> None:
    from harness.sharding import parse_shard

    if config.getoption("shard"):
        try:
            parse_shard(config.getoption("shard"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config) -> None:
    check_path_options(config)
    check_shard(config)
