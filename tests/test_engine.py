"""The training engine: determinism, stacked == single runs, resume, divergence, real torch semantics."""

import math

import pytest
import torch
from _support import spec_named

from harness import engine
from harness.engine import RunOptions, RunTimeout, train
from harness.model import build_seeded, build_stacked
from harness.recipe import make_optimizer, make_scheduler, steps_per_epoch
from harness.specs import with_overrides

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

SMALL = dict(epochs=2, batch_size=64, train_limit=512, test_limit=256)


def curves_of(spec, mnist, seeds, **kw):
    return train(spec, mnist, seeds, RunOptions(**{**SMALL, **kw}))


def test_same_seed_same_result_bit_for_bit(tiny_mnist):
    spec = spec_named("sub20k/iteration5").spec  # dropout, augmentation, SGD
    first = curves_of(spec, tiny_mnist, [3])
    second = curves_of(spec, tiny_mnist, [3])
    assert first[0].to_json() == second[0].to_json()


def test_different_seeds_differ(tiny_mnist):
    spec = spec_named("sub20k/iteration5").spec
    a, b = curves_of(spec, tiny_mnist, [0, 1], channels_last=False)
    assert a.train_loss != b.train_loss


@pytest.mark.parametrize("spec_id", ["sub20k/iteration5", "sub8k-20ep/model2", "sub8k-15ep/experiment10"])
def test_three_seeds_together_equal_three_single_runs(tiny_mnist, spec_id):
    """K copies in one module are the same K runs: init, data order, augmentation and dropout per seed."""
    spec = spec_named(spec_id).spec
    together = curves_of(spec, tiny_mnist, [0, 1, 2])
    for seed, stacked in zip([0, 1, 2], together):
        alone = curves_of(spec, tiny_mnist, [seed])[0]
        assert stacked.seed == alone.seed
        assert stacked.train_loss == pytest.approx(alone.train_loss, rel=1e-4)
        assert stacked.test_loss == pytest.approx(alone.test_loss, rel=1e-4)
        assert stacked.test_accuracy == pytest.approx(alone.test_accuracy, abs=100 / 256 + 1e-9)  # at most one sample


def test_stacked_copy_equals_its_plain_model():
    arch = spec_named("sub20k/final").spec.architecture
    stacked = build_stacked(arch, [4, 5, 6]).eval()
    x = torch.randn(8, 1, 28, 28)
    out = stacked(x.expand(-1, 3, -1, -1).contiguous())
    for k, seed in enumerate([4, 5, 6]):
        plain = build_seeded(arch, seed).eval()
        torch.testing.assert_close(out[k], plain(x), rtol=1e-5, atol=1e-5)
        fresh = stacked.extract_copy(k, build_seeded(arch, 99))
        for p, q in zip(fresh.parameters(), plain.parameters()):
            torch.testing.assert_close(p, q)


