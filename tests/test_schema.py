"""harness.specs and harness.schema: what a spec may say, how `extends` resolves, and how rejections read.

Every rejection is a SpecError whose text names the file, the field path and, where the
file has it, the line: `path/to/spec.yaml:17: recipe.epochs: Input should be a valid integer`.
Specs are written to tmp_path: a compact self-contained spec (VALID) and a copy of the
sub20k chain (final -> iteration8 -> iteration7 -> _base, with _source.yaml).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from harness.model import plan
from harness.specs import LoadedSpec, SpecError, discover, load_all, load_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"

# A complete spec in one file: 650 parameters (convs and linears with bias).
VALID = """\
title: Compact test spec
source: {file: README.md, section: "Iteration 1"}
architecture:
  layers:
    - conv: {out: 4, kernel: 3, name: conv1}
    - relu
    - maxpool: 2
    - conv: {out: 8, kernel: 3, name: conv2}
    - relu
    - gap
    - flatten
    - linear: {out: 16, name: fc1}
    - dropout: {p: 0.1, name: drop}
    - linear: 10
    - log_softmax
recipe:
  epochs: 20
  batch_size: 128
  optimizer: {type: SGD, lr: 0.01, momentum: 0.9}
  scheduler: {type: StepLR, step_size: 5, gamma: 0.5}
  loss: {type: nll}
  normalization: {mean: 0.1307, std: 0.3081}
  augmentation:
    - random_rotation: {degrees: 10}
claims:
  - kind: parameters
    value: 650
    where: "parameter table"
    expect: reproduced
fidelity:
  architecture: {level: documented, evidence: "model code"}
  recipe.optimizer: {level: documented, evidence: "training code"}
  recipe.scheduler: {level: documented, evidence: "training code"}
  recipe.loss: {level: documented, evidence: "training code"}
  recipe.batch_size: {level: documented, evidence: "training code"}
  recipe.epochs: {level: documented, evidence: "log"}
  recipe.normalization: {level: documented, evidence: "training code"}
  recipe.augmentation: {level: unknown, assumption: "rotation by up to 10 degrees"}
notes: our words
findings:
  - id: count-without-bias
    kind: self_contradiction
    summary: the text's count drops the conv biases
    where: "text vs parameter table"
    overrides: {architecture: {defaults: {conv: {bias: false}}}}
    parameters: 638
"""

# A child of VALID (saved as parent.yaml) that states only its own claims, title and section.
CHILD = """\
title: Child spec
extends: parent
source: {section: "Iteration 2"}
claims:
  - kind: parameters
    value: 650
    where: "table row 2"
    expect: reproduced
"""

PROBLEM = re.compile(r"^(?P<file>\S+?\.yaml)(?::(?P<line>\d+))?: (?P<field>\(top level\)|\S+): (?P<message>.*)$")


# --------------------------------------------------------------------------- helpers

def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the spec text"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in the text")


def rejection(path: Path) -> SpecError:
    with pytest.raises(SpecError) as err:
        load_spec(path)
    return err.value


def problems(err: SpecError) -> list[dict]:
    """Each line of the error, parsed: file, line, field, message (every line must parse)."""
    out = []
    for text in str(err).splitlines():
        m = PROBLEM.match(text)
        assert m, f"error line does not read `file[:line]: field: message`: {text!r}"
        out.append(m.groupdict())
    return out


def assert_problem(err: SpecError, path: Path, field: str, *, line: int | None = None, says: str = "") -> dict:
    """One problem names this file and field (and line), and its message contains `says`."""
    rows = problems(err)
    for row in rows:
        assert Path(row["file"]).name == path.name, f"error names {row['file']}, not {path.name}: {err}"
    hits = [r for r in rows if r["field"] == field]
    assert hits, f"no problem at {field!r} in:\n{err}"
    row = hits[0]
    if line is not None:
        assert row["line"] == str(line), f"{field} reported at line {row['line']}, expected {line}:\n{err}"
    assert says in row["message"], f"{says!r} not in {row['message']!r}"
    assert err.file.name == path.name
    return row


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "demo"


@pytest.fixture
def sub20k(tmp_path) -> Path:
    """A copy of specs/sub20k's final chain: final -> iteration8 -> iteration7 -> _base, plus _source.yaml."""
    target = tmp_path / "sub20k"
    target.mkdir()
    for name in ("_source", "_base", "iteration7", "iteration8", "final"):
        shutil.copyfile(SPECS / "sub20k" / f"{name}.yaml", target / f"{name}.yaml")
    return target


