"""`python -m harness new`: drafting a spec folder from a README, and `check` looking figures up again.

The small READMEs here are written for these tests; the five audited READMEs are used where
present (../shared/claims or $AUDIT_CLAIMS_DIR) and the tests that need them skip otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.draft import draft, escape, write
from harness.draft.modelcode import models_in
from harness.draft.readme import Readme
from harness.draft.sources import claim_figures, default_claims_dir, figure_pattern
from harness.draft.torchsummary import summary_tables
from harness.specs import load_all

SUMMARY = """\
----------------------------------------------------------------
        Layer (type)               Output Shape         Param #
================================================================
            Conv2d-1            [-1, 4, 26, 26]              40
       BatchNorm2d-2            [-1, 4, 26, 26]               8
         MaxPool2d-3            [-1, 4, 13, 13]               0
            Conv2d-4            [-1, 8, 11, 11]             288
 AdaptiveAvgPool2d-5              [-1, 8, 1, 1]               0
            Linear-6                   [-1, 10]              90
================================================================
Total params: 426
Trainable params: 426
Non-trainable params: 0
----------------------------------------------------------------
"""

CODE = """\
raise RuntimeError("this module must never run")

class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 6, 3, bias=False), nn.BatchNorm2d(6), nn.ReLU())
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 10, kernel_size=3, padding=1)
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        x = self.pool(self.block(x))
        x = F.relu(self.conv2(x))
        x = F.adaptive_avg_pool2d(x, 1)
        x = x.view(-1, 10)
        return F.log_softmax(self.fc(x), dim=1)
"""

README = f"""\
# Tiny nets: under 1,000 parameters

The goal: over 97.5% test accuracy with fewer than 1,000 parameters.

| Iteration | What changed | Parameters | Best Test Accuracy |
|---|---|---|---|
| 1 | first try | 426 | 97.61% |
| 2 | wider | 726 | 98.02% |

## Iteration 1: small start

Target: under 1k. Results: Parameters: 426, Best Test Accuracy: 97.61%.
Optimizer: SGD (lr=0.05, momentum=0.8), batch size 64, CrossEntropyLoss.

```
{SUMMARY}```

```
Epoch 1
Train: Loss=0.51 Batch_id=937 Accuracy=88.10: 100%|##########| 938/938 [00:20<00:00, 46.1it/s]
Test set: Average loss: 0.0021, Accuracy: 9512/10000 (95.12%)
Epoch 2
Train: Loss=0.31 Batch_id=937 Accuracy=94.40: 100%|##########| 938/938 [00:20<00:00, 46.1it/s]
Test set: Average loss: 0.0011, Accuracy: 9761/10000 (97.61%)
Epoch 3
Train: Loss=0.29 Batch_id=937 Accuracy=95.02: 100%|##########| 938/938 [00:20<00:00, 46.1it/s]
Test set: Average loss: 0.0012, Accuracy: 9744/10000 (97.44%)
```

## Iteration 2: "wider": [x] & *y \x1b[31m

```python
{CODE}```
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "claims" / "tiny.md"
    path.parent.mkdir()
    path.write_text(README, encoding="utf-8")
    return path


def _claims(spec: dict, kind: str) -> list[dict]:
    return [c for c in spec["claims"] if c["kind"] == kind]


def test_torchsummary_table_rebuilds_the_exact_count():
    (table,) = summary_tables(Readme.parse(SUMMARY))
    assert table.total == 426 and not table.problems
    assert table.layers[0] == {"conv": {"out": 4, "kernel": 3}}      # 40 = 3*3*1*4 + 4: bias, no padding (28 -> 26)
    assert {"conv": {"out": 8, "kernel": 3, "bias": False}} in table.layers  # 288 = 3*3*4*8: no bias
    assert "gap" in table.layers and {"maxpool": 2} in table.layers


def test_model_code_is_read_not_run():
    (model,) = models_in(CODE)  # the module's first statement raises if executed
    assert model.problems == []
    assert model.layers == [{"conv": {"out": 6, "kernel": 3, "bias": False}}, "bn", "relu", {"maxpool": 2},
                            {"conv": {"out": 10, "kernel": 3, "padding": 1}}, "relu", "gap", "flatten",
                            {"linear": 10}, "log_softmax"]


