"""Spec strings in the reports create no markup and hide nothing (hostile titles, findings, claims)."""

import re

import pytest

from harness.markup import html_text, md_text

HOSTILE = [
    "![px](http://attacker.invalid/s.png)",
    "[clk](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "http://attacker.invalid/autolink",
    "<http://attacker.invalid/angle>",
    "**bold** _em_ `code` # heading",
    "a | b",
    "&lt;script&gt; entity",
    "esc \x1b[31mred\x1b[0m bs \x08 rlo \u202ehidden\u202c zw \u200b",
    "line\nbreak\rcarriage",
]


def _render_commonmark(text: str) -> str | None:
    try:
        import markdown_it  # matplotlib's dependencies do not bring it; skipped when absent
    except ImportError:
        return None
    return markdown_it.MarkdownIt("gfm-like").enable("table").render(text)


@pytest.mark.parametrize("text", HOSTILE)
def test_markdown_cells_create_no_link_image_tag_or_emphasis(text):
    cell = md_text(text)
    assert not re.search(r"(?<!\\)!\[|(?<!\\)\]\(|<[a-z/]|(?<!\\)\*\*|(?<!\\)`|(?<!\\)\|", cell)
    assert "\x1b" not in cell and "\u202e" not in cell and "\x08" not in cell and "\n" not in cell
    rendered = _render_commonmark(f"| a |\n|---|\n| {cell} |\n")
    if rendered is not None:
        assert "<img" not in rendered and "<a " not in rendered and "<strong" not in rendered


@pytest.mark.parametrize("text", HOSTILE)
def test_html_text_is_escaped_and_shows_invisible_characters(text):
    out = html_text(text)
    assert "<" not in out and '"' not in out and "\x1b" not in out and "\u202e" not in out
    if "\u202e" in text:
        assert "\\u202e" in out


def test_plain_text_reads_as_it_was():
    assert md_text("99.4% in 15 epochs") == "99.4% in 15 epochs"
    assert md_text("[+0.75, +1.25]") == "\\[+0.75, +1.25\\]"  # renders as written
    assert html_text("99.4% in 15 epochs") == "99.4% in 15 epochs"
