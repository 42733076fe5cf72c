"""`python -m harness --help` and each subcommand's `--help` answer without importing torch (issue 23 item 7).

Each check runs the real entry point in a fresh interpreter with `-X importtime`, which lists every module
imported; torch must not be among them (`plan`'s options live in harness/cli_plan.py, apart from the
torch-importing harness/plan.py; verify imports its records and specs inside the command).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

ROOT = Path(cli.__file__).resolve().parent.parent
LIGHT = ["", "list", "check", "summary", "schema", "run", "report", "expect", "download", "new"]
HEAVY = ["plan", "verify"]


def _help(command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-X", "importtime", "-m", "harness", *([command] if command else []), "--help"]
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def _imports_torch(stderr: str) -> bool:
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in stderr.splitlines()
               if line.startswith("import time:"))


@pytest.mark.parametrize("command", LIGHT)
def test_help_answers_without_torch(command):
    done = _help(command)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage: python -m harness" in done.stdout
    assert not _imports_torch(done.stderr)


@pytest.mark.parametrize("command", HEAVY)
def test_help_of_plan_and_verify_without_torch(command):
    done = _help(command)
    assert done.returncode == 0
    assert not _imports_torch(done.stderr)


def test_top_level_help_lists_every_subcommand():
    done = _help("")
    for name in ["list", "check", "summary", "schema", *cli.SUBCOMMANDS]:
        assert name in done.stdout


def test_a_subcommand_help_shows_its_own_options():
    assert "--seeds" in _help("run").stdout
    assert "--code" in _help("new").stdout


def test_the_listed_helps_are_those_the_modules_register():
    import importlib

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module, register in sorted(set(cli._REGISTER.items())):
        getattr(importlib.import_module(module), register)(sub)
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {name: text for name, (_, text) in cli.SUBCOMMANDS.items()}
    for name, (module, _) in cli.SUBCOMMANDS.items():
        fresh = argparse.ArgumentParser().add_subparsers()
        getattr(importlib.import_module(module), cli._REGISTER[module])(fresh)
        assert name in fresh.choices, f"{name} is not registered by {module}"
