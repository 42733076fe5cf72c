"""Bad specs are rejected cleanly: property tests over malformed YAML and schema violations.

The property, for every generated file: `harness.specs.load_spec` either returns a LoadedSpec
(whose hashes and parameter count can be computed) or raises SpecError whose text names the
file; never any other exception, never a hang (hypothesis deadline 2 s, plus an alarm that
turns a real hang into a failure), and huge sizes are rejected without allocating them.

Examples are derandomized (the same on every run) and no example database is written.
"""

from __future__ import annotations

import copy
import re
import signal
import traceback
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.limits import MAX_ACTIVATION_BYTES, MAX_EPOCHS, MAX_FLOPS
from harness.model import MAX_PARAMETERS, activation_bytes_per_sample, flops_per_sample, plan
from harness.sharding import training_cost
from harness.specs import LoadedSpec, SpecError, load_spec

pytestmark = pytest.mark.slow  # the slow tier: pytest -m slow (.ci/run runs it)

# A valid spec touching most of the schema: 1,030 parameters (1,042 with conv biases).
BASE = {
    "title": "Fuzz base",
    "source": {"file": "README.md", "section": "Iteration 3"},
    "architecture": {
        "input": [1, 28, 28],
        "defaults": {"conv": {"bias": False}},
        "layers": [
            {"conv": {"out": 4, "kernel": 3, "padding": 1, "name": "conv1"}},
            "bn", "relu", {"maxpool": 2}, {"dropout2d": 0.05},
            {"conv": {"out": 8, "kernel": 3, "name": "conv2"}},
            "relu", {"adaptive_avgpool": 2}, "flatten",
            {"linear": {"out": 16, "name": "fc1"}}, {"dropout": 0.1}, {"linear": 10}, "log_softmax",
        ],
    },
    "recipe": {
        "epochs": 15,
        "batch_size": 128,
        "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0},
        "scheduler": {"type": "OneCycleLR", "max_lr": 0.05, "pct_start": 0.2},
        "loss": {"type": "nll"},
        "normalization": {"mean": 0.1307, "std": 0.3081},
        "augmentation": [
            {"center_crop_resize": {"crop": 22, "size": 28, "p": 0.1}},
            {"random_affine": {"degrees": 7, "translate": [0.1, 0.1], "scale": [0.9, 1.1]}},
        ],
    },
    "seeds": 2,
    "claims": [
        {"kind": "parameters", "value": 1030, "where": "parameter table", "expect": "reproduced"},
        {"kind": "test_accuracy_final", "value": 99.4, "where": "log, last epoch", "expect": "reproduced"},
        {"kind": "first_epoch_reaching", "threshold": 99, "value": 6, "where": "log", "expect": "reproduced"},
        {"kind": "qualitative", "statement": "it generalises", "where": "text", "expect": "unverifiable",
         "reason": "no figure"},
    ],
    "fidelity": {
        "architecture": {"level": "documented", "evidence": "model code"},
        "recipe.optimizer": {"level": "documented", "evidence": "training code"},
        "recipe.scheduler": {"level": "reconstructed", "assumption": "OneCycleLR", "why": "the LR curve"},
        "recipe.loss": {"level": "documented", "evidence": "training code"},
        "recipe.batch_size": {"level": "documented", "evidence": "training code"},
        "recipe.epochs": {"level": "documented", "evidence": "log"},
        "recipe.normalization": {"level": "unknown", "assumption": "the usual MNIST values"},
        "recipe.augmentation": {"level": "documented", "evidence": "training code"},
    },
    "findings": [
        {"id": "bias", "kind": "self_contradiction", "summary": "the table counts conv biases",
         "where": "table vs code", "overrides": {"architecture": {"defaults": {"conv": {"bias": True}}}},
         "parameters": 1042},
    ],
}

# A child of BASE (saved as parent.yaml) stating only what is never inherited.
CHILD = {"title": "Fuzz child", "extends": "parent", "source": {"section": "Iteration 4"},
         "claims": [{"kind": "parameters", "value": 1030, "where": "table", "expect": "reproduced"}]}

KEYS = ["type", "out", "kernel", "epochs", "lr", "name", "level", "kind", "value", "modify", "defaults", "extends",
        "layers", "claims", "fidelity", "recipe", "architecture", "conv", "bias", "scheduler", "band", "overrides",
        "Title", "Epochs", "LR", "SGD"]

