"""Every entry point is as strict as pytest and a run never overwrites a record it does not cover."""

import pytest
import torch
from _support import write_tiny_specs

from harness.audit import Audit
from harness.cli import main
from harness.records import RecordKeptWarning, read_record, record_path
from harness.specs import load_spec

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)


@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize("option", [["--stack", "-3"], ["--stack", "0"], ["--test-subset", "0"],
                                    ["--train-subset", "-5"], ["--run-timeout", "-1"], ["--seeds", "0"]])
def test_the_cli_refuses_what_pytest_refuses(command, option, capsys):
    if command == "plan" and option[0] in ("--test-subset", "--train-subset", "--run-timeout"):
        pytest.skip("plan has no such option")
    with pytest.raises(SystemExit) as exit_:
        main([command, "sub25k-95pct/iteration4", *option] if command == "run" else [command, *option])
    assert exit_.value.code == 2
    assert option[0] in capsys.readouterr().err


def _audit(tmp_path, tiny_mnist, **options):
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path / "results", test_subset=64, **options)
    audit._mnist = tiny_mnist
    return audit


def test_a_subset_or_fewer_seeds_never_replace_the_record_they_do_not_cover(tmp_path, tiny_mnist, one_thread):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    _audit(tmp_path, tiny_mnist, train_subset=256).reproduce(loaded, [0, 1, 2])
    path = record_path(tmp_path / "results", loaded, "cpu")
    before = path.read_bytes()

    with pytest.warns(RecordKeptWarning, match="holds a differently scoped run"):
        _audit(tmp_path, tiny_mnist, train_subset=128).reproduce(loaded, [0, 1])
    assert path.read_bytes() == before
    fewer = _audit(tmp_path, tiny_mnist, train_subset=256, seeds=2)  # as `--seeds 2`: the record's others not added
    with pytest.warns(RecordKeptWarning, match=r"holds seeds \[2\]"):
        fewer.reproduce(loaded, [0, 1])
    assert path.read_bytes() == before and fewer.records_kept

    _audit(tmp_path, tiny_mnist, train_subset=256).reproduce(loaded, [0, 1, 2, 3])  # covers it: replaces it
    assert read_record(path)["seeds"] == [0, 1, 2, 3]


