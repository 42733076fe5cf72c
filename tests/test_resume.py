"""Resume has no holes, and nothing read from the cache runs code.

After an interruption at any phase (mid-epoch, after the last epoch's checkpoint, while writing a
checkpoint, with a damaged, foreign or planted checkpoint or cache entry), a rerun ends bit-identical to
an uninterrupted run on CPU and leaves no temporary file behind.
"""

import json
import os
import pickle
import warnings

import pytest
import torch
from _support import write_tiny_specs

from harness import engine, runner
from harness.cache import ResultsCache
from harness.engine import RunOptions
from harness.environment import cpu_kind
from harness.runner import run_spec
from harness.specs import load_spec

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

SEEDS = [0, 1]
OPTIONS = dict(train_limit=512, test_limit=128)


@pytest.fixture
def tiny(tmp_path):
    return load_spec(write_tiny_specs(tmp_path / "specs" / "tiny", epochs=3) / "alpha.yaml")


def run(loaded, mnist, cache):
    return run_spec(loaded, mnist, SEEDS, RunOptions(**OPTIONS), cache=cache, stack=2)


def curves(result):
    return [c.to_json() for c in result.curves]


@pytest.fixture
def reference(tiny, tiny_mnist, tmp_path, one_thread):
    return curves(run(tiny, tiny_mnist, ResultsCache(tmp_path / "reference-cache")))