def test_model_code_with_computed_arguments_is_left_to_a_person():
    (model,) = models_in("class N(nn.Module):\n    def __init__(self, c):\n        self.c = nn.Conv2d(1, c, 3)\n")
    assert model.layers == [] and "not a literal" in model.problems[0]


def test_draft_of_a_small_readme(tiny, tmp_path):
    written = write(tiny, "tiny", tmp_path / "tiny")
    specs, errors = load_all(tmp_path / "tiny")
    assert errors == []
    assert sorted(s.name for s in specs) == ["iteration1", "iteration2"]
    one, two = written.draft.specs["iteration1"], written.draft.specs["iteration2"]
    assert two["extends"] == "iteration1" and one["extends"] == "_base"
    # iteration 1: the torchsummary table, the log, the table row and the recipe statements
    assert _claims(one, "parameters")[0] == {**_claims(one, "parameters")[0], "value": 426, "expect": "reproduced"}
    assert _claims(one, "test_accuracy_peak")[0]["value"] == 97.61
    assert _claims(one, "test_accuracy_final")[0]["value"] == 97.44
    assert _claims(one, "train_accuracy_final")[0]["value"] == 95.02
    for peak in _claims(one, "train_accuracy_peak"):  # where the schema has it
        assert peak["value"] == 95.02
    curve = _claims(one, "test_accuracy_curve")
    if curve:  # the schema has the curve claim
        assert curve[0]["values"] == [95.12, 97.61, 97.44]
    else:
        assert [(c["epoch"], c["value"]) for c in _claims(one, "test_accuracy_at_epoch")] == [(1, 95.12), (2, 97.61)]
    loaded = {s.name: s for s in specs}
    recipe = loaded["iteration1"].spec.recipe
    assert recipe.optimizer.model_dump(exclude_none=True) == {"type": "SGD", "lr": 0.05, "momentum": 0.8}
    assert recipe.batch_size == 64 and recipe.epochs == 3 and recipe.loss.type == "cross_entropy"
    assert one["fidelity"]["architecture"]["level"] == "documented"
    # iteration 2: layers from the code block, its count from the table
    from harness.model import plan

    assert sum(p.parameters for p in plan(loaded["iteration2"].spec.architecture)) == 726
    assert _claims(two, "parameters")[0]["expect"] == "reproduced"
    # the README's target and bound go to the last model
    assert any(c.get("band") == [97.5, 100.0] for c in _claims(two, "test_accuracy_final"))


def test_draft_never_invents_a_figure(tiny):
    d = draft(tiny)
    text = tiny.read_text()
    from pydantic import TypeAdapter

    from harness.schema import Claim

    adapter = TypeAdapter(Claim)
    for name, spec in d.specs.items():
        for raw in spec.get("claims", []):
            for label, figure in claim_figures(adapter.validate_python(raw)):
                assert figure_pattern(figure).search(text), f"{name}: {label} {figure} is not in the README"


def test_untrusted_strings_are_quoted_and_escaped(tiny, tmp_path):
    write(tiny, "tiny", tmp_path / "tiny")
    section = yaml.safe_load((tmp_path / "tiny" / "iteration2.yaml").read_text())["source"]["section"]
    assert '"wider": [x] & *y' in section  # survived YAML as text, not as structure
    assert "\x1b" not in escape(section) and "\\x1b" in escape(section)


def test_unknowns_are_listed_for_a_person(tiny):
    d = draft(tiny)
    assert any("recipe not stated" in line and "normalization (" in line for line in d.decisions)
    assert d.specs["_base"]["fidelity"]["recipe.normalization"]["level"] == "unknown"


