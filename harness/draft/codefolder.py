"""A README's code folder as the drafter reads it: model modules, training scripts and Jupyter notebooks.

Nothing is executed or imported. A notebook (.ipynb, JSON) gives its code cells, read with `ast`
after its shell (`!pip ...`) and magic (`%matplotlib ...`) lines are blanked (a `pass` of the same
indentation keeps line numbers and blocks intact), and its outputs as text: torchsummary tables and
printed per-epoch logs are data, read like a README's. A cell that still does not parse is left
out and counted. Sizes are bounded as READMEs are (readme.MAX_README_BYTES per text file; a
notebook's outputs may make it larger, up to MAX_NOTEBOOK_BYTES); a larger file is refused from its
size alone, before it is read.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.draft.readme import MAX_README_BYTES

MAX_NOTEBOOK_BYTES = 8_000_000      # the largest audited notebook (006) is 314,154 bytes, outputs included
MAX_CODE_FILES = 200                # files read from one folder
MAX_CODE_TOTAL_BYTES = 40_000_000   # all of them together
SKIPPED_DIRS = {".git", ".ipynb_checkpoints", "__pycache__", "node_modules", ".venv", "venv"}
_SHELL = re.compile(r"^(\s*)[!%]")


@dataclass
class CodeFile:
    """One file of code: its name, the code (notebook cells joined), and a notebook's outputs as text."""

    name: str                       # path relative to the folder given
    kind: str                       # "notebook" or "module"
    code: str
    cell_of_line: list[int] = field(default_factory=list)   # notebook: the cell (1-based) of each code line
    outputs: str = ""
    unparsed_cells: list[int] = field(default_factory=list)
    markdown: str = ""              # a notebook's text cells (its own statements of counts and results)

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def where(self, line: int) -> str:
        """`file, cell N` for a notebook line, `file, line N` for a module."""
        if self.kind == "notebook" and 1 <= line <= len(self.cell_of_line):
            return f"{self.name}, cell {self.cell_of_line[line - 1]}"
        return f"{self.name}, line {line}"


@dataclass
class CodeFolder:
    files: list[CodeFile]
    refused: list[str]              # "name: why", for the person deciding

    @property
    def notebooks(self) -> list[CodeFile]:
        return [f for f in self.files if f.kind == "notebook"]


def read(paths: list[Path]) -> CodeFolder:
    """Every .py and .ipynb file given (folders searched), each bounded in size before it is read."""
    files, refused, total = [], [], 0
    candidates: list[tuple[Path, str]] = []
    for p in paths:
        if p.is_dir():
            candidates.extend((f, str(f.relative_to(p))) for f in _code_files(p, MAX_CODE_FILES + 1 - len(candidates)))
        elif p.is_file():
            candidates.append((p, p.name))
        else:
            refused.append(f"{p}: no such file or folder")
    if len(candidates) > MAX_CODE_FILES:
        refused.append(f"more than {MAX_CODE_FILES} code files: only the first {MAX_CODE_FILES} (folders walked in "
                       "name order) are read")
        candidates = candidates[:MAX_CODE_FILES]
    for path, name in candidates:
        try:
            size = path.stat().st_size
        except OSError as exc:
            refused.append(f"{name}: {exc.strerror or exc}")
            continue
        limit = MAX_NOTEBOOK_BYTES if path.suffix == ".ipynb" else MAX_README_BYTES
        if size > limit:
            refused.append(f"{name}: {size:,} bytes is more than a code file the drafter reads ({limit:,}); not read")
            continue
        if total + size > MAX_CODE_TOTAL_BYTES:
            refused.append(f"{name}: the code read reaches {MAX_CODE_TOTAL_BYTES:,} bytes; not read")
            continue
        total += size
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            refused.append(f"{name}: {exc.strerror or exc}")
            continue
        if path.suffix == ".ipynb":
            nb = notebook(name, text)
            if isinstance(nb, str):
                refused.append(nb)
            else:
                files.append(nb)
        else:
            files.append(CodeFile(name, "module", text))
    return CodeFolder(files, refused)


def _code_files(folder: Path, limit: int) -> list[Path]:
    """Up to `limit` .py and .ipynb files under `folder`, walked in name order (links to folders not followed),
    so that a folder given by mistake (a home directory) stops the walk early instead of listing it all."""
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix in (".py", ".ipynb") and path.is_file():
                out.append(path)
                if len(out) >= limit:
                    return out
    return out


def notebook(name: str, text: str) -> CodeFile | str:
    """The notebook's code cells (shell and magic lines blanked, a first line's indent removed as IPython does)
    and outputs, or why it cannot be read."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return f"{name}: not a notebook (JSON: {str(exc)[:80]})"
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):  # nbformat 3 kept cells in worksheets
        sheets = data.get("worksheets") if isinstance(data, dict) else None
        cells = [c for s in sheets or [] if isinstance(s, dict) for c in s.get("cells") or []]
    code_lines: list[str] = []
    cell_of_line: list[int] = []
    outputs: list[str] = []
    unparsed: list[int] = []
    markdown: list[str] = []
    for index, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            markdown.append(_text(cell.get("source", "")))
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _text(cell.get("source", cell.get("input", "")))
        lines = _leading_indent_removed([_blank_shell(line) for line in source.splitlines()])
        try:
            ast.parse("\n".join(lines))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            unparsed.append(index)
            lines = []
        code_lines.extend(lines)
        cell_of_line.extend([index] * len(lines))
        for out in cell.get("outputs") or []:
            if not isinstance(out, dict):
                continue
            body = out.get("text")
            if body is None and isinstance(out.get("data"), dict):
                body = out["data"].get("text/plain")
            if body is not None:
                outputs.append(_text(body))
    return CodeFile(name, "notebook", "\n".join(code_lines), cell_of_line, "\n".join(outputs), unparsed,
                    "\n".join(markdown))


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _leading_indent_removed(lines: list[str]) -> list[str]:
    """A cell whose first line is indented (" fig, axs = ...") runs in IPython, which removes that indent
    from every line that starts with it; Python would refuse it."""
    first = next((line for line in lines if line.strip()), "")
    indent = first[: len(first) - len(first.lstrip())]
    if not indent:
        return lines
    return [line[len(indent):] if line.startswith(indent) else line for line in lines]


def _blank_shell(line: str) -> str:
    """`!pip install x` and `%matplotlib inline` are IPython, not Python: a `pass` keeps the block's shape."""
    m = _SHELL.match(line)
    return f"{m.group(1)}pass" if m else line
