"""Training-recipe statements: optimizer, scheduler, loss, batch size, epochs, normalization, augmentation.

Read from sentences and `Label: value` lines ("Optimizer: SGD (lr=0.01, momentum=0.9)") and
from Python code blocks with `ast` (`optimizer = optim.SGD(model.parameters(), lr=0.01)`,
`batch_size = 128`), never executed. Only what is stated is returned; the caller labels
everything else unknown.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from harness.draft.modelcode import _dotted
from harness.draft.readme import Readme, plain

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}
SCHEDULERS = {"steplr": "StepLR", "multisteplr": "MultiStepLR", "exponentiallr": "ExponentialLR",
              "cosineannealinglr": "CosineAnnealingLR", "onecyclelr": "OneCycleLR"}
_ARG_NAMES = {
    "optimizer": ("lr", "momentum", "weight_decay", "nesterov", "dampening", "betas", "eps", "alpha"),
    "scheduler": ("step_size", "gamma", "milestones", "T_max", "eta_min", "max_lr", "pct_start", "div_factor",
                  "final_div_factor", "anneal_strategy", "three_phase", "total_steps"),
}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"


@dataclass
class Fact:
    field: str        # recipe.optimizer, recipe.batch_size, ...
    value: object
    line: int
    how: str          # "statement" or "code"
    where: str | None = None   # code outside the README: "file, cell N" (then `line` is the file's)


def _kwargs(text: str, names) -> dict:
    out = {}
    for name in names:
        m = re.search(rf"\b{name}\s*[=:]\s*(\"[^\"]*\"|'[^']*'|\[[^\]]*\]|\([^)]*\)|{_NUM}|True|False)", text)
        if m:
            try:
                value = ast.literal_eval(m.group(1))
            except (ValueError, SyntaxError):
                continue
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def statements(readme: Readme, lines) -> list[Fact]:
    facts = []
    for n in lines:
        if n in readme.in_code or readme.line(n).lstrip().startswith("#"):
            continue  # code is read with ast; headings name topics, not settings
        text = plain(readme.line(n))
        low = text.lower()
        # the first-named setting only: "(also tried lr=0.001 ...)" names other runs
        head = re.split(r"\(?\balso\b|\btried\b|;", text)[0]
        m = re.search(r"\b(SGD|AdamW|Adam|RMSprop)\b", head)
        if m and re.search(r"optim|\bSGD\b|\bAdam", head, re.I) and not re.search(r"from\s+\w+\s*(->|→|to)", head):
            args = _kwargs(head[m.end():], _ARG_NAMES["optimizer"])
            if args.get("lr", 1) > 0:
                facts.append(Fact("recipe.optimizer", {"type": OPTIMIZERS[m.group(1).lower()], **args}, n, "statement"))
        s = re.search(r"\b(StepLR|MultiStepLR|ExponentialLR|CosineAnnealingLR|OneCycleLR)\b", head)
        if s:
            args = _kwargs(head[s.end():], _ARG_NAMES["scheduler"])
            facts.append(Fact("recipe.scheduler", {"type": s.group(1), **args}, n, "statement"))
        elif re.search(r"scheduler\s*:\s*none\b|\bno (?:lr |learning[- ]rate )?scheduler|"
                       r"scheduler (?:was |is )?(?:disabled|removed|turned off|switched off)", low):
            facts.append(Fact("recipe.scheduler", None, n, "statement"))
        if re.search(r"crossentropyloss|cross[- ]entropy", low):
            loss = {"type": "cross_entropy"}
            ls = re.search(r"label_smoothing\s*[=:]\s*(" + _NUM + ")", low)
            if ls:
                loss["label_smoothing"] = float(ls.group(1))
            facts.append(Fact("recipe.loss", loss, n, "statement"))
        elif re.search(r"nllloss|nll_loss|negative log[- ]likelihood", low):
            facts.append(Fact("recipe.loss", {"type": "nll"}, n, "statement"))
        b = re.search(r"batch[ _-]?size\w*\s*(?:[:=]|of|is|to)?\s*(\d+)\b(?!\s*(?:->|→|,\s*\d))", low)
        if b and not re.search(r"batch[ _-]?size\w*[^.]*\d+\s*(->|→)", low) and "sizes" not in low:
            facts.append(Fact("recipe.batch_size", int(b.group(1)), n, "statement"))
        e = re.search(r"\b(?:num_)?epochs?\s*[:=]\s*(\d+)\b|\b(?:train(?:ing)?|run)\s+for\s+(\d+)\s+epochs?\b", low)
        if e and not re.search(r"(<=|≤|<|under|within|max)\s*\d+\s*epochs", low):
            facts.append(Fact("recipe.epochs", int(e.group(1) or e.group(2)), n, "statement"))
        norm = re.search(r"normali[sz]\w*\W+mean\s*[=:]\s*(" + _NUM + r")\W+std\s*[=:]\s*(" + _NUM + ")", low)
        if norm:
            facts.append(Fact("recipe.normalization", {"mean": float(norm.group(1)), "std": float(norm.group(2))},
                              n, "statement"))
        rot = re.search(r"rotation\W{0,20}?(?:±|\+/-|\+-)?\s*(\d+(?:\.\d+)?)\s*(?:°|deg)", low)
        if rot:
            facts.append(Fact("recipe.augmentation.random_rotation", {"degrees": float(rot.group(1))}, n, "statement"))
        crop = re.search(r"centercrop\s*\(?\s*(\d+)", low.replace(" ", "").replace("center crop", "centercrop"))
        if crop:
            p = re.search(r"(\d+(?:\.\d+)?)\s*%\s*(?:probability|chance|of the time)|p\s*=\s*(" + _NUM + ")", low)
            prob = (float(p.group(1)) / 100 if p.group(1) else float(p.group(2))) if p else None
            args = {"crop": int(crop.group(1)), **({"p": prob} if prob is not None else {})}
            facts.append(Fact("recipe.augmentation.center_crop_resize", args, n, "statement"))
    return facts


# --------------------------------------------------------------------------- settings: "Max LR: 0.05, WD: 5e-05"

# a setting's name -> the recipe argument it gives
SETTINGS = {
    "max lr": "recipe.scheduler.max_lr", "max_lr": "recipe.scheduler.max_lr",
    "pct start": "recipe.scheduler.pct_start", "pct_start": "recipe.scheduler.pct_start",
    "final div": "recipe.scheduler.final_div_factor", "final_div_factor": "recipe.scheduler.final_div_factor",
    "div factor": "recipe.scheduler.div_factor", "div_factor": "recipe.scheduler.div_factor",
    "momentum": "recipe.optimizer.momentum",
    "wd": "recipe.optimizer.weight_decay", "weight decay": "recipe.optimizer.weight_decay",
    "weight_decay": "recipe.optimizer.weight_decay",
    "lr": "recipe.optimizer.lr", "learning rate": "recipe.optimizer.lr",
    "batch size": "recipe.batch_size", "batch_size": "recipe.batch_size", "epochs": "recipe.epochs",
}
_SETTING = re.compile(r"(?<![\w-])(" + "|".join(sorted(map(re.escape, SETTINGS), key=len, reverse=True)) +
                      r")\s*[:=]\s*(" + _NUM + r")(?!\s*(?:->|→|%|\d))", re.I)


def setting_value(field: str, text: str):
    value = float(text)
    if field in ("recipe.batch_size", "recipe.epochs"):
        return int(value) if value.is_integer() and value > 0 else None
    return value


def settings(readme: Readme, lines) -> list[Fact]:
    """`Name: value` settings in text and logs ("Max LR: 0.05, Momentum: 0.98, WD: 5e-05"), where no optimizer or
    scheduler class is named on the line (those lines are read by `statements`)."""
    facts = []
    for n in lines:
        raw = readme.line(n)
        if raw.lstrip().startswith(("#", "|")) or re.search(r"\b(SGD|Adam\w*|RMSprop|\w+LR)\b\s*\(|loss\s*=", raw, re.I) \
                or (n in readme.in_code and re.search(r"^\s*\w+\s*=|\bdef\b|\bclass\b", raw)):
            continue
        for m in _SETTING.finditer(plain(raw)):
            field = SETTINGS[m.group(1).lower()]
            value = setting_value(field, m.group(2))
            if value is not None:
                facts.append(Fact(field, value, n, "statement"))
    return facts


def table_settings(row: list[str], header: list[str], line: int) -> list[Fact]:
    """Recipe columns of an iteration table (Max LR, WD, Momentum, Batch size, Epochs, Augmentation: None)."""
    facts = []
    for name, cell in zip(header, row):
        key = name.strip().lower()
        if key in SETTINGS and re.fullmatch(r"\s*" + _NUM + r"\s*", cell):
            value = setting_value(SETTINGS[key], cell)
            if value is not None:
                facts.append(Fact(SETTINGS[key], value, line, "table"))
        elif key.startswith("augment") and cell.strip().lower() in ("none", "no", "-"):
            facts.append(Fact("recipe.augmentation.none", True, line, "table"))
        elif key.startswith("augment") and cell.strip():
            facts.append(Fact("recipe.augmentation.named", cell.strip(), line, "table"))
    return facts


# --------------------------------------------------------------------------- code

def from_code(code: str, first_line: int, tree: ast.AST | None = None) -> list[Fact]:
    """Recipe facts from a Python code block (assignments and constructor calls, read with ast), or from
    `tree` when the caller has parsed it already."""
    if tree is None:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError):
            return []
    facts = []
    for node in ast.walk(tree):
        line = first_line + getattr(node, "lineno", 1) - 1
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id.lower(), _lit(node.value)
            if name in ("batch_size", "batch") and isinstance(value, int):
                facts.append(Fact("recipe.batch_size", value, line, "code"))
            elif name in ("epochs", "num_epochs", "n_epochs", "epoch") and isinstance(value, int):
                facts.append(Fact("recipe.epochs", value, line, "code"))
        if not isinstance(node, ast.Call):
            continue
        func = _dotted(node.func).split(".")[-1]
        kw = {k.arg: _lit(k.value) for k in node.keywords if k.arg}
        kw = {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items() if v is not _MISSING}
        if func.lower() in OPTIMIZERS:
            args = {k: v for k, v in kw.items() if k in _ARG_NAMES["optimizer"]}
            facts.append(Fact("recipe.optimizer", {"type": OPTIMIZERS[func.lower()], **args}, line, "code"))
        elif func.lower() in SCHEDULERS:
            args = {k: v for k, v in kw.items() if k in _ARG_NAMES["scheduler"]}
            if func == "StepLR" and "step_size" not in args and len(node.args) > 1:
                size = _lit(node.args[1])
                if isinstance(size, int):
                    args["step_size"] = size
            facts.append(Fact("recipe.scheduler", {"type": SCHEDULERS[func.lower()], **args}, line, "code"))
        elif func in ("CrossEntropyLoss", "cross_entropy"):
            loss = {"type": "cross_entropy"}
            if isinstance(kw.get("label_smoothing"), (int, float)):
                loss["label_smoothing"] = float(kw["label_smoothing"])
            facts.append(Fact("recipe.loss", loss, line, "code"))
        elif func in ("NLLLoss", "nll_loss"):
            facts.append(Fact("recipe.loss", {"type": "nll"}, line, "code"))
        elif func == "DataLoader" and isinstance(kw.get("batch_size"), int):
            facts.append(Fact("recipe.batch_size", kw["batch_size"], line, "code"))
        elif func == "Normalize" and len(node.args) == 2:
            mean, std = _lit(node.args[0]), _lit(node.args[1])
            mean = mean[0] if isinstance(mean, (tuple, list)) and len(mean) == 1 else mean
            std = std[0] if isinstance(std, (tuple, list)) and len(std) == 1 else std
            if isinstance(mean, float) and isinstance(std, float):
                facts.append(Fact("recipe.normalization", {"mean": mean, "std": std}, line, "code"))
        elif func == "RandomRotation" and node.args:
            degrees = _lit(node.args[0])
            if isinstance(degrees, (tuple, list)) and len(degrees) == 2:
                degrees = [float(d) for d in degrees]
            if isinstance(degrees, (int, float, list)):
                fill = kw.get("fill")
                fill = fill[0] if isinstance(fill, list) and len(fill) == 1 else fill   # fill=(1,)
                extra = {"fill": float(fill)} if isinstance(fill, (int, float)) else {}
                facts.append(Fact("recipe.augmentation.random_rotation", {"degrees": degrees, **extra}, line, "code"))
    return facts


_MISSING = object()


def _lit(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return _MISSING


