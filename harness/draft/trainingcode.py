"""The recipe a training script or notebook actually runs, read with `ast` (never executed).

Beyond what `recipe.from_code` reads from any code (optimizer and scheduler constructors, loss,
`Normalize`, `RandomRotation`), a whole program shows:
- names bound once to a literal (`EPOCHS = 15`, `dropout_value = 0.1`) used as arguments;
- the epoch count of `for epoch in range(EPOCHS)` / `range(1, EPOCHS + 1)`;
- the batch size of `DataLoader(..., **dataloader_args)` with `dataloader_args = dict(batch_size=128, ...)`
  (of `dict(...) if cuda else dict(...)`, the GPU branch: the logs in these notebooks come from GPUs);
- whether a scheduler it creates is ever stepped (`scheduler.step()`; a commented-out call is no call);
- the train and test transforms (`Compose` bound to names with `train`/`test` in them), including the
  ones the schema cannot express (ColorJitter, RandomResizedCrop, a test normalisation of its own);
- which data the "test" loader reads: MNIST's test set (`train=False`), its training set
  (`train=True`) or a `random_split` of it.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field

from harness.draft import recipe
from harness.draft.modelcode import _dotted

UNEXPRESSIBLE = ("ColorJitter", "RandomResizedCrop", "RandomPerspective", "RandomErasing", "RandomHorizontalFlip",
                 "GaussianBlur", "RandomCrop", "ElasticTransform")


@dataclass
class Split:
    """What the code evaluates on as its "test" data."""

    kind: str                   # "test_set", "train_set", "random_split"
    line: int
    detail: str

    @property
    def is_mnist_test(self) -> bool:
        return self.kind == "test_set"


@dataclass
class TrainingCode:
    facts: list[recipe.Fact] = field(default_factory=list)     # how="code"; line is the file's line
    scheduler_line: int | None = None
    scheduler_stepped: bool | None = None                      # None: no scheduler created
    split: Split | None = None
    unexpressible: list[tuple[str, int]] = field(default_factory=list)     # (transform, line)
    test_normalization: tuple[dict, int] | None = None         # when it differs from the train one
    instantiated: set[str] = field(default_factory=set)        # names called: Net, Model3, ...
    notes: list[str] = field(default_factory=list)


def constants(tree: ast.AST) -> dict[str, object]:
    """Names bound exactly once, to a literal, anywhere in the program."""
    seen: dict[str, list] = {}
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For)) else []
        for t in targets:
            for name in ast.walk(t):
                if isinstance(name, ast.Name):
                    value = node.value if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                        and node.targets[0] is t else None
                    seen.setdefault(name.id, []).append(_literal(value) if value is not None else _NOT)
    return {k: v[0] for k, v in seen.items() if len(v) == 1 and v[0] is not _NOT}


class _Substitute(ast.NodeTransformer):
    def __init__(self, values: dict):
        self.values = values

    def visit_Name(self, node: ast.Name):
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            return ast.copy_location(ast.Constant(self.values[node.id]), node)
        return node


def substituted(tree: ast.AST) -> ast.AST:
    """The tree with every name bound once to a literal replaced by that literal (`dropout_value` -> 0.1)."""
    return _Substitute(constants(tree)).visit(copy.deepcopy(tree))


def read(code: str) -> TrainingCode:
    out = TrainingCode()
    try:
        tree = substituted(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return out
    out.facts = recipe.from_code("", 1, tree=tree)
    bindings = _bindings(tree)
    schedulers: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = _dotted(node.func)
            last = func.split(".")[-1]
            if isinstance(node.func, ast.Name):
                out.instantiated.add(node.func.id)
            if last.lower() in recipe.SCHEDULERS:
                out.scheduler_line = out.scheduler_line or node.lineno
            if last == "step" and isinstance(node.func, ast.Attribute):
                schedulers.add(_dotted(node.func.value))
            if last == "DataLoader":
                size = _loader_batch_size(node, bindings)
                if size is not None:
                    out.facts.append(recipe.Fact("recipe.batch_size", size[0], node.lineno, "code"))
                    if size[1]:
                        out.notes.append(size[1])
            if last == "RandomAffine":
                affine = _affine(node)
                if affine is not None:
                    out.facts.append(recipe.Fact("recipe.augmentation.random_affine", affine, node.lineno, "code"))
        if isinstance(node, ast.For) and isinstance(node.iter, ast.Call) and _dotted(node.iter.func) == "range" \
                and "epoch" in ast.unparse(node.target).lower():
            epochs = _range_length(node.iter)
            if epochs:
                out.facts.append(recipe.Fact("recipe.epochs", epochs, node.lineno, "code"))
    if out.scheduler_line is not None:
        names = {n for n, v in bindings.items() if isinstance(v, ast.Call)
                 and _dotted(v.func).split(".")[-1].lower() in recipe.SCHEDULERS}
        out.scheduler_stepped = bool(names & schedulers) or any("sched" in s.lower() for s in schedulers)
    _transforms(tree, bindings, out)
    out.split = _split(tree, bindings)
    return out


# --------------------------------------------------------------------------- pieces

_NOT = object()


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return _NOT


def _bindings(tree: ast.AST) -> dict[str, ast.AST]:
    """name -> the last expression bound to it (tuples unpacked element by element)."""
    out: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = node.value
                elif isinstance(t, (ast.Tuple, ast.List)):
                    for i, elt in enumerate(t.elts):
                        if isinstance(elt, ast.Name):
                            out[elt.id] = ast.Subscript(node.value, ast.Constant(i), ast.Load())
    return out


def _loader_batch_size(call: ast.Call, bindings) -> tuple[int, str | None] | None:
    for kw in call.keywords:
        if kw.arg == "batch_size":
            value = _literal(kw.value)
            return (value, None) if isinstance(value, int) else None
        if kw.arg is None and isinstance(kw.value, ast.Name):   # **dataloader_args
            bound = bindings.get(kw.value.id)
            note = None
            if isinstance(bound, ast.IfExp):
                other = _dict_batch(bound.orelse)
                bound = bound.body
                if other is not None:
                    note = (f"the code's loaders use batch size {_dict_batch(bound)} on a GPU and {other} "
                            "without one; the logs come from a GPU run")
            size = _dict_batch(bound)
            if isinstance(size, int):
                return size, note
    return None


def _dict_batch(node):
    if isinstance(node, ast.Call) and _dotted(node.func) == "dict":
        for kw in node.keywords:
            if kw.arg == "batch_size":
                value = _literal(kw.value)
                return value if isinstance(value, int) else None
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values):
            if isinstance(k, ast.Constant) and k.value == "batch_size":
                value = _literal(v)
                return value if isinstance(value, int) else None
    return None


def _range_length(call: ast.Call) -> int | None:
    args = [_literal(a) for a in call.args]
    if any(not isinstance(a, int) for a in args) or not args:
        return None
    start, stop = (0, args[0]) if len(args) == 1 else (args[0], args[1])
    step = args[2] if len(args) > 2 else 1
    n = len(range(start, stop, step)) if step else 0
    return n if n > 0 else None


def _affine(call: ast.Call) -> dict | None:
    names = ["degrees", "translate", "scale"]
    args = {n: _literal(a) for n, a in zip(names, call.args)}
    args.update({k.arg: _literal(k.value) for k in call.keywords if k.arg in names})
    if any(v is _NOT for v in args.values()):
        return None
    out = {}
    degrees = args.get("degrees", 0)
    if isinstance(degrees, (tuple, list)):
        out["degrees"] = [float(d) for d in degrees]
    elif isinstance(degrees, (int, float)):
        out["degrees"] = float(degrees)
    for key in ("translate", "scale"):
        if isinstance(args.get(key), (tuple, list)):
            out[key] = [float(v) for v in args[key]]
    return out


def _compose_calls(node) -> list[ast.Call]:
    """The transform calls of a `Compose([...])` (or of a function returning one)."""
    if isinstance(node, ast.Call) and _dotted(node.func).endswith("Compose") and node.args \
            and isinstance(node.args[0], (ast.List, ast.Tuple)):
        return [e for e in node.args[0].elts if isinstance(e, ast.Call)]
    return []


def _transforms(tree, bindings, out: TrainingCode) -> None:
    composes: dict[str, list[ast.Call]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            calls = _compose_calls(node.value)
            if calls:
                composes[node.targets[0].id] = calls
        if isinstance(node, ast.FunctionDef):  # def train_transforms(): return transforms.Compose([...])
            for stmt in node.body:
                if isinstance(stmt, ast.Return) and _compose_calls(stmt.value):
                    composes[node.name] = _compose_calls(stmt.value)
    train = [v for k, v in composes.items() if "train" in k.lower()] or list(composes.values())[:1]
    test = [v for k, v in composes.items() if "test" in k.lower() or "val" in k.lower()]
    if train:
        for call in train[0]:
            name = _dotted(call.func).split(".")[-1]
            if name in UNEXPRESSIBLE:
                out.unexpressible.append((f"{name}({', '.join(ast.unparse(a) for a in call.args)[:60]})",
                                          call.lineno))
    if train and test:
        norm = {}
        for which, calls in (("train", train[0]), ("test", test[0])):
            for call in calls:
                if _dotted(call.func).endswith("Normalize") and len(call.args) == 2:
                    norm[which] = ({"mean": _first(_literal(call.args[0])), "std": _first(_literal(call.args[1]))},
                                   call.lineno)
        if "test" in norm and norm.get("train", (None,))[0] != norm["test"][0]:
            out.test_normalization = norm["test"]


def _first(v):
    return v[0] if isinstance(v, (tuple, list)) and len(v) == 1 else v


def _split(tree, bindings) -> Split | None:
    """Which data the loader named like `test` reads."""
    for name, value in bindings.items():
        if "test" not in name.lower() or not isinstance(value, ast.Call) or \
                not _dotted(value.func).endswith("DataLoader") or not value.args:
            continue
        return _dataset(value.args[0], bindings, set())
    return None


def _dataset(node, bindings, seen: set) -> Split | None:
    if isinstance(node, ast.Name) and node.id in bindings and node.id not in seen:
        return _dataset(bindings[node.id], bindings, seen | {node.id})
    if isinstance(node, ast.Subscript):
        inner = node.value
        if isinstance(inner, ast.Name) and inner.id in bindings:
            inner = bindings[inner.id]
        if isinstance(inner, ast.Call) and _dotted(inner.func).endswith("random_split"):
            lengths = ast.unparse(inner.args[1]) if len(inner.args) > 1 else "?"
            base = _dataset(inner.args[0], bindings, seen) if inner.args else None
            of = "MNIST's training set" if base is None or base.kind == "train_set" else "MNIST's test set"
            return Split("random_split", inner.lineno, f"a random_split {lengths[:40]} of {of}")
        return _dataset(inner, bindings, seen)
    if isinstance(node, ast.Call) and _dotted(node.func).endswith("MNIST"):
        train = next((_literal(k.value) for k in node.keywords if k.arg == "train"),
                     _literal(node.args[1]) if len(node.args) > 1 else True)
        if train is True:
            return Split("train_set", node.lineno, "MNIST's training set (train=True)")
        if train is False:
            return Split("test_set", node.lineno, "MNIST's test set (train=False)")
    return None
