"""The house stays standing: the harness's modules import one way, down a declared order, with no cycle.

Read with `ast` (nothing imported), every `import` counts, those inside functions too: a lazy import that
goes up the order is a cycle waiting to happen. A new module gets a place in LAYERS (this test says so).
"""

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parent.parent / "harness"

# lowest first; a module may import its own layer and those before it
LAYERS = [
    ("base", ["limits", "terminal", "verdict", "markup", "paths", "mnist_files", "option_types", "results", "stats",
              "gitinfo", "environment", "stacked"]),
    ("kinds", ["layers", "claims", "schema"]),
    ("model", ["model", "augment", "recipe", "sharding"]),
    ("spec", ["specs"]),
    ("train", ["cache", "download", "data", "engine", "runner"]),
    ("judge", ["verdicts", "records", "expectations", "audit"]),
    ("plugin", ["pytest_options", "xdist_support"]),
    ("report parts", ["report_format", "report_verdicts"]),
    ("report", ["report", "report_plots", "report_html", "report_diff"]),
    ("cost and writing", ["plan", "report_write", "verify"]),
    ("commands", ["cli", "cli_run", "cli_plan", "__main__", "draft"]),
]
RANK = {module: rank for rank, (_, modules) in enumerate(LAYERS) for module in modules}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(HARNESS.rglob("*.py")):
        parts = path.relative_to(HARNESS).with_suffix("").parts
        found[".".join(p for p in parts if p != "__init__")] = path
    return found


def _imports(path: Path, known: set[str]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "harness":
            submodules = [f"{node.module}.{a.name}" for a in node.names]  # `from harness.draft import readme`
            names = [n for n in submodules if n.removeprefix("harness.") in known] or [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "harness"]
        for name in names:
            short = name.removeprefix("harness").lstrip(".")
            if short in known:
                out.add(short)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(p, known) - {m} for m, p in modules.items() if m}


def _layer_of(module: str) -> int | None:
    return RANK.get(module.split(".")[0])


def test_every_module_has_a_place_in_the_order():
    assert [m for m in _graph() if _layer_of(m) is None] == []


def test_no_import_goes_up_the_order():
    up = sorted(f"{m} ({LAYERS[_layer_of(m)][0]}) imports {d} ({LAYERS[_layer_of(d)][0]})"
                for m, deps in _graph().items() for d in deps
                if _layer_of(m) is not None and _layer_of(d) is not None and _layer_of(d) > _layer_of(m))
    assert up == []


def test_no_import_cycle():
    graph, index, low, stack, on_stack, cycles = _graph(), {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_checker_sees_a_planted_cycle_and_an_upward_import(tmp_path, monkeypatch):
    (tmp_path / "limits.py").write_text("from harness.cli import main\n")
    (tmp_path / "cli.py").write_text("import harness.limits\n")
    monkeypatch.setattr(__import__(__name__), "HARNESS", tmp_path)
    graph = _graph()
    assert graph == {"limits": {"cli"}, "cli": {"limits"}}
    assert _layer_of("cli") > _layer_of("limits")