@pytest.mark.parametrize("spec_id", ["sub8k-20ep/model1", "sub20k/iteration5"])  # OneCycleLR; dropout + augmentation
def test_interrupted_run_resumes_to_the_same_result(tiny_mnist, tmp_path, monkeypatch, spec_id):
    spec = spec_named(spec_id).spec
    uninterrupted = curves_of(spec, tiny_mnist, [0, 1], epochs=3)
    checkpoint = tmp_path / "run.pt"
    save = engine._save_checkpoint

    def save_then_ctrl_c(path, seeds, epoch, *args):
        save(path, seeds, epoch, *args)
        if epoch == 1:
            raise KeyboardInterrupt  # Ctrl-C right after the first epoch's checkpoint

    monkeypatch.setattr(engine, "_save_checkpoint", save_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        curves_of(spec, tiny_mnist, [0, 1], epochs=3, checkpoint=checkpoint)
    monkeypatch.setattr(engine, "_save_checkpoint", save)
    assert checkpoint.exists()
    resumed = curves_of(spec, tiny_mnist, [0, 1], epochs=3, checkpoint=checkpoint)
    assert [c.to_json() for c in resumed] == [c.to_json() for c in uninterrupted]
    assert checkpoint.exists()  # the runner removes it once the curves are cached (tests/test_resume.py)


def test_divergence_is_an_outcome_and_stops_early(tiny_mnist):
    spec = spec_named("sub25k-95pct/iteration1").spec  # SGD lr 10.01
    spec = spec.model_copy(update={"recipe": spec.recipe.model_copy(update={"epochs": 3})})
    curve = curves_of(spec, tiny_mnist, [0], epochs=None, batch_size=32, train_limit=1024)[0]
    assert curve.outcome == "diverged" and curve.diverged_epoch == 1
    assert len(curve.test_accuracy) == 3 and curve.test_accuracy[0] == curve.test_accuracy[-1]
    assert math.isnan(curve.train_loss[-1])


def test_a_diverged_copy_leaves_its_neighbours_alone(tiny_mnist):
    loaded = spec_named("sub8k-20ep/model3")
    unstable = with_overrides(loaded, {"recipe": {"optimizer": {"lr": 1e6}}})
    stable = curves_of(loaded.spec, tiny_mnist, [0])[0]
    crashed = curves_of(unstable, tiny_mnist, [0])[0]
    assert crashed.outcome == "diverged" and stable.outcome == "ok"
    assert all(math.isfinite(v) for v in stable.train_loss)


def test_onecycle_cycles_momentum_on_sgd_without_momentum():
    """001's recipe: SGD(lr=0.001) + OneCycleLR. The real scheduler starts at max_lr/div_factor, momentum 0.95."""
    recipe = spec_named("sub8k-20ep/model1").spec.recipe
    model = torch.nn.Linear(2, 2)
    opt = make_optimizer(recipe, model.parameters())
    sched = make_scheduler(recipe, opt, recipe.epochs, steps_per_epoch(60000, recipe.batch_size))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05 / 10)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95)
    assert sched.total_steps == 20 * 469


def test_step_lr_is_stepped_per_epoch(tiny_mnist):
    loaded = spec_named("sub20k/final")
    spec = with_overrides(loaded, {"recipe": {"scheduler": {"step_size": 1, "gamma": 0.5}}})
    curve = curves_of(spec, tiny_mnist, [0], epochs=3)[0]
    assert curve.lr == pytest.approx([0.005, 0.0025, 0.00125])


def test_onecycle_is_stepped_per_batch(tiny_mnist):
    spec = spec_named("sub8k-20ep/model1").spec
    curve = curves_of(spec, tiny_mnist, [0], epochs=1)[0]
    # after 8 of 20 * 8 steps the warm-up (20%) is a quarter done: lr moved well above max_lr / div_factor
    assert curve.lr[0] > 0.05 / 10 * 1.5


def test_time_budget_stops_the_run_with_what_was_measured(tiny_mnist):
    spec = spec_named("sub8k-20ep/model3").spec
    with pytest.raises(RunTimeout) as stopped:
        curves_of(spec, tiny_mnist, [0], timeout=0.0)
    assert stopped.value.curves[0].outcome == "timeout"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_cuda_training_step_makes_no_host_sync(tiny_mnist):
    """The step (gather, augment, forward, loss, backward, optimizer and OneCycleLR step) never waits for the GPU."""
    from harness.engine import DeviceData, SchedulerBoundary, TrainStep, seed_generators

    loaded = spec_named("sub8k-15ep/experiment10")  # augmentation, BN, SGD + OneCycleLR
    spec, device = loaded.spec, torch.device("cuda")
    model = build_stacked(spec.architecture, [0, 1]).to(device)
    gens = [seed_generators(s, device) for s in (0, 1)]
    model.set_dropout_generators([g["dropout"] for g in gens])
    optimizer = make_optimizer(spec.recipe, model.parameters())
    scheduler = make_scheduler(spec.recipe, optimizer, 1, 10)
    data = DeviceData(tiny_mnist, device, 0.1307, 0.3081)
    step = TrainStep(spec, model, optimizer, SchedulerBoundary(spec.recipe, scheduler), data, gens,
                     torch.contiguous_format)
    idx = torch.randint(0, data.train_size, (2, 64), device=device)
    step(idx)  # warm-up: lazy CUDA initialisation may sync once
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            losses, hits = step(idx)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert losses.shape == hits.shape == (2,)


