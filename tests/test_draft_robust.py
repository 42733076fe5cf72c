"""`python -m harness new` never crashes on a README of the genre, counts what it wrote, and says how
to fix a draft `check` would reject.

The READMEs are generated here (hypothesis) from the pieces such READMEs are made of: model
headings, parameter counts written several ways (13.7K, 1.2M, 12k, ~6,000), torchsummary tables
with and without a Flatten row, training logs, missing sections, empty files and odd unicode.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.draft import draft, write
from harness.draft.build import DraftError
from harness.draft.figures import scaled
from harness.draft.repair import closed, suggestion
from harness.specs import load_all

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

HEAD = """\
----------------------------------------------------------------
        Layer (type)               Output Shape         Param #
================================================================
"""


def _row(kind: str, n: int, shape: list[int], params: int) -> str:
    return f"{kind + '-' + str(n):>20}{str([-1, *shape]):>25}{params:>15,}\n"


def summary(rows: list[tuple[str, list[int], int]], total: int | None = None) -> str:
    body = "".join(_row(k, i + 1, s, p) for i, (k, s, p) in enumerate(rows))
    total = sum(p for _, _, p in rows) if total is None else total
    return f"```\n{HEAD}{body}================================================================\n" \
           f"Total params: {total:,}\n```\n"


# A model that ends in a 10-channel 1x1 map (forward does `x.view(-1, 10)`): no Flatten row.
NO_FLATTEN = [("Conv2d", [8, 26, 26], 72), ("BatchNorm2d", [8, 26, 26], 16), ("Conv2d", [10, 24, 24], 720),
              ("MaxPool2d", [10, 12, 12], 0), ("Conv2d", [10, 1, 1], 14_400)]
NO_FLATTEN_TOTAL = 72 + 16 + 720 + 14_400
# The same ending in a 16-channel map: a flatten alone does not give 10 class scores.
SIXTEEN = NO_FLATTEN[:-1] + [("Conv2d", [16, 1, 1], 23_040)]


def _readme(tmp_path: Path, text: str, name: str = "readme.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_table_without_flatten_gets_one_labelled_reconstructed(tmp_path, capsys):
    path = _readme(tmp_path, f"# Nets\n\n## Model 1\nParameters: {NO_FLATTEN_TOTAL:,}. Best test accuracy: 99.1%\n\n"
                             f"{summary(NO_FLATTEN)}")
    assert main(["new", str(path), "--slug", "n", "--out", str(tmp_path / "n")]) == 0
    out = capsys.readouterr().out
    assert "1 specs, 2 claims written" in out
    assert "flatten" in out
    spec = yaml.safe_load((tmp_path / "n" / "model1.yaml").read_text())
    fid = spec["fidelity"]["architecture"]
    assert fid["level"] == "reconstructed" and "flatten" in fid["why"]
    (loaded,), errors = load_all(tmp_path / "n")
    assert not errors
    assert loaded.spec.architecture.layer_list()[-1].kind == "flatten"
    params = [c for c in spec["claims"] if c["kind"] == "parameters"]
    assert params == [{**params[0], "value": NO_FLATTEN_TOTAL, "expect": "reproduced"}]


def test_a_draft_check_rejects_is_counted_and_comes_with_its_fix(tmp_path, capsys):
    total = sum(p for _, _, p in SIXTEEN)
    path = _readme(tmp_path, f"# Nets\n\n## Model 1\nParameters: {total:,}. Best test accuracy: 99.1%\n\n"
                             f"{summary(SIXTEEN)}\n## Model 2\nParameters: {total:,}. Best test accuracy: 99.2%\n")
    assert main(["new", str(path), "--slug", "s", "--out", str(tmp_path / "s")]) == 1
    out, err = capsys.readouterr()
    assert "2 specs, 4 claims written (2 rejected by check, fixes above)" in out
    assert "16x1x1" in err and "fix: make the last layer give 10 class scores: add `flatten`" in err
    assert "its layer list is rejected" in out


def test_closed_adds_flatten_only_when_that_alone_fixes_the_plan():
    ends_in_map = [{"conv": {"out": 10, "kernel": 28}}]
    assert closed(ends_in_map) == ([*ends_in_map, "flatten"], closed(ends_in_map)[1])
    assert "10x1x1" in closed(ends_in_map)[1]
    assert closed([*ends_in_map, "log_softmax"])[0] == [*ends_in_map, "flatten", "log_softmax"]
    assert closed([{"conv": {"out": 16, "kernel": 28}}])[1] is None      # 16 values: flatten alone is not enough
    assert closed(["flatten", {"linear": 10}])[1] is None                # already fine
    assert "channels" in suggestion("conv expects 3 in_channels")


@pytest.mark.parametrize("text, value, band", [
    ("13.7K", 13_700, [13_650, 13_799]), ("1.2M", 1_200_000, [1_150_000, 1_299_999]),
    ("12k", 12_000, [11_500, 12_999]), ("7.43k", 7_430, [7_425, 7_439]),
])
def test_counts_written_with_k_or_m_are_the_band_they_round_or_truncate_from(text, value, band):
    assert scaled(text) == (value, band)


def test_k_and_m_counts_become_band_claims(tmp_path):
    path = _readme(tmp_path, "# Nets\n\n## Model 1\nA 13.7K parameter model. Best test accuracy: 99.1%\n\n"
                             "## Model 2\nParams: 1.2M, final test accuracy 98.2%\n")
    d = draft(path)
    bands = [c["band"] for s in d.specs.values() for c in s.get("claims", []) if c["kind"] == "parameters"]
    assert bands == [[13_650, 13_799], [1_150_000, 1_299_999]]


def test_an_empty_readme_and_one_without_sections_are_refused_with_a_message(tmp_path, capsys):
    for i, text in enumerate(["", "\n\n", "\ufeff# \u202e\n", "no headings at all, 12 parameters"]):
        path = _readme(tmp_path, text, f"r{i}.md")
        assert main(["new", str(path), "--slug", "e", "--out", str(tmp_path / f"e{i}")]) == 1
        assert "nothing to draft" in capsys.readouterr().err


def test_a_readme_without_headings_is_one_model(tmp_path):
    path = _readme(tmp_path, "Some words.\n\nTotal params: 7,820 and best test accuracy 99.41%.\n")
    d = draft(path)
    assert list(d.specs) == ["_base", "final"]


# --------------------------------------------------------------------------- fuzzing

_words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_count = st.one_of(st.integers(0, 3_000_000).map(lambda n: f"{n:,}"), st.integers(0, 3_000_000).map(str),
                   st.builds(lambda a, b, u: f"{a}.{b}{u}", st.integers(0, 999), st.integers(0, 99),
                             st.sampled_from(["K", "k", "M", "m", " K"])),
                   st.sampled_from(["~593,200", "≈ 6,000", "12k", "1.2M", "13.7K", "0", ""]))
_pct = st.one_of(st.floats(0, 100, allow_nan=False).map(lambda x: f"{x:.2f}%"),
                 st.sampled_from(["99.4%", "100%", "99.40 %", "> 99.4%", "99.3+", "98-99%", "%", "101%"]))
_kind = st.sampled_from(["Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU", "Dropout", "Linear", "Flatten",
                         "AdaptiveAvgPool2d", "GELU", "LogSoftmax", "AvgPool2d"])
_shape = st.lists(st.integers(1, 64), min_size=1, max_size=3)
_table = st.one_of(
    st.just(summary(NO_FLATTEN)), st.just(summary(SIXTEEN)), st.just(summary(NO_FLATTEN, total=0)),
    st.lists(st.tuples(_kind, _shape, st.integers(0, 200_000)), min_size=1, max_size=12).map(summary),
    st.integers(1, 300).map(lambda n: summary([("Conv2d", [10, 26, 26], 100)] + [("ReLU", [10, 26, 26], 0)] * n)),
)
_line = st.one_of(
    _words,
    st.builds(lambda c: f"Parameters: {c}", _count), st.builds(lambda c: f"{c} parameters", _count),
    st.builds(lambda c: f"Total params: {c}", _count), st.builds(lambda c: f"under {c} parameters", _count),
    st.builds(lambda p: f"Best test accuracy: {p}", _pct), st.builds(lambda p: f"Final train accuracy {p}", _pct),
    st.builds(lambda p: f"Target: {p} in the last 3 epochs, under 15 epochs", _pct),
    st.builds(lambda e, p: f"Test set: Average loss: 0.01, Accuracy: 9900/10000 ({p})\nEpoch {e}",
              st.integers(0, 40), _pct),
    st.builds(lambda e, a, b: f"| {e} | {a} | {b} |", st.integers(0, 30), _pct, _pct),
    st.just("| Iteration | Parameters | Test Accuracy |\n|---|---|---|"),
    st.builds(lambda n, w: f"## {w} {n}", st.integers(0, 20), st.sampled_from(["Model", "Iteration", "Code",
                                                                               "Step", "Final", "Session"])),
    st.builds(lambda w: f"# {w}", _words),
    st.just("Optimizer: SGD (lr=0.05, momentum=0.9), OneCycleLR, batch size 64, 15 epochs"),
    st.just("```python\nclass Net(nn.Module):\n    def __init__(self):\n        self.c = nn.Conv2d(1, 10, 28)\n"
            "    def forward(self, x):\n        return F.log_softmax(self.c(x).view(-1, 10))\n```"),
    st.just("```\nunclosed fence"),
    _table,
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, max_size=30))
def test_fuzz_draft_never_crashes(tmp_path, lines):
    path = _readme(tmp_path, "\n".join(lines) + "\n")
    try:
        d = draft(path)
    except DraftError:
        event("refused: nothing to draft")
        return
    event(f"drafted {'3 or more' if len(d.specs) > 3 else len(d.specs) - 1} specs")   # --hypothesis-show-statistics
    for name, spec in d.specs.items():
        yaml.safe_load(yaml.safe_dump(spec))       # every spec is plain data
        if not name.startswith("_"):
            assert spec["claims"], name


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, min_size=1, max_size=20))
def test_fuzz_the_command_reports_what_it_wrote(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("fuzz")
    path = _readme(folder, "\n".join(lines) + "\n")
    try:
        written = write(path, "f", folder / "out")
    except DraftError:
        return
    drafted = [k for k in written.draft.specs if not k.startswith("_")]
    assert sorted(p.stem for p in written.files if not p.name.startswith("_")) == sorted(drafted)


def test_a_huge_table_is_read_without_trouble(tmp_path):
    rows = [("Conv2d", [4, 26, 26], 40)] + [("BatchNorm2d", [4, 26, 26], 8)] * 2000
    path = _readme(tmp_path, f"# Nets\n\n## Model 1\nParameters: 16,040\n\n{summary(rows)}")
    d = draft(path)   # 2,000 rows: more layers than the harness builds; the draft says so, it does not crash
    assert any("rejected" in line or "more than" in line for line in d.decisions)