# Integers as YAML text: YAML 1.1 forms (hex, octal, underscores, base 60) and sizes past every limit.
INT_TEXTS = ["0", "-0", "-1", "+12", "1000000000000", "-1000000000000", str(10**18), str(2**63), str(2**64 + 1),
             "1" + "0" * 400, "1" + "0" * 5000, "0x7fffffff", "0o777", "0b1010", "1_000_000", "190:20:30"]
FLOAT_TEXTS = [".inf", "-.inf", ".nan", "1.0e+400", "-1.0e+400", "1e3", "3.0", "0.0", "-0.0", "5e-324", "1.0e-400"]
TAGS = ["!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!!python/object/new:builtins.list [[1]]",
        "!!python/tuple [1, 2]", "!!binary aGk=", "!!set {a, b}", "!!omap [a: 1]", "!!pairs [a: 1]",
        "!!timestamp 2001-12-14", "!custom value",
        "!<tag:yaml.org,2002:str> 5", "!!str 5", "!!int '3'", "!!float '1'", "!!bool 'yes'", "!!null ''",
        "!!map {a: 1}", "!!seq [1]", "!local [1, 2]", "!!python/module:os"]

# Paths holding sizes and counts in BASE.
SIZE_PATHS = [
    ("architecture", "input", 0), ("architecture", "input", 1), ("architecture", "input", 2),
    ("architecture", "layers", 0, "conv", "out"), ("architecture", "layers", 0, "conv", "kernel"),
    ("architecture", "layers", 0, "conv", "padding"), ("architecture", "layers", 3, "maxpool"),
    ("architecture", "layers", 5, "conv", "out"), ("architecture", "layers", 7, "adaptive_avgpool"),
    ("architecture", "layers", 9, "linear", "out"), ("architecture", "layers", 11, "linear"),
    ("recipe", "epochs"), ("recipe", "batch_size"), ("recipe", "optimizer", "lr"), ("recipe", "scheduler", "max_lr"),
    ("recipe", "augmentation", 0, "center_crop_resize", "crop"), ("recipe", "augmentation", 0, "center_crop_resize", "size"),
    ("seeds",), ("claims", 0, "value"), ("claims", 1, "value"), ("claims", 2, "value"), ("findings", 0, "parameters"),
]

SPEC_NAME = "fuzzed-spec.yaml"

# No shrinking: a failing example is reported as generated (with the exception it raised), so a
# failing property costs a second, not minutes; one bug reported per test.
FUZZ = settings(max_examples=100, deadline=None, database=None, derandomize=True,  # no clock decides a test
                phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


# --------------------------------------------------------------------------- the property

class Hang(BaseException):
    """Raised by the alarm inside a load that runs far past the deadline (BaseException: nothing swallows it)."""


@contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise Hang(f"load_spec still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_load(path: Path, names: tuple[str, ...] = (), seconds: float = 300.0):
    """load_spec(path) returns a usable LoadedSpec or raises a SpecError naming the file; nothing else."""
    names = names or (path.name,)
    try:
        with time_limit(seconds):
            loaded = load_spec(path)
    except SpecError as exc:
        text = str(exc)
        assert exc.problems, "a SpecError without problems"
        first = text.splitlines()[0]
        assert any(re.match(rf"^.*{re.escape(n)}(:\d+)?: ", first) for n in names), \
            f"the error does not start with the file name {names}: {text[:300]!r}"
        return exc
    except Hang as exc:
        raise AssertionError(f"load_spec hung on {path.name}: {exc}") from None
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]  # where it was raised (no chained 1000-frame traceback)
        raise AssertionError(f"load_spec raised {type(exc).__name__} instead of SpecError: {exc!s:.300} "
                             f"(raised at {Path(frame.filename).name}:{frame.lineno} in {frame.name})") from None
    assert isinstance(loaded, LoadedSpec)
    assert re.fullmatch(r"[0-9a-f]{16}", loaded.spec_hash) and re.fullmatch(r"[0-9a-f]{16}", loaded.training_hash)
    planned = plan(loaded.spec.architecture)
    assert sum(p.parameters for p in planned) <= MAX_PARAMETERS
    # every bound holds for whatever loads, so building, training and `--shard` costing cannot blow up
    assert activation_bytes_per_sample(planned) <= MAX_ACTIVATION_BYTES and flops_per_sample(planned) <= MAX_FLOPS
    assert isinstance(training_cost(loaded), int) and loaded.spec.recipe.epochs <= MAX_EPOCHS
    return loaded


# --------------------------------------------------------------------------- building files

def dump(spec, raw: dict[str, str] | None = None) -> str:
    """YAML text of `spec`; string values equal to a key of `raw` are replaced by that raw YAML text."""
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=False, allow_unicode=False, width=10**6)
    for sentinel, replacement in (raw or {}).items():
        text = text.replace(sentinel, replacement)
    return text