def test_progress_bar_shows_epoch_loss_accuracy_and_speed(tiny_mnist, capfd):
    spec = spec_named("sub8k-20ep/model3").spec
    curves_of(spec, tiny_mnist, [0], epochs=1, batch_size=16, progress=True, label="demo")
    shown = capfd.readouterr().err
    assert "demo" in shown and "epoch=1" in shown and "loss=" in shown and "acc=" in shown and "samples_s=" in shown
    curves_of(spec, tiny_mnist, [0], epochs=1, batch_size=16)
    assert capfd.readouterr().err == ""


def test_progress_is_quiet_under_xdist_and_in_ci():
    from harness.audit import progress_wanted

    assert progress_wanted({}, stderr_is_tty=True)
    assert not progress_wanted({}, stderr_is_tty=False)              # logs, pipes
    assert not progress_wanted({"PYTEST_XDIST_WORKER": "gw0"}, True)
    assert not progress_wanted({"CI": "1"}, True)


def test_reduce_lr_on_plateau_steps_on_each_seeds_test_loss(tiny_mnist):
    """One decision per seed after every epoch, on its test loss: replayed on torch's own scheduler."""
    from harness.schema import ReduceLROnPlateau

    spec = spec_named("sub20k/final").spec
    plateau = ReduceLROnPlateau(type="ReduceLROnPlateau", factor=0.5, patience=0, threshold=0.2)
    spec = spec.model_copy(update={"recipe": spec.recipe.model_copy(update={"scheduler": plateau})})
    curve = curves_of(spec, tiny_mnist, [0], epochs=4)[0]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=spec.recipe.optimizer.lr)
    replay = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=0.2)
    expected = []
    for loss in curve.test_loss:
        replay.step(loss)
        expected.append(opt.param_groups[0]["lr"])
    assert curve.lr == pytest.approx(expected)
    assert len(set(curve.lr)) > 1  # the plateau rule did cut the lr on this run
    with pytest.raises(AssertionError, match="per seed"):
        curves_of(spec, tiny_mnist, [0, 1], epochs=1)  # never stacked: runner.plan_for trains them one by one


def test_seeds_may_be_the_readmes_own_values():
    from harness.audit import Audit

    loaded = spec_named("sub20k/final")
    spec = loaded.spec.model_copy(update={"seeds": [1]})
    assert spec.seed_values == [1]
    assert loaded.spec.seed_values == list(range(loaded.spec.seeds))
    audit = Audit(device=torch.device("cpu"))
    assert audit.seeds_for(type(loaded)(loaded.path, loaded.slug, loaded.name, spec, loaded.data)) == [1]
    assert Audit(device=torch.device("cpu"), seeds=2).seeds_for(loaded) == [0, 1]


def test_a_failed_run_keeps_its_traceback_with_the_layer_and_shapes(tiny_mnist, tmp_path, monkeypatch):
    import json

    from harness.audit import Audit

    loaded = spec_named("sub8k-20ep/model3")
    audit = Audit(device=torch.device("cpu"), results_dir=tmp_path, train_subset=256, test_subset=64)
    audit._mnist = tiny_mnist
    from harness import stacked

    def broken(self, x):
        raise RuntimeError(f"shape mismatch in layer fc: got {tuple(x.shape)}")

    monkeypatch.setattr(stacked.BatchedLinear, "forward", broken)
    run, results = audit.reproduce(loaded)
    assert run.outcome == "error" and "Traceback" in run.error_trace and "BatchedLinear" not in run.error
    assert "shape mismatch in layer fc" in run.error_trace and "in forward" in run.error_trace
    record = json.loads(next((tmp_path / "records").glob("*.json")).read_text())
    assert "shape mismatch in layer fc" in record["error_trace"]
