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
from harness.specs import SpecError, load_spec

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

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
    assert not list((tmp_path / "results").rglob("*.json"))  # no record, whole or half (the folders are made first)
    saved = torch.load(next(checkpoints.glob("*.pt")), weights_only=True)["epoch"]
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
    assert all(f'<a id="tiny--{n}"></a>' in report for n in names)  # every spec has its section
    assert report.count("| test-accuracy-final |") == 8
    assert not list(results.rglob("*.tmp"))


@needs_mnist
def test_a_run_past_its_budget_is_recorded_and_the_suite_carries_on(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny", names=("slow", "also"))
    results = tmp_path / "results"
    result = run_pytest("--specs", str(specs.parent), "--results", str(results), "--audit-cache",
                        str(tmp_path / "cache"), "--reproduce", "--run-timeout", "0", "--train-subset", "512", SPEC_TESTS)
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
        "- {kind: test_accuracy_final, band: [0, 100], where: test, expect: inconclusive}",
        "- {kind: does_not_converge, band: [0, 12], where: test, expect: reproduced}"))
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "r", train_subset=512)
    audit._mnist = tiny_mnist
    run, results = audit.reproduce(load_spec(spec))
    outcomes = [c.outcome for c in run.curves]
    assert "diverged" in outcomes and set(outcomes) <= {"diverged", "ok"}  # a seed may also just die (dead ReLUs)
    # two seeds, both not converged: the share's 90% interval (0.22-1) does not clear 1/2, so not yet decided
    assert {r.claim_id: r.verdict for r in results}["does-not-converge"] == "inconclusive"
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
    assert result.returncode == 4  # a usage error before any test runs: a message, not a traceback
    assert "t10k-labels-idx1-ubyte.gz" in result.stderr and "truncated or corrupt" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (results / "records").exists()


def test_an_unwritable_results_folder_stops_pytest_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    result = run_pytest(f"--specs={specs.parent}", f"--results={blocker / 'results'}",
                        f"--audit-cache={tmp_path / 'cache'}", "--reproduce", SPEC_TESTS)
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"the results folder {blocker / 'results'} is not a writable folder" in result.stderr


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


# --------------------------------------------------------------------------- one bad spec fails only itself

def _spec_folder(tmp_path):
    return write_tiny_specs(tmp_path / "specs" / "tiny", names=("good",))


