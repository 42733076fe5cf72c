"""`python -m harness list|check|summary|schema`, run in-process through harness.cli.main.

One test runs the module entry point in a subprocess; the rest call main() and read the output.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import jsonschema
import pytest
import yaml

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
SPEC_FILES = sorted(p for p in SPECS.glob("*/*.yaml") if p.name != "_source.yaml")


def spec_files() -> list[Path]:
    """The iteration specs on disk (no `_` bases): tests count these, never a fixed number."""
    return [p for p in SPEC_FILES if not p.name.startswith("_")]


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def listing() -> dict:
    code, out, err = run_main(["list", "--json", "--root", str(SPECS)])
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def rows(listing) -> dict[str, dict]:
    return {r["id"]: r for r in listing["specs"]}


@pytest.fixture(scope="module")
def schema() -> dict:
    code, out, err = run_main(["schema"])
    assert code == 0, err
    return json.loads(out)


# --------------------------------------------------------------------------- list

def test_list_json_has_every_spec(listing, rows):
    assert listing["errors"] == []
    assert len(listing["specs"]) == len(spec_files()) == len(rows)  # however many specs there are
    spec_ids = {f"{p.parent.name}/{p.stem}" for p in SPEC_FILES if not p.name.startswith("_")}
    assert set(rows) == spec_ids
    for row in listing["specs"]:
        assert isinstance(row["computed_parameters"], int) and row["computed_parameters"] > 0, row["id"]
        assert row["trainable_parameters"] == row["computed_parameters"], row["id"]
        assert row["source"]["file"] and row["source"]["section"], row["id"]
        assert row["fidelity"]["architecture"] in ("documented", "documented_in_code", "reconstructed", "unknown"), \
            row["id"]
        if row["claimed_parameters"] is None:
            assert row["matches"] is None and row["expected"] is None
        else:
            assert isinstance(row["claimed_parameters"], int)
            assert row["matches"] == (row["claimed_parameters"] == row["computed_parameters"]), row["id"]
    # every spec whose first parameter claim states a count lists it (counted from the specs, not a fixed number)
    from harness.claims import Parameters
    from harness.specs import load_spec

    stated = [next((c for c in load_spec(p).spec.claims if isinstance(c, Parameters)), None) for p in spec_files()]
    assert sum(r["claimed_parameters"] is not None for r in listing["specs"]) == \
        sum(c is not None and c.value is not None for c in stated) >= 33


def test_list_reports_the_self_contradiction_of_sub8k_experiment10(rows):
    row = rows["sub8k-15ep/experiment10"]
    assert (row["claimed_parameters"], row["computed_parameters"]) == (6260, 6198)
    assert row["matches"] is False and row["expected"] == "refuted-above"
    finding = next(f for f in row["findings"] if f["id"] == "printed-count-includes-conv-bias")
    assert finding["kind"] == "self_contradiction"
    assert finding["parameters"] == 6260  # the README's figure holds under the finding's explanation


def test_list_reports_the_unchanged_count_after_batchnorm_in_sub25k(rows):
    row = rows["sub25k-1ep/iteration9"]
    assert (row["claimed_parameters"], row["computed_parameters"]) == (24498, 24638)
    assert row["matches"] is False and row["expected"] == "refuted-below"
    finding = next(f for f in row["findings"] if f["id"] == "bn-count-unchanged")
    assert finding["kind"] == "self_contradiction" and finding["parameters"] == 24498


def test_list_matching_specs(rows):
    final = rows["sub20k/final"]
    assert (final["claimed_parameters"], final["computed_parameters"], final["matches"]) == (19056, 19056, True)
    assert rows["sub20k/iteration1"]["claimed_approximate"] is True


def test_list_text_shows_both_numbers(capsys):
    code = main(["list", "--root", str(SPECS)])
    out, err = capsys.readouterr()
    assert code == 0
    assert f"{len(spec_files())} specs" in err
    lines = out.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("sub8k-15ep/experiment10 "))
    assert re.search(r"6,260\s+6,198\s+MISMATCH", lines[i]), lines[i]
    block = "\n".join(lines[i + 1:i + 4])
    assert "finding printed-count-includes-conv-bias" in block and "(6,260 parameters under its overrides)" in block
    j = next(i for i, line in enumerate(lines) if line.startswith("sub25k-1ep/iteration9 "))
    assert re.search(r"24,498\s+24,638\s+MISMATCH", lines[j]), lines[j]
    final = next(line for line in lines if line.startswith("sub20k/final "))
    assert re.search(r"19,056\s+19,056\s+match", final)


def test_list_defaults_to_specs(monkeypatch, listing):
    monkeypatch.delenv("AUDIT_SPECS", raising=False)
    code, out, _ = run_main(["list", "--json"])
    assert code == 0
    assert [r["id"] for r in json.loads(out)["specs"]] == [r["id"] for r in listing["specs"]]


def test_list_reports_broken_specs(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.yaml").write_text("title: [unclosed\n")
    code, out, err = run_main(["list", "--json", "--root", str(tmp_path)])
    assert code == 1
    data = json.loads(out)
    assert data["specs"] == [] and len(data["errors"]) == 1
    assert "broken.yaml" in data["errors"][0] and "broken.yaml" in err


@pytest.mark.slow  # a subprocess per case
def test_module_entry_point_lists_as_json():
    env = {k: v for k, v in os.environ.items() if k != "AUDIT_SPECS"}
    proc = subprocess.run([sys.executable, "-m", "harness", "list", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert len(data["specs"]) == len(spec_files()) and data["errors"] == []
    row = next(r for r in data["specs"] if r["id"] == "sub8k-15ep/experiment10")
    assert (row["claimed_parameters"], row["computed_parameters"]) == (6260, 6198)


# --------------------------------------------------------------------------- check

def test_check_specs_folder_is_clean(capsys):
    assert main(["check", str(SPECS)]) == 0
    err = capsys.readouterr().err
    assert f"{len(spec_files())} of {len(spec_files())} specs valid" in err


def test_check_default_is_specs(monkeypatch, capsys):
    monkeypatch.delenv("AUDIT_SPECS", raising=False)
    assert main(["check"]) == 0
    assert f"{len(spec_files())} of {len(spec_files())} specs valid" in capsys.readouterr().err


def test_check_one_file(capsys):
    assert main(["check", str(SPECS / "sub20k" / "iteration9.yaml")]) == 0
    assert "1 of 1 specs valid" in capsys.readouterr().err


@pytest.fixture
def broken_folder(tmp_path) -> Path:
    """sub20k's files plus three broken copies of iteration7: a misspelt key, a wrong type, an impossible shape."""
    folder = tmp_path / "sub20k"
    folder.mkdir()
    for name in ("_source", "_base", "iteration5", "iteration6", "iteration7"):  # 7 compares with 6, 6 with 5
        (folder / f"{name}.yaml").write_text((SPECS / "sub20k" / f"{name}.yaml").read_text())
    text = (folder / "iteration7.yaml").read_text()
    edits = {
        "typo": ("conv: {out: 24, name: conv3}", "conv: {ot: 24, name: conv3}"),
        "wrongtype": ("value: 24616", 'value: "24616"'),
        "shape": ("conv: {out: 24, name: conv3}", "conv: {out: 24, kernel: 15, name: conv3}"),
    }
    for name, (old, new) in edits.items():
        assert text.count(old) == 1
        (folder / f"{name}.yaml").write_text(text.replace(old, new))
    return folder


