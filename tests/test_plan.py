"""`python -m harness plan`: -k selection, FLOP counts, seeds reused from the cache, calibration, wall time."""

import json

import pytest
import torch
from _support import write_tiny_specs

from harness import plan as planning
from harness.cache import ResultsCache
from harness.cli import main
from harness.engine import RunOptions
from harness.runner import run_spec
from harness.specs import load_spec

# The tiny spec (tests/_support.py): conv 1->4, 3x3, stride 2 (28 -> 13), GAP, linear 4->10.
CONV_FORWARD = 2 * (4 * 9) * 13 * 13   # multiply-adds x 2 per output position
LINEAR_FORWARD = 2 * 4 * 10
# backward: the conv's weight gradient (the input needs none), the linear's weight and input gradients
TRAIN_FLOPS = CONV_FORWARD + LINEAR_FORWARD + CONV_FORWARD + 2 * LINEAR_FORWARD
EVAL_FLOPS = CONV_FORWARD + LINEAR_FORWARD


@pytest.fixture
def tiny(tmp_path):
    folder = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"), epochs=2)
    return [load_spec(folder / "alpha.yaml"), load_spec(folder / "beta.yaml")]


@pytest.mark.parametrize("expression, selected", [
    ("", ["sub20k/iteration1", "sub20k/final", "sub8k-20ep/model1", "sub25k-1ep/iteration1"]),
    ("iteration1", ["sub20k/iteration1", "sub25k-1ep/iteration1"]),
    ("SUB20K and iteration1", ["sub20k/iteration1"]),
    ("sub20k and not final", ["sub20k/iteration1"]),
    ("model1 or final", ["sub20k/final", "sub8k-20ep/model1"]),
    ("not sub20k and (model or iteration)", ["sub8k-20ep/model1", "sub25k-1ep/iteration1"]),
    ("final or model1 and sub25k", ["sub20k/final"]),  # and binds tighter than or, as in pytest
    ("not not final", ["sub20k/final"]),
])
def test_keyword_matcher_follows_pytest_k(expression, selected):
    ids = ["sub20k/iteration1", "sub20k/final", "sub8k-20ep/model1", "sub25k-1ep/iteration1"]
    matches = planning.keyword_matcher(expression)
    assert [i for i in ids if matches(i)] == selected


@pytest.mark.parametrize("expression", ["a and", "(a or b", "a b", "or a", "a )", "not"])
def test_keyword_matcher_rejects_malformed_expressions(expression):
    with pytest.raises(planning.KeywordError, match="-k"):
        planning.keyword_matcher(expression)


def test_flops_per_sample_counts_forward_and_backward(tiny):
    train, evaluation = planning.flops_per_sample(tiny[0].spec.architecture)
    assert (train, evaluation) == (TRAIN_FLOPS, EVAL_FLOPS)


def test_plan_counts_flops_per_seed_and_every_seed_without_cache(tiny, tmp_path):
    plan = planning.make_plan(tiny, calibrate=False, calibration_root=tmp_path / "c")
    alpha = plan.specs[0]
    assert (alpha.seeds, alpha.to_train, alpha.epochs) == (2, 2, 2)
    assert alpha.flops_per_seed == 2 * (60_000 * TRAIN_FLOPS + 10_000 * EVAL_FLOPS)
    assert alpha.groups == [2]  # a narrow model: its seeds train stacked on CPU
    assert plan.flops == pytest.approx(2 * 2 * alpha.flops_per_seed)
    assert plan.seconds is None
    line = planning.summary_line(plan)
    assert line.startswith(f"planned: 2 specs, {plan.flops / 1e12:,.1f} TFLOP")
    assert "on this machine" not in line  # no calibration, no time


def test_plan_honours_seeds_subsets_and_stack(tiny, tmp_path):
    plan = planning.make_plan(tiny[:1], seeds=5, stack=2, train_subset=600, test_subset=100, calibrate=False,
                              calibration_root=tmp_path)
    row = plan.specs[0]
    assert (row.seeds, row.to_train, row.groups) == (5, 5, [2, 2, 1])
    assert row.flops_per_seed == 2 * (600 * TRAIN_FLOPS + 100 * EVAL_FLOPS)


def test_seeds_the_runner_cached_cost_nothing(tiny, tiny_mnist, tmp_path, one_thread):
    cache = ResultsCache(tmp_path / "cache")
    run_spec(tiny[0], tiny_mnist, [0, 1], RunOptions(train_limit=256, test_limit=128), cache)
    kwargs = dict(cache=cache, train_subset=256, test_subset=128, calibrate=False, calibration_root=tmp_path)
    plan = planning.make_plan(tiny, **kwargs)
    assert [(s.id, s.to_train) for s in plan.specs] == [("tiny/alpha", 0), ("tiny/beta", 2)]
    assert planning.summary_line(plan).endswith("; 1 more served from the results cache")
    assert [s.to_train for s in planning.make_plan(tiny[:1], seeds=3, **kwargs).specs] == [1]  # seed 2 is new
    assert [s.to_train for s in planning.make_plan(tiny[:1], **{**kwargs, "train_subset": 512}).specs] == [2]