def all_paths(node, prefix=()):
    out = []
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return out
    for key, value in items:
        out.append((*prefix, key))
        out.extend(all_paths(value, (*prefix, key)))
    return out


def get(node, path):
    for part in path:
        node = node[part]
    return node


def set_at(node, path, value):
    get(node, path[:-1])[path[-1]] = value


def typo(word: str, i: int, kind: int) -> str:
    if not word:
        return "x"
    i %= len(word)
    if kind == 0:
        return word[:i] + word[i + 1:] or "x"         # drop a letter
    if kind == 1:
        return word[:i] + word[i] * 2 + word[i + 1:]  # double a letter
    return word[:i] + word[i + 1:i + 2] + word[i:i + 1] + word[i + 2:]  # swap two


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A spec folder holding a valid parent.yaml (BASE)."""
    folder = tmp_path_factory.mktemp("fuzz") / "fuzzslug"
    folder.mkdir()
    (folder / "parent.yaml").write_text(dump(BASE), encoding="utf-8")
    return folder


def write_text(folder: Path, text: str, name: str = SPEC_NAME) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_base_specs_are_valid(workdir):
    loaded = check_load(write_text(workdir, dump(BASE)))
    assert isinstance(loaded, LoadedSpec)
    assert sum(p.parameters for p in plan(loaded.spec.architecture)) == 1030
    child = check_load(write_text(workdir, dump(CHILD), "child.yaml"))
    assert isinstance(child, LoadedSpec) and child.training_hash == loaded.training_hash


# --------------------------------------------------------------------------- strategies

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from([0, -1, 10**12, -(10**12), 2**63, float("inf"), float("-inf"), float("nan"), "", "20", "true",
                     "null", "~", "conv", "SGD", "relu", "documented"]),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=4),
    max_leaves=12,
)


def other_type(value):
    """Values of a type other than `value`'s."""
    return values.filter(lambda v: type(v) is not type(value))


# --------------------------------------------------------------------------- schema violations

@FUZZ
@given(data=st.data())
def test_random_mutations_of_a_valid_spec(workdir, data):
    """Delete keys, replace values by other types, insert unknown or misspelt keys, anywhere."""
    spec = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        paths = all_paths(spec)
        op = data.draw(st.sampled_from(["delete", "replace", "insert", "typo"]), label="op")
        if op == "insert":
            dicts = [()] + [p for p in paths if isinstance(get(spec, p), dict)]
            where = data.draw(st.sampled_from(dicts), label="in")
            key = data.draw(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=10)), label="key")
            get(spec, where)[key] = data.draw(values, label="value")
            continue
        path = data.draw(st.sampled_from(paths), label="path")
        if op == "delete":
            parent = get(spec, path[:-1])
            del parent[path[-1]]
        elif op == "replace":
            set_at(spec, path, data.draw(other_type(get(spec, path)), label="value"))
        else:
            parent = get(spec, path[:-1])
            if isinstance(parent, dict) and isinstance(path[-1], str):
                new = typo(path[-1], data.draw(st.integers(0, 20)), data.draw(st.integers(0, 2)))
                parent[new] = parent.pop(path[-1])
    check_load(write_text(workdir, dump(spec)))


@FUZZ
@given(data=st.data())
def test_extreme_numbers_at_size_fields(workdir, data):
    """Zero, negative, 10**12 and far larger integers, YAML 1.1 integer forms, inf and nan, at sizes and counts.

    Huge sizes are rejected from the shapes alone: loading allocates next to nothing."""
    raw = {}
    spec = copy.deepcopy(BASE)
    for i, path in enumerate(data.draw(st.lists(st.sampled_from(SIZE_PATHS), min_size=1, max_size=3, unique=True),
                                       label="fields")):
        text = data.draw(st.one_of(st.sampled_from(INT_TEXTS), st.sampled_from(FLOAT_TEXTS),
                                   st.integers().map(str)), label=f"value {i}")
        sentinel = f"__RAW{i}__"
        raw[sentinel] = text
        set_at(spec, path, sentinel)
    path = write_text(workdir, dump(spec, raw))
    tracemalloc.start()
    try:
        check_load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"loading allocated {peak / 2**20:.0f} MiB"


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_deeply_nested_values(workdir, data):
    """Past MAX_YAML_DEPTH the composer stops (the work is bounded by the depth, not by a clock); the time
    limit of check_load is only a hang guard."""
    spec = copy.deepcopy(BASE)
    path = data.draw(st.sampled_from(all_paths(spec)), label="path")
    depth = data.draw(st.one_of(st.integers(1, 60), st.integers(60, 600), st.just(1000)), label="depth")
    kind = data.draw(st.sampled_from(["list", "map", "mixed"]), label="kind")
    if kind == "list":
        nested = "[" * depth + "]" * depth
    elif kind == "map":
        nested = "{a: " * depth + "1" + "}" * depth
    else:
        nested = "[{a: " * depth + "1" + "}]" * depth
    set_at(spec, path, "__NESTED__")
    check_load(write_text(workdir, dump(spec, {"__NESTED__": nested})))