def test_check_fails_on_broken_specs_naming_file_and_field(broken_folder, capsys):
    assert main(["check", str(broken_folder)]) == 1
    err = capsys.readouterr().err
    assert "3 of 6 specs valid" in err
    assert re.search(r"typo\.yaml:\d+: architecture\.layers\[7\]\.conv\.ot: unknown key 'ot' \(did you mean 'out'\?\)",
                     err), err
    assert re.search(r"wrongtype\.yaml:\d+: claims\[0\]\S*: .*valid integer", err), err
    assert re.search(r"shape\.yaml:\d+: architecture\.layers\[7\]: .*does not fit its 14x14 input", err), err
    assert "iteration7.yaml" not in err


def test_check_wrong_type_names_the_yaml_path(broken_folder, capsys):
    """The field is written as in the YAML (`claims[0].value`), without the claim kind pydantic tags it with."""
    assert main(["check", str(broken_folder / "wrongtype.yaml")]) == 1
    err = capsys.readouterr().err
    assert re.search(r"wrongtype\.yaml:\d+: claims\[0\]\.value: .*valid integer", err), err


def test_check_several_paths(broken_folder, capsys):
    assert main(["check", str(broken_folder / "iteration7.yaml"), str(broken_folder / "typo.yaml")]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 specs valid" in err and "typo.yaml" in err


def test_check_empty_folder(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 1
    assert "no spec files" in capsys.readouterr().err


# --------------------------------------------------------------------------- summary

def test_summary_of_sub20k_final(capsys):
    assert main(["summary", "sub20k/final"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("sub20k/final: ")
    assert "Total params: 19,056" in lines
    assert "Trainable params: 19,056" in lines and "Non-trainable params: 0" in lines
    rf = [line for line in lines if line.startswith("Receptive field: ")]
    assert len(rf) == 1 and "20x20" in rf[0], rf
    table = "\n".join(lines)
    for name, kind, shape, params in [("conv1", "Conv2d", "8x28x28", "80"), ("conv3", "Conv2d", "24x12x12", "3,480"),
                                      ("fc1", "Linear", "50", "6,450"), ("drop", "Dropout", "50", "0")]:
        assert re.search(rf"\b{name}\s+{kind}\s+{shape}\s+{params}\b", table), name
    assert sum(1 for line in lines if re.match(r"\s*\d+\s", line)) == 21  # one row per layer


def test_summary_by_path(capsys):
    assert main(["summary", str(SPECS / "sub8k-15ep" / "experiment10.yaml")]) == 0
    out = capsys.readouterr().out
    assert "Total params: 6,198" in out


def test_summary_of_a_missing_spec(capsys):
    assert main(["summary", "sub20k/iteration99"]) == 1
    err = capsys.readouterr().err
    assert "iteration99.yaml" in err and "file not found" in err


# --------------------------------------------------------------------------- schema

def test_schema_is_a_valid_json_schema(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"architecture", "recipe", "claims", "fidelity", "extends"} <= set(schema["properties"])


@pytest.mark.parametrize("path", SPEC_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in SPEC_FILES])
def test_schema_accepts_every_spec_file_as_written(schema, path):
    validator = jsonschema.Draft202012Validator(schema)
    data = yaml.safe_load(path.read_text())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


def _schema_errors(schema, data) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]


@pytest.mark.parametrize("edit", ["misspelt-key", "wrong-type", "misspelt-layer-argument", "layer-wrong-type",
                                  "unknown-layer", "unknown-optimizer", "top-level-typo"])
def test_schema_rejects_mistakes(schema, edit):
    data = yaml.safe_load((SPECS / "sub20k" / "iteration7.yaml").read_text())
    assert _schema_errors(schema, data) == []
    if edit == "misspelt-key":
        data["recipe"] = {"batch_sise": 512}
    elif edit == "wrong-type":
        data["recipe"] = {"epochs": "20"}
    elif edit == "misspelt-layer-argument":
        data["architecture"]["layers"][7] = {"conv": {"ot": 24, "name": "conv3"}}
    elif edit == "layer-wrong-type":
        data["architecture"]["layers"][7] = {"conv": {"out": "24", "name": "conv3"}}
    elif edit == "unknown-layer":
        data["architecture"]["layers"][2] = "swish"
    elif edit == "unknown-optimizer":
        data["recipe"] = {"optimizer": {"type": "SGDW", "lr": 0.1}}
    else:
        data["titel"] = "x"
    assert _schema_errors(schema, data), f"{edit} was accepted"


def test_schema_leaves_completeness_to_check(schema):
    """A child states only what changes: the schema accepts a partial optimizer without `type`."""
    data = {"extends": "iteration8", "recipe": {"optimizer": {"lr": 0.002}}}
    assert _schema_errors(schema, data) == []


# --------------------------------------------------------------------------- spec strings in the terminal

ESCAPES = '"tiny \\e[31mRED\\e[2J\\r\\u202e\\x08"'  # YAML escapes: ESC sequences, CR, RTL override, backspace


def _escape_folder(tmp_path: Path) -> Path:
    from _support import write_tiny_specs

    folder = write_tiny_specs(tmp_path / "specs" / "ti\x1b[2Jny", names=("ok",))  # the slug, in every spec id
    text = (folder / "ok.yaml").read_text()
    text = text.replace("title: tiny ok", f"title: {ESCAPES}")
    text += f"findings:\n  - {{id: f1, kind: ambiguity, summary: {ESCAPES}, where: test}}\n"
    (folder / "ok.yaml").write_text(text)
    (folder / "bad\x1b[31m.yaml").write_text(text.replace("epochs: 2", '"ep\\e[31m": 2'))
    return folder


def _printable(text: str) -> bool:
    return not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", text)


@pytest.mark.parametrize("command", [["summary", "{folder}/ok.yaml"], ["list", "--root", "{folder}"],
                                     ["check", "{folder}"]])
@pytest.mark.slow  # a subprocess per case
def test_spec_strings_reach_the_terminal_escaped(tmp_path, command):
    folder = _escape_folder(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "harness", *(a.format(folder=folder) for a in command)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    shown = proc.stdout + proc.stderr
    assert _printable(shown), repr(shown[:400])
    if command[0] != "check":
        assert "tiny \\x1b[31mRED\\x1b[2J\\r\\u202e\\x08" in shown  # the reader sees what the file holds
    if command[0] != "summary":
        assert "bad\\x1b[31m.yaml" in shown and "ep\\x1b[31m" in shown


@pytest.mark.slow  # a subprocess per case
def test_pytest_output_of_spec_strings_is_escaped(tmp_path):
    from _support import run_pytest

    folder = _escape_folder(tmp_path)
    result = run_pytest(f"--specs={folder.parent}", "-rA", str(ROOT / "tests" / "test_specs.py"))
    assert result.returncode == 1  # the bad spec fails its own test
    assert _printable(result.stdout + result.stderr), repr(result.stdout[-600:])
    assert "bad\\x1b[31m.yaml" in result.stdout
    assert re.search(r"^ti\\x1b\[2Jny/ok\s+parameters\s+90", result.stdout, re.M)  # the summary table's row, escaped


def test_a_spec_id_with_a_dot_is_an_id_not_a_path():
    from harness.specs import find_spec

    assert find_spec("sub25k-95pct/iteration3-lr0.001").id == "sub25k-95pct/iteration3-lr0.001"
    assert find_spec("specs/sub20k/final.yaml").id == "sub20k/final"