# --------------------------------------------------------------------------- valid specs

def test_compact_spec_is_valid(folder):
    loaded = load_spec(write(folder, "base", VALID))
    assert isinstance(loaded, LoadedSpec)
    assert loaded.id == "demo/base"
    assert sum(p.parameters for p in plan(loaded.spec.architecture)) == 650
    assert loaded.spec.recipe.optimizer.momentum == 0.9
    assert [f.parameters for f in loaded.spec.findings] == [638]


def test_copied_chain_loads_like_the_original(sub20k):
    copy, original = load_spec(sub20k / "final.yaml"), load_spec(SPECS / "sub20k" / "final.yaml")
    assert copy.spec == original.spec
    assert copy.spec_hash == original.spec_hash and copy.training_hash == original.training_hash
    assert sum(p.parameters for p in plan(copy.spec.architecture)) == 19056
    assert copy.spec.source.file == copy.source_info.file  # filled from _source.yaml


def test_every_spec_in_specs_loads():
    specs, errors = load_all(SPECS)
    assert errors == [], "\n".join(str(e) for e in errors)
    on_disk = [p for p in SPECS.rglob("*.yaml") if not p.name.startswith("_")]  # adding a spec keeps this green
    assert len(specs) == len(on_disk) > 0
    assert len({s.id for s in specs}) == len(specs)
    assert all(not s.path.name.startswith("_") for s in specs)
    assert {p.name for p in discover(SPECS / "sub20k")} == {
        "final.yaml", "iteration1.yaml", "iteration5.yaml", "iteration6.yaml", "iteration7.yaml",
        "iteration8.yaml", "iteration9.yaml"}


# --------------------------------------------------------------------------- rejections

def test_misspelt_key_is_named_with_a_suggestion(folder):
    text = replaced(VALID, "batch_size: 128", "batch_sise: 128")
    err = rejection(write(folder, "typo", text))
    assert_problem(err, folder / "typo.yaml", "recipe.batch_sise", line=line_of(text, "batch_sise"),
                   says="unknown key 'batch_sise' (did you mean 'batch_size'?)")
    assert_problem(err, folder / "typo.yaml", "recipe.batch_size", says="required field is missing")


def test_misspelt_layer_argument_names_the_layer_index(sub20k):
    path = sub20k / "iteration7.yaml"
    text = replaced(path.read_text(), "conv: {out: 24, name: conv3}", "conv: {ot: 24, name: conv3}")
    path.write_text(text)
    err = rejection(path)
    assert_problem(err, path, "architecture.layers[7].conv.ot", line=line_of(text, "{ot: 24"),
                   says="unknown key 'ot' (did you mean 'out'?)")


def test_misspelt_top_level_key(folder):
    text = replaced(VALID, "notes: our words", "nots: our words")
    err = rejection(write(folder, "typo", text))
    assert_problem(err, folder / "typo.yaml", "nots", line=line_of(text, "nots:"),
                   says="unknown key 'nots' (did you mean 'notes'?)")


WRONG = [
    ("epochs: 20", 'epochs: "20"', "recipe.epochs", "valid integer (got '20')"),
    ("epochs: 20", "epochs: 20.0", "recipe.epochs", "valid integer"),
    ("epochs: 20", "epochs: true", "recipe.epochs", "valid integer"),
    ("batch_size: 128", "batch_size: 0", "recipe.batch_size", "greater than 0"),
    ("batch_size: 128", "batch_size: -128", "recipe.batch_size", "greater than 0"),
    ("lr: 0.01", 'lr: "0.01"', "recipe.optimizer.lr", "valid number"),
    ("lr: 0.01", "lr: .inf", "recipe.optimizer.lr", "finite number"),
    ("mean: 0.1307", "mean: .nan", "recipe.normalization.mean", "finite number"),
    ("{out: 4, kernel: 3, name: conv1}", "{out: 4, kernel: 3, name: conv1, bias: 'no'}",
     "architecture.layers[0].conv.bias", "valid boolean"),
    ("{out: 4, kernel: 3, name: conv1}", "{out: 1000000000000, kernel: 3, name: conv1}",
     "architecture.layers[0].conv.out", "less than or equal to 65536"),
    ("expect: reproduced", "expect: confirmed", "claims[0].expect", "'reproduced'"),
    ("title: Compact test spec", "title: [a, b]", "title", "valid string"),
    # the path is the YAML's: no `parameters`/`nll` (the union's tag) between the entry and its key
    ("expect: reproduced", "wherre: x\n    expect: reproduced", "claims[0].wherre", "unknown key 'wherre'"),
    ("loss: {type: nll}", "loss: {type: nll, smoothing: 0.1}", "recipe.loss.smoothing", "unknown key 'smoothing'"),
    ("loss: {type: nll}", "loss: {type: cross_entropy, label_smoothing: 2}", "recipe.loss.label_smoothing",
     "less than 1"),
]


