"""From a README's figures to draft specs: one per documented iteration or model.

Models are found in headings ("### Iteration 5: ...", "The Final Architecture") and in the
rows of iteration tables; a "final" model whose figures agree with the table's last row is
that row. Each model collects the figures, layer lists and recipe statements of its own
sections; what sits outside every model's section is shared (recipe, a common parameter
count, the README's targets, which go to the final model). Specs form a chain in README
order (each `extends` the one before, the first `_base`), since such READMEs document each
iteration as a change to the previous one. Anything the README does not give is labelled
`unknown` with the assumption the draft makes, and listed for a person to decide.
"""

from __future__ import annotations

import ast
import copy
import math
import re
from dataclasses import dataclass, field

from harness.draft import codemap, diagram, modelcode, recipe, repair, trainingcode
from harness.draft import figures as F
from harness.draft.codefolder import CodeFolder
from harness.draft.readme import Readme
from harness.draft.torchsummary import fill_dropout, summary_tables, unknown_dropout

DEFAULT_RECIPE = {
    "epochs": 20, "batch_size": 128, "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9}, "scheduler": None,
    "loss": {"type": "cross_entropy"}, "normalization": {"mean": 0.1307, "std": 0.3081}, "augmentation": [],
}
UNKNOWN_WHY = {
    "recipe.epochs": "20 epochs, the usual length in this genre of README",
    "recipe.batch_size": "128",
    "recipe.optimizer": "SGD(lr=0.01, momentum=0.9)",
    "recipe.scheduler": "no scheduler",
    "recipe.loss": "cross-entropy on the logits",
    "recipe.normalization": "the usual MNIST mean 0.1307 and std 0.3081",
    "recipe.augmentation": "no augmentation",
}
# torch's required arguments, assumed (and labelled unknown) when a README names the class without them
REQUIRED_ARGUMENTS = {"SGD": {"lr": 0.01}, "StepLR": {"step_size": 10}, "MultiStepLR": {"milestones": [10]},
                      "ExponentialLR": {"gamma": 0.9}, "CosineAnnealingLR": {"T_max": 20}, "OneCycleLR": {"max_lr": 0.1}}
PLACEHOLDER_LAYERS = ["flatten", {"linear": 10}]
SHARED_UNKNOWN = "shared recipe not stated, assumed: "
MNIST_TRAIN = 60000


class DraftError(ValueError):
    """The README gives the drafter nothing to work from."""


@dataclass
class Model:
    key: str                    # "5", "final"
    word: str                   # "iteration", "" for a bare "final"
    first_line: int
    sections: list = field(default_factory=list)   # (start, end) line ranges
    rows: list = field(default_factory=list)       # iteration-table rows
    figures: list = field(default_factory=list)    # F.Figure
    curve: F.Curve | None = None
    layers: list | None = None
    layers_evidence: str | None = None
    layers_fid: dict | None = None          # set when the layers are reconstructed (a diagram), not documented
    layers_count_text: str | None = None
    recipe_facts: list = field(default_factory=list)
    epochs_from_header: tuple[int, int] | None = None   # (epochs, line)
    code: codemap.ModelCodeInfo | None = None           # what its code says (--code)
    code_facts: list = field(default_factory=list)     # recipe facts read from that code
    code_shared: codemap.ModelCodeInfo | None = None    # the code no model owns (utils.py)

    @property
    def name(self) -> str:
        return f"{self.word}{self.key}" if self.word and self.key != "final" else self.key

    @property
    def label(self) -> str:
        return f"{self.word.capitalize()} {self.key.upper() if self.key == 'final' else self.key}".strip() \
            if self.word else "the final model"

    def holds(self, line: int) -> bool:
        return any(a <= line <= b for a, b in self.sections)


@dataclass
class Draft:
    readme: Readme
    models: list[Model]
    specs: dict[str, dict]          # file stem -> spec mapping (in write order, _base first)
    constraint: str
    decisions: list[str]


# --------------------------------------------------------------------------- finding models

