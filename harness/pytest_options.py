"""The audit's pytest options, registered as a pytest11 entry point, and its test-id format.

An installed entry point loads in every pytest run of the environment, so this module imports only
what option parsing needs (no torch, no harness module that trains) and registers options; the
audit's hooks (tiers, parametrization, verdicts, summary) live in the project's root conftest.py
and apply to this project's tests only. Option values are checked as they are parsed (see
harness.option_types): a bad value is a usage error before collection.

pytest picks its rootdir (and so its ini file and testpaths) before any plugin's options are
known, taking every existing path on the command line for a test path. `--data-root
../shared/data/mnist` therefore moves the rootdir out of the project, while
`--data-root=../shared/data/mnist` does not; `check_path_options` turns that into a clear usage
error, for runs started inside this project only. conftest.py adds the same options itself when
the package is not installed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.option_types import add_shared

PLUGIN_NAME = "mnist_audit"
PATH_OPTIONS = ("--specs", "--data-root", "--results", "--audit-cache")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- test ids (the one definition)

def claim_test_id(spec_id: str, claim_id: str) -> str:
    """`slug/name:claim`: `-k` selects by README, iteration or claim; the xdist scheduler groups by spec."""
    return f"{spec_id}:{claim_id}"


CLAIM_NODE = re.compile(r"::test_claim\[(?P<spec>[^\]:]+):(?P<claim>[^\]]*)")


def claim_of_node(nodeid: str) -> tuple[str, str] | None:
    """(spec id, claim id) of a `test_claim[slug/name:claim]` node id, else None."""
    match = CLAIM_NODE.search(nodeid)
    return (match["spec"], match["claim"]) if match else None


def spec_of_claim_node(nodeid: str) -> str | None:
    """The spec id of a `test_claim[slug/name:claim]` node id, else None."""
    match = CLAIM_NODE.search(nodeid)
    return match["spec"] if match else None


# --------------------------------------------------------------------------- options

def add_options(parser) -> None:
    group = parser.getgroup("audit", "README claim audit")
    group.addoption("--specs", default=None, help="spec folder or file (default: specs/)")
    add_shared(group.addoption, "--data-root", "--device", "--seeds", "--max-seeds")
    group.addoption("--smoke", action="store_true", help="also run the smoke tier")
    group.addoption("--reproduce", action="store_true", help="also run full reproductions and judge claims")
    add_shared(group.addoption, "--no-cache", "--audit-cache", "--run-timeout", "--stack", "--train-subset",
               "--test-subset", "--shard")
    group.addoption("--results", default=None, help="where run records and the report go (default: <rootdir>/results)")
    group.addoption("--no-report", action="store_true", help="do not regenerate results/REPORT.md at the end")


def pytest_addoption(parser) -> None:
    add_options(parser)


def check_path_options(config) -> None:
    """Refuse `--data-root DIR` (a separate DIR) when pytest took DIR for a test path outside the project.
    Only for runs started inside this project: any other project's session is left alone."""
    invoked = Path(config.invocation_params.dir)
    if not invoked.is_relative_to(PROJECT_ROOT):
        return
    args = list(config.invocation_params.args)
    misplaced = config.inipath is None or not invoked.is_relative_to(config.rootpath)
    for i, arg in enumerate(args[:-1]):
        if arg in PATH_OPTIONS and Path(args[i + 1]).exists() and misplaced:
            raise pytest.UsageError(
                f"{arg} {args[i + 1]}: pytest took {args[i + 1]} for a test path and chose the rootdir "
                f"{config.rootpath}; write {arg}={args[i + 1]} (with '=')")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config) -> None:
    check_path_options(config)
