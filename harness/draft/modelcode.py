"""PyTorch model code back into a layer list, read with `ast` and never executed or imported.

A class whose base names `Module` is read: `self.x = nn.Conv2d(...)` (or an `nn.Sequential` of
such calls) in `__init__`, then the order `forward` applies them in (nested calls such as
`F.relu(self.bn1(self.conv1(x)))` run innermost first; `F.relu`, `F.max_pool2d`, `F.dropout`,
`F.avg_pool2d(x, x.size()[2:])`, `x.view(...)`, `torch.flatten`, `F.log_softmax` are understood).
Without a readable `forward` the modules are taken in the order `__init__` defines them.
Arguments must be literals; anything else leaves the class undrafted, with the reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass
class ModelCode:
    name: str
    line: int                     # line of the class statement within its code
    layers: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _Unreadable(Exception):
    pass


def models_in(code: str, tree: ast.AST | None = None) -> list[ModelCode]:
    """The nn.Module classes of `code` (or of `tree`, when the caller has parsed it: e.g. with names bound
    once to a literal already substituted, see trainingcode.substituted)."""
    if tree is None:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError):
            return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(_dotted(b).endswith("Module") for b in node.bases):
            model = ModelCode(node.name, node.lineno)
            try:
                model.layers = _read_class(node)
            except _Unreadable as exc:
                model.problems.append(str(exc))
            out.append(model)
    return out


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        raise _Unreadable(f"line {getattr(node, 'lineno', '?')}: argument {ast.unparse(node)[:40]!r} "
                          "is not a literal") from None


def _args(call: ast.Call, names: list[str]) -> dict:
    out = {}
    for name, arg in zip(names, call.args):
        out[name] = _literal(arg)
    for kw in call.keywords:
        if kw.arg:
            out[kw.arg] = _literal(kw.value)
    return out


def _single(v):
    if isinstance(v, (tuple, list)):
        if len(set(v)) == 1:
            return v[0]
        return list(v)
    return v


def _module(call: ast.Call) -> list:
    """One nn.* constructor call -> layer entries."""
    kind = _dotted(call.func).split(".")[-1]
    if kind == "Sequential":
        layers = []
        for arg in call.args:
            if not isinstance(arg, ast.Call):
                raise _Unreadable(f"line {arg.lineno}: {ast.unparse(arg)[:40]!r} in nn.Sequential is not a module call")
            layers.extend(_module(arg))
        return layers
    if kind == "Conv2d":
        a = _args(call, ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"])
        conv = {"out": a["out_channels"], "kernel": _single(a["kernel_size"])}
        for src, dst, default in (("stride", "stride", 1), ("padding", "padding", 0), ("dilation", "dilation", 1),
                                  ("groups", "groups", 1), ("bias", "bias", True)):
            if src in a and _single(a[src]) != default:
                conv[dst] = _single(a[src])
        if isinstance(conv.get("padding"), str):
            raise _Unreadable(f"line {call.lineno}: padding={conv['padding']!r} is not supported")
        return [{"conv": conv}]
    if kind in ("BatchNorm2d", "BatchNorm1d"):
        a = _args(call, ["num_features", "eps", "momentum", "affine"])
        extra = {k: a[k] for k in ("eps", "momentum", "affine") if k in a}
        return [{"bn": extra} if extra else "bn"]
    if kind in ("ReLU", "LogSoftmax", "Flatten"):
        return [{"ReLU": "relu", "LogSoftmax": "log_softmax", "Flatten": "flatten"}[kind]]
    if kind in ("MaxPool2d", "AvgPool2d"):
        a = _args(call, ["kernel_size", "stride", "padding"])
        pool = {"kernel": _single(a["kernel_size"])}
        if a.get("stride") is not None and _single(a["stride"]) != pool["kernel"]:
            pool["stride"] = _single(a["stride"])
        if a.get("padding"):
            pool["padding"] = _single(a["padding"])
        name = "maxpool" if kind == "MaxPool2d" else "avgpool"
        return [{name: pool if len(pool) > 1 else pool["kernel"]}]
    if kind == "AdaptiveAvgPool2d":
        size = _single(_args(call, ["output_size"])["output_size"])
        return ["gap" if size == 1 else {"adaptive_avgpool": size}]
    if kind in ("Dropout", "Dropout2d"):
        p = _args(call, ["p"]).get("p", 0.5)
        return [{kind.lower(): p}]
    if kind == "Linear":
        a = _args(call, ["in_features", "out_features", "bias"])
        return [{"linear": {"out": a["out_features"], "bias": False}} if a.get("bias") is False
                else {"linear": a["out_features"]}]
    raise _Unreadable(f"line {call.lineno}: nn.{kind} is not a layer kind the harness builds")


def _read_class(cls: ast.ClassDef) -> list:
    modules: dict[str, list] = {}
    order: list[str] = []
    forward = None
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            for stmt in ast.walk(item):
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, ast.Call):
                    target = _dotted(stmt.targets[0])
                    if target.startswith("self."):
                        modules[target[5:]] = _module(stmt.value)
                        order.append(target[5:])
        elif isinstance(item, ast.FunctionDef) and item.name == "forward":
            forward = item
    if not modules:
        raise _Unreadable(f"class {cls.name}: no nn layers assigned in __init__")
    if forward is None:
        return [e for name in order for e in modules[name]]
    layers: list = []
    for stmt in forward.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            layers.extend(_applied(stmt.value, modules))
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            if not (isinstance(stmt.value, ast.Name)):
                layers.extend(_applied(stmt.value, modules))
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        else:
            raise _Unreadable(f"line {stmt.lineno}: forward is not a straight sequence of assignments")
    return layers


_FUNCTIONAL = {"relu": "relu", "log_softmax": "log_softmax", "flatten": "flatten"}


def _applied(node, modules: dict[str, list]) -> list:
    """The layers an expression applies to `x`, in order."""
    if isinstance(node, ast.Name):
        return []
    if not isinstance(node, ast.Call):
        raise _Unreadable(f"line {node.lineno}: {ast.unparse(node)[:50]!r} is not a call on x")
    func = _dotted(node.func)
    if func.startswith("self.") and func[5:] in modules:
        return [*_applied(node.args[0], modules), *modules[func[5:]]] if node.args else modules[func[5:]]
    name = func.split(".")[-1]
    if isinstance(node.func, ast.Attribute) and name in ("view", "reshape", "flatten", "squeeze") \
            and not func.startswith(("torch.", "F.")):
        return [*_applied(node.func.value, modules), "flatten"]
    inner = _applied(node.args[0], modules) if node.args else []
    if name in _FUNCTIONAL:
        return [*inner, _FUNCTIONAL[name]]
    if name in ("max_pool2d", "avg_pool2d"):
        if len(node.args) >= 2 and "size" in ast.unparse(node.args[1]):
            return [*inner, "gap"]  # F.avg_pool2d(x, x.size()[2:]): pool over the whole map
        k = _single(_literal(node.args[1])) if len(node.args) > 1 else None
        if k is None:
            raise _Unreadable(f"line {node.lineno}: {name} without a kernel")
        return [*inner, {"maxpool" if name == "max_pool2d" else "avgpool": k}]
    if name == "adaptive_avg_pool2d":
        size = _single(_literal(node.args[1]))
        return [*inner, "gap" if size == 1 else {"adaptive_avgpool": size}]
    if name in ("dropout", "dropout2d"):
        a = {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg in ("p",)}
        p = a.get("p", _literal(node.args[1]) if len(node.args) > 1 else 0.5)
        return [*inner, {name: p}]
    raise _Unreadable(f"line {node.lineno}: {func or ast.unparse(node)[:40]}() is not understood")