def find_models(readme: Readme) -> list[Model]:
    """Models named by headings and by iteration-table rows, in README order (a key joins both)."""
    models: dict[str, Model] = {}
    labelled = [s for s in readme.sections[1:] if F.model_label(s.title) is not None]
    top = min((s.level for s in labelled), default=0)
    title = [s for s in labelled if s.level == top]
    if len(title) == 1 and title[0] is labelled[0] and \
            F.model_label(title[0].title)[1] in {F.model_label(s.title)[1] for s in labelled[1:]}:
        labelled = labelled[1:]  # "# Session 1 - ...": the README's title, not its iteration 1
    spans = [(F.model_label(s.title), s.line, s.end) for s in labelled] or _bold_labels(readme)
    for (word, key), start, end in spans:
        m = models.setdefault(key, Model(key, word, start))
        m.word = m.word or word
        m.sections.append((start, end))
        m.first_line = min(m.first_line, start)
    for rows in F.iteration_tables(readme):
        for row in rows:
            word, key = row.label
            m = models.setdefault(key, Model(key, word, row.line))
            if m.word == "" or (m.word != word and not m.sections):
                m.word = word
            m.rows.append(row)
            m.first_line = min(m.first_line, row.line)
    return sorted(models.values(), key=lambda m: m.first_line)


_BOLD_LINE = re.compile(r"^[^\w*]*\*\*([^*]{1,60})\*\*[^\w*]*$")


def _bold_labels(readme: Readme) -> list[tuple[tuple[str, str], int, int]]:
    """Models named by lines that hold only a bold label ("**Model 2**", between emoji or rules), for a README
    whose headings name none; each runs to the next such line."""
    found = []
    for n in range(1, len(readme.lines) + 1):
        text = re.sub(r"&#?\w{1,10};", "", readme.line(n))
        m = _BOLD_LINE.match(text)
        label = F.model_label(m.group(1)) if m and n not in readme.in_code else None
        if label is not None and label[1] != "final":
            found.append((label, n))
    return [(label, n, (found[i + 1][1] - 1) if i + 1 < len(found) else len(readme.lines))
            for i, (label, n) in enumerate(found)] if len(found) >= 2 else []


def model_of(models: list[Model], line: int) -> Model | None:
    best, depth = None, -1
    for m in models:
        for a, b in m.sections:
            if a <= line <= b and a > depth:
                best, depth = m, a
    return best


# --------------------------------------------------------------------------- collecting

def collect(readme: Readme, folder: CodeFolder | None = None) -> Draft:
    """Every model's figures, layers, curve and recipe statements (and what its code says), then the specs."""
    decisions: list[str] = []
    models = find_models(readme)
    if not models:
        models = [Model("final", "", 1, [(1, len(readme.lines))])]
        decisions.append("no iteration or model headings or tables were found: the whole README is one model")
    glob = _figures(readme, models)              # figures outside every model's section
    _layers(readme, models, decisions)
    shared_code = _code(models, folder, decisions) if folder is not None else None
    shared_layers = _diagrams(readme, models, glob, decisions)
    _curves(readme, models, decisions)
    glob_facts = _recipe_facts(readme, models)   # recipe statements outside every model's section
    if shared_code is not None:
        glob_facts.extend(shared_code)
    models = _merge_final(models, decisions)
    for m in models:
        if not (m.figures or m.curve or m.layers):  # e.g. "Hyperparameters (Final Model)": settings for all
            glob_facts.extend(m.recipe_facts)
    models = [m for m in models if m.figures or m.curve or m.layers]
    if not any(m.figures or m.curve for m in models):
        raise DraftError(f"{readme.path.name}: no parameter count, accuracy figure or training log found: "
                         "nothing to draft")
    for m in models:  # layer changes told in words are for a person to write
        said = [n for a, b in m.sections for n in range(a, b + 1)
                if re.search(r"dropout\w*\s*\(\s*p\s*=|\badded\b[^.]*\b(dropout|batch ?norm)", readme.line(n), re.I)]
        if said and m.layers is None:
            decisions.append(f"{m.label}: line {said[0]} changes layers (dropout or BatchNorm) that the draft "
                             "inherits unchanged: edit its architecture")
    specs, constraint = _assemble(readme, models, glob, glob_facts, shared_layers, decisions)
    return Draft(readme, models, specs, constraint, compact(decisions))