def test_one_bad_spec_in_a_run_fails_only_itself(tmp_path, capsys, monkeypatch):
    folder = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    (folder / "broken.yaml").write_text("title: [unclosed\n")
    ran = []

    def reproduce(self, loaded, seeds=None):  # no training: which specs the command reaches is the point
        ran.append(loaded.id)
        return _stub(loaded)

    monkeypatch.setattr(Audit, "reproduce", reproduce)
    code = main(["run", str(folder / "alpha.yaml"), str(folder / "broken.yaml"), str(folder / "beta.yaml"),
                 "--results", str(tmp_path / "results"), "--audit-cache", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert "broken.yaml" in err and code == 1
    assert [i.split("/")[-1] for i in ran] == ["alpha", "beta"]


def _stub(loaded):
    from harness.results import SpecRun

    run = SpecRun(loaded.id, [0], [], [], 0.0, 1, {"device": "cpu"})
    run.trained_with = [{"source": "record"}]
    return run, []


def test_a_run_whose_curves_are_empty_or_nan_is_an_error_not_an_ok_record(tmp_path, tiny_mnist, monkeypatch):
    import harness.runner
    from harness.results import SeedCurve

    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    monkeypatch.setattr(harness.runner, "train", lambda spec, mnist, seeds, options: [
        SeedCurve(s, test_accuracy=[float("nan")] * 2, train_accuracy=[50.0] * 2) for s in seeds])
    audit = _audit(tmp_path, tiny_mnist, train_subset=64)
    run, _ = audit.reproduce(loaded, [0])
    assert run.outcome == "error" and "not a number" in run.error
    assert read_record(record_path(tmp_path / "results", loaded, "cpu"))["outcome"] == "error"


def test_a_checkpoint_orphaned_by_a_kill_after_the_cache_write_is_swept(tmp_path, tiny_mnist, one_thread):
    from harness.cache import ResultsCache
    from harness.engine import RunOptions
    from harness.environment import capture, environment_key
    from harness.runner import run_spec

    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    cache = ResultsCache(tmp_path / "cache")
    options = RunOptions(device=torch.device("cpu"), train_limit=64, test_limit=32)
    run = run_spec(loaded, tiny_mnist, [0], options, cache, stack=1)
    how = run.trained_with[0]
    key = ResultsCache.key(loaded.training_hash, environment_key(capture(torch.device("cpu"))), options.shape_key(), 0)
    orphan = cache.checkpoint_path(loaded.file_id, [key], {k: v for k, v in how.items() if k != "source"})
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a kill between the cache write and the unlink")
    again = run_spec(loaded, tiny_mnist, [0], options, cache, stack=1)
    assert again.trained_with[0]["source"] == "cache" and not orphan.exists()


@pytest.mark.parametrize("inside", ["records", "plots", "bits"])
def test_a_symlinked_or_file_folder_under_results_stops_a_run_before_training(tmp_path, capsys, inside):
    folder = write_tiny_specs(tmp_path / "specs" / "tiny")
    results, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    results.mkdir()
    elsewhere.mkdir()
    (results / inside).symlink_to(elsewhere, target_is_directory=True)
    args = ["run", str(folder / "alpha.yaml"), "--results", str(results), "--audit-cache", str(tmp_path / "cache")]
    assert main(args) == 2
    assert "symbolic link" in capsys.readouterr().err and not any(elsewhere.iterdir())
    (results / inside).unlink()
    (results / inside).write_text("a file where a folder belongs")
    assert main(args) == 2
    assert "not a folder" in capsys.readouterr().err


def test_a_cache_subfolder_that_is_a_file_stops_a_run_before_training(tmp_path, capsys):
    folder = write_tiny_specs(tmp_path / "specs" / "tiny")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "checkpoints").write_text("not a folder")
    assert main(["run", str(folder / "alpha.yaml"), "--results", str(tmp_path / "r"), "--audit-cache",
                 str(tmp_path / "cache")]) == 2
    assert "checkpoints" in capsys.readouterr().err


def test_check_on_a_folder_without_specs_names_the_folder(tmp_path, capsys):
    (tmp_path / "dir.yaml").mkdir()
    assert main(["check", str(tmp_path / "dir.yaml")]) == 1
    assert str(tmp_path / "dir.yaml") in capsys.readouterr().err


def _recorded(tmp_path, tiny_mnist):
    loaded = load_spec(write_tiny_specs(tmp_path / "specs" / "tiny") / "alpha.yaml")
    _audit(tmp_path, tiny_mnist, train_subset=128).reproduce(loaded, [0, 1])
    return tmp_path / "specs", tmp_path / "results", record_path(tmp_path / "results", loaded, "cpu")


def test_report_on_a_record_without_its_environment_says_so(tmp_path, tiny_mnist, one_thread, capsys):
    import json

    specs, results, path = _recorded(tmp_path, tiny_mnist)
    record = json.loads(path.read_text())
    del record["environment"]
    path.write_text(json.dumps(record))
    assert main(["report", "--results", str(results), "--specs", str(specs), "--no-html"]) == 0
    assert "environment not recorded" in (results / "REPORT.md").read_text()


def test_report_into_a_folder_it_cannot_write_is_a_message(tmp_path, tiny_mnist, one_thread, capsys, monkeypatch):
    import harness.report_write

    specs, results, _ = _recorded(tmp_path, tiny_mnist)

    def refuse(path, text):
        raise PermissionError(13, "Read-only file system", str(path))

    monkeypatch.setattr(harness.report_write, "atomic_write_text", refuse)
    assert main(["report", "--results", str(results), "--specs", str(specs), "--no-html"]) == 2
    assert "report not written" in capsys.readouterr().err
