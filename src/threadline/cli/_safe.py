"""Untrusted text made safe for a terminal: control characters become visible.

Transcripts, titles, bundle manifests, search snippets, tool output and the model's
streamed text are untrusted: an escape sequence in them (OSC 52 writes the clipboard,
OSC 8 hides a link, OSC 0 retitles the window, CSI 2J clears the screen, C1 controls
do the same in one byte) must never reach the terminal as such, on a tty or piped
(the pipe may end in ``less -R`` or a log viewer). Every command renders such text through
:func:`visible`: C0 controls (but newline and tab), DEL, C1 controls and the bidi
overrides that reorder what is shown ("Trojan Source") are written as ``\\x1b``,
``\\u009b``, ``\\u202e``. JSON output is escaped by the encoder; :func:`json_safe` also
escapes C1 and bidi characters, which JSON allows raw.
"""

from __future__ import annotations

import re

__all__ = ["MAX_FIELD", "clip", "json_safe", "one_line", "visible"]

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

MAX_FIELD = 20_000
"""Characters of one text block shown by default (``--full`` shows everything)."""


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character but newline and tab made visible."""
    return _UNSAFE.sub(_show, text)


def one_line(text: str) -> str:
    """``text`` on one line: whitespace runs folded, other controls made visible."""
    return _UNSAFE_LINE.sub(_show, " ".join(text.split()))


def clip(text: str, limit: int = MAX_FIELD) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much was left out."""
    if limit <= 0 or len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters]"


def json_safe(text: str) -> str:
    """JSON text with C1/bidi characters escaped (``\\u009b``): still the same JSON value."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