@pytest.mark.parametrize("old, new, field, says", WRONG, ids=[w[2] for w in WRONG])
def test_wrong_type_or_value(folder, old, new, field, says):
    text = replaced(VALID, old, new)
    err = rejection(write(folder, "wrong", text))
    assert_problem(err, folder / "wrong.yaml", field, line=line_of(text, new.split(":")[0].strip("{ ")), says=says)


def test_bad_augmentation_value_is_reported_as_such(folder):
    """One bad argument of an augmentation entry gives one problem, not a list of contradictions."""
    text = replaced(VALID, "random_rotation: {degrees: 10}", "random_rotation: {degrees: -10}")
    err = rejection(write(folder, "aug", text))
    assert_problem(err, folder / "aug.yaml", "recipe.augmentation[0].random_rotation.degrees",
                   line=line_of(text, "degrees: -10"), says="greater than or equal to 0")
    for row in problems(err):
        assert "unknown key 'random_rotation'" not in row["message"], str(err)
        assert row["field"] not in ("recipe.augmentation[0].center_crop_resize",
                                    "recipe.augmentation[0].random_affine"), str(err)


def test_capitalised_unknown_key_is_named(folder):
    """`Epochs` is an unknown key of `recipe`, not `recipe` an unknown key (capitals look like pydantic's tags)."""
    text = replaced(VALID, "  epochs: 20\n", "  epochs: 20\n  Epochs: 20\n")
    err = rejection(write(folder, "capital", text))
    assert_problem(err, folder / "capital.yaml", "recipe.Epochs", line=line_of(text, "Epochs"),
                   says="unknown key 'Epochs' (did you mean 'epochs'?)")
    assert "unknown key 'recipe'" not in str(err)


def test_capitalised_unknown_top_level_key(folder):
    text = "Title: Compact\n" + VALID
    err = rejection(write(folder, "capital", text))
    assert_problem(err, folder / "capital.yaml", "Title", line=1, says="unknown key 'Title'")


@pytest.mark.parametrize("old, new, says", [
    ("    - linear: 10\n", "    - linear: 0\n", "greater than 0"),
    ("    - linear: 10\n", "    - linear: -10\n", "greater than 0"),
    ("    - linear: 10\n", "    - linear: 100000\n", "less than or equal to 65536"),
    ("    - dropout: {p: 0.1, name: drop}\n", "    - dropout: 1.5\n", "less than 1"),
], ids=["linear-0", "linear-negative", "linear-huge", "dropout-1.5"])
def test_scalar_shorthand_is_checked_like_the_mapping(folder, old, new, says):
    """`linear: 0` is refused as `linear: {out: 0}` is: a SpecError naming the layer."""
    text = replaced(VALID, old, new)
    index = 9 if "linear" in new else 8
    with pytest.raises(SpecError) as err:  # not pydantic's ValidationError escaping from the shape check
        load_spec(write(folder, "shorthand", text))
    rows = [r for r in problems(err.value) if r["field"].startswith(f"architecture.layers[{index}]")]
    assert rows, str(err.value)
    assert any(says in r["message"] for r in rows), str(err.value)
    assert all(r["line"] == str(line_of(text, new.strip())) for r in rows), str(err.value)


def test_several_problems_are_reported_together(folder):
    text = replaced(replaced(VALID, "epochs: 20", 'epochs: "20"'), "batch_size: 128", "batch_sise: 128")
    err = rejection(write(folder, "two", text))
    fields = {p["field"] for p in problems(err)}
    assert {"recipe.epochs", "recipe.batch_sise"} <= fields


