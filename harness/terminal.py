"""Text from a spec, shown in a terminal: control characters escaped, never interpreted.

A spec's strings (titles, sections, statements, file names, YAML keys) can hold ESC sequences, carriage
returns, backspaces or bidirectional overrides that would recolour, rewrite or hide what a terminal shows.
Every CLI and pytest output of such a string goes through `safe`, which writes them the way Python's
repr does (`\\x1b`, `\\r`, `\\u202e`), so the reader sees exactly what the file holds.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, zero-width and bidirectional formatting characters, line and paragraph separators
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def safe(text) -> str:
    """`text` (any value, as str) with every control or invisible formatting character escaped."""
    return UNSAFE.sub(_escape, str(text))
