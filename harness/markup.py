"""Untrusted strings (spec titles, findings, README figures' contexts) made inert for the reports.

REPORT.md is rendered by GitHub, editors and Markdown viewers; report.html by browsers. A spec's
strings must show as the text they are: no link, image, emphasis, heading, HTML tag or entity can be
created by a spec in either report, and control, zero-width and bidirectional characters (which could
hide or reorder what a reader sees) are shown visibly, the way the terminal shows them (`harness.terminal`).
"""

from __future__ import annotations

import html
import re

from harness.terminal import UNSAFE, safe

# The punctuation that can open a Markdown construct inside a line: code, emphasis, links and images (no
# `[` or `]` survives, so no `[text](url)` or `![alt](src)`), table columns, strikethrough, and the `:` of a
# scheme (`javascript:`, `http://`: GitHub's autolinker needs it whole). Any ASCII punctuation may be escaped
# (CommonMark); these are escaped so the rest of a cell reads as written.
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~!:])")


def visible(text) -> str:
    """Line breaks as spaces, every other control or invisible formatting character escaped visibly."""
    return safe(re.sub(r"[\r\n\t]+", " ", str(text)))


def md_text(text) -> str:
    """A Markdown table cell or paragraph text: shows exactly `text`, creates nothing.

    `<` and `&` become entities (no tag, no autolink, no entity of the spec's own); Markdown punctuation
    is backslash-escaped, so `![x](http://...)` is no image, `[x](javascript:...)` no link, and a URL's
    `:` keeps GitHub's autolinker from turning `http://...` into a link."""
    text = visible(text).replace("&", "&amp;").replace("<", "&lt;")
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def html_text(text) -> str:
    """HTML text content and attribute values: escaped, with invisible characters shown."""
    return html.escape(visible(text), quote=True)


def has_hidden_characters(text) -> bool:
    return bool(UNSAFE.search(str(text)))
