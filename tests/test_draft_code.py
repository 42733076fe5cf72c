"""`python -m harness new README --code FOLDER`: notebooks, model modules and training scripts read (never run),
mapped to the README's iterations, drafted into layers and recipe, and compared with the README.

The notebooks are written here, small and synthetic, in the shape of the genre's (code cells with shell and magic
lines, outputs holding a torchsummary table and a per-epoch log).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.draft import codefolder, draft
from harness.draft.build import DraftError
from harness.draft.trainingcode import read as read_training
from harness.specs import load_all

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

MARKER = "harness-draft-code-ran"

IMPORTS = """\
import os
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torchvision import datasets, transforms
os.makedirs(os.environ.get("MARKER_DIR", "/tmp") + "/{marker}", exist_ok=True)
"""

DATA = """\
train_transforms = transforms.Compose([
    transforms.RandomRotation((-7.0, 7.0), fill=(1,)),
    transforms.ColorJitter(brightness=0.1),
    transforms.ToTensor(),
    transforms.Normalize((0.1307,), (0.3081,))
])
test_transforms = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train = datasets.MNIST('./data', train=True, download=True, transform=train_transforms)
test = datasets.MNIST('./data', train={test_is_train}, download=True, transform=test_transforms)
cuda = torch.cuda.is_available()
dataloader_args = dict(shuffle=True, batch_size=128) if cuda else dict(shuffle=True, batch_size=64)
train_loader = torch.utils.data.DataLoader(train, **dataloader_args)
test_loader = torch.utils.data.DataLoader(test, **dataloader_args)
"""

MODEL = """\
dropout_value = 0.05
class Net{n}(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Dropout(dropout_value))
        self.conv2 = nn.Conv2d(8, 10, 26, bias=False)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = self.conv2(x)
        x = x.view(-1, 10)
        return F.log_softmax(x, dim=-1)
"""
COUNT = 1 * 8 * 9 + 16 + 8 * 10 * 26 * 26   # 54,168

TRAIN = """\
from torch.optim.lr_scheduler import StepLR

model = Net{n}()
optimizer = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
scheduler = StepLR(optimizer, step_size=6, gamma=0.1)
EPOCHS = 3
for epoch in range(EPOCHS):
    train(model, optimizer)
    {step}scheduler.step()
    test(model)
"""

SUMMARY = """\
----------------------------------------------------------------
        Layer (type)               Output Shape         Param #
================================================================
            Conv2d-1            [-1, 8, 26, 26]              72
       BatchNorm2d-2            [-1, 8, 26, 26]              16
           Dropout-3            [-1, 8, 26, 26]               0
            Conv2d-4             [-1, 10, 1, 1]          54,080
================================================================
Total params: {total}
"""

LOG = "".join(f"EPOCH: {e}\nLoss=0.1 Batch_id=468 Accuracy={train}: 100%|##| 469/469\n\n"
              f"Test set: Average loss: 0.05, Accuracy: {round(test * 100)}/10000 ({test:.2f}%)\n\n"
              for e, (train, test) in enumerate([(91.5, 97.1), (97.2, 98.42), (98.1, 98.3)]))


def notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    """cells: (source, printed output)."""
    nb = {"nbformat": 4, "nbformat_minor": 0, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# a notebook\n"]}] + [
        {"cell_type": "code", "metadata": {}, "execution_count": i, "source": src.splitlines(keepends=True),
         "outputs": [{"output_type": "stream", "name": "stdout", "text": out.splitlines(keepends=True)}] if out else []}
        for i, (src, out) in enumerate(cells, start=1)]}
    path.write_text(json.dumps(nb), encoding="utf-8")


def make_notebook(path: Path, n: int, stepped: bool, test_is_train: bool = False, total: int = COUNT) -> None:
    notebook(path, [
        (IMPORTS.format(marker=MARKER), ""),
        ("!pip install torchsummary\n%matplotlib inline\nimport matplotlib.pyplot as plt", "Requirement already"),
        (DATA.format(test_is_train=test_is_train), ""),
        (MODEL.format(n=n), ""),
        (f"from torchsummary import summary\nmodel = Net{n}()\nsummary(model, input_size=(1, 28, 28))",
         SUMMARY.format(total=f"{total:,}")),
        (TRAIN.format(n=n, step="" if stepped else "# "), LOG),
        ("this is not python (", ""),
    ])


README = f"""\
# Two iterations

