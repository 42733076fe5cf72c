"""A README as the drafter reads it: lines, sections, fenced code blocks and markdown tables.

Every figure the drafter extracts keeps the line it came from, so a claim's `where` can
name its section and line and `python -m harness check` can look the figure up again.
The text is only read: nothing in it is executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_README_BYTES = 2_000_000
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s{0,3}(```|~~~)\s*([\w+-]*)")
TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")

_LATEX_WRAPPERS = re.compile(r"\\(?:mathbf|mathrm|text|textbf|boldsymbol)\{([^{}]*)\}")
_HTML_TAG = re.compile(r"<[^>]{0,200}>")


def plain(text: str) -> str:
    """Markup removed so figures read plainly: bold, LaTeX wrappers and `$`, HTML tags, `\\%`."""
    for _ in range(3):
        text = _LATEX_WRAPPERS.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = text.replace("\\%", "%").replace("\\,", "").replace("\\#", "#").replace("\\times", "x")
    text = text.replace("\\le", "<=").replace("\\ge", ">=").replace("\\to", "->").replace("\\quad", " ")
    return text.replace("**", "").replace("__", "").replace("$", "").replace("`", "")


@dataclass
class Section:
    title: str     # the heading text, markup removed
    level: int
    line: int      # 1-based line of the heading (0: text before the first heading)
    end: int       # last line of the section, before the next heading of the same or a higher level

    def label(self, width: int = 60) -> str:
        text = self.title if len(self.title) <= width else self.title[: width - 3] + "..."
        return text or "(before the first heading)"


@dataclass
class CodeBlock:
    language: str
    start: int     # line of the first line of code (1-based)
    text: str


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    row_lines: list[int]
    line: int      # the header's line

    def column(self, *words: str) -> int | None:
        for i, name in enumerate(self.header):
            low = name.lower()
            if all(w in low for w in words):
                return i
        return None


@dataclass
class Readme:
    path: Path
    lines: list[str]                           # raw lines, index 0 = line 1
    sections: list[Section] = field(default_factory=list)
    code_blocks: list[CodeBlock] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    in_code: set[int] = field(default_factory=set)  # lines inside fenced blocks

    @classmethod
    def read(cls, path: Path | str) -> Readme:
        path = Path(path)
        size = path.stat().st_size
        if size > MAX_README_BYTES:
            raise ValueError(f"{path}: {size:,} bytes is more than a README the drafter reads ({MAX_README_BYTES:,})")
        return cls.parse(path.read_text(encoding="utf-8", errors="replace"), path)

    @classmethod
    def parse(cls, text: str, path: Path | str = "README.md") -> Readme:
        readme = cls(Path(path), text.splitlines())
        readme._scan()
        return readme

    def line(self, number: int) -> str:
        return self.lines[number - 1] if 1 <= number <= len(self.lines) else ""

    def plain_line(self, number: int) -> str:
        return plain(self.line(number))

    def section_at(self, number: int) -> Section:
        """The innermost section holding this line."""
        best = self.sections[0]
        for s in self.sections:
            if s.line <= number <= s.end and s.level >= best.level:
                best = s
        return best

    def where(self, number: int, what: str = "") -> str:
        return f"{what + ', ' if what else ''}section '{self.section_at(number).label()}', line {number}"

    # ------------------------------------------------------------------ scanning

    def _scan(self) -> None:
        self.sections = [Section("", 0, 0, len(self.lines))]
        fence, block_start, language, block = None, 0, "", []
        for i, raw in enumerate(self.lines, start=1):
            m = FENCE.match(raw)
            if fence is not None:
                if m and raw.strip().startswith(fence):
                    self.code_blocks.append(CodeBlock(language, block_start, "\n".join(block)))
                    fence = None
                else:
                    self.in_code.add(i)
                    block.append(raw)
                continue
            if m:
                fence, language, block_start, block = m.group(1), m.group(2).lower(), i + 1, []
                continue
            h = HEADING.match(raw)
            if h:
                self.sections.append(Section(plain(h.group(2)).strip(), len(h.group(1)), i, len(self.lines)))
        if fence is not None:  # an unclosed fence runs to the end
            self.code_blocks.append(CodeBlock(language, block_start, "\n".join(block)))
        for k, s in enumerate(self.sections[1:], start=1):
            for later in self.sections[k + 1:]:
                if later.level <= s.level:
                    s.end = later.line - 1
                    break
        self._tables()

    def _tables(self) -> None:
        i, n = 1, len(self.lines)
        while i < n:
            head, rule = self.line(i), self.line(i + 1)
            if i not in self.in_code and "|" in head and TABLE_RULE.match(rule):
                table = Table(_cells(head), [], [], i)
                j = i + 2
                while j <= n and "|" in self.line(j) and self.line(j).strip() and not TABLE_RULE.match(self.line(j)):
                    table.rows.append(_cells(self.line(j)))
                    table.row_lines.append(j)
                    j += 1
                self.tables.append(table)
                i = j
            else:
                i += 1


def _cells(line: str) -> list[str]:
    text = line.strip()
    text = text[1:] if text.startswith("|") else text
    text = text[:-1] if text.endswith("|") and not text.endswith("\\|") else text
    return [plain(c).strip() for c in re.split(r"(?<!\\)\|", text)]