def test_kernel_larger_than_its_input_names_the_layer(folder):
    text = replaced(VALID, "conv: {out: 8, kernel: 3, name: conv2}", "conv: {out: 8, kernel: 15, name: conv2}")
    err = rejection(write(folder, "shape", text))
    assert_problem(err, folder / "shape.yaml", "architecture.layers[3]", line=line_of(text, "kernel: 15"),
                   says="does not fit its 13x13 input")


def test_model_not_ending_in_class_scores(folder):
    text = replaced(VALID, "    - linear: 10\n", "    - linear: 12\n")
    err = rejection(write(folder, "classes", text))
    assert_problem(err, folder / "classes.yaml", "architecture.layers", says="expected 10 class scores")


def test_missing_claims(folder):
    text = VALID.split("claims:\n")[0] + "fidelity:" + VALID.split("fidelity:")[1]
    err = rejection(write(folder, "noclaims", text))
    assert_problem(err, folder / "noclaims.yaml", "claims", says="required field is missing")


def test_empty_claims(folder):
    head, tail = VALID.split("claims:\n")
    text = head + "claims: []\nfidelity:" + tail.split("fidelity:")[1]
    err = rejection(write(folder, "empty", text))
    assert_problem(err, folder / "empty.yaml", "claims", line=line_of(text, "claims: []"), says="at least 1 item")


def test_extends_a_missing_spec(folder):
    text = VALID + "extends: iteration99\n"
    err = rejection(write(folder, "orphan", text))
    assert_problem(err, folder / "orphan.yaml", "extends", line=line_of(text, "extends:"),
                   says="no spec 'iteration99'")
    assert "iteration99.yaml" in str(err)


def test_extends_cycle(folder):
    write(folder, "alpha", VALID + "extends: beta\n")
    write(folder, "beta", VALID + "extends: alpha\n")
    err = rejection(folder / "alpha.yaml")
    assert len(err.problems) == 1 and err.problems[0].path == "extends"
    assert "cycle: alpha -> beta -> alpha" in str(err)
    assert re.search(r"(alpha|beta)\.yaml:\d+: extends: cycle", str(err)), str(err)


def test_extends_itself(folder):
    text = VALID + "extends: selfish\n"
    err = rejection(write(folder, "selfish", text))
    assert_problem(err, folder / "selfish.yaml", "extends", line=line_of(text, "extends:"),
                   says="cycle: selfish -> selfish")


def test_extends_must_be_a_name(folder):
    text = VALID + "extends: 7\n"
    err = rejection(write(folder, "number", text))
    assert_problem(err, folder / "number.yaml", "extends", line=line_of(text, "extends:"),
                   says="expected the name of a spec")


def test_python_tags_are_refused_and_never_run(folder, tmp_path):
    marker = tmp_path / "executed"
    text = replaced(VALID, "title: Compact test spec",
                    f'title: !!python/object/apply:os.system ["touch {marker}"]')
    err = rejection(write(folder, "tag", text))
    assert_problem(err, folder / "tag.yaml", "(top level)", line=1, says="YAML tags are not allowed")
    assert not marker.exists()


@pytest.mark.parametrize("tagged", ["!!python/name:os.system", "!!python/object/new:builtins.list [[1]]",
                                    "!custom value"])
def test_other_tags_are_refused(folder, tagged):
    text = replaced(VALID, "notes: our words", f"notes: {tagged}")
    err = rejection(write(folder, "tag", text))
    assert_problem(err, folder / "tag.yaml", "(top level)", line=line_of(text, "notes:"),
                   says="YAML tags are not allowed")


def test_duplicate_keys(folder):
    text = replaced(VALID, "  batch_size: 128\n", "  batch_size: 128\n  batch_size: 64\n")
    err = rejection(write(folder, "dup", text))
    assert_problem(err, folder / "dup.yaml", "(top level)", line=line_of(text, "batch_size: 64"),
                   says="duplicate key 'batch_size'")


def test_invalid_yaml_names_file_and_line(folder):
    text = replaced(VALID, "  batch_size: 128\n", "  batch_size: [128\n")
    err = rejection(write(folder, "broken", text))
    row = problems(err)[0]
    assert Path(row["file"]).name == "broken.yaml" and row["line"] is not None


