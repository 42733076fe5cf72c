"""What happens when...: a run is killed, workers race, a run overruns or runs out of memory, data is bad."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from _support import ROOT, run_pytest, write_tiny_specs

from harness import runner
from harness.audit import Audit
from harness.cache import ResultsCache
from harness.specs import load_spec

needs_mnist = pytest.mark.skipif(not os.environ.get("MNIST_ROOT"), reason="needs MNIST_ROOT")
SPEC_TESTS = str(ROOT / "tests" / "test_specs.py")


def harness_run(spec, results, cache, *extra, **popen):
    cmd = [sys.executable, "-m", "harness", "run", str(spec), "--results", str(results), "--audit-cache", str(cache),
           "--train-subset", "4096", "--test-subset", "256", "--seeds", "1", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


@needs_mnist
def test_a_killed_run_resumes_from_its_last_epoch_and_ends_bit_identical(tmp_path):
    spec = write_tiny_specs(tmp_path / "specs" / "tiny", epochs=6) / "alpha.yaml"
    reference = harness_run(spec, tmp_path / "ref", tmp_path / "ref-cache")
    assert reference.wait(timeout=300) == 0, reference.stderr.read()

    cache = tmp_path / "cache"
    victim = harness_run(spec, tmp_path / "results", cache)
    checkpoints = cache / "checkpoints"
    deadline = time.monotonic() + 120
    while not (checkpoints.is_dir() and any(checkpoints.glob("*.pt"))):
        assert victim.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)  # mid-training, after at least one completed epoch
    victim.wait()
    assert not (tmp_path / "results" / "records").exists()  # no half-written record
    saved = torch.load(next(checkpoints.glob("*.pt")), weights_only=False)["epoch"]
    assert 1 <= saved < 6

    resumed = harness_run(spec, tmp_path / "results", cache)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    done = json.loads((tmp_path / "results" / "records" / "tiny--alpha.cpu.json").read_text())
    ref = json.loads((tmp_path / "ref" / "records" / "tiny--alpha.cpu.json").read_text())
    assert done["curves"] == ref["curves"]
    assert not list(checkpoints.glob("*.pt")) and not list((tmp_path / "results").rglob("*.tmp"))


@needs_mnist
def test_four_workers_report_at_once_and_lose_nothing(tmp_path):
    names = [f"s{i}" for i in range(8)]
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=names)
    results = tmp_path / "results"
    result = run_pytest("-n", "4", "-v", "--specs", str(specs.parent), "--results", str(results), "--audit-cache",
                        str(tmp_path / "cache"), "--reproduce", "--train-subset", "512", "--test-subset", "128",
                        SPEC_TESTS)
    assert result.returncode == 0, result.stdout[-3000:]
    workers = {}  # each spec's claims ran on one worker: every spec trained once
    for line in result.stdout.splitlines():
        if "test_claim[" in line and line.startswith("[gw"):
            spec_id = line.split("test_claim[")[1].split(":")[0]
            workers.setdefault(spec_id, set()).add(line.split("]")[0])
    assert len(workers) == 8 and all(len(w) == 1 for w in workers.values()), workers
    records = sorted((results / "records").glob("*.json"))
    assert [r.name for r in records] == sorted(f"tiny--{n}.cpu.json" for n in names)
    for path in records:
        record = json.loads(path.read_text())
        assert len(record["curves"]) == 2 and {c["claim_id"] for c in record["claims"]} >= {"test-accuracy-final"}
    report = (results / "REPORT.md").read_text()
    assert all(f"| {n} | test-accuracy-final |" in report for n in names)
    assert not list(results.rglob("*.tmp"))


@needs_mnist
def test_a_run_past_its_budget_is_recorded_and_the_suite_carries_on(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("slow", "also"))
    results = tmp_path / "results"
    result = run_pytest("--specs", str(specs.parent), "--results", str(results), "--audit-cache",
                        str(tmp_path / "cache"), "--reproduce", "--timeout", "0", "--train-subset", "512", SPEC_TESTS)
    assert result.returncode == 1 and "run timeout" in result.stdout
    for name in ("slow", "also"):  # both specs ran and both are on record as timed out
        record = json.loads((results / "records" / f"tiny--{name}.cpu.json").read_text())
        assert record["outcome"] == "timeout"
        assert {c["claim_id"]: c["verdict"] for c in record["claims"]}["test-accuracy-final"] == "error"
    assert "timeout" in (results / "REPORT.md").read_text()


def test_cuda_out_of_memory_is_recorded_not_raised(tmp_path, monkeypatch, tiny_mnist):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")

    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(runner, "train", out_of_memory)
    audit = Audit(device=torch.device("cpu"), cache=ResultsCache(tmp_path / "cache"), results_dir=tmp_path / "r")
    audit._mnist = tiny_mnist
    run, results = audit.reproduce(loaded)
    assert run.outcome == "oom" and "out of memory" in run.error
    record = json.loads((tmp_path / "r" / "records" / "tiny--alpha.cpu.json").read_text())
    assert record["outcome"] == "oom"
    assert [r.verdict for r in results if r.kind == "test_accuracy_final"] == ["error"]
    assert not list((tmp_path / "cache").rglob("runs/*/*.json"))  # a failed run is never cached


def test_a_diverged_run_is_an_outcome_that_can_reproduce_a_claim(tmp_path, tiny_mnist):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", lr=1e9)
    spec = specs / "alpha.yaml"
    spec.write_text(spec.read_text().replace(
        "- {kind: test_accuracy_final, band: [0, 100], where: test, expect: reproduced}",
        "- {kind: does_not_converge, band: [0, 12], where: test, expect: reproduced}"))
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "r", train_subset=512)
    audit._mnist = tiny_mnist
    run, results = audit.reproduce(load_spec(spec))
    outcomes = [c.outcome for c in run.curves]
    assert "diverged" in outcomes and set(outcomes) <= {"diverged", "ok"}  # a seed may also just die (dead ReLUs)
    assert {r.claim_id: r.verdict for r in results}["does-not-converge"] == "reproduced"
    record = json.loads((tmp_path / "r" / "records" / "tiny--alpha.cpu.json").read_text())
    assert record["curves"][outcomes.index("diverged")]["diverged_epoch"] == 1


@needs_mnist
def test_corrupt_data_trains_nothing_and_names_the_file(tmp_path):
    data = tmp_path / "mnist"
    shutil.copytree(os.environ["MNIST_ROOT"], data)
    target = data / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-100])  # truncated
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    results = tmp_path / "results"
    result = run_pytest("--specs", str(specs.parent), "--results", str(results), "--data-root", str(data),
                        "--reproduce", "-k", "test_claim", SPEC_TESTS)
    assert result.returncode == 1
    assert "t10k-labels-idx1-ubyte.gz" in result.stdout and "truncated or corrupt" in result.stdout
    assert not (results / "records").exists()


def test_a_crash_while_writing_a_record_keeps_the_previous_one(tmp_path, monkeypatch):
    from harness import cache

    path = tmp_path / "record.json"
    cache.atomic_write_text(path, '{"version": 1}')

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        cache.atomic_write_text(path, '{"version": 2}')
    assert json.loads(path.read_text()) == {"version": 1}