## Iteration 1
Parameters: 54,186. Best Train Accuracy: 98.10%. Best Test Accuracy: 98.42%

## Iteration 2
Parameters: {COUNT:,}. Best Train Accuracy: 98.10%. Best Test Accuracy: 99.42%
We train for 20 epochs.
"""


def _setup(tmp_path: Path, names=("it_1.ipynb", "it_2.ipynb")) -> tuple[Path, Path]:
    readme = tmp_path / "readme.md"
    readme.write_text(README, encoding="utf-8")
    code = tmp_path / "code"
    code.mkdir()
    make_notebook(code / names[0], 1, stepped=False, test_is_train=True, total=COUNT)
    make_notebook(code / names[1], 2, stepped=True)
    return readme, code


def test_notebooks_are_read_never_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MARKER_DIR", str(tmp_path))
    _, code = _setup(tmp_path)
    folder = codefolder.read([code])
    assert [f.name for f in folder.notebooks] == ["it_1.ipynb", "it_2.ipynb"]
    nb = folder.notebooks[0]
    assert "pip install" not in nb.code and "%matplotlib" not in nb.code
    assert nb.unparsed_cells == [8]            # "this is not python (" (cell 1 is markdown)
    assert "Total params: 54,168" in nb.outputs and "Test set:" in nb.outputs
    draft(tmp_path / "readme.md", [code])
    assert not (tmp_path / MARKER).exists()


def test_a_code_folder_drafts_layers_recipe_and_findings(tmp_path, capsys):
    readme, code = _setup(tmp_path)
    out = tmp_path / "out"
    assert main(["new", str(readme), "--slug", "c", "--out", str(out), "--code", str(code)]) == 0
    printed = capsys.readouterr().out
    assert "by number (it_1.ipynb -> 1)" in printed and "by number (it_2.ipynb -> 2)" in printed
    assert "ColorJitter" in printed                      # left out of the recipe, and said so
    specs, errors = load_all(out)
    assert errors == []
    one, two = sorted(specs, key=lambda s: s.name)
    # activation placement as forward applies it: a ReLU after the first block only, none after conv2
    kinds = [layer.kind for layer in one.spec.architecture.layer_list()]
    assert kinds == ["conv", "bn", "dropout", "relu", "conv", "flatten", "log_softmax"]
    assert one.spec.architecture.layer_list()[2].p == 0.05   # `dropout_value` read as the literal it is bound to
    fid = one.spec.fidelity
    assert fid["architecture"].level == "documented_in_code" and "class Net1 in it_1.ipynb, cell" in \
        fid["architecture"].evidence
    r = one.spec.recipe
    assert (r.optimizer.type, r.optimizer.lr, r.optimizer.momentum) == ("SGD", 0.02, 0.9)
    assert fid["recipe.optimizer"].level == "documented_in_code" and fid["recipe.optimizer"].evidence == \
        "it_1.ipynb, cell 7"
    assert r.epochs == 3 and r.batch_size == 128 and r.normalization.mean == 0.1307
    assert r.augmentation[0].random_rotation.degrees == [-7.0, 7.0] and r.augmentation[0].random_rotation.fill == 1.0
    # created and never stepped: no scheduler; the other notebook steps its StepLR
    assert r.scheduler is None and "never called" in fid["recipe.scheduler"].evidence
    assert two.spec.recipe.scheduler.type == "StepLR" and two.spec.recipe.scheduler.step_size == 6
    f1 = {f.id: f for f in one.spec.findings}
    assert set(f1) == {"parameters-54186-vs-code", "scheduler-never-stepped", "test-split"}
    assert "54,168" in f1["parameters-54186-vs-code"].summary
    assert "MNIST's training set" in f1["test-split"].summary
    f2 = {f.id: f for f in two.spec.findings}
    assert set(f2) == {"test-accuracy-peak-vs-log", "epochs-vs-code", "epochs-vs-log"}
    assert "98.42" in f2["test-accuracy-peak-vs-log"].summary and "20" in f2["epochs-vs-code"].summary


def test_notebooks_without_numbers_map_by_order(tmp_path):
    readme, code = _setup(tmp_path, names=("a_setup.ipynb", "b_wider.ipynb"))
    d = draft(readme, [code])
    assert any("by order (a_setup.ipynb -> Iteration 1)" in line for line in d.decisions)


def test_a_model_module_and_a_script_that_trains_its_class(tmp_path):
    readme = tmp_path / "readme.md"
    readme.write_text(README, encoding="utf-8")
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.py").write_text("raise SystemExit('never run')\n" + IMPORTS.format(marker=MARKER)
                                  + MODEL.format(n=1) + MODEL.format(n=2))
    (src / "train.py").write_text(IMPORTS.format(marker=MARKER) + "from model import Net2\n"
                                  + TRAIN.format(n=2, step=""))
    (src / "utils.py").write_text(IMPORTS.format(marker=MARKER) + DATA.format(test_is_train=False))
    d = draft(readme, [src])
    assert any("by the class it trains (train.py -> 2)" in line for line in d.decisions)
    two = d.specs["iteration2"]
    assert two["recipe"]["scheduler"]["type"] == "StepLR"
    base = d.specs["_base"]["recipe"]
    assert base["batch_size"] == 128 and base["augmentation"][0]["random_rotation"]["degrees"] == [-7.0, 7.0]


def test_a_random_split_of_the_training_set_is_the_test_split():
    code = """\
