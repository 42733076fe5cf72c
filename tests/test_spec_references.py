"""Specs name other specs only inside the spec root: `extends`, a comparison's `other` and a spec id."""

import pytest
from _support import write_tiny_specs

from harness.cli import main
from harness.specs import SpecError, find_spec, load_spec, related_problems

COMPARISON = """\
  - id: lesson
    kind: comparison
    other: {other}
    metric: {{kind: test_accuracy_final}}
    direction: higher
    statement: a lesson
    where: test
    expect: inconclusive
"""


def _with_comparison(folder, other):
    spec = folder / "alpha.yaml"
    spec.write_text(spec.read_text().replace("claims:\n", "claims:\n" + COMPARISON.format(other=other)))
    return spec


@pytest.mark.parametrize("other", ["../outside/victim", "/etc/passwd", "tiny/../../x", ".hidden"])
def test_an_other_outside_the_spec_root_is_refused_when_the_spec_loads(tmp_path, other):
    folder = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    with pytest.raises(SpecError, match="other"):
        load_spec(_with_comparison(folder, other))


@pytest.mark.parametrize("other, says", [("gamma", "no spec 'tiny/gamma'"), ("alpha", "compared with itself")])
def test_a_missing_or_self_referencing_other_is_a_fast_tier_problem(tmp_path, other, says):
    folder = write_tiny_specs(tmp_path / "specs" / "tiny", names=("alpha", "beta"))
    problems = related_problems(load_spec(_with_comparison(folder, other)))
    assert [(field, says in message) for _, field, message in problems] == [("other", True)]
    assert related_problems(load_spec(_with_comparison(write_tiny_specs(tmp_path / "s2" / "tiny", ("alpha", "beta")),
                                                       "beta"))) == []


def test_an_extends_through_a_symlink_out_of_the_root_is_refused(tmp_path):
    outside = write_tiny_specs(tmp_path / "elsewhere" / "victim")
    folder = write_tiny_specs(tmp_path / "specs" / "tiny")
    (folder / "link.yaml").symlink_to(outside / "alpha.yaml")
    (folder / "child.yaml").write_text("extends: link\ntitle: child\n")
    with pytest.raises(SpecError, match="outside"):
        load_spec(folder / "child.yaml")


@pytest.mark.parametrize("ref", ["../../etc/passwd", "/etc/passwd", "a/b/c"])
def test_a_spec_id_on_the_command_line_stays_in_the_root(ref, capsys):
    with pytest.raises(SpecError, match="spec id"):
        find_spec(ref)
    assert main(["summary", ref]) == 1
    assert "spec id" in capsys.readouterr().err


@pytest.mark.parametrize("slug", ["../escaped", "/tmp/abs", "a/b", ".hidden"])
def test_new_refuses_a_slug_that_is_not_one_folder_name(tmp_path, slug, capsys, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("# Model 1\nTotal params: 6,174\n")
    monkeypatch.setenv("AUDIT_SPECS", str(tmp_path / "specs"))
    assert main(["new", str(readme), "--slug", slug]) == 2
    assert "--slug" in capsys.readouterr().err
    assert not (tmp_path / "escaped").exists() and not any(tmp_path.glob("specs/**/*.yaml"))