@FUZZ
@given(data=st.data())
def test_yaml_tags_anywhere(workdir, tmp_path_factory, data):
    """Python and custom tags are refused wherever they appear, and nothing they name is run."""
    marker = tmp_path_factory.getbasetemp() / "tag-was-executed"
    tags = TAGS + [f"!!python/object/apply:os.system ['touch {marker}']"]
    spec = copy.deepcopy(BASE)
    raw = {}
    for i, path in enumerate(data.draw(st.lists(st.sampled_from(all_paths(spec)), min_size=1, max_size=2,
                                                unique=True), label="paths")):
        try:
            set_at(spec, path, f"__TAG{i}__")
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
        raw[f"__TAG{i}__"] = data.draw(st.sampled_from(tags), label=f"tag {i}")
    check_load(write_text(workdir, dump(spec, raw)))
    assert not marker.exists(), "a YAML tag ran a command"


@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_anchors_and_aliases(workdir, data):
    """Anchors and aliases, including self-reference and exponential expansion, at random places."""
    spec = copy.deepcopy(BASE)
    path = data.draw(st.sampled_from(all_paths(spec)), label="path")
    form = data.draw(st.sampled_from(["plain", "self-list", "self-map", "laughs"]), label="form")
    if form == "plain":
        nested = "[&x [1, 2], *x, *x]"
    elif form == "self-list":
        nested = "&x [1, *x]"
    elif form == "self-map":
        nested = "&x {a: *x}"
    else:  # a small "billion laughs": up to 10**4 nodes when expanded (test_billion_laughs_* goes further)
        width = data.draw(st.integers(2, 10), label="width")
        depth = data.draw(st.integers(2, 4), label="depth")
        levels = [f"&l0 [{', '.join(['lol'] * width)}]"]
        levels += [f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
        nested = "[" + ", ".join(levels) + "]"
    set_at(spec, path, "__ALIAS__")
    check_load(write_text(workdir, dump(spec, {"__ALIAS__": nested})))


# --------------------------------------------------------------------------- malformed text and bytes

SYNTAX = ":-[]{}&*!|>'\"#%@`,?\n\t \\"


@FUZZ
@given(data=st.data())
def test_malformed_yaml_text(workdir, data):
    """Valid text cut, spliced with YAML syntax, re-indented, or lines duplicated."""
    text = dump(BASE)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        op = data.draw(st.sampled_from(["truncate", "insert", "delete", "indent", "duplicate"]), label="op")
        at = data.draw(st.integers(0, max(len(text) - 1, 0)), label="at")
        lines = text.splitlines(keepends=True)
        if op == "truncate":
            text = text[:at]
        elif op == "insert":
            text = text[:at] + data.draw(st.text(alphabet=st.sampled_from(SYNTAX + "az09"), min_size=1, max_size=6)
                                         | st.text(min_size=1, max_size=4), label="chars") + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 40)):]
        elif lines:
            i = at % len(lines)
            if op == "indent":
                lines[i] = " " * data.draw(st.integers(1, 5)) + lines[i]
            else:
                lines.insert(i, lines[i])
            text = "".join(lines)
    check_load(write_text(workdir, text))


BAD_BYTES = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80", b"\xf4\x90\x80\x80", b"\x00", b"\x07",
             b"\x1b[31m", b"\x7f", b"\xef\xbb\xbf", b"\xc2\x85", b"\xe2\x80\xa8"]


def spliced(at: int, bad: bytes) -> bytes:
    """The valid spec's UTF-8 with `bad` bytes inserted at `at`."""
    raw = dump(BASE).encode()
    at %= len(raw)
    return raw[:at] + bad + raw[at:]