@pytest.mark.parametrize("old, new, index", [
    ("    - relu\n    - maxpool: 2\n", "    - swish\n    - maxpool: 2\n", 1),
    ("    - maxpool: 2\n", "    - upsample: 2\n", 2),
    ("    - maxpool: 2\n", "    - {maxpool: 2, relu: null}\n", 2),
])
def test_unknown_layer_kind(folder, old, new, index):
    text = replaced(VALID, old, new)
    err = rejection(write(folder, "kind", text))
    row = assert_problem(err, folder / "kind.yaml", f"architecture.layers[{index}]",
                         line=line_of(text, new.strip().splitlines()[0].strip("- ")))
    assert "relu" in row["message"] and "log_softmax" in row["message"]  # the kinds that exist are listed


def test_modify_names_a_missing_layer(folder):
    write(folder, "parent", VALID)
    text = CHILD + "architecture:\n  modify: {fc9: {out: 60}}\n"
    err = rejection(write(folder, "child", text))
    row = assert_problem(err, folder / "child.yaml", "architecture.modify.fc9", line=line_of(text, "modify:"),
                         says="no layer named 'fc9'")
    assert "fc1" in row["message"]  # the named layers are listed


def test_missing_fidelity_label(folder):
    text = replaced(VALID, '  recipe.loss: {level: documented, evidence: "training code"}\n', "")
    err = rejection(write(folder, "nofid", text))
    assert_problem(err, folder / "nofid.yaml", "fidelity.recipe.loss", says="missing: label it")


def test_incomplete_fidelity_label(folder):
    text = replaced(VALID, '{level: unknown, assumption: "rotation by up to 10 degrees"}', "{level: reconstructed, "
                    'assumption: "rotation"}')
    err = rejection(write(folder, "halffid", text))
    assert_problem(err, folder / "halffid.yaml", "fidelity.recipe.augmentation", line=line_of(text, "recipe.augmentation:"),
                   says="needs why")


def test_fidelity_key_naming_no_field(folder):
    text = VALID.replace('  recipe.augmentation: {level: unknown',
                         '  recipe.optimizer.nesterovv: {level: documented, evidence: "code"}\n'
                         '  recipe.augmentation: {level: unknown')
    err = rejection(write(folder, "fidkey", text))
    assert_problem(err, folder / "fidkey.yaml", "fidelity.recipe.optimizer.nesterovv", says="names no field")


def test_fidelity_key_naming_no_field_points_at_its_line(folder):
    """The line given is the bad label's own line, not that of another label."""
    text = VALID.replace('  recipe.augmentation: {level: unknown',
                         '  recipe.optimizer.nesterovv: {level: documented, evidence: "code"}\n'
                         '  recipe.augmentation: {level: unknown')
    err = rejection(write(folder, "fidkey", text))
    assert_problem(err, folder / "fidkey.yaml", "fidelity.recipe.optimizer.nesterovv",
                   line=line_of(text, "nesterovv"), says="names no field")


def test_fidelity_may_label_a_torch_default(folder):
    text = VALID.replace('  recipe.augmentation: {level: unknown',
                         '  recipe.optimizer.nesterov: {level: unknown, assumption: "torch default"}\n'
                         '  recipe.augmentation: {level: unknown')
    loaded = load_spec(write(folder, "fiddefault", text))
    assert "recipe.optimizer.nesterov" in loaded.spec.fidelity


def test_finding_parameters_must_match_its_overrides(folder):
    text = replaced(VALID, "    parameters: 638", "    parameters: 650")
    err = rejection(write(folder, "finding", text))
    assert_problem(err, folder / "finding.yaml", "findings[0].parameters", line=line_of(text, "parameters: 650"),
                   says="the model has 638 parameters, not 650")


def test_finding_overrides_must_give_a_valid_spec(folder):
    text = replaced(VALID, "overrides: {architecture: {defaults: {conv: {bias: false}}}}",
                    "overrides: {architecture: {modify: {conv9: null}}}")
    err = rejection(write(folder, "finding", text))
    assert_problem(err, folder / "finding.yaml", "findings[0].overrides", says="no layer named 'conv9'")


def test_finding_overrides_and_parameters_go_together(folder):
    text = replaced(VALID, "    parameters: 638\n", "")
    err = rejection(write(folder, "finding", text))
    assert_problem(err, folder / "finding.yaml", "findings[0]", says="`overrides` and `parameters` go together")