def _figures(readme: Readme, models: list[Model]) -> list[F.Figure]:
    """Table rows, metric tables and statements to their models; returns the figures no model owns."""
    glob: list[F.Figure] = []
    for m in models:
        for row in m.rows:
            m.figures.extend(row.figures)
            epochs = F.epochs_in_header(row.table)
            if epochs:
                m.epochs_from_header = (epochs, row.table.line)
    by_key = {m.key: m for m in models}
    for key, fig in F.metric_tables(readme):
        if key in by_key:
            by_key[key].figures.append(fig)
    for fig in F.parameter_statements(readme) + F.accuracy_statements(readme):
        owner = model_of(models, fig.line)
        (owner.figures if owner else glob).append(fig)
    return glob


def _layers(readme: Readme, models: list[Model], decisions: list[str]) -> None:
    """Layer lists from torchsummary tables (preferred) and model code in README code blocks."""
    for table in summary_tables(readme):
        owner = model_of(models, table.line) or _final(models)
        if table.total is not None:
            owner.figures.append(F.Figure("parameters", float(table.total), table.total_text, table.total_line,
                                          "torchsummary"))
        if table.problems:
            decisions.extend(f"{owner.label}: torchsummary table: {p}" for p in table.problems)
            continue
        if owner.layers is None:
            owner.layers = table.layers
            owner.layers_evidence = (f"torchsummary table, {readme.where(table.line)}"
                                     + (f"; assumed: {'; '.join(table.assumptions)}" if table.assumptions else ""))
            owner.layers_count_text = table.total_text
    for block in readme.code_blocks:
        owner = model_of(models, block.start)
        for code in _classes(block.text):
            _take_code(owner or _final(models), code, f"model code (class {code.name}), "
                       f"{readme.where(block.start + code.line - 1)}", decisions)


def _code(models: list[Model], folder: CodeFolder, decisions: list[str]) -> list:
    """What the code folder says about each model (codemap); returns the recipe facts of the shared code.
    The README's own layers come first; the code's fill in where it documents none, labelled
    documented_in_code."""
    decisions.extend(f"code not read: {why}" for why in folder.refused)
    info = codemap.attach(models, folder, decisions)
    for m in models:
        m.code = info[m.key]
        m.code_facts, notes = codemap.training_facts(m.code)
        decisions.extend(f"{m.label}: {n}" for n in notes)
        if m.code.layers_problem and m.layers is None:
            decisions.append(f"{m.label}: {m.code.layers_problem}")
        if m.layers is None and m.code.layers:
            m.layers, m.layers_evidence = m.code.layers, f"model code ({m.code.layers_where})"
            m.layers_fid = {"level": "documented_in_code", "evidence": m.layers_evidence}
        elif m.layers and m.code.layers and "assumed: ReLU" in (m.layers_evidence or "") and \
                repair.planned(m.code.layers).parameters == repair.planned(repair.closed(m.layers)[0]).parameters:
            # a torchsummary table shows no functional activations: where they are is the code's to say
            m.layers = m.code.layers
            m.layers_evidence = (f"model code ({m.code.layers_where}), with the count of the README's "
                                 f"{m.layers_evidence.split(';')[0]}")
            m.layers_fid = {"level": "documented_in_code", "evidence": m.layers_evidence}
            decisions.append(f"{m.label}: activations placed as its code's forward applies them (the README's "
                             "torchsummary table shows none), same parameter count")
    shared, notes = codemap.training_facts(info[""])
    decisions.extend(f"shared code: {n}" for n in notes)
    for m in models:
        m.code_shared = info[""]
    return shared