def test_calibration_is_measured_once_and_scaled_to_the_run(tiny, tmp_path, monkeypatch, one_thread):
    measured = []

    def fake_timing(loaded, copies, channels_last, device, seconds=1.0):
        measured.append((loaded.id, copies))
        return {"step_s": 0.01}

    monkeypatch.setattr(planning, "time_training", fake_timing)
    monkeypatch.setattr(planning, "busy", lambda: None)
    plan = planning.make_plan(tiny, workers=1, calibration_root=tmp_path)
    assert measured == [("tiny/alpha", 2)]  # beta has the same training shape: one calibration serves both
    steps = -(-60_000 // 32)
    evaluation = 10_000 * 2 * (0.01 / (2 * 32)) * EVAL_FLOPS / TRAIN_FLOPS  # forward FLOPs at the step's rate
    assert plan.specs[0].seconds == pytest.approx(2 * (steps * 0.01 + evaluation))
    assert plan.seconds == pytest.approx(2 * plan.specs[0].seconds)
    stored = list((tmp_path / "plan").glob("calibration-*.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text())["machine"]["threads"] >= 1
    again = planning.make_plan(tiny, workers=1, calibration_root=tmp_path)  # from the stored calibration
    assert measured == [("tiny/alpha", 2)] and again.seconds == pytest.approx(plan.seconds)
    planning.make_plan(tiny, workers=1, calibration_root=tmp_path, recalibrate=True)
    assert len(measured) == 2


def test_a_calibration_from_a_busy_machine_is_redone_once_it_is_quiet(tiny, tmp_path, monkeypatch, one_thread):
    calls = []
    monkeypatch.setattr(planning, "time_training", lambda *a, **k: calls.append(1) or {"step_s": 0.1, "busy": 4.0})
    monkeypatch.setattr(planning, "busy", lambda: 4.0)
    plan = planning.make_plan(tiny[:1], calibration_root=tmp_path)
    assert "calibrated while the machine was busy (4.0 runnable tasks per core)" in planning.summary_line(plan)
    planning.make_plan(tiny[:1], calibration_root=tmp_path)
    assert calls == [1]  # still busy: the busy calibration is as good as a new one
    monkeypatch.setattr(planning, "busy", lambda: None)
    monkeypatch.setattr(planning, "time_training", lambda *a, **k: calls.append(2) or {"step_s": 0.01, "busy": None})
    quiet = planning.make_plan(tiny[:1], calibration_root=tmp_path)
    assert calls == [1, 2] and quiet.seconds < plan.seconds and "busy" not in planning.summary_line(quiet)


def test_a_damaged_calibration_file_is_measured_again(tiny, tmp_path, monkeypatch, one_thread):
    monkeypatch.setattr(planning, "time_training", lambda *a, **k: {"step_s": 0.01, "eval_s": 0.0})
    planning.make_plan(tiny[:1], calibration_root=tmp_path)
    path = next((tmp_path / "plan").glob("calibration-*.json"))
    path.write_text('{"machine": 1, "entries": ')
    calls = []
    monkeypatch.setattr(planning, "time_training", lambda *a, **k: calls.append(1) or {"step_s": 0.02, "eval_s": 0.0})
    assert planning.make_plan(tiny[:1], calibration_root=tmp_path).specs[0].seconds > 0 and calls == [1]


def test_real_calibration_times_the_engine(tiny, one_thread):
    timing = planning.time_training(tiny[0], 2, True, planning.torch.device("cpu"), seconds=0.05)
    assert timing["step_s"] > 0 and timing["steps_timed"] >= 2


def test_wall_time_spreads_specs_over_workers_longest_first():
    rows = [planning.SpecPlan(f"s/{i}", 1, 1, 1, 1.0, [1], seconds) for i, seconds in enumerate([3.0, 2.0, 2.0])]
    assert planning.AuditPlan(rows, workers=1, threads=2, device="cpu").seconds == 7.0
    assert planning.AuditPlan(rows, workers=2, threads=1, device="cpu").seconds == 4.0
    assert planning.AuditPlan(rows, workers=8, threads=1, device="cpu").seconds == 3.0


def test_progress_scales_the_elapsed_time_by_the_work_left():
    rows = [planning.SpecPlan("s/big", 1, 1, 1, 1.0, [1], 300.0), planning.SpecPlan("s/small", 1, 1, 1, 1.0, [1], 100.0),
            planning.SpecPlan("s/cached", 1, 0, 1, 1.0, [], 0.0)]
    progress = planning.Progress.of(planning.AuditPlan(rows, workers=1, threads=2, device="cpu"))
    progress.started = 0.0
    assert progress.judged("s/cached", now=5.0) is None            # nothing to train: not in the plan
    # a quarter of the work took 200 s (twice the estimate): three quarters left, 600 s
    assert progress.judged("s/small", now=200.0) == "progress: 1 of 2 planned specs trained, 3 min elapsed, " \
                                                     "about 10 min left"
    assert progress.judged("s/small", now=210.0) is None            # a spec's later claims say nothing
    assert progress.judged("s/big", now=900.0).endswith("2 of 2 planned specs trained, 15 min elapsed; all trained")
    uncalibrated = [planning.SpecPlan("s/a", 1, 1, 1, 3e12, [1], None), planning.SpecPlan("s/b", 1, 1, 1, 1e12, [1])]
    by_flops = planning.Progress.of(planning.AuditPlan(uncalibrated, workers=1, threads=2, device="cpu"))
    by_flops.started = 0.0
    assert by_flops.judged("s/a", now=60.0).endswith("about 20 s left")  # FLOPs stand in for seconds
    assert planning.Progress.of(planning.AuditPlan(rows[2:], workers=1, threads=2, device="cpu")) is None


def test_a_judged_comparison_counts_its_other_spec_as_trained():
    rows = [planning.SpecPlan("s/new", 1, 1, 1, 1.0, [1], 100.0), planning.SpecPlan("s/old", 1, 1, 1, 1.0, [1], 100.0)]
    progress = planning.Progress.of(planning.AuditPlan(rows, workers=1, threads=2, device="cpu"))
    progress.started = 0.0
    lesson = {"spec": "s/new", "kind": "comparison", "verdict": "inconclusive", "extra": {"other": "s/old"}}
    # `pytest -k <lesson>` selects no claim of s/old: the lesson's row is the only sign that it trained
    assert planning.trained_by(lesson) == ["s/new", "s/old"]
    assert progress.judged(*planning.trained_by(lesson), now=60.0).endswith("2 of 2 planned specs trained, 60 s elapsed; "
                                                                              "all trained")
    waiting = {**lesson, "verdict": "not judged"}
    assert planning.trained_by(waiting) == ["s/new"]               # the other spec has no run: nothing says it trained
    assert planning.trained_by({"spec": "s/new", "kind": "test_accuracy_final", "verdict": "reproduced",
                                "extra": {}}) == ["s/new"]


def test_spec_ids_come_from_claim_test_ids():
    ids = ["tests/test_specs.py::test_claim[sub20k/final:peak]", "tests/test_specs.py::test_claim[sub20k/final:curve]",
           "tests/test_specs.py::test_builds[sub8k-20ep/model1]", "tests/test_specs.py::test_claim[sub8k-20ep/model2:x]"]
    assert planning.spec_ids_of(ids) == ["sub20k/final", "sub8k-20ep/model2"]


def test_cli_prints_the_table_and_total(tiny, tmp_path, capsys):
    args = ["plan", "--specs", str(tmp_path / "specs"), "-k", "alpha", "--no-calibrate", "--no-cache"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "tiny/alpha" in out and "tiny/beta" not in out
    assert out.strip().splitlines()[-1].startswith("planned: 1 spec, ")
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["specs"][0]["flops_per_seed"] == 2 * (60_000 * TRAIN_FLOPS + 10_000 * EVAL_FLOPS)


def test_cli_rejects_a_bad_expression_and_an_empty_selection(tiny, tmp_path, capsys):
    assert main(["plan", "--specs", str(tmp_path / "specs"), "-k", "alpha and", "--no-calibrate"]) == 2
    assert "-k 'alpha and'" in capsys.readouterr().err
    assert main(["plan", "--specs", str(tmp_path / "specs"), "-k", "gamma", "--no-calibrate"]) == 1
    assert "no spec matches -k 'gamma'" in capsys.readouterr().err


def test_last_run_comes_from_the_record():
    record = {"train_seconds": 694.6, "environment": {"determinism": {"torch_threads": 2}}}
    assert planning.last_run(record) == (694.6, 2)
    assert planning.last_run({"train_seconds": 5}) == (5.0, 0)
    assert planning.last_run(None) is None and planning.last_run({"train_seconds": "x"}) is None


def test_calibrations_follow_the_training_code_not_its_comments(tmp_path):
    def key(source):
        (tmp_path / "engine.py").write_text(source)
        planning.code_key.cache_clear()
        return planning.code_key(tmp_path, ("engine",))

    base = key('"""Module."""\ndef step(x):\n    """Doc."""\n    return x + 1  # why\n')
    assert key('"""Other words."""\ndef step(x):\n    # a new comment\n    return x + 1\n') == base
    assert key('def step(x):\n    return x + 2\n') != base
    assert key('def step(x):\n    """Only a docstring."""\n') == key('def step(x):\n    pass\n')
    planning.code_key.cache_clear()
    assert planning.machine_key(torch.device("cpu"), 1)["code"] == planning.code_key()  # the real modules