@pytest.mark.parametrize("claim, field", [
    ("{kind: test_accuracy_at_epoch, epoch: 25, value: 99.0, where: log, expect: reproduced}", "claims[1].epoch"),
    ("{kind: test_accuracy_min_from, epoch: 21, value: 99.0, where: log, expect: reproduced}", "claims[1].epoch"),
    ("{kind: test_accuracy_mean_last, epochs: 30, value: 99.0, where: log, expect: reproduced}", "claims[1].epochs"),
    ("{kind: first_epoch_reaching, threshold: 99, value: 21, where: log, expect: reproduced}", "claims[1].value"),
])
def test_claim_beyond_the_recipes_epochs(folder, claim, field):
    text = replaced(VALID, "fidelity:\n", f"  - {claim}\nfidelity:\n")
    err = rejection(write(folder, "epoch", text))
    assert_problem(err, folder / "epoch.yaml", field, line=line_of(text, claim), says="beyond the recipe's 20 epochs")


def test_claim_at_the_last_epoch_is_fine(folder):
    text = replaced(VALID, "fidelity:\n", "  - {kind: test_accuracy_at_epoch, epoch: 20, value: 99.0, where: log, "
                                          "expect: reproduced}\nfidelity:\n")
    assert len(load_spec(write(folder, "epoch", text)).spec.claims) == 2


def test_duplicate_claim_ids(folder):
    claim = "  - {kind: parameters, value: 651, where: text, expect: refuted-below}\n"
    text = replaced(VALID, "fidelity:\n", claim + "fidelity:\n")
    err = rejection(write(folder, "dupclaim", text))
    assert_problem(err, folder / "dupclaim.yaml", "claims[1].id", says="duplicate claim id 'parameters'")


def test_nll_needs_log_softmax(folder):
    text = replaced(VALID, "    - log_softmax\n", "")
    err = rejection(write(folder, "nll", text))
    assert_problem(err, folder / "nll.yaml", "recipe.loss.type", line=line_of(text, "loss: {type: nll}"),
                   says="nll needs a model that ends with log_softmax")


def test_source_section_is_required(folder):
    text = replaced(VALID, 'source: {file: README.md, section: "Iteration 1"}', "source: {file: README.md}")
    err = rejection(write(folder, "nosection", text))
    assert_problem(err, folder / "nosection.yaml", "source.section", line=line_of(text, "source:"),
                   says="required field is missing")


def test_a_spec_is_a_mapping(folder):
    err = rejection(write(folder, "list", "- title\n- source\n"))
    assert_problem(err, folder / "list.yaml", "(top level)", says="a spec is a YAML mapping, got list")


def test_invalid_utf8(folder):
    path = folder / "bytes.yaml"
    folder.mkdir()
    path.write_bytes(b"title: \xff\xfe\n")
    err = rejection(path)
    assert_problem(err, path, "(top level)", says="cannot read")


def test_missing_file(folder):
    err = rejection(folder / "absent.yaml")
    assert_problem(err, folder / "absent.yaml", "(top level)", says="file not found")


# --------------------------------------------------------------------------- errors in a parent file

def test_yaml_error_in_the_parent_names_the_parent(folder):
    write(folder, "parent", replaced(VALID, "  batch_size: 128\n", "  batch_size: 128\n  batch_size: 64\n"))
    err = rejection(write(folder, "child", CHILD))
    assert err.file.name == "child.yaml"  # the loaded spec's error (its own test fails)...
    row = next(r for r in problems(err) if r["field"] == "(top level)")
    assert Path(row["file"]).name == "parent.yaml" and "duplicate key 'batch_size'" in row["message"]  # ...names the parent


def test_a_typo_inherited_from_the_parent_names_the_parent(folder):
    """A misspelt key in `_base.yaml` is reported against `_base.yaml`, where it can be fixed.

    `_` files are never loaded on their own, so this message is the only place the typo shows."""
    parent = replaced(VALID, "batch_size: 128", "batch_sise: 128")
    write(folder, "parent", parent)
    child = CHILD + "recipe:\n  epochs: 3\n"
    err = rejection(write(folder, "child", child))
    assert err.file.name == "child.yaml"  # the spec being loaded...
    typo = next(r for r in problems(err) if r["field"] == "recipe.batch_sise")
    assert Path(typo["file"]).name == "parent.yaml"  # ...but the typo is shown where it can be fixed
    assert typo["line"] == str(line_of(parent, "batch_sise")) and "unknown key 'batch_sise'" in typo["message"]
    assert "inherited by" in str(err) and "child.yaml" in str(err)