def _classes(text: str) -> list[modelcode.ModelCode]:
    """The model classes of a README code block, names bound once to a literal (`dropout_value = 0.1`) read
    as that literal."""
    try:
        tree = trainingcode.substituted(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return modelcode.models_in("", tree=tree)


def _curves(readme: Readme, models: list[Model], decisions: list[str]) -> None:
    """Training logs (preferred) and per-epoch tables to the model whose section holds them."""
    curves = F.training_logs(readme) + F.epoch_tables(readme)
    for curve in sorted(curves, key=lambda c: c.source != "log"):
        owner = model_of(models, curve.line) or _final(models)
        if owner.curve is None:
            owner.curve = curve
        elif owner.curve.source == curve.source:
            decisions.append(f"{owner.label}: a second training log at line {curve.line} was not used")


def _recipe_facts(readme: Readme, models: list[Model]) -> list:
    """Recipe statements, settings, code and table columns to their models; returns the shared ones."""
    shared: list = []
    for block in readme.code_blocks:
        if block.language in ("python", "py", ""):
            owner = model_of(models, block.start)
            (owner.recipe_facts if owner else shared).extend(recipe.from_code(block.text, block.start))
    row_owner = {row.line: m for m in models for row in m.rows}
    for m in models:
        for row in m.rows:
            m.recipe_facts.extend(recipe.table_settings(row.cells, row.table.header, row.line))
    lines = range(1, len(readme.lines) + 1)
    for fact in recipe.statements(readme, lines) + recipe.settings(readme, lines):
        owner = model_of(models, fact.line) or row_owner.get(fact.line)
        (owner.recipe_facts if owner else shared).append(fact)
    return shared


def compact(decisions: list[str]) -> list[str]:
    """One line for the same decision about several models: "Experiment 6, Experiment 7: ..."."""
    grouped: dict[str, list[str]] = {}
    order = []
    for line in decisions:
        m = re.match(r"^((?:Iteration|Model|Experiment|Step|Version|Run|Trial|Stage|Phase|Code|Network|Net|Attempt|"
                     r"Session|Notebook|Exp|the final model)[^:]{0,20}): (.*?)(?: \(([^()]*)\))?$", line)
        if m is None:
            order.append(line)
            continue
        rest = m.group(2)
        label = f"{m.group(1)} ({m.group(3)})" if m.group(3) else m.group(1)
        if rest not in grouped:
            order.append(rest)
            grouped[rest] = []
        grouped[rest].append(label)
    return [f"{', '.join(grouped[x])}: {x}" if x in grouped else x for x in order]


def _diagrams(readme: Readme, models: list[Model], glob: list, decisions: list[str]) -> Model | None:
    """Layer diagrams in text: a model's own, or one shared by all (returned as a pseudo-model)."""
    bias = _conv_bias_statement(readme)
    shared, failed = None, []
    for dg in diagram.diagrams(readme):
        owner = model_of(models, dg.line)
        if owner is not None and owner.layers is not None:
            continue
        counts = [f for f in (owner.figures if owner else glob) if f.kind == "parameters"]
        if owner is not None and not counts:
            counts = [f for f in glob if f.kind == "parameters"]
        count = counts[0] if len({f.value for f in counts}) == 1 else None
        diagram.resolve(dg, int(count.value) if count else None, bias,
                        bool(count and count.args.get("approximate")))
        if dg.problem:
            failed.append((owner, dg))
            continue
        assumed = "; ".join(dg.assumed) or "nothing beyond the diagram"
        fid = {"level": "reconstructed", "assumption": f"the layer diagram at line {dg.line}; assumed: {assumed}",
               "why": (f"its layers give the stated {count.text} parameters" if count else
                       "the diagram names the layers; no stated count to confirm the assumptions")}
        target = owner or shared or Model("shared", "", dg.line)
        if target.layers is None:
            target.layers, target.layers_fid = dg.layers, fid
            target.layers_evidence = f"layer diagram, {readme.where(dg.line)}"
        if owner is None:
            shared = target
    for owner, dg in failed:
        if (owner or shared) is None or (owner or shared).layers is None:
            decisions.append(f"{owner.label if owner else 'shared'}: the layer diagram at line {dg.line} was not "
                             f"used: {dg.problem}")
    return shared


def _conv_bias_statement(readme: Readme) -> bool | None:
    text = "\n".join(readme.lines)
    if re.search(r"bias\s*=\s*false\b[^\n]{0,20}\bconv|\bconv\w*[^\n]{0,40}\bbias\s*=\s*false", text, re.I):
        return False
    return None


def _final(models: list[Model]) -> Model:
    return models[-1]


def _take_code(model: Model, code: modelcode.ModelCode, evidence: str, decisions: list[str]) -> None:
    if code.problems:
        decisions.append(f"{model.label}: class {code.name} not drafted: {'; '.join(code.problems)}")
        return
    if model.layers is None:
        model.layers, model.layers_evidence = code.layers, evidence


def _merge_final(models: list[Model], decisions: list[str]) -> list[Model]:
    """A separately documented final model that the iteration table's last row describes is that row."""
    final = next((m for m in models if m.key == "final" and not m.rows), None)
    rows = [m for m in models if m.rows and m.key != "final"]
    if final is None or not rows:
        return models
    last = rows[-1]
    theirs = {f.key(): f.value for f in final.figures + _curve_figures(final) if f.value is not None}
    mine = {f.key(): f.value for f in last.figures if f.value is not None}
    common = set(theirs) & set(mine)
    if not theirs:
        return models
    if common and all(math.isclose(theirs[k], mine[k]) for k in common):
        last.sections += final.sections
        last.figures += final.figures
        last.curve = last.curve or final.curve
        last.recipe_facts += final.recipe_facts
        if last.layers is None:
            last.layers, last.layers_evidence, last.layers_count_text = \
                final.layers, final.layers_evidence, final.layers_count_text
        decisions.append(f"the final model's sections were read as {last.label} (the table's last row): "
                         f"they agree on {', '.join(sorted(k[0] for k in common))}")
        return [m for m in models if m is not final]
    return models


def _curve_figures(m: Model) -> list:
    if m.curve is None:
        return []
    test = [f for f in m.curve.test if f is not None]
    if not test:
        return []
    return [F.Figure("test_accuracy_final", test[-1].value, test[-1].text, test[-1].line, "log"),
            F.Figure("test_accuracy_peak", max(f.value for f in test), "", 0, "log")]


# --------------------------------------------------------------------------- assembling specs

def _assemble(readme: Readme, models: list[Model], glob: list, glob_facts: list, shared: Model | None,
              decisions: list[str]):
    from harness.draft.claims import claims_for, constraint_text, global_targets

    shared_params = sorted({f.value for f in glob if f.kind == "parameters"})
    targets = global_targets(readme, glob)
    outside = [n for n in range(1, len(readme.lines) + 1) if model_of(models, n) is None]
    bounds = list({f.value: f for f in reversed(F.parameter_bounds(readme, outside))}.values())[:1]
    dropout_p = _dropout_statement(readme)
    reference = next((m for m in reversed(models) if m.layers), None) or shared
    base_recipe, base_fid = _recipe(readme, glob_facts, None, {}, decisions, "shared")
    base_arch, base_arch_fid = _reference_architecture(reference, dropout_p, decisions)
    specs: dict[str, dict] = {"_base": {"architecture": {"layers": base_arch}, "recipe": base_recipe,
                                        "fidelity": {"architecture": base_arch_fid, **base_fid}}}
    parent_name, parent = "_base", {"architecture": {"layers": base_arch}, "recipe": base_recipe,
                                    "fidelity": {"architecture": base_arch_fid, **base_fid}}
    arch_source = (reference.label if reference is not shared else f"the shared {reference.layers_evidence}") \
        if reference else None
    target_model = next((m for m in reversed(models) if m.figures or m.curve), models[-1])
    still_unknown: set[str] = set()
    for m in models:
        if m.layers:
            layers, closed_why = repair.closed(fill_dropout(m.layers, dropout_p or 0.1))
            if unknown_dropout(m.layers) and dropout_p is None:
                decisions.append(f"{m.label}: dropout probability not documented; 0.1 assumed")
            arch_fid = m.layers_fid or {"level": "documented", "evidence": m.layers_evidence}
            if closed_why:
                arch_fid = {"level": "reconstructed", "assumption": f"{m.layers_evidence}, plus a final flatten",
                            "why": closed_why}
                decisions.append(f"{m.label}: {closed_why}; confirm it against its forward")
            arch_source = m.label
        else:
            layers = parent["architecture"]["layers"]
            arch_fid = None
        own_recipe, own_fid = _recipe(readme, glob_facts + m.recipe_facts + m.code_facts, m, parent["recipe"],
                                      decisions, m.label)
        if own_recipe["loss"]["type"] == "nll" and _last_kind(layers) != "log_softmax":
            layers = [*layers, "log_softmax"]
        claims, count_fid = claims_for(readme, m, layers, own_recipe["epochs"], shared_params,
                                              targets if m is target_model else [],
                                              bounds if m is target_model else [], arch_fid, arch_source, decisions)
        if not claims:
            decisions.append(f"{m.label}: no figure found, no spec written")
            continue
        full = {"architecture": {"layers": layers}, "recipe": own_recipe,
                "fidelity": {**parent["fidelity"], **own_fid, "architecture": arch_fid or count_fid}}
        stale = [k for k in full["fidelity"] if not _labels_a_field(own_recipe, k)]
        for k in stale:   # e.g. the README's OneCycleLR max_lr, where this model's code runs no scheduler
            del full["fidelity"][k]
        spec = {"title": f"Draft: {m.label}", "source": {"section": _section_text(readme, m)}}
        if stale:  # `extends` cannot remove an inherited label: this spec stands alone
            spec.update(architecture={"layers": layers}, recipe=copy.deepcopy(own_recipe))
            decisions.append(f"{m.label}: its recipe drops what the one before it labels ({', '.join(stale)}): "
                             "written in full, without `extends`")
        else:
            spec = {"title": spec["title"], "extends": parent_name, "source": spec["source"]}
            if layers != parent["architecture"]["layers"]:
                spec["architecture"] = {"layers": layers}
            recipe_diff = _diff(parent["recipe"], own_recipe)
            if recipe_diff:
                spec["recipe"] = recipe_diff
        spec["claims"] = claims
        if m.code is not None:
            found = codemap.findings(readme, m, m.code, m.code_shared,
                                     [f for f in glob_facts + m.recipe_facts if not f.where], m.code_facts)
            if found:
                spec["findings"] = found
                decisions.append(f"{m.label}: {len(found)} README-vs-code finding(s): "
                                 + "; ".join(f["summary"] for f in found))
        fid_diff = {k: v for k, v in full["fidelity"].items() if stale or parent["fidelity"].get(k) != v}
        spec["fidelity"] = fid_diff or {"architecture": full["fidelity"]["architecture"]}
        spec["notes"] = ("Drafted by `python -m harness new`: every claim figure is the README's (see `where`); "
                         "fidelity labels marked unknown are assumptions for a person to confirm.")
        specs[m.name] = spec
        parent_name, parent = m.name, full
        still_unknown.update(k for k in UNKNOWN_WHY if full["fidelity"].get(k, {}).get("level") == "unknown")
    _only_unknowns_left(decisions, still_unknown)
    return specs, constraint_text(readme, glob)


def _only_unknowns_left(decisions: list[str], left: set[str]) -> None:
    """The shared recipe's assumptions, cut to those some drafted spec still relies on (its code may state
    the rest)."""
    for i, line in enumerate(decisions):
        if line.startswith(SHARED_UNKNOWN):
            kept = [f"{k.removeprefix('recipe.')} ({why})" for k, why in UNKNOWN_WHY.items() if k in left]
            if kept:
                decisions[i] = f"{SHARED_UNKNOWN}{'; '.join(kept)}"
            else:
                del decisions[i]
            return


def _labels_a_field(recipe_: dict, key: str) -> bool:
    """Whether a fidelity key that names an argument ("recipe.scheduler.max_lr") still names one."""
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != "recipe":
        return True
    value = recipe_.get(parts[1])
    return isinstance(value, dict) and parts[2] in value


def _last_kind(layers: list) -> str:
    last = layers[-1]
    return last if isinstance(last, str) else next(iter(last))


def _section_text(readme: Readme, m: Model) -> str:
    parts = []
    headings = {s.line: s for s in readme.sections}
    for a, _ in m.sections:
        if a in headings:  # the whole README read as one model has no heading of its own
            parts.append(f"'{headings[a].label(50)}' (line {a})")
    for row in m.rows:
        parts.append(f"table at line {row.table.line}, row '{m.key}' (line {row.line})")
    return "; ".join(parts) or m.label


def _dropout_statement(readme: Readme) -> float | None:
    for n in range(1, len(readme.lines) + 1):
        m = re.search(r"dropout\w*\s*(?:\(\s*p\s*=\s*|[:=]\s*|of\s+)(0?\.\d+|0|1\.0)\b", readme.plain_line(n), re.I)
        if m and float(m.group(1)) > 0:
            return float(m.group(1))
    return None


def _reference_architecture(reference: Model | None, dropout_p, decisions) -> tuple[list, dict]:
    if reference is None:
        decisions.append("no layer list found (no torchsummary table or readable model code): every spec has a "
                         "placeholder architecture (flatten, linear 10) to replace")
        return PLACEHOLDER_LAYERS, {"level": "unknown", "assumption": "placeholder (flatten, linear 10): the README "
                                    "documents no layer list the drafter could read"}
    layers, _ = repair.closed(fill_dropout(reference.layers, dropout_p or 0.1))
    if reference.key == "shared":  # a diagram all models share
        return layers, reference.layers_fid
    return layers, {
        "level": "unknown", "assumption": f"placeholder: the layers of {reference.label} ({reference.layers_evidence})"}


def _diff(parent, child):
    """What `child` changes relative to `parent`, written so that `extends` merging gives `child`."""
    if isinstance(parent, dict) and isinstance(child, dict) and parent.get("type") == child.get("type"):
        out = {}
        for k, v in child.items():
            if k not in parent:
                out[k] = copy.deepcopy(v)
            elif parent[k] != v:
                d = _diff(parent[k], v)
                out[k] = d
        for k in parent:
            if k not in child:
                out[k] = None
        return out
    return copy.deepcopy(child)


# --------------------------------------------------------------------------- recipe

def _documented(readme: Readme, fact) -> dict:
    """The fidelity of a stated fact: the README's (documented) or its code's (documented_in_code)."""
    if fact.where:
        return {"level": "documented_in_code", "evidence": fact.where}
    return {"level": "documented", "evidence": f"{fact.how}, {readme.where(fact.line)}"}


def _recipe(readme: Readme, facts: list, m: Model | None, inherited: dict, decisions: list[str], who: str):
    """The recipe of a model: its own statements over the shared ones, the rest inherited or assumed."""
    out = copy.deepcopy(inherited) if inherited else copy.deepcopy(DEFAULT_RECIPE)
    fid: dict[str, dict] = {}
    own: dict = {}   # later statements win (a model's own follow the shared ones); same-class arguments add up
    for f in facts:
        before = own.get(f.field)
        if before is not None and isinstance(f.value, dict) and isinstance(before.value, dict) \
                and f.value.get("type") == before.value.get("type"):
            f = recipe.Fact(f.field, {**before.value, **f.value}, f.line, f.how, f.where)
        own[f.field] = f
    augmentation = []
    for key in ("epochs", "batch_size", "optimizer", "scheduler", "loss", "normalization"):
        fact = own.get(f"recipe.{key}")
        if fact is not None:
            value = fact.value
            if isinstance(value, dict) and isinstance(out.get(key), dict) and out[key].get("type") == value.get("type"):
                value = {**out[key], **value}   # arguments stated elsewhere in the README stay
            out[key] = value
            fid[f"recipe.{key}"] = _documented(readme, fact)
    for key in ("optimizer", "scheduler"):
        value = out.get(key)
        missing = REQUIRED_ARGUMENTS.get(value.get("type"), {}) if isinstance(value, dict) else {}
        for arg, guess in missing.items():
            if arg not in value:
                value[arg] = guess
                fid[f"recipe.{key}.{arg}"] = {"level": "unknown", "assumption": f"{arg}={guess}"}
                decisions.append(f"{who}: {value['type']} named without {arg}; assumed {arg}={guess}")
    for name, fact in own.items():  # single arguments: "Momentum: 0.98", a "Max LR" column
        parts = name.split(".")
        if len(parts) != 3 or parts[1] not in ("optimizer", "scheduler"):
            continue
        key, arg = parts[1], parts[2]
        if key == "scheduler" and not isinstance(out["scheduler"], dict):
            out["scheduler"] = {"type": "OneCycleLR"}
            fid["recipe.scheduler"] = {"level": "reconstructed", "assumption": "OneCycleLR",
                                       "why": f"a {arg} is stated ({readme.where(fact.line)}), an argument of OneCycleLR"}
        if out[key].get(arg) != fact.value or f"recipe.{key}" not in fid:
            out[key] = {**out[key], arg: fact.value}
            fid[name] = _documented(readme, fact)
    for marker, level in (("recipe.augmentation.none", "documented"), ("recipe.augmentation.named", "unknown")):
        fact = own.get(marker)
        if fact is not None and level == "documented":
            out["augmentation"] = []
            fid["recipe.augmentation"] = {"level": "documented_in_code", "evidence": fact.where} if fact.where else \
                {"level": level, "evidence": f"'None' in the table, {readme.where(fact.line)}"}
        elif fact is not None and f"recipe.augmentation.{fact.value}" not in fid:
            fid["recipe.augmentation"] = {"level": "unknown", "assumption": f"{out['augmentation'] or 'none'}"}
            decisions.append(f"{who}: augmentation {fact.value!r} is named, not described: write its operations")
    for op in ("center_crop_resize", "random_rotation", "random_affine"):
        fact = own.get(f"recipe.augmentation.{op}")
        if fact is not None:
            augmentation.append((fact, {op: fact.value}))
    if augmentation:
        out["augmentation"] = [entry for _, entry in augmentation]
        fid["recipe.augmentation"] = {
            "level": "documented_in_code" if all(f.where for f, _ in augmentation) else "documented",
            "evidence": "; ".join(f.where or f"{f.how}, {readme.where(f.line)}" for f, _ in augmentation)}
    if m is not None:
        if "recipe.epochs" not in fid and m.curve is not None:
            out["epochs"] = len(m.curve.test)
            fid["recipe.epochs"] = {"level": "documented", "evidence": f"training log: {len(m.curve.test)} epochs, "
                                                                       f"{readme.where(m.curve.line)}"}
        if "recipe.epochs" not in fid and m.epochs_from_header:
            out["epochs"] = m.epochs_from_header[0]
            fid["recipe.epochs"] = {"level": "documented",
                                    "evidence": f"table header, {readme.where(m.epochs_from_header[1])}"}
        if "recipe.batch_size" not in fid and m.curve is not None and m.curve.batches:
            n = m.curve.batches
            sizes = [2 ** k for k in range(4, 13) if math.ceil(MNIST_TRAIN / 2 ** k) == n]
            if len(sizes) == 1:
                out["batch_size"] = sizes[0]
                fid["recipe.batch_size"] = {
                    "level": "reconstructed", "assumption": str(sizes[0]),
                    "why": f"the log's progress bar shows {n} batches per epoch and ceil(60000/{sizes[0]}) = {n} "
                           "(the only power of two that gives it)"}
        return out, fid
    unknown = []
    for key, why in UNKNOWN_WHY.items():
        if key not in fid:
            fid[key] = {"level": "unknown", "assumption": why}
            unknown.append(f"{key.removeprefix('recipe.')} ({why})")
    if unknown:
        decisions.append(f"{SHARED_UNKNOWN if who == 'shared' else who + ' recipe not stated, assumed: '}"
                         f"{'; '.join(unknown)}")
    return out, fid