@FUZZ
@given(blob=st.one_of(st.binary(max_size=200),
                      st.builds(spliced, st.integers(0, 5000), st.sampled_from(BAD_BYTES))))
def test_random_bytes_and_invalid_utf8(workdir, blob):
    path = workdir / SPEC_NAME
    path.write_bytes(blob)
    check_load(path)


# --------------------------------------------------------------------------- extends

@FUZZ
@given(target=st.one_of(
    st.text(max_size=30),
    st.sampled_from(["parent", "missing", "fuzzed-spec", "../fuzzslug/parent", "fuzzslug/parent", "/parent", ".",
                     "..", "/", "parent/", "parent.yaml", "a" * 300, "a/" * 200, "par\x00ent", "~/x", "$HOME/x", "*"]),
    st.integers(), st.floats(), st.booleans(), st.lists(st.text(max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
))
def test_extends_any_value(workdir, target):
    child = dict(CHILD, extends=target)
    check_load(write_text(workdir, dump(child)))


@settings(FUZZ, max_examples=60)
@given(n=st.integers(1, 6), start=st.integers(0, 5), data=st.data())
def test_extends_cycles(workdir, n, start, data):
    folder = workdir / f"cycle{n}"
    folder.mkdir(exist_ok=True)
    names = [f"link{i}" for i in range(n)]
    for i, name in enumerate(names):
        spec = dict(CHILD, title=f"link {i}", extends=names[(i + 1) % n])
        if data.draw(st.booleans(), label=f"full {i}"):
            spec = {**copy.deepcopy(BASE), **spec}
        write_text(folder, dump(spec), f"{name}.yaml")
    exc = check_load(folder / f"{names[start % n]}.yaml", names=tuple(f"{name}.yaml" for name in names))
    assert isinstance(exc, SpecError) and "cycle" in str(exc)


# --------------------------------------------------------------------------- the cases the properties found

REGRESSIONS = {
    # control characters are not allowed in YAML: the reader's error must become a SpecError
    "nul-byte": dump(BASE).replace("Fuzz base", "Fuzz\x00base"),
    "bell-character": dump(BASE).replace("Fuzz base", "Fuzz\x07base"),
    # PyYAML refuses to convert integers over 4,300 digits (ValueError)
    "5000-digit-integer": dump(BASE).replace("epochs: 15", "epochs: 1" + "0" * 5000),
    # a self-referencing alias
    "recursive-alias": dump(BASE).replace("title: Fuzz base", "title: &t [1, *t]"),
    # extends through a path the OS refuses
    "extends-with-nul": dump(dict(CHILD, extends="par\x00ent")),
    "extends-300-chars": dump(dict(CHILD, extends="a" * 300)),
    # an unknown key starting with a capital letter is mistaken for a pydantic union tag
    "capitalised-unknown-key": "Title: x\n" + dump(BASE),
    # the scalar shorthand of a layer skips the constraints of the argument it sets
    "linear-shorthand-0": dump(BASE).replace("  - linear: 10\n", "  - linear: 0\n"),
    "linear-shorthand-10**12": dump(BASE).replace("  - linear: 10\n", "  - linear: 1000000000000\n"),
    "dropout-shorthand-1.5": dump(BASE).replace("  - dropout: 0.1\n", "  - dropout: 1.5\n"),
    # an input of 10**400 pixels: adaptive_avgpool's receptive field divides it as a float
    "huge-input-adaptive-pool": dump(BASE).replace("  input:\n  - 1\n  - 28\n  - 28\n",
                                                   "  input: [1, 1" + "0" * 400 + ", 1" + "0" * 400 + "]\n"),
}


@pytest.mark.parametrize("name", list(REGRESSIONS))
def test_found_cases_are_rejected_cleanly(workdir, name):
    text = REGRESSIONS[name]
    assert text != dump(BASE) and text != dump(CHILD)
    check_load(write_text(workdir, text, f"{name}.yaml"))


@pytest.mark.parametrize("depth", [4, 9])
def test_billion_laughs_is_rejected_quickly(workdir, depth):
    """Ten lines of aliases expanding to 10**depth nodes: refused at the first alias, before any expansion (the
    message names aliases; check_load's time limit is only a hang guard)."""
    lines = ["lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, depth)]
    path = write_text(workdir, dump(BASE) + "\n".join(lines) + "\n", f"laughs{depth}.yaml")
    exc = check_load(path)
    assert isinstance(exc, SpecError) and path.name in str(exc) and "aliases" in str(exc)