# --------------------------------------------------------------------------- extends: merge semantics

@pytest.fixture
def family(folder):
    """parent.yaml = VALID; returns a function writing and loading a child with extra text."""
    write(folder, "parent", VALID)

    def child(extra: str = "", base: str = CHILD) -> LoadedSpec:
        return load_spec(write(folder, "child", base + extra))

    return child


def test_child_inherits_what_it_does_not_state(family):
    loaded = family()
    parent = load_spec(loaded.path.parent / "parent.yaml")
    assert loaded.spec.architecture == parent.spec.architecture
    assert loaded.spec.recipe == parent.spec.recipe
    assert loaded.spec.fidelity == parent.spec.fidelity
    assert loaded.spec.title == "Child spec" and loaded.spec.source.section == "Iteration 2"
    assert loaded.spec.source.file == "README.md"
    assert loaded.training_hash == parent.training_hash


def test_child_mapping_merges_into_the_parents(family):
    spec = family("recipe:\n  optimizer: {lr: 0.05}\n  scheduler: {gamma: 0.1}\n").spec
    assert spec.recipe.optimizer.type == "SGD"
    assert spec.recipe.optimizer.lr == 0.05
    assert spec.recipe.optimizer.momentum == 0.9  # kept from the parent
    assert (spec.recipe.scheduler.type, spec.recipe.scheduler.step_size, spec.recipe.scheduler.gamma) == ("StepLR", 5, 0.1)
    assert spec.recipe.epochs == 20 and spec.recipe.batch_size == 128


def test_child_lists_replace_the_parents(family):
    spec = family("recipe:\n  augmentation:\n    - random_affine: {degrees: 5}\n"
                  "architecture:\n  layers: [flatten, {linear: 10}, log_softmax]\n").spec
    assert len(spec.recipe.augmentation) == 1
    assert spec.recipe.augmentation[0].random_affine.degrees == 5
    assert [layer.kind for layer in spec.architecture.layer_list()] == ["flatten", "linear", "log_softmax"]


def test_empty_list_clears_the_parents(family):
    assert family("recipe:\n  augmentation: []\n").spec.recipe.augmentation == []


def test_null_removes_the_scheduler(family):
    loaded = family("recipe:\n  scheduler: null\n")
    assert loaded.spec.recipe.scheduler is None
    assert loaded.spec.recipe.optimizer.momentum == 0.9


def test_changing_the_optimizer_type_replaces_it_whole(family):
    spec = family("recipe:\n  optimizer: {type: Adam, lr: 0.001}\n").spec
    assert spec.recipe.optimizer.type == "Adam"
    assert spec.recipe.optimizer.kwargs() == {"lr": 0.001}  # no momentum left over from SGD


def test_changing_the_scheduler_type_replaces_it_whole(family):
    spec = family("recipe:\n  scheduler: {type: ExponentialLR, gamma: 0.9}\n").spec
    assert spec.recipe.scheduler.type == "ExponentialLR" and spec.recipe.scheduler.kwargs() == {"gamma": 0.9}


def test_same_optimizer_type_merges(family):
    spec = family("recipe:\n  optimizer: {type: SGD, weight_decay: 0.0001}\n").spec
    assert spec.recipe.optimizer.kwargs() == {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001}


def test_child_fidelity_entry_replaces_the_parents_whole(family):
    spec = family("fidelity:\n"
                  "  recipe.augmentation: {level: documented, evidence: \"section 2\"}\n"
                  "  recipe.epochs: {level: reconstructed, assumption: \"20\", why: \"log length\"}\n").spec
    aug, epochs = spec.fidelity["recipe.augmentation"], spec.fidelity["recipe.epochs"]
    assert (aug.level, aug.evidence, aug.assumption) == ("documented", "section 2", None)
    assert (epochs.level, epochs.evidence, epochs.assumption, epochs.why) == ("reconstructed", None, "20", "log length")
    assert spec.fidelity["recipe.loss"].evidence == "training code"  # other labels still inherited