def leftovers(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp") or p.suffix == ".pt")


class Killed(BaseException):
    """Stands for SIGKILL at a point of the run (BaseException: no `except Exception` catches it)."""


def killed_after_first_checkpoint(loaded, mnist, cache, monkeypatch):
    """Run until the first epoch's checkpoint is written, then die; the checkpoint's path."""
    save = engine._save_checkpoint

    def save_then_die(path, seeds, epoch, *args):
        save(path, seeds, epoch, *args)
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(engine, "_save_checkpoint", save_then_die)
        with pytest.raises(Killed):
            run(loaded, mnist, cache)
    (checkpoint,) = (cache.root / "checkpoints").glob("*.pt")
    return checkpoint


def test_interrupted_mid_run_resumes_bit_identical(tiny, tiny_mnist, tmp_path, reference, monkeypatch):
    cache = ResultsCache(tmp_path / "cache")
    save = engine._save_checkpoint

    def save_then_die(path, seeds, epoch, *args):
        save(path, seeds, epoch, *args)
        if epoch == 2:
            raise Killed

    monkeypatch.setattr(engine, "_save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        run(tiny, tiny_mnist, cache)
    monkeypatch.setattr(engine, "_save_checkpoint", save)
    assert len(list((tmp_path / "cache" / "checkpoints").glob("*.pt"))) == 1
    resumed = run(tiny, tiny_mnist, cache)
    assert curves(resumed) == reference
    assert leftovers(tmp_path / "cache") == []


def test_killed_after_the_last_epoch_before_the_cache_write_loses_nothing(tiny, tiny_mnist, tmp_path, reference,
                                                                          monkeypatch):
    cache = ResultsCache(tmp_path / "cache")

    def die(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(cache, "put_group", die)
    with pytest.raises(Killed):
        run(tiny, tiny_mnist, cache)
    monkeypatch.undo()
    (checkpoint,) = (tmp_path / "cache" / "checkpoints").glob("*.pt")
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 3  # the finished run is still there

    trained = []
    monkeypatch.setattr(engine, "_save_checkpoint", lambda *a: trained.append(a))  # no epoch may run again
    resumed = run(tiny, tiny_mnist, cache)
    assert trained == [] and curves(resumed) == reference
    assert leftovers(tmp_path / "cache") == []


def test_killed_while_writing_a_checkpoint_leaves_no_temporary(tiny, tiny_mnist, tmp_path, reference, monkeypatch):
    cache = ResultsCache(tmp_path / "cache")
    real_save = torch.save

    def half_write_then_die(obj, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half a checkpoint")
        raise Killed

    monkeypatch.setattr(torch, "save", half_write_then_die)
    with pytest.raises(Killed):
        run(tiny, tiny_mnist, cache)
    monkeypatch.setattr(torch, "save", real_save)
    # a SIGKILL skips `finally`: plant the temporary a killed process (a PID no longer running) would leave
    checkpoints = tmp_path / "cache" / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    group = runner.ResultsCache.checkpoint_path  # the name the rerun will use
    keys = [runner.ResultsCache.key(tiny.training_hash, runner.environment_key(runner.capture(torch.device("cpu"))),
                                    RunOptions(**OPTIONS).shape_key(), s) for s in SEEDS]
    how = {"stack": SEEDS, "threads": torch.get_num_threads(), "channels_last": True, "cpu_kind": cpu_kind()}
    path = group(cache, tiny.file_id, keys, how)
    stale = path.with_name(f".{path.name}.{_dead_pid()}.tmp")
    stale.write_bytes(b"partial")
    resumed = run(tiny, tiny_mnist, cache)
    assert curves(resumed) == reference
    assert leftovers(tmp_path / "cache") == []


def _dead_pid() -> int:
    pid = 999_999
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


@pytest.mark.parametrize("damage", ["truncated", "foreign", "garbage"])
def test_a_damaged_or_foreign_checkpoint_is_discarded_with_a_warning(tiny, tiny_mnist, tmp_path, reference,
                                                                     monkeypatch, damage):
    cache = ResultsCache(tmp_path / "cache")
    checkpoint = killed_after_first_checkpoint(tiny, tiny_mnist, cache, monkeypatch)
    if damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    elif damage == "foreign":
        state = torch.load(checkpoint, weights_only=True)
        state["seeds"] = [7, 8]
        torch.save(state, checkpoint)
    else:
        checkpoint.write_bytes(os.urandom(4096))
    with pytest.warns(RuntimeWarning, match="discarding checkpoint"):
        resumed = run(tiny, tiny_mnist, cache)
    assert curves(resumed) == reference  # started fresh; the spec is never blocked
    assert leftovers(tmp_path / "cache") == []


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_planted_pickle_checkpoint_runs_no_code(tiny, tiny_mnist, tmp_path, reference, monkeypatch):
    """The checkpoint path is computable from public inputs; a planted pickle must not execute."""
    cache = ResultsCache(tmp_path / "cache")
    checkpoint = killed_after_first_checkpoint(tiny, tiny_mnist, cache, monkeypatch)
    monkeypatch.chdir(tmp_path)
    torch.save({"format": 2, "seeds": SEEDS, "epoch": _Payload()}, checkpoint)  # a torch.save'd pickle bomb
    with pytest.warns(RuntimeWarning, match="discarding checkpoint"):
        resumed = run(tiny, tiny_mnist, cache)
    assert not (tmp_path / "PWNED").exists()
    assert curves(resumed) == reference


def test_seeds_trained_together_are_one_checksummed_cache_entry(tiny, tiny_mnist, tmp_path, reference, monkeypatch):
    cache = ResultsCache(tmp_path / "cache")
    run(tiny, tiny_mnist, cache)
    (entry,) = (tmp_path / "cache" / "runs" / tiny.file_id).glob("*.json")
    data = json.loads(entry.read_text())
    assert len(data["entries"]) == len(SEEDS) and data["meta"]["trained_with"]["stack"] == SEEDS

    again = run(tiny, tiny_mnist, cache)  # served from the cache
    assert again.train_seconds == 0 and curves(again) == reference

    data["entries"][next(iter(data["entries"]))]["test_accuracy"][0] = 100.0  # tampered: checksum mismatch
    entry.write_text(json.dumps(data))
    with pytest.warns(RuntimeWarning, match="checksum"):
        retrained = run(tiny, tiny_mnist, cache)
    assert retrained.train_seconds > 0 and curves(retrained) == reference  # the whole group, same plan


@pytest.mark.parametrize("content", [b"", b"{not json", pickle.dumps({"x": 1}), b'{"format": 2, "entries": []}'])
def test_a_damaged_cache_entry_is_a_miss(tiny, tiny_mnist, tmp_path, reference, content):
    cache = ResultsCache(tmp_path / "cache")
    run(tiny, tiny_mnist, cache)
    (entry,) = (tmp_path / "cache" / "runs" / tiny.file_id).glob("*.json")
    entry.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        retrained = run(tiny, tiny_mnist, cache)
    assert retrained.train_seconds > 0 and curves(retrained) == reference


def test_the_cache_key_ignores_everything_but_what_decides_a_curve(tiny, tmp_path):
    """Names, claims, fidelity text and fields left at their defaults are not part of the training hash."""
    from harness.specs import with_overrides

    spec_file = tiny.path
    text = spec_file.read_text()
    renamed = spec_file.with_name("beta.yaml")
    renamed.write_text(text.replace("title: tiny alpha", "title: something else")
                       .replace("evidence: test}", "evidence: other words}")
                       .replace("- conv: {out: 4, kernel: 3, stride: 2}",
                                "- conv: {out: 4, kernel: 3, stride: 2, name: first, padding: 0, bias: true}")
                       .replace("- {kind: qualitative", "- {kind: qualitative, note: extra"))
    assert load_spec(renamed).training_hash == tiny.training_hash
    changed = with_overrides(tiny, {"recipe": {"optimizer": {"lr": 0.06}}})
    from harness.specs import _hash, training_form

    assert _hash(training_form(changed)) != tiny.training_hash


def test_committed_record_seeds_are_reused_and_new_ones_trained(tiny, tiny_mnist, tmp_path, reference):
    from harness.audit import Audit

    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "results", train_subset=512, test_subset=128,
                  stack=2, seeds=2)
    audit._mnist = tiny_mnist
    first, _ = audit.reproduce(tiny)
    assert [c.to_json() for c in first.curves] == reference

    more = Audit(device=torch.device("cpu"), results_dir=tmp_path / "results", train_subset=512, test_subset=128,
                 stack=2, seeds=3)  # no cache at all: seeds 0-1 come from the committed record
    more._mnist = tiny_mnist
    run3, _ = more.reproduce(tiny)
    assert [w["source"] for w in run3.trained_with] == ["record", "record", "trained"]
    assert [c.to_json() for c in run3.curves[:2]] == reference
    record = json.loads((tmp_path / "results" / "records" / f"{tiny.file_id}.cpu.json").read_text())
    assert record["seeds"] == [0, 1, 2] and record["semantics_version"] >= 1

    default = Audit(device=torch.device("cpu"), results_dir=tmp_path / "results", train_subset=512, test_subset=128,
                    stack=2)  # the spec asks for 2 seeds; the record's third comes free, as `expect` judged it
    default._mnist = tiny_mnist
    run_default, _ = default.reproduce(tiny)
    assert run_default.seeds == [0, 1, 2] and {w["source"] for w in run_default.trained_with} == {"record"}


def test_a_writer_killed_before_its_rename_leaves_nothing_after_the_next_write(tmp_path):
    from harness.cache import atomic_write_text

    target = tmp_path / "records" / "spec.cpu.json"
    target.parent.mkdir()
    stale = target.with_name(f".{target.name}.{_dead_pid()}.tmp")
    stale.write_text("{half")
    live = target.with_name(f".{target.name}.{os.getpid()}.tmp.other")  # not ours to touch
    live.write_text("x")
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}" and not stale.exists() and live.exists()


def test_plots_and_expectations_are_written_atomically(tmp_path, monkeypatch):
    """A kill while saving a plot (or rewriting a spec's `expect:`) leaves the previous file whole."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from harness import cache

    plot = tmp_path / "plots" / "a.png"
    fig = plt.figure()
    cache.atomic_write(plot, fig.savefig)
    before = plot.read_bytes()
    assert before.startswith(b"\x89PNG")

    def die(*args):
        raise Killed

    monkeypatch.setattr(os, "replace", die)
    with pytest.raises(Killed):
        cache.atomic_write(plot, fig.savefig)
    plt.close(fig)
    assert plot.read_bytes() == before and leftovers(tmp_path) == []