def test_cli_new_then_check_with_the_readme(tiny, tmp_path, capsys):
    out = tmp_path / "drafted"
    assert main(["new", str(tiny), "--slug", "tiny", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "For a person to decide" in printed
    assert main(["new", str(tiny), "--slug", "tiny", "--out", str(out)]) == 1  # no silent overwrite
    assert main(["check", str(out), "--claims-dir", str(tiny.parent)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_check_flags_a_changed_readme_and_a_missing_figure(tiny, tmp_path, capsys):
    out = tmp_path / "drafted"
    write(tiny, "tiny", out)
    spec = out / "iteration1.yaml"
    spec.write_text(spec.read_text().replace("value: 97.61", "value: 97.66"))
    assert main(["check", str(out), "--claims-dir", str(tiny.parent)]) == 0
    err = capsys.readouterr().err
    assert "iteration1.yaml: claim test-accuracy-peak: value 97.66 does not appear in the README" in err
    tiny.write_text(README + "\nan extra line\n")
    assert main(["check", str(out), "--claims-dir", str(tiny.parent)]) == 1
    assert "SHA256 differs" in capsys.readouterr().err
    assert main(["check", str(out), "--claims-dir", str(tmp_path / "nowhere")]) == 0
    assert "not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- the five audited READMEs

SPECS = Path(__file__).resolve().parent.parent / "specs"
FOLDERS = {"000_fc451383955750f3.txt": "sub20k", "001_d85ab4007288994a.txt": "sub8k-20ep",
           "002_30c343b441b28d4f.txt": "sub25k-1ep", "003_a058662c4c2b4152.txt": "sub8k-15ep",
           "004_8c76f381dc7095ff.txt": "sub25k-95pct"}


def _audited(name: str) -> Path:
    path = default_claims_dir() / name
    if not path.is_file():
        pytest.skip(f"{name} not in {default_claims_dir()} (set AUDIT_CLAIMS_DIR)")
    return path


def test_000_final_architecture_from_its_torchsummary_table_has_19056_parameters(tmp_path):
    from harness.model import plan

    write(_audited("000_fc451383955750f3.txt"), "d000", tmp_path / "d000")
    specs, errors = load_all(tmp_path / "d000")
    assert errors == []
    final = next(s for s in specs if s.name == "final")
    assert final.spec.fidelity["architecture"].level == "documented"
    assert "torchsummary" in final.spec.fidelity["architecture"].evidence
    assert sum(p.parameters for p in plan(final.spec.architecture)) == 19056
    assert [c.value for c in final.spec.claims if c.kind == "parameters" and c.value is not None] == [19056]


@pytest.mark.parametrize("readme", sorted(FOLDERS))
def test_drafts_of_the_audited_readmes_are_valid_and_invent_nothing(readme):
    from harness.draft.compare import compare

    _audited(readme)
    result = compare(SPECS / FOLDERS[readme])
    assert result.draft_errors == []
    assert result.invented == []
    assert result.draft_figures > 0
    if readme.startswith("000"):  # a torchsummary table and a training log: the target
        assert result.share >= 0.8
        assert result.parameters_rebuilt >= 1


DIAGRAM_README = """\
# One model, drawn as text

Total parameters: 438. Conv layers use bias=False.

```
Input (1, 28, 28)
├── Conv2d(1→4) + BatchNorm + ReLU
├── MaxPool2d(2)
├── Conv2d(4→8) + BatchNorm
├── Global Average Pooling
└── Linear(8→10)
```

## Model 1

| Epoch | Test Accuracy |
|---|---|
| 1 | 91.5% |
| 2 | 93.25% |

| Metric | Model 1 (small) | Model 2 (never trained) |
|---|---|---|
| Epochs to 92% | 2 | Never |
"""


def test_layer_diagram_is_rebuilt_to_the_stated_count(tmp_path):
    from harness.model import plan

    path = tmp_path / "diagram.md"
    path.write_text(DIAGRAM_README)
    write(path, "diagram", tmp_path / "out")
    specs, errors = load_all(tmp_path / "out")
    assert errors == []
    (one,) = specs
    assert sum(p.parameters for p in plan(one.spec.architecture)) == 438  # 3x3 kernels, conv bias off
    assert one.spec.fidelity["architecture"].level == "reconstructed"
    (count,) = [c for c in one.spec.claims if c.kind == "parameters"]
    assert count.value == 438 and count.expect == "reproduced"
    reach = [c for c in one.spec.claims if c.kind == "first_epoch_reaching"]
    assert [(c.threshold, c.value) for c in reach] == [(92.0, 2)]
    assert one.spec.recipe.epochs == 2  # from the epoch table


def test_a_diagram_whose_shapes_do_not_fit_is_left_to_a_person(tmp_path):
    path = tmp_path / "bad.md"
    path.write_text("# x\n\n## Model 1\n\nParameters: 1,000\n\n- layers: [Conv2d(1,8,3), Linear(999,10)]\n")
    d = draft(path)
    assert any("diagram" in line and "not used" in line for line in d.decisions)
    assert d.specs["model1"]["claims"][0]["expect"] == "unverifiable"


def _fast_tier(folder: Path) -> None:
    """What the fast tier asserts of every spec: it builds, runs, and its parameter claims hold as expected."""
    import torch

    from harness.model import build_model, count_parameters

    specs, errors = load_all(folder)
    assert errors == [] and specs
    for loaded in specs:
        model = build_model(loaded.spec.architecture)
        assert model.eval()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
        count = count_parameters(model)[0]
        for claim in loaded.spec.claims:
            if claim.kind == "parameters" and claim.expect != "unverifiable":
                if claim.value is not None:
                    holds = abs(count - claim.value) <= (0.01 * claim.value if claim.approximate else 0)
                else:
                    holds = claim.band[0] <= count <= claim.band[1]
                assert holds == (claim.expect == "reproduced"), (loaded.id, claim.claim_id, count)


def test_drafts_pass_the_fast_tier(tiny, tmp_path):
    write(tiny, "tiny", tmp_path / "tiny")
    _fast_tier(tmp_path / "tiny")
    write(_audited("000_fc451383955750f3.txt"), "d000", tmp_path / "d000")
    _fast_tier(tmp_path / "d000")


def test_a_spec_may_record_its_own_readme_hash(tiny, tmp_path, capsys):
    out = tmp_path / "own"
    write(tiny, "own", out)
    (out / "_source.yaml").unlink()
    spec = out / "iteration1.yaml"
    data = yaml.safe_load(spec.read_text())
    data["source"].update(file=tiny.name, sha256="0" * 64)
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    (out / "iteration2.yaml").unlink()
    assert main(["check", str(out), "--claims-dir", str(tiny.parent)]) == 1
    assert "iteration1.yaml: sha256" in capsys.readouterr().err


def test_cli_compare_prints_the_measurement(capsys):
    _audited("000_fc451383955750f3.txt")
    assert main(["new", "--compare", str(SPECS / "sub20k")]) == 0
    out = capsys.readouterr().out
    assert "| 000_fc451383955750f3.txt | " in out and "| 0 of " in out


COURSE_README = """\
# Three steps to a small net

## Step 1

**Target:** get a pipeline running.

**Results:**
- Parameters: 7,850
- Best Train Accuracy: 93.40
- Best Test Accuracy: 92.71

**Analysis:** a linear model; far from the goal.

```
EPOCH: 0
Loss=0.61 Batch_id=468 Accuracy=88.02: 100%|#####| 469/469 [00:09<00:00, 50.1it/s]
Test set: Average loss: 0.0031, Accuracy: 9104/10000 (91.04%)
EPOCH: 1
Loss=0.35 Batch_id=468 Accuracy=93.40: 100%|#####| 469/469 [00:09<00:00, 50.1it/s]
Test set: Average loss: 0.0027, Accuracy: 9271/10000 (92.71%)
```

```python
class Step1(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

    def forward(self, x):
        return F.log_softmax(self.fc(x), dim=-1)

optimizer = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
scheduler = StepLR(optimizer, step_size=6, gamma=0.1)
train_loader = DataLoader(train, batch_size=128, shuffle=True)
transforms.Normalize((0.1307,), (0.3081,))
```
"""


def test_course_style_readme(tmp_path):
    path = tmp_path / "course.md"
    path.write_text(COURSE_README)
    write(path, "course", tmp_path / "out")
    specs, errors = load_all(tmp_path / "out")
    assert errors == []
    (step,) = specs
    claims = {c.claim_id: c for c in step.spec.claims}
    assert claims["parameters"].value == 7850 and claims["parameters"].expect == "reproduced"  # code: 784*10 + 10
    assert claims["test-accuracy-peak"].value == 92.71 and claims["test-accuracy-final"].value == 92.71
    assert claims["train-accuracy-final"].value == 93.40
    recipe = step.spec.recipe
    assert recipe.epochs == 2 and recipe.batch_size == 128  # the zero-based log has two epochs
    assert recipe.optimizer.lr == 0.02 and recipe.optimizer.momentum == 0.9
    assert recipe.scheduler.type == "StepLR" and recipe.scheduler.step_size == 6
    assert recipe.normalization.mean == 0.1307 and recipe.loss.type == "cross_entropy"
    for key in ("recipe.optimizer", "recipe.scheduler", "recipe.batch_size", "recipe.normalization"):
        assert step.spec.fidelity[key].level == "documented", key


def test_a_readme_without_figures_is_refused(tmp_path, capsys):
    path = tmp_path / "empty.md"
    path.write_text("# nothing here\n\nJust words.\n")
    assert main(["new", str(path), "--slug", "e", "--out", str(tmp_path / "e")]) == 1
    assert "nothing to draft" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()


def test_model_code_given_with_code_option(tmp_path):
    readme = tmp_path / "r.md"
    readme.write_text("# r\n\n## Model 1\n\nParameters: 7,850. Best Test Accuracy: 92.71%\n")
    code = tmp_path / "src"
    code.mkdir()
    (code / "net.py").write_text("import os\nos.remove('/nonexistent')\n\n" + COURSE_README.split("```python\n")[1]
                                 .split("\noptimizer")[0])
    assert main(["new", str(readme), "--slug", "r", "--out", str(tmp_path / "out"), "--code", str(code)]) == 0
    (spec,), _ = load_all(tmp_path / "out")
    assert spec.spec.fidelity["architecture"].level == "documented_in_code"  # the code, not the README, gives them
    assert "net.py" in spec.spec.fidelity["architecture"].evidence
    assert [c.expect for c in spec.spec.claims if c.kind == "parameters"] == ["reproduced"]


SETTINGS_README = """\
# Runs

Every run: Starting training for 4 epochs (Max LR: 0.08, Momentum: 0.95, WD: 1e-04, PCT Start: 0.3)

## The runs (2 Experiments)

| # | Parameters | Max LR | WD | Augmentation | Best Test Acc |
|---|---|---|---|---|---|
| 1 | 5,210 | 0.02 | 0 | None | 97.10% |
| 2 | 5,210 | 0.08 | 1e-04 | Mixed | 98.35% |
"""


def test_recipe_settings_and_table_columns(tmp_path):
    path = tmp_path / "settings.md"
    path.write_text(SETTINGS_README)
    d = write(path, "s", tmp_path / "out").draft
    specs, errors = load_all(tmp_path / "out")
    assert errors == []
    one, two = sorted(specs, key=lambda s: s.name)
    assert [one.name, two.name] == ["experiment1", "experiment2"]
    assert one.spec.recipe.scheduler.type == "OneCycleLR" and one.spec.recipe.scheduler.max_lr == 0.02
    assert one.spec.recipe.scheduler.pct_start == 0.3 and one.spec.recipe.optimizer.momentum == 0.95
    assert one.spec.recipe.optimizer.weight_decay == 0 and one.spec.recipe.augmentation == []
    assert one.spec.fidelity["recipe.scheduler"].level == "reconstructed"  # "Max LR" implies OneCycleLR
    assert two.spec.recipe.scheduler.max_lr == 0.08 and two.spec.recipe.optimizer.weight_decay == 1e-4
    assert any("'Mixed' is named" in line and line.startswith("Experiment 2") for line in d.decisions)
    # one line for the same decision about several models
    assert sum("architecture not documented" in line for line in d.decisions) == 1
