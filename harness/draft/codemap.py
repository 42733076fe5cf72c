"""Which code a README iteration refers to, what that code says, and where it disagrees with the README.

Each README model is matched to its files:
- by number: the last number in a file's name is the model's ("EVA5_S5_F2.ipynb", "Model_2.py", "m2.ipynb",
  "1_10_LR_scheduler.ipynb" -> 2, 2, 2, 10), and the number in a class's name ("class Model3");
- by order: as many notebooks as models and no number matching, in natural name order;
- by name: a single notebook or model class belongs to the final model.
The draft says which rule it used. A script that no rule maps but that instantiates a mapped class
(`model = Model3()`) trains that class's model; the rest (`utils.py`) is shared by all.

From the mapped code: the layer list (activation placement as `forward` applies it), the recipe the
training loop runs (trainingcode), and from a notebook's outputs the torchsummary total and the printed
per-epoch log. What the README states differently becomes a finding: parameter count, accuracy, epochs
(stated, or a limit such as "less than 20 epochs"; a run of exactly 20 is an ambiguity), schedule (a
scheduler created and never stepped) and the data used as "test".
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field

from harness.draft import figures as F
from harness.draft import modelcode, recipe, trainingcode
from harness.draft.codefolder import CodeFile, CodeFolder
from harness.draft.readme import Readme
from harness.draft.repair import planned
from harness.draft.torchsummary import summary_tables


@dataclass
class FileRead:
    file: CodeFile
    classes: list[modelcode.ModelCode]
    training: trainingcode.TrainingCode
    summaries: list                 # torchsummary tables in a notebook's outputs
    curves: list                    # training logs in a notebook's outputs
    counts: list = field(default_factory=list)   # parameter counts its text or printed output states

    @property
    def number(self) -> str | None:
        digits = re.findall(r"\d+", self.file.stem)
        return str(int(digits[-1])) if digits else None


@dataclass
class ModelCodeInfo:
    """What the code says about one README model."""

    files: list[str] = field(default_factory=list)
    how: str = ""                               # the mapping rule
    layers: list | None = None
    layers_where: str | None = None
    layers_problem: str | None = None
    summary_total: int | None = None
    summary_where: str | None = None
    curve: F.Curve | None = None
    curve_where: str | None = None
    training: list[FileRead] = field(default_factory=list)


def read_files(folder: CodeFolder) -> list[FileRead]:
    out = []
    for f in folder.files:
        try:
            tree = trainingcode.substituted(ast.parse(f.code))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
        classes = modelcode.models_in("", tree=tree) if tree is not None else []
        summaries, curves, counts = [], [], []
        if f.outputs:
            outputs = Readme.parse(f.outputs, f.name)
            summaries = summary_tables(outputs)
            curves = F.training_logs(outputs)
            counts += [(c, "its printed output") for c in F.parameter_statements(outputs)]
        if f.markdown:
            counts += [(c, "its text") for c in F.parameter_statements(Readme.parse(f.markdown, f.name))]
        out.append(FileRead(f, classes, trainingcode.read(f.code), summaries, curves, counts))
    return out


def _natural(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def attach(models: list, folder: CodeFolder, decisions: list[str]) -> dict[str, ModelCodeInfo]:
    """model key -> what its code says; the shared code is under the key "" (its training only)."""
    reads = read_files(folder)
    keys = [m.key for m in models]
    info: dict[str, ModelCodeInfo] = {k: ModelCodeInfo() for k in keys}
    info[""] = ModelCodeInfo(how="shared")
    owner: dict[int, str] = {}      # index in reads -> model key
    rule: dict[int, str] = {}
    for i, r in enumerate(reads):
        if r.number in keys and (r.file.kind == "notebook" or r.classes):
            owner[i], rule[i] = r.number, f"by number ({r.file.name} -> {r.number})"
    notebooks = [i for i, r in enumerate(reads) if r.file.kind == "notebook"]
    if not any(i in owner for i in notebooks) and notebooks:
        ordered = sorted(notebooks, key=lambda i: _natural(reads[i].file.name))
        if len(ordered) == len(models):
            for i, m in zip(ordered, models):
                owner[i], rule[i] = m.key, f"by order ({reads[i].file.name} -> {m.label})"
        elif len(ordered) == 1:
            owner[ordered[0]], rule[ordered[0]] = models[-1].key, \
                f"by name (the only notebook, {reads[ordered[0]].file.name} -> {models[-1].label})"
    # classes named with a model's number, in files no rule mapped (one model module for all)
    class_owner: dict[str, str] = {}
    for i, r in enumerate(reads):
        for c in r.classes:
            digits = re.findall(r"\d+", c.name)
            if i in owner:
                continue
            if digits and str(int(digits[-1])) in keys:
                class_owner[c.name] = str(int(digits[-1]))
    unmapped_classes = [(i, c) for i, r in enumerate(reads) if i not in owner for c in r.classes
                        if c.name not in class_owner]
    if not class_owner and len(unmapped_classes) == 1 and not any(reads[i].classes for i in owner):
        class_owner[unmapped_classes[0][1].name] = models[-1].key
    for i, r in enumerate(reads):
        if i in owner:
            continue
        trained = sorted({class_owner[n] for n in r.training.instantiated if n in class_owner})
        if len(trained) == 1 and (r.training.facts or r.curves):
            owner[i], rule[i] = trained[0], f"by the class it trains ({r.file.name} -> {trained[0]})"
    for i, r in enumerate(reads):
        key = owner.get(i, "")
        target = info[key]
        target.files.append(r.file.name)
        target.training.append(r)
        if key:
            target.how = "; ".join(x for x in (target.how, rule[i]) if x)
        _take(target, r, key, class_owner, info)
    used = sorted({x for k, v in info.items() if k for x in v.how.split("; ") if x})
    if used:
        decisions.append(f"code mapped to the README's models {', '.join(used)}")
    missing = [m.label for m in models if m.figures and not info[m.key].files and not any(
        class_owner.get(c.name) == m.key for r in reads for c in r.classes)]
    if missing and reads:
        decisions.append(f"{', '.join(missing)}: no code file or class matched (by number, order or name)")
    for r in reads:
        if r.file.unparsed_cells:
            decisions.append(f"{r.file.name}: cells {', '.join(map(str, r.file.unparsed_cells))} are not Python "
                             "(after blanking shell and magic lines) and were not read")
    return info


def _take(target: ModelCodeInfo, r: FileRead, key: str, class_owner: dict, info: dict) -> None:
    """The layers, torchsummary total and log of one file, to the model it belongs to (first found wins)."""
    chosen = None
    if key:
        named = [c for c in r.classes if c.name in r.training.instantiated]
        chosen = (named or r.classes or [None])[-1]
    for c in r.classes:
        k = class_owner.get(c.name)
        if k and c is not chosen:
            _layers(info[k], c, r)
    if chosen is not None:
        _layers(target, chosen, r)
    if key and r.summaries and target.summary_total is None:
        table = r.summaries[-1]
        if table.total is not None:
            target.summary_total = table.total
            target.summary_where = f"{r.file.name}, its torchsummary output"
    if key and r.curves and target.curve is None:
        target.curve = r.curves[-1]
        target.curve_where = f"{r.file.name}, its printed training log"


def _layers(target: ModelCodeInfo, c: modelcode.ModelCode, r: FileRead) -> None:
    if target.layers is not None:
        return
    where = f"class {c.name} in {r.file.where(c.line)}"
    if c.problems:
        target.layers_problem = f"{where}: {'; '.join(c.problems)}"
        return
    target.layers, target.layers_where = c.layers, where


# --------------------------------------------------------------------------- recipe facts from code

def training_facts(info: ModelCodeInfo) -> tuple[list[recipe.Fact], list[str]]:
    """(recipe facts, notes) of a model's code, each fact with its file and cell; a scheduler that is
    created and never stepped is no scheduler."""
    facts, notes = [], []
    for r in info.training:
        t = r.training
        for f in t.facts:
            if f.field == "recipe.scheduler" and t.scheduler_stepped is False:
                continue
            facts.append(recipe.Fact(f.field, f.value, f.line, "code", r.file.where(f.line)))
        if t.scheduler_stepped is False:
            facts.append(recipe.Fact("recipe.scheduler", None, t.scheduler_line, "code",
                                     f"{r.file.where(t.scheduler_line)}: a scheduler is created and "
                                     "scheduler.step() is never called"))
        for name, line in t.unexpressible:
            notes.append(f"{r.file.where(line)} applies {name}, which the spec schema cannot express: "
                         "left out of the recipe")
        if t.test_normalization is not None:
            norm, line = t.test_normalization
            notes.append(f"{r.file.where(line)} normalises the test data with {norm}, unlike the training "
                         "data: the spec cannot express a separate test normalisation")
        notes.extend(f"{r.file.name}: {n}" for n in dict.fromkeys(t.notes))
    fields = {f.field for f in facts}
    trains = [r for r in info.training if any(f.field == "recipe.optimizer" for f in r.training.facts)]
    if trains and "recipe.scheduler" not in fields:   # the training code runs without one
        facts.insert(0, recipe.Fact("recipe.scheduler", None, 1, "code", f"{trains[-1].file.name}: no scheduler "
                                    "in the training code"))
    transforms = [r for r in info.training if any(f.field == "recipe.normalization" for f in r.training.facts)]
    if transforms and not any(f.startswith("recipe.augmentation.") for f in fields):
        facts.insert(0, recipe.Fact("recipe.augmentation.none", True, 1, "code", f"{transforms[-1].file.name}: "
                                    "no augmentation in the training transforms"))
    return facts, notes


def split_of(info: ModelCodeInfo) -> tuple[trainingcode.Split, str] | None:
    for r in reversed(info.training):
        if r.training.split is not None:
            return r.training.split, r.file.where(r.training.split.line)
    return None


# --------------------------------------------------------------------------- findings

def findings(readme: Readme, m, info: ModelCodeInfo, shared: ModelCodeInfo, readme_facts: list,
             code_facts: list) -> list[dict]:
    """README-vs-code disagreements of one model, as spec findings."""
    out: list[dict] = []
    counts = {int(f.value) for f in m.figures if f.kind == "parameters" and f.value is not None
              and "band" not in f.args and not f.args.get("approximate") and f.source != "torchsummary"}
    code_count = planned(info.layers).parameters if info.layers else None
    for value in sorted(counts):
        said = [f for f in m.figures if f.kind == "parameters" and f.value == value]
        theirs = []
        if info.summary_total is not None and info.summary_total != value:
            theirs.append(f"{info.summary_where} totals {info.summary_total:,}")
        if code_count is not None and code_count != value and info.summary_total in (None, code_count):
            theirs.append(f"{info.layers_where} has {code_count:,}")
        if theirs:
            out.append(_finding(f"parameters-{value}-vs-code", f"the README states {said[0].text} parameters; "
                                + " and ".join(theirs), [readme.where(said[0].line)] + [info.summary_where or
                                                                                        info.layers_where]))
    if info.curve is not None:
        test = [f.value for f in info.curve.test if f is not None]
        train = [f.value for f in info.curve.train if f is not None]
        for kind, values, word in (("test_accuracy_peak", test, "best test"), ("train_accuracy_peak", train,
                                                                                  "best train"),
                                   ("test_accuracy_final", test[-1:], "final test")):
            if not values:
                continue
            best = max(values)
            for f in (f for f in m.figures if f.kind == kind and f.value is not None and "band" not in f.args):
                decimals = len(f.text.split(".")[1]) if "." in f.text else 0
                if not math.isclose(round(best, decimals), f.value, abs_tol=10 ** -decimals / 2):
                    out.append(_finding(f"{kind.replace('_', '-')}-vs-log",
                                        f"the README's {word} accuracy is {f.text}%; the log printed by the "
                                        f"code reaches {best:g}%",
                                        [readme.where(f.line), info.curve_where]))
        said = [x for x in readme_facts if x.field == "recipe.epochs"]
        if said and len(info.curve.test) != said[-1].value:
            out.append(_finding("epochs-vs-log", f"the README states {said[-1].value} epochs; the printed log "
                                f"has {len(info.curve.test)}", [readme.where(said[-1].line), info.curve_where]))
    by_field = {f.field: f for f in code_facts}
    for f in readme_facts:
        code = by_field.get(f.field)
        if code is None or f.field in ("recipe.normalization", "recipe.loss"):
            continue
        if f.field == "recipe.scheduler" and (f.value is None) != (code.value is None):
            said = f.value["type"] if f.value else "no scheduler"
            ran = code.where if code.value is None else code.value["type"]
            out.append(_finding("schedule-vs-code", f"the README describes {said}; the code: {ran}",
                                [readme.where(f.line), code.where]))
        elif f.field in ("recipe.epochs", "recipe.batch_size") and f.value != code.value:
            out.append(_finding(f"{f.field.split('.')[-1].replace('_', '-')}-vs-code",
                                f"the README states {f.field.split('.')[-1]} {f.value}; the code runs {code.value}",
                                [readme.where(f.line), code.where]))
        elif f.field == "recipe.optimizer" and isinstance(f.value, dict) and isinstance(code.value, dict) and \
                any(k in code.value and code.value[k] != v for k, v in f.value.items()):
            out.append(_finding("optimizer-vs-code", f"the README states {_call(f.value)}; the code runs "
                                f"{_call(code.value)}", [readme.where(f.line), code.where]))
    for r in info.training:
        t = r.training
        if t.scheduler_stepped is False:
            made = next((f.value for f in t.facts if f.field == "recipe.scheduler" and f.value), None)
            out.append(_finding("scheduler-never-stepped", f"the code creates {_call(made) if made else 'a scheduler'} "
                                "and never calls scheduler.step(): the learning rate stays constant",
                                [r.file.where(t.scheduler_line)]))
    out.extend(_epoch_findings(readme, info, code_facts))
    for r in info.training:   # a notebook that states a count its own torchsummary does not print
        total = next((t.total for t in reversed(r.summaries) if t.total is not None), None)
        for fig, where in r.counts:
            if total is not None and fig.value is not None and "band" not in fig.args and fig.value != total:
                out.append(_finding(f"notebook-{int(fig.value)}-vs-summary",
                                    f"{r.file.name} states {fig.text} parameters in {where}; its torchsummary "
                                    f"totals {total:,}", [f"{r.file.name}, {where}"]))
    split = split_of(info) or split_of(shared)
    if split is not None and not split[0].is_mnist_test:
        out.append(_finding("test-split", f"the accuracy the README calls test is measured on {split[0].detail}, "
                            "not on MNIST's 10,000 test images", [split[1]]))
    unique: dict[str, dict] = {}
    for f in out:
        unique.setdefault(f["id"], f)
    return list(unique.values())


_EPOCH_BOUND = re.compile(r"(less than|fewer than|under|within|at most|max(?:imum)?|<=|≤|<)\s*(\d{1,3})\s*epochs?\b",
                          re.I)


def epoch_bounds(readme: Readme) -> list[tuple[int, bool, int]]:
    """The README's limits on training length ("Less than 20 Epochs", "within 15 epochs", "≤15 epochs"):
    (epochs, strict, line)."""
    out = []
    for n in range(1, len(readme.lines) + 1):
        for m in _EPOCH_BOUND.finditer(readme.plain_line(n)):
            strict = m.group(1).lower() in ("less than", "fewer than", "under", "<")
            out.append((int(m.group(2)), strict, n))
    return out


def _epoch_findings(readme: Readme, info: ModelCodeInfo, code_facts: list) -> list[dict]:
    """A README's bound on the epochs against what the code runs (its loop, else its printed log)."""
    ran = next((f for f in reversed(code_facts) if f.field == "recipe.epochs"), None)
    epochs, where = (ran.value, ran.where) if ran else \
        ((len(info.curve.test), info.curve_where) if info.curve is not None else (None, None))
    out = []
    for bound, strict, line in epoch_bounds(readme):
        if epochs is not None and epochs > bound:
            out.append(_finding(f"epochs-over-{bound}", f"the README sets {'fewer than' if strict else 'at most'} "
                                f"{bound} epochs; the code runs {epochs}", [readme.where(line), where]))
        elif epochs is not None and strict and epochs == bound:  # such READMEs often mean "at most"
            out.append(_finding(f"epochs-at-{bound}", f"the README sets fewer than {bound} epochs; the code runs "
                                f"exactly {bound} (within the limit only if it means at most {bound})",
                                [readme.where(line), where], "ambiguity"))
    return out


def _call(value: dict) -> str:
    args = ", ".join(f"{k}={v}" for k, v in value.items() if k != "type")
    return f"{value.get('type')}({args})" if args else str(value.get("type"))


def _finding(ident: str, summary: str, where: list, kind: str = "inconsistency") -> dict:
    ident = re.sub(r"[^a-z0-9-]+", "-", ident.lower()).strip("-")
    return {"id": ident, "kind": kind, "summary": summary,
            "where": "; ".join(w for w in where if w)}