def test_claims_findings_title_notes_section_are_not_inherited(family, folder):
    spec = family().spec
    assert [c.value for c in spec.claims] == [650] and spec.claims[0].where == "table row 2"
    assert spec.findings == []
    assert spec.notes is None
    err = rejection(write(folder, "bare", "extends: parent\n"))
    fields = {p["field"] for p in problems(err)}
    assert {"title", "claims", "source.section"} <= fields


def test_modify_changes_and_removes_named_layers(family):
    spec = family("architecture:\n  modify: {fc1: {out: 32}, drop: null}\n").spec
    layers = spec.architecture.layer_list()
    assert [layer.name for layer in layers if layer.name] == ["conv1", "conv2", "fc1"]
    assert next(layer for layer in layers if layer.name == "fc1").out == 32
    assert len(layers) == 10
    assert sum(p.parameters for p in plan(spec.architecture)) == 650 - (8 * 16 + 16 + 16 * 10) + (8 * 32 + 32 + 32 * 10)


def test_extends_across_folders(tmp_path):
    write(tmp_path / "other", "parent", VALID)
    loaded = load_spec(write(tmp_path / "demo", "child", CHILD.replace("extends: parent", "extends: other/parent")))
    assert loaded.id == "demo/child" and loaded.spec.recipe.epochs == 20


def test_chain_of_three(folder, family):
    write(folder, "middle", CHILD + "recipe:\n  epochs: 10\n  optimizer: {lr: 0.1}\n")
    spec = load_spec(write(folder, "leaf", CHILD.replace("extends: parent", "extends: middle")
                           + "recipe:\n  optimizer: {momentum: 0.5}\n")).spec
    assert (spec.recipe.epochs, spec.recipe.optimizer.lr, spec.recipe.optimizer.momentum) == (10, 0.1, 0.5)


def test_sub20k_chain_scheduler_and_modify(sub20k):
    final = load_spec(sub20k / "final.yaml").spec
    it8 = load_spec(sub20k / "iteration8.yaml").spec
    it7 = load_spec(sub20k / "iteration7.yaml").spec
    assert it7.recipe.scheduler is None and it8.recipe.scheduler is None  # `scheduler: null` in _base
    assert final.recipe.scheduler.type == "StepLR" and final.recipe.scheduler.step_size == 15
    fc1 = [next(x for x in s.architecture.layer_list() if x.name == "fc1").out for s in (it7, it8, final)]
    assert fc1 == [90, 50, 50]
    assert final.fidelity["recipe.scheduler"].level == "reconstructed"
    assert final.fidelity["recipe.optimizer"].level == "unknown"  # from _base


# --------------------------------------------------------------------------- hashes

def test_hashes_are_stable_across_loads(sub20k):
    a, b = load_spec(sub20k / "final.yaml"), load_spec(sub20k / "final.yaml")
    assert a is not b
    assert a.spec_hash == b.spec_hash and a.training_hash == b.training_hash
    assert re.fullmatch(r"[0-9a-f]{16}", a.spec_hash) and re.fullmatch(r"[0-9a-f]{16}", a.training_hash)
    assert a.spec_hash != a.training_hash


def test_a_claim_change_changes_spec_hash_only(sub20k):
    path = sub20k / "final.yaml"
    before = load_spec(path)
    path.write_text(replaced(path.read_text(), "value: 99.48\n    where: \"FINAL log, epoch 20",
                             "value: 99.47\n    where: \"FINAL log, epoch 20"))
    after = load_spec(path)
    assert after.spec.claims[1].value == 99.47
    assert after.spec_hash != before.spec_hash
    assert after.training_hash == before.training_hash


def test_a_recipe_change_changes_training_hash(sub20k):
    path = sub20k / "final.yaml"
    before = load_spec(path)
    path.write_text(replaced(path.read_text(), "step_size: 15", "step_size: 14"))
    after = load_spec(path)
    assert after.training_hash != before.training_hash and after.spec_hash != before.spec_hash


def test_hashes_ignore_only_presentation(family, folder):
    a = family()
    b = load_spec(write(folder, "reordered", "claims:\n  - {kind: parameters, value: 650, where: \"table row 2\", "
                                             "expect: reproduced}\nsource: {section: \"Iteration 2\"}\n"
                                             "extends: parent\ntitle: Child spec  # a comment\n"))
    assert a.spec_hash == b.spec_hash and a.training_hash == b.training_hash
    c = family("notes: something else\n")
    assert c.spec_hash != a.spec_hash and c.training_hash == a.training_hash
