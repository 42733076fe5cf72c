"""Figures read from README text: parameter statements, accuracy statements, training logs and tables.

Each figure keeps its README line and its text as written, so nothing is rounded, derived or
invented on the way into a claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.draft.readme import Readme, Table, plain

COUNT = r"\d{1,3}(?:,\d{3})+|\d{3,}"
PERCENT = r"\d{1,3}(?:\.\d+)?"

MODEL_WORDS = ("iteration", "model", "experiment", "exp", "step", "version", "attempt", "trial", "stage", "phase",
               "run", "network", "net", "code", "session", "notebook")
_MODEL_LABEL = re.compile(r"\b(" + "|".join(MODEL_WORDS) + r")s?\s*[-#:.]?\s*(\d{1,3}|final)\b(?!\s*[-–]\s*\d)", re.I)
_FINAL = re.compile(r"\bfinal\b", re.I)


@dataclass
class Figure:
    """One figure as the README writes it."""

    kind: str                   # a claim kind: parameters, test_accuracy_final, ...
    value: float | None
    text: str                   # the figure's own text, e.g. "19,056" or "99.48"
    line: int
    source: str                 # what it was read from: "statement", "table", "log", "torchsummary"
    args: dict = field(default_factory=dict)  # epoch, epochs, band, approximate, estimated

    def key(self) -> tuple:
        return (self.kind, tuple(sorted((k, v) for k, v in self.args.items() if k in ("epoch", "epochs"))))


def model_label(text: str) -> tuple[str, str] | None:
    """('iteration', '5') for "Iteration 5: ...", ('', 'final') for "The Final Architecture"."""
    m = _MODEL_LABEL.search(plain(text))
    if m:
        return m.group(1).lower(), m.group(2).lower()
    if _FINAL.search(text):
        return "", "final"
    return None


def number(text: str) -> float:
    return float(text.replace(",", ""))


SCALED = r"\d{1,4}(?:\.\d{1,3})?\s?[kKmM]"   # "13.7K", "1.2M", "12k"
_SCALE = {"k": 1_000, "m": 1_000_000}


def scaled(text: str) -> tuple[float, list[int]] | None:
    """(value, band) of a count written with K or M: "13.7K" is 13,700 and stands for any count that
    rounds or truncates to it, 13,650-13,799 (from half a unit of its last digit below to one unit above,
    exclusive: such READMEs write 6,379,786 as "6.3M" as often as 13,808 as "14k")."""
    m = re.fullmatch(r"\s*(\d{1,4})(?:\.(\d{1,3}))?\s?([kKmM])\s*", text)
    if m is None:
        return None
    unit = _SCALE[m.group(3).lower()]
    decimals = len(m.group(2) or "")
    value = float(f"{m.group(1)}.{m.group(2) or 0}") * unit
    half = unit * 10 ** -decimals / 2
    return value, [max(0, round(value - half)), round(value + 2 * half) - 1]


def count_figure(text: str, line: int, source: str, approximate: bool = False) -> Figure | None:
    """A parameter count as written: "6,174", "~593,200" or "13.7K" (read as the band it rounds from)."""
    k = scaled(text)
    if k is not None:
        return Figure("parameters", k[0], text.strip(), line, source, {"band": k[1]})
    if re.fullmatch(r"\s*(" + COUNT + r"|\d+)\s*", text):
        return Figure("parameters", number(text), text.strip(), line, source,
                      {"approximate": True} if approximate else {})
    return None


# --------------------------------------------------------------------------- parameter statements

_BOUND_BEFORE = re.compile(r"(<|>|≤|≥|<=|>=|under|below|fewer than|less than|more than|limit|over|above|than|"
                           r"max(?:imum)?|at most|budget|target)\W{0,3}$", re.I)
_PARAM_AFTER = re.compile(r"(?P<approx>~|≈|about |around |approximately )?(?P<num>" + SCALED + "|" + COUNT +
                          r")(?:\s*-\s*|\s+)(?:trainable\s+)?param", re.I)
_PARAM_BEFORE = re.compile(r"\bparam(?:eter)?s?(?:\s+count)?\s*\)?\s*[:=]\s*(?P<approx>~|≈)?\s*(?P<num>" + SCALED + "|"
                           + COUNT + r")\b", re.I)
_NOT_TOTAL = re.compile(r"non-trainable|trainable params|params size", re.I)


def parameter_statements(readme: Readme) -> list[Figure]:
    out = []
    for n in range(1, len(readme.lines) + 1):
        text = readme.plain_line(n)
        if "param" not in text.lower() or _NOT_TOTAL.search(text) or text.lstrip().startswith("|"):
            continue
        seen = set()
        for pattern in (_PARAM_BEFORE, _PARAM_AFTER):
            for m in pattern.finditer(text):
                if m.start("num") in seen or _BOUND_BEFORE.search(text[: m.start()]):
                    continue
                seen.add(m.start("num"))
                exact = re.match(r"\s*\(\s*(" + COUNT + r")\s*\)", text[m.end("num"):])
                if exact and scaled(m.group("num")):   # "14k (13,808)": the exact count is the figure
                    fig = count_figure(exact.group(1), n, "statement")
                else:
                    fig = count_figure(m.group("num"), n, "statement", bool(m.group("approx")))
                if fig is not None:
                    out.append(fig)
    return out


# --------------------------------------------------------------------------- accuracy statements

_TARGET_BEFORE = re.compile(r"(>|≥|>=|over|above|at least|exceed(?:ing|s)?|more than|beyond|target(?:ing)?|goal)"
                            r"[^\d]{0,4}$", re.I)
_ACC_VALUE = re.compile(r"(?P<approx>~|≈)?\s*(?P<num>" + PERCENT + r")(?:\s*[-–]\s*(?P<hi>" + PERCENT +
                        r"))?\s*(?P<pct>%)?(?P<plus>\+)?")
_LAST_N = re.compile(r"(?:average|mean|avg)\s+(?:of\s+)?(?:the\s+)?last\s+(\d+)|last\s+(\d+)\s+epochs", re.I)
_LOGLIKE = re.compile(r"Test set:|Batch_id|it/s\]|Loss=|\d+/\d+ \[|Epoch\s*\d+", re.I)


def accuracy_statements(readme: Readme, lines: range | None = None, in_code: bool = False) -> list[Figure]:
    """Accuracy figures in sentences and `Label: value` lines (tables and logs are read elsewhere).

    The kind comes from the words around the figure; a figure no word classifies is kept with
    kind `ambiguous` for the person deciding."""
    out = []
    for n in lines or range(1, len(readme.lines) + 1):
        raw = readme.line(n)
        if (n in readme.in_code and not in_code) or _LOGLIKE.search(raw) or re.match(r"\s*\|\s*\**\d", raw):
            continue  # logs and numbered table rows (epochs, iterations) are read as tables
        text = plain(raw)
        if "accura" not in text.lower():
            continue
        for m in _ACC_VALUE.finditer(text):
            if not m.group("pct") and not re.search(r"accura\w*(\s*\([^)]*\))?\s*[:=]\s*$", text[: m.start()], re.I):
                continue  # a bare number is an accuracy only right after "Accuracy:"
            value = float(m.group("num"))
            if value > 100 or (value == 100 and m.group("pct")):
                continue
            sentence = _sentence(text, m.start(), m.end())
            before = text[: m.start()]
            args: dict = {}
            if m.group("approx") or re.search(r"estimat|approx", sentence, re.I):
                args["estimated"] = True
            if m.group("hi"):
                args["band"] = [value, float(m.group("hi"))]
            elif _TARGET_BEFORE.search(before) or m.group("plus"):
                args["band"] = [value, 100.0]
            kind = _accuracy_kind(sentence, args)
            text_fig = m.group("num") if not m.group("hi") else f"{m.group('num')}-{m.group('hi')}"
            out.append(Figure(kind, value if "band" not in args or not m.group("hi") else None, text_fig, n,
                              "statement", args))
            if kind == "test_accuracy_mean_last":
                last = _LAST_N.search(sentence)
                args["epochs"] = int(last.group(1) or last.group(2))
    return out


def _sentence(text: str, start: int, end: int) -> str:
    left = max(text.rfind(". ", 0, start), text.rfind("; ", 0, start), text.rfind("|", 0, start))
    right = min([i for i in (text.find(". ", end), text.find("; ", end), text.find("|", end)) if i != -1] or [len(text)])
    return text[left + 1: right]


def _accuracy_kind(sentence: str, args: dict) -> str:
    low = sentence.lower()
    train = "train" in low and "test" not in low
    if _LAST_N.search(sentence):
        return "test_accuracy_mean_last"
    if re.search(r"\b(peak|best|highest|max(imum)?|top)\b", low):
        return "train_accuracy_peak" if train else "test_accuracy_peak"
    if re.search(r"\b(final|last|end|after \d+ epochs?|in \d+ epochs?)\b|\(\d+ epochs?\)", low) or "band" in args:
        return "train_accuracy_final" if train else "test_accuracy_final"
    return "ambiguous"


# --------------------------------------------------------------------------- training logs

_TEST_LINE = re.compile(r"Test set:.*?Accuracy:\s*(\d+)\s*/\s*(\d+)\s*\(\s*(" + PERCENT + r")\s*%\s*\)", re.I)
_TEST_ACC_LINE = re.compile(r"^(?!.*\b(?:best|max|peak|highest)\b).*\btest(?:ing)?\s+acc(?:uracy)?\s*[:=]\s*("
                            + PERCENT + r")\s*%?", re.I)
_EPOCH_LINE = re.compile(r"\bepoch\b\W{0,3}(\d+)", re.I)
_TRAIN_ACC = re.compile(r"\b(?:Accuracy|Acc)\s*[=:]\s*(" + PERCENT + r")", re.I)


@dataclass
class Curve:
    """Per-epoch accuracies read from one training log or epoch table (index 0 = epoch 1)."""

    test: list[Figure | None]
    train: list[Figure | None]
    line: int
    source: str   # "log" or "table"
    batches: int | None = None   # batches per epoch shown by a progress bar


def training_logs(readme: Readme) -> list[Curve]:
    """Runs of `Test set: ... Accuracy: a/b (p%)` lines; a run restarts when the epoch number does."""
    runs: list[Curve] = []
    epoch, train, batches, last_epoch, base, run_block = None, None, None, 0, 1, None
    for n in range(1, len(readme.lines) + 1):
        text = readme.line(n)
        t = _TEST_LINE.search(text)
        if t is None and n in readme.in_code:
            t = _TEST_ACC_LINE.search(text)
        if t:
            same_line = _EPOCH_LINE.search(text[: t.start(t.lastindex)])
            epoch = int(same_line.group(1)) if same_line else epoch
            inline_train = re.search(r"\btrain(?:ing)?\s+acc(?:uracy)?\s*[:=]\s*(" + PERCENT + ")", text, re.I)
            if inline_train:
                train = Figure("train_accuracy_at_epoch", float(inline_train.group(1)), inline_train.group(1), n, "log")
            this = epoch if epoch is not None else last_epoch + 1
            block = _block_of(readme, n)
            if not runs or this <= last_epoch or block != run_block:
                runs.append(Curve([], [], n, "log"))
                base = 0 if this == 0 else 1   # "EPOCH: 0" logs count from zero
                run_block = block
            run = runs[-1]
            while len(run.test) < this - base:
                run.test.append(None)
                run.train.append(None)
            value = t.group(t.lastindex)
            run.test.append(Figure("test_accuracy_at_epoch", float(value), value, n, "log", {}))
            run.train.append(train)
            run.batches = batches or run.batches
            last_epoch, epoch, train, batches = this, None, None, None
            continue
        e = _EPOCH_LINE.search(text)
        if e and len(text.strip()) < 60 and not _TRAIN_ACC.search(text):
            epoch = int(e.group(1))
            continue
        a = _TRAIN_ACC.search(text)
        if a and re.search(r"train|loss|batch", text, re.I):
            train = Figure("train_accuracy_at_epoch", float(a.group(1)), a.group(1), n, "log")
            bar = re.search(r"\|\s*(\d+)/(\d+)\s*\[", text)
            if bar and bar.group(1) == bar.group(2):
                batches = int(bar.group(2))
    for run in runs:
        for i, (test, trained) in enumerate(zip(run.test, run.train)):
            for f in (test, trained):
                if f is not None:
                    f.args["epoch"] = i + 1
    return [r for r in runs if any(r.test)]


def _block_of(readme: Readme, line: int) -> int | None:
    """The code block holding a line (a log in another block is another run)."""
    for i, b in enumerate(readme.code_blocks):
        if b.start <= line < b.start + len(b.text.splitlines()) + 1:
            return i
    return None


def epoch_tables(readme: Readme) -> list[Curve]:
    """Markdown tables with an Epoch column and test and/or train accuracy columns."""
    out = []
    for table in readme.tables:
        ep = table.column("epoch")
        test = table.column("test", "acc")
        train = table.column("train", "acc")
        if ep is None or (test is None and train is None):
            continue
        curve = Curve([], [], table.line, "table")
        for row, n in zip(table.rows, table.row_lines):
            if ep >= len(row) or not re.fullmatch(r"\d{1,4}", row[ep]):
                continue
            epoch = int(row[ep])
            while len(curve.test) < epoch - 1:
                curve.test.append(None)
                curve.train.append(None)
            curve.test.append(_cell_figure(row, test, "test_accuracy_at_epoch", n, epoch))
            curve.train.append(_cell_figure(row, train, "train_accuracy_at_epoch", n, epoch))
        if any(curve.test) or any(curve.train):
            out.append(curve)
    return out


def _cell_figure(row: list[str], col: int | None, kind: str, line: int, epoch: int) -> Figure | None:
    if col is None or col >= len(row):
        return None
    m = re.fullmatch(r"\s*(" + PERCENT + r")\s*%?\s*", row[col])
    if not m or float(m.group(1)) > 100:
        return None
    return Figure(kind, float(m.group(1)), m.group(1), line, "table", {"epoch": epoch})


# --------------------------------------------------------------------------- iteration tables

@dataclass
class Row:
    label: tuple[str, str]     # ("iteration", "5")
    line: int
    figures: list[Figure]
    table: Table
    cells: list[str]


def iteration_tables(readme: Readme) -> list[list[Row]]:
    """Tables whose first column names iterations (1, 2, ..., FINAL) and that give parameters or accuracy."""
    out = []
    for table in readme.tables:
        first = table.header[0].lower() if table.header else ""
        word = next((w for w in MODEL_WORDS if w in first), None)
        if word is None and first.strip("\\ ") not in ("#", "no", "no.", "id"):
            continue
        if word is None:  # "#": the heading names the rows ("... (10 Key Experiments)"), a plural first
            heading = readme.section_at(table.line).title.lower()
            word = next((w for w in MODEL_WORDS if re.search(rf"\b{w}s\b", heading)), None) or \
                next((w for w in MODEL_WORDS if re.search(rf"\b{w}", heading)), "row")
        params = table.column("param")
        accs = [(i, h) for i, h in enumerate(table.header) if "acc" in h.lower()]
        if params is None and not accs:
            continue
        rows = []
        for row, n in zip(table.rows, table.row_lines):
            m = re.fullmatch(r"\s*(?:[A-Za-z]+\s*)?(\d{1,3}|final)\s*", row[0], re.I) if row else None
            if not m:
                continue
            figures = []
            if params is not None and params < len(row):
                p = re.fullmatch(r"\s*(~|≈)?\s*(" + SCALED + "|" + COUNT + r"|\d+)\s*", row[params])
                fig = count_figure(p.group(2), n, "table", bool(p.group(1))) if p else None
                if fig is not None:
                    figures.append(fig)
            for i, header in accs:
                fig = _accuracy_cell(row, i, header, n)
                if fig:
                    figures.append(fig)
            rows.append(Row((word, m.group(1).lower()), n, figures, table, row))
        if rows:
            out.append(rows)
    return out


def _accuracy_cell(row: list[str], col: int, header: str, line: int) -> Figure | None:
    if col >= len(row):
        return None
    m = re.fullmatch(r"\s*(~|≈|<|>|>=|≥)?\s*(" + PERCENT + r")\s*%?\s*", row[col])
    if not m or float(m.group(2)) > 100:
        return None
    value, args = float(m.group(2)), {}
    if m.group(1) in ("~", "≈"):
        args["estimated"] = True
    elif m.group(1):
        return None  # a bound in a cell ("<95%") is not a figure of a run
    low = header.lower()
    last = _LAST_N.search(header) or re.search(r"(?:final|last)\s+(\d+)\s+(?:avg|average|mean)", low)
    if last:
        kind = "test_accuracy_mean_last"
        args["epochs"] = int(next(g for g in last.groups() if g))
    elif re.search(r"\b(peak|best|highest|max)\b", low):
        kind = "train_accuracy_peak" if "train" in low else "test_accuracy_peak"
    else:
        kind = "train_accuracy_final" if "train" in low else "test_accuracy_final"
    return Figure(kind, value, m.group(2), line, "table", args)


def epochs_in_header(table: Table) -> int | None:
    """"Accuracy (1 epoch)" -> 1."""
    for h in table.header:
        m = re.search(r"\((\d+)\s*epochs?\)", h, re.I)
        if m and "acc" in h.lower():
            return int(m.group(1))
    return None


_BOUND = re.compile(r"(<=|≤|<|under|below|fewer than|less than)\s*(" + COUNT + r"|\d+(?:\.\d+)?\s*[kKmM])\b")


def parameter_bounds(readme: Readme, lines) -> list[Figure]:
    """"< 25,000 parameters", "under 20k parameters": the bound as a band [0, N - 1] (or [0, N] for <=)."""
    out = []
    for n in lines:
        text = readme.plain_line(n)
        m = _BOUND.search(text)
        if not (m and re.search(r"param", text, re.I)):
            continue
        raw = m.group(2).replace(" ", "")
        value = round(number(raw[:-1]) * _SCALE[raw[-1].lower()]) if raw[-1] in "kKmM" else int(number(raw))
        strict = m.group(1) not in ("<=", "≤")
        out.append(Figure("parameters_bound", value, raw, n, "statement",
                          {"band": [0, value - 1 if strict else value], "strict": strict}))
    return out


def metric_tables(readme: Readme) -> list[tuple[str, Figure]]:
    """Tables with one column per model ("Model 3 (Baseline)") and one row per metric ("Epochs to 95%",
    "Final Test Accuracy"): (model key, figure) pairs. Ranges of epochs ("~8-10") are left to a person."""
    out = []
    for table in readme.tables:
        columns = {i: model_label(h) for i, h in enumerate(table.header) if i and model_label(h)}
        columns = {i: lab for i, lab in columns.items() if lab[1] != "final" or lab[0]}
        if len(columns) < 2:
            continue
        for row, n in zip(table.rows, table.row_lines):
            metric = row[0] if row else ""
            reach = re.search(r"epochs?\s+to\s+(" + PERCENT + r")\s*%", metric, re.I)
            for i, (_, key) in columns.items():
                cell = row[i].strip() if i < len(row) else ""
                if reach:
                    threshold = float(reach.group(1))
                    if re.fullmatch(r"never", cell, re.I):
                        out.append((key, Figure("first_epoch_reaching", None, cell, n, "table",
                                                {"threshold": threshold})))
                    elif re.fullmatch(r"\d{1,3}", cell):
                        out.append((key, Figure("first_epoch_reaching", float(cell), cell, n, "table",
                                                {"threshold": threshold})))
                elif "acc" in metric.lower():
                    kind = _accuracy_kind(metric, {})
                    m = _ACC_VALUE.fullmatch(cell)
                    if kind == "ambiguous" or not m or not m.group("pct"):
                        continue
                    args: dict = {"estimated": True} if m.group("approx") else {}
                    if m.group("hi"):
                        args["band"] = [float(m.group("num")), float(m.group("hi"))]
                    value = None if m.group("hi") else float(m.group("num"))
                    out.append((key, Figure(kind, value, cell.lstrip("~≈ ").rstrip("%"), n, "table", args)))
    return out