def _check(folder, timeout=60):
    """`python -m harness check FOLDER` in a subprocess: a hang or crash there fails this test, not the session."""
    return subprocess.run([sys.executable, "-m", "harness", "check", str(folder)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _variant(folder, name, old, new):
    text = (folder / "good.yaml").read_text()
    assert old in text
    (folder / f"{name}.yaml").write_text(text.replace(old, new, 1))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks (POSIX)")
def test_unreadable_spec_files_fail_alone_with_one_message_each(tmp_path):
    folder = _spec_folder(tmp_path)
    (folder / "loop.yaml").symlink_to("loop.yaml")                   # a symlink loop, as a file
    _variant(folder, "via-loop", "title: tiny good", "title: via\nextends: loop")  # ...and through `extends`
    os.mkfifo(folder / "fifo.yaml")                                  # opening it for reading would block
    _variant(folder, "via-fifo", "title: tiny good", "title: via\nextends: fifo")
    (folder / "zero.yaml").symlink_to("/dev/zero")                   # endless bytes
    (folder / "huge.yaml").write_text("title: x\n" + "#" * (2 << 20) + "\n")
    result = _check(folder)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    expected = {"loop.yaml": "cannot open", "via-loop.yaml": "extends", "fifo.yaml": "a FIFO",
                "via-fifo.yaml": "a FIFO", "zero.yaml": "a character device", "huge.yaml": "larger than a spec may be"}
    for name, says in expected.items():
        mine = [line for line in lines if f"/{name}:" in line or f"(inherited by {folder / name})" in line]
        assert mine and says in mine[0], (name, result.stderr)
    assert "1 of 7 specs valid" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks (POSIX)")
def test_a_spec_path_that_is_no_file_is_named_not_skipped(tmp_path):
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    os.mkfifo(tmp_path / "fifo.yaml")
    result = subprocess.run([sys.executable, "-m", "harness", "check", str(tmp_path / "loop.yaml"),
                             str(tmp_path / "fifo.yaml"), str(tmp_path / "missing.yaml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "0 of 3 specs valid" in result.stderr
    for name, says in (("loop", "cannot open"), ("fifo", "not a regular file (a FIFO)"), ("missing", "file not found")):
        assert f"{name}.yaml: (top level): {says}" in result.stderr, result.stderr


def test_a_very_long_extends_chain_is_one_message(tmp_path):
    folder = _spec_folder(tmp_path)
    for i in range(40):  # deep enough to exhaust the stack if each link recursed without a bound
        _variant(folder, f"link{i}", "title: tiny good", f"title: link {i}\nextends: {'good' if i == 0 else f'link{i - 1}'}")
    with pytest.raises(SpecError, match="more than 16 files in one `extends` chain"):
        load_spec(folder / "link39.yaml")
    assert load_spec(folder / "link10.yaml").spec.title == "link 10"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks (POSIX)")
def test_the_pytest_session_survives_every_bad_spec_file_and_fails_only_those(tmp_path):
    folder = _spec_folder(tmp_path)
    (folder / "loop.yaml").symlink_to("loop.yaml")
    os.mkfifo(folder / "fifo.yaml")
    (folder / "zero.yaml").symlink_to("/dev/zero")
    _variant(folder, "huge-epochs", "epochs: 2", "epochs: 1" + "0" * 400)
    result = run_pytest(f"--specs={folder.parent}", "-v", "--shard", "1/1", SPEC_TESTS, timeout=300)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "test_spec_is_valid[tiny/good] PASSED" in result.stdout
    for name in ("loop", "fifo", "zero", "huge-epochs"):
        assert f"test_spec_is_valid[tiny/{name}] FAILED" in result.stdout, name
    assert "Traceback" not in result.stdout and "INTERNALERROR" not in result.stdout


def test_an_integer_too_large_for_a_float_is_refused_by_check_not_by_the_shards(tmp_path):
    folder = _spec_folder(tmp_path)
    _variant(folder, "huge-epochs", "epochs: 2", "epochs: 1" + "0" * 400)
    result = _check(folder)
    assert result.returncode == 1 and "huge-epochs.yaml:" in result.stderr
    assert "recipe.epochs: Input should be less than or equal to 200" in result.stderr
    shard = run_pytest("--collect-only", "-q", f"--specs={folder.parent}", "--shard", "1/2", SPEC_TESTS)
    assert "Traceback" not in shard.stdout + shard.stderr and "OverflowError" not in shard.stdout + shard.stderr


@pytest.mark.parametrize("old, new, field, says", [
    ("architecture:\n", "architecture:\n  input: [1, 32, 32]\n", "architecture.input", "1x28x28"),
    ("seeds: 2", "seeds: 1000000000", "seeds", "more than the harness trains (100)"),
    ("epochs: 2", "epochs: 100000", "recipe.epochs", "less than or equal to 200"),
    ("batch_size: 32", "batch_size: 10000000", "recipe.batch_size", "less than or equal to 60000"),
    # 2,826 parameters: padding grows every map to 2061x2061 (130 MiB per sample, GBs in the fast tier)
    ("    - relu\n", "    - conv: {out: 8, kernel: 1, padding: 1024}\n" * 2, "architecture.layers[1]",
     "per sample, more than the harness trains (16.0 MiB per sample)"),
    ("    - relu\n", "    - conv: {out: 512, kernel: 3, padding: 1}\n" * 4, "architecture.layers[4]",
     "GFLOPs per sample, more than the harness trains (2 GFLOPs per sample)"),
    ("    - relu\n", "    - relu\n" * 300, "architecture.layers", "at most 256 items"),
])
def test_resource_limits_are_checked_from_the_shapes_before_anything_runs(tmp_path, monkeypatch, old, new, field,
                                                                         says):
    folder = _spec_folder(tmp_path)
    _variant(folder, "big", old, new)
    built = []  # refused from the shapes alone: no module is ever constructed
    monkeypatch.setattr(torch.nn.Module, "__init__", lambda self, *a, **k: built.append(type(self)) or None)
    with pytest.raises(SpecError) as info:
        load_spec(folder / "big.yaml")
    assert built == []
    assert f": {field}: " in str(info.value) and says in str(info.value), str(info.value)


def test_shape_planning_is_linear_in_the_number_of_layers(monkeypatch):
    from harness import model
    from harness.schema import Architecture

    monkeypatch.setattr(model, "MAX_LAYERS", 10**6)  # past the schema's cap, to time the planner itself
    ends = Architecture.model_validate({"layers": ["flatten", {"linear": 10}]}).layers
    arch = Architecture.model_construct(input=[1, 28, 28], classes=10, layers=[*ends, *["relu"] * 50_000])
    started = time.monotonic()
    assert len(model.plan(arch)) == 50_002  # quadratic (duplicate-name counting) took minutes at this size
    assert time.monotonic() - started < 120  # a hang guard (about 1 s on a quiet 2-core machine), not a benchmark


def test_a_spec_folder_with_its_own_git_hooks_runs_nothing_when_a_record_is_written(tmp_path, monkeypatch, tiny_mnist):
    from harness.gitinfo import head_commit

    folder = write_tiny_specs(tmp_path / "specs" / "tiny")
    marker = tmp_path / "fsmonitor-ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git = folder / ".git"
    for sub in ("objects", "refs/heads"):
        (git / sub).mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "config").write_text(f"[core]\n\trepositoryformatversion = 0\n\tfsmonitor = {hook}\n\thooksPath = {tmp_path}\n")

    def out_of_memory(*args, **kwargs):  # no training needed: any outcome writes a record
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(runner, "train", out_of_memory)
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "r")
    audit._mnist = tiny_mnist
    audit.reproduce(load_spec(folder / "alpha.yaml"))
    record = json.loads((tmp_path / "r" / "records" / "tiny--alpha.cpu.json").read_text())
    assert not marker.exists()
    assert record["git_commit"] == head_commit()  # the project's commit, not the spec folder's


def test_the_commit_is_read_from_git_files_loose_packed_and_worktree(tmp_path):
    from harness.gitinfo import head_commit

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "repo"
    (repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert head_commit(repo) is None  # unborn branch
    (repo / ".git" / "packed-refs").write_text(f"# pack-refs with: peeled\n{sha} refs/heads/main\n")
    assert head_commit(repo) == sha
    (repo / ".git" / "refs" / "heads" / "main").write_text(sha.replace("0", "f") + "\n")  # a loose ref wins
    assert head_commit(repo) == sha.replace("0", "f")
    (repo / ".git" / "HEAD").write_text(sha + "\n")  # detached
    assert head_commit(repo) == sha
    worktree = tmp_path / "wt"
    (repo / ".git" / "worktrees" / "wt").mkdir(parents=True)
    (repo / ".git" / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git" / "worktrees" / "wt" / "commondir").write_text("../..\n")
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {repo / '.git' / 'worktrees' / 'wt'}\n")
    assert head_commit(worktree) == sha.replace("0", "f")
    assert head_commit(tmp_path / "nowhere") is None
    if shutil.which("git"):  # our own checkout: the same commit git itself reports
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        if out.returncode == 0:
            assert head_commit() == out.stdout.strip()


def _git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "core.autocrlf=false",
                    *args], cwd=repo, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to build an index")
def test_files_edited_since_staged_are_found_as_git_diff_finds_them(tmp_path):
    from harness.gitinfo import changed_files

    repo = tmp_path / "repo"
    for path, text in {"harness/engine.py": "x = 1\n", "specs/a/b.yaml": "k: v\n", "README.md": "docs\n",
                       "conftest.py": "", "harness/run.sh": "#!/bin/sh\n"}.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    (repo / "harness" / "run.sh").chmod(0o755)
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "c")
    assert changed_files(repo) == []
    (repo / "harness" / "engine.py").write_text("x = 2\n")  # same size: found by content, not by stat
    (repo / "README.md").write_text("more docs\n")  # not code: changes no result
    (repo / "specs" / "a" / "b.yaml").unlink()
    (repo / "harness" / "new.py").write_text("")  # untracked: as `git diff`, not seen
    assert changed_files(repo) == ["harness/engine.py", "specs/a/b.yaml"]
    diff = subprocess.run(["git", "diff", "--name-only", "--", "harness", "specs", "conftest.py"], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.split()
    assert changed_files(repo) == sorted(diff)
    _git(repo, "add", "harness/engine.py")  # staged: the documented blind spot (needs the commit's tree)
    assert changed_files(repo) == ["specs/a/b.yaml"]
    _git(repo, "update-index", "--index-version", "4")  # prefix-compressed paths: unknown, not "clean"
    assert changed_files(repo) is None
    _git(repo, "update-index", "--index-version", "2")
    assert changed_files(repo) == ["specs/a/b.yaml"]
    config = repo / ".git" / "config"  # a SHA-256 repository lays entries out with 32-byte ids: unknown
    config.write_text(config.read_text() + "[extensions]\n\tobjectFormat = sha256\n")
    assert changed_files(repo) is None


def test_an_unreadable_index_reads_as_unknown(tmp_path):
    from harness.gitinfo import changed_files

    assert changed_files(tmp_path) is None  # no repository
    (tmp_path / ".git").mkdir()
    assert changed_files(tmp_path) is None  # no index
    (tmp_path / ".git" / "index").write_bytes(b"DIRC\x00\x00\x00\x02\x00\x00\x00\x05" + b"\x00" * 30)
    assert changed_files(tmp_path) is None  # truncated


def test_a_record_says_when_its_code_was_edited_beyond_its_commit(tmp_path, monkeypatch, tiny_mnist):
    from harness import records
    from harness.report import _record_label

    monkeypatch.setattr(records, "changed_files", lambda: ["harness/engine.py"])
    folder = write_tiny_specs(tmp_path / "specs" / "tiny")
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "r", train_subset=64, test_subset=64)
    audit._mnist = tiny_mnist
    audit.reproduce(load_spec(folder / "alpha.yaml"), [0])
    record = json.loads((tmp_path / "r" / "records" / "tiny--alpha.cpu.json").read_text())
    assert record["git_changed"] == ["harness/engine.py"]
    assert _record_label(record).endswith(", uncommitted code")
    assert "uncommitted" not in _record_label({**record, "git_changed": []})


def test_a_failed_runs_traceback_reaches_the_pytest_output(tmp_path):
    specs = write_tiny_specs(tmp_path / "specs" / "tiny")
    spec = specs / "alpha.yaml"
    # BatchNorm1d on one sample fails inside the forward pass (a runtime error no shape check sees)
    spec.write_text(spec.read_text().replace("    - linear: 10", "    - linear: 10\n    - bn")
                    .replace("value: 90", "value: 110"))
    result = run_pytest("--specs=" + str(specs.parent), "--results=" + str(tmp_path / "results"),
                        "--audit-cache=" + str(tmp_path / "cache"), "--reproduce", "--train-subset", "1",
                        "--test-subset", "32", "-k", "test_claim", SPEC_TESTS)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "training traceback" in result.stdout and "Traceback (most recent call last)" in result.stdout
    assert "Expected more than 1 value per channel" in result.stdout
