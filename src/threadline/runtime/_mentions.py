"""``@`` mentions in a prompt, expanded as Claude Code expands them (``verbatim_prompts=False``).

A typed ``@path`` (or ``@"path with spaces"``) naming a file attaches the file's text; one
naming a directory attaches its listing. The CLI records each as an ``attachment`` entry after
the prompt (``file`` / ``directory``, with the ``rendered`` reminders it sends) and sends the
reminders in front of the prompt, live and on every resume (``transcript/_api``):

- a file: ``Called the Read tool with the following input: {"file_path": ...}`` and
  ``Result of calling the Read tool:`` with the numbered lines (``1\\t...``);
- a directory: ``Called the Bash tool with the following input: {"command": "ls <dir>", ...}``
  and ``Result of calling the Bash tool:`` with the names (hidden ones left out).

A mention that names nothing, a file that is not text, or a path the ``Read`` tool could not
read unasked (outside ``cwd`` and ``add_dirs``, or denied by a rule) attaches nothing: the
mention stays in the prompt as typed, and nothing outside what the agent may read is sent.
Files are cut at 2 000 lines and 256 KiB. With ``verbatim_prompts=True`` nothing is expanded
(the option exists for prompts assembled from text the user did not type).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from ..transcript._entries import EntryFactory

__all__ = ["mention_entries"]

Raw = dict[str, Any]

_MENTION = re.compile(r'(?:^|(?<=\s))@(?:"([^"\n]+)"|([^\s"]+))')
_TRAILING = ".,;:!?)]}'`"
_MAX_LINES = 2_000
_MAX_BYTES = 256 * 1024


def _candidates(text: str) -> list[str]:
    out: list[str] = []
    for match in _MENTION.finditer(text):
        quoted, bare = match.group(1), match.group(2)
        token = quoted if quoted is not None else bare
        if token and token not in out:
            out.append(token)
    return out


def _resolve(token: str, cwd: str) -> str | None:
    for candidate in (token, token.rstrip(_TRAILING)):
        if not candidate:
            continue
        path = os.path.normpath(os.path.join(cwd, os.path.expanduser(candidate)))
        if os.path.exists(path):
            return path
    return None


def _reminder(text: str) -> str:
    return f"<system-reminder>\n{text}\n</system-reminder>"


def _file(path: str, cwd: str) -> Raw | None:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_BYTES + 1)
    except OSError:
        return None
    if b"\x00" in raw:
        return None  # not text
    text = raw[:_MAX_BYTES].decode("utf-8", errors="replace")
    lines = text.split("\n")
    total = len(lines)
    shown = lines[:_MAX_LINES]
    content = "\n".join(shown)
    numbered = "\n".join(f"{i}\t{line}" for i, line in enumerate(shown, start=1))
    call = json.dumps({"file_path": path}, separators=(",", ":"), ensure_ascii=False)
    return {
        "attachment": {
            "type": "file",
            "filename": path,
            "content": {
                "type": "text",
                "file": {
                    "filePath": path,
                    "content": content,
                    "numLines": len(shown),
                    "startLine": 1,
                    "totalLines": total,
                },
            },
            "displayPath": os.path.relpath(path, cwd),
        },
        "rendered": [
            {"content": _reminder(f"Called the Read tool with the following input: {call}")},
            {"content": _reminder(f"Result of calling the Read tool:\n{numbered}")},
        ],
        "renderedRole": "user",
    }


def _directory(path: str, cwd: str) -> Raw | None:
    try:
        names = sorted(n for n in os.listdir(path) if not n.startswith("."))
    except OSError:
        return None
    listing = "\n".join(names)
    call = json.dumps(
        {"command": f"ls {path}", "description": f"Lists files in {path}"},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return {
        "attachment": {
            "type": "directory",
            "path": path,
            "content": listing,
            "displayPath": os.path.relpath(path, cwd),
        },
        "rendered": [
            {"content": _reminder(f"Called the Bash tool with the following input: {call}")},
            {"content": _reminder(f"Result of calling the Bash tool:\n{listing}")},
        ],
        "renderedRole": "user",
    }


def mention_entries(
    text: str,
    *,
    cwd: str,
    may_read: Callable[[str], bool],
    factory: EntryFactory,
    parent: str,
) -> list[Raw]:
    """The attachment entries for ``text``'s ``@`` mentions, chained after ``parent`` (the
    prompt entry); ``may_read(path)`` says whether the Read tool could read it unasked."""
    entries: list[Raw] = []
    seen: set[str] = set()
    for token in _candidates(text):
        path = _resolve(token, cwd)
        if path is None or path in seen or not may_read(path):
            continue
        seen.add(path)
        body = _directory(path, cwd) if os.path.isdir(path) else _file(path, cwd)
        if body is None:
            continue
        entry = factory.new_entry("attachment", entries[-1]["uuid"] if entries else parent)
        entry.update(body)
        entries.append(entry)
    return entries