full = datasets.MNIST('./data', train=True, download=True)
train_set, test_set = torch.utils.data.random_split(full, [50000, 10000])
test_loader = torch.utils.data.DataLoader(test_set, batch_size=1000)
"""
    split = read_training(code).split
    assert split.kind == "random_split" and "[50000, 10000]" in split.detail and "training set" in split.detail


def test_a_huge_code_file_is_refused_from_its_size(tmp_path, capsys):
    readme, code = _setup(tmp_path)
    with open(code / "huge.py", "wb") as f:
        f.truncate(18_000_000)   # 18 MB, sparse: refused from its size, never read
    with open(code / "huge.ipynb", "wb") as f:
        f.truncate(18_000_000)
    assert main(["new", str(readme), "--slug", "h", "--out", str(tmp_path / "h"), "--code", str(code)]) == 0
    printed = capsys.readouterr().out
    assert "huge.py: 18,000,000 bytes is more than a code file the drafter reads" in printed
    assert "huge.ipynb: 18,000,000 bytes is more than a code file the drafter reads" in printed


def test_a_broken_notebook_is_named_not_fatal(tmp_path):
    readme, code = _setup(tmp_path)
    (code / "broken.ipynb").write_text("{not json")
    (code / "deep.ipynb").write_text("[" * 100_000)
    d = draft(readme, [code])
    assert any("broken.ipynb: not a notebook" in line for line in d.decisions)
    assert any("deep.ipynb: not a notebook" in line for line in d.decisions)


def test_outputs_and_code_reach_the_yaml_only_as_data(tmp_path):
    readme, code = _setup(tmp_path)
    d = draft(readme, [code])
    text = yaml.safe_dump(d.specs)
    assert "!!python" not in text and os.environ.get("MARKER_DIR") is None


# --------------------------------------------------------------------------- fuzzing

_source = st.one_of(
    st.sampled_from([IMPORTS.format(marker=MARKER), DATA.format(test_is_train=True), MODEL.format(n=1),
                     MODEL.format(n=7), TRAIN.format(n=1, step=""), TRAIN.format(n=2, step="# "),
                     "!pip install x\n%time y = 1", " x = 1\n y = 2", "class Net(nn.Module):\n    pass",
                     "model = Net()\nfor epoch in range(EPOCHS):\n    pass", "EPOCHS = 'many'\nlr = None"]),
    st.text(max_size=80),
)
_output = st.one_of(st.just(""), st.just(LOG), st.just(SUMMARY.format(total="54,168")), st.text(max_size=200))
_cell = st.fixed_dictionaries({"cell_type": st.sampled_from(["code", "markdown", "raw", 7]),
                               "source": st.one_of(_source, st.lists(_source, max_size=3), st.none()),
                               "outputs": st.lists(st.fixed_dictionaries(
                                   {"output_type": st.just("stream"),
                                    "text": st.one_of(_output, st.lists(_output, max_size=2))}), max_size=2)})


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(notebooks=st.lists(st.tuples(st.sampled_from(["m1.ipynb", "2_b.ipynb", "x.ipynb", "model.py"]),
                                    st.lists(_cell, max_size=6)), max_size=3))
def test_fuzz_code_folders_never_crash_the_draft(tmp_path_factory, notebooks):
    folder = tmp_path_factory.mktemp("code")
    readme = folder / "readme.md"
    readme.write_text(README, encoding="utf-8")
    code = folder / "code"
    code.mkdir()
    for name, cells in notebooks:
        text = json.dumps({"nbformat": 4, "cells": cells}) if name.endswith(".ipynb") else \
            "\n".join(str(c.get("source")) for c in cells)
        (code / name).write_text(text, encoding="utf-8")
    try:
        d = draft(readme, [code])
    except DraftError:
        return
    for spec in d.specs.values():
        yaml.safe_load(yaml.safe_dump(spec))


def test_a_cell_indented_from_its_first_line_is_read_as_ipython_reads_it():
    cell = {"cell_type": "code", "source": " fig = plt.figure()\n plt.plot(test_acc)\n", "outputs": []}
    nb = codefolder.notebook("x.ipynb", json.dumps({"cells": [cell]}))
    assert nb.code == "fig = plt.figure()\nplt.plot(test_acc)" and nb.unparsed_cells == []


def test_an_epoch_limit_the_code_runs_past_is_a_finding(tmp_path):
    readme, code = _setup(tmp_path)
    readme.write_text("Train in less than 3 epochs, at most 2 epochs.\n\n" + README, encoding="utf-8")
    d = draft(readme, [code])
    one = {f["id"]: f for f in d.specs["iteration1"]["findings"]}
    assert one["epochs-at-3"]["kind"] == "ambiguity" and "exactly 3" in one["epochs-at-3"]["summary"]
    assert one["epochs-over-2"]["kind"] == "inconsistency" and "runs 3" in one["epochs-over-2"]["summary"]


def test_a_folder_with_too_many_files_is_read_up_to_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(codefolder, "MAX_CODE_FILES", 3)
    for i in range(5):
        (tmp_path / f"m{i}.py").write_text("x = 1\n")
    folder = codefolder.read([tmp_path])
    assert [f.name for f in folder.files] == ["m0.py", "m1.py", "m2.py"]
    assert folder.refused == ["more than 3 code files: only the first 3 (folders walked in name order) are read"]


def test_a_notebook_stating_a_count_its_summary_does_not_print_is_a_finding(tmp_path):
    readme, code = _setup(tmp_path)
    nb = json.loads((code / "it_2.ipynb").read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["- Total Parameters: 54,000\n"]})
    (code / "it_2.ipynb").write_text(json.dumps(nb))
    found = {f["id"]: f for f in draft(readme, [code]).specs["iteration2"]["findings"]}
    assert found["notebook-54000-vs-summary"]["summary"] == \
        "it_2.ipynb states 54,000 parameters in its text; its torchsummary totals 54,168"
