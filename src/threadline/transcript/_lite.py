"""Listing metadata from a transcript's first and last 64 KiB, without a full parse.

This reproduces the official SDK's "lite read" field for field, so listings
agree with it exactly: string fields are found by substring search (which
works on truncated lines), "last" fields come from the tail, the first prompt
from the head. :func:`info_from_lite` is shared by disk listing, the summary
index and store-backed listing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .._results import SDKSessionInfo

__all__ = [
    "LITE_READ_BUF_SIZE",
    "Lite",
    "extract_first_prompt",
    "info_from_lite",
    "lite_from_jsonl",
    "read_lite",
    "prompt_from_content",
]

LITE_READ_BUF_SIZE = 65536

_SKIP_FIRST_PROMPT = re.compile(
    r"^(?:<local-command-stdout>|<session-start-hook>|<tick>|<goal>|"
    r"\[Request interrupted by user[^\]]*\]|"
    r"\s*<ide_opened_file>[\s\S]*</ide_opened_file>\s*$|"
    r"\s*<ide_selection>[\s\S]*</ide_selection>\s*$)"
)
_COMMAND_NAME = re.compile(r"<command-name>(.*?)</command-name>")


@dataclass(frozen=True)
class Lite:
    """Head, tail, size and mtime (epoch ms) of one transcript."""

    mtime: int
    size: int
    head: str
    tail: str


def read_lite(path: str | os.PathLike[str]) -> Lite | None:
    """Stat and read head + tail of a file; ``None`` if missing, unreadable or empty."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        head_bytes = os.read(fd, LITE_READ_BUF_SIZE)
        if not head_bytes:
            return None
        size = st.st_size
        head = head_bytes.decode("utf-8", "replace")
        if size <= LITE_READ_BUF_SIZE:
            tail = head
        else:
            tail = os.pread(fd, LITE_READ_BUF_SIZE, size - LITE_READ_BUF_SIZE).decode(
                "utf-8", "replace"
            )
        return Lite(mtime=int(st.st_mtime * 1000), size=size, head=head, tail=tail)
    except OSError:
        return None
    finally:
        os.close(fd)


def lite_from_jsonl(jsonl: str, mtime: int) -> Lite:
    """A :class:`Lite` view of an in-memory JSONL serialization (store-backed listing)."""
    data = jsonl.encode("utf-8")
    size = len(data)
    head = data[:LITE_READ_BUF_SIZE].decode("utf-8", "replace")
    tail = head if size <= LITE_READ_BUF_SIZE else data[-LITE_READ_BUF_SIZE:].decode("utf-8", "replace")
    return Lite(mtime=mtime, size=size, head=head, tail=tail)


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        value = json.loads(f'"{raw}"')
    except ValueError:
        return raw
    return value if isinstance(value, str) else raw


def _scan_value(text: str, start: int) -> tuple[str | None, int]:
    """Read a JSON string body starting at ``start``; (value, index after it)."""
    i = start
    n = len(text)
    while i < n:
        # Jump to the next quote or backslash.
        q = text.find('"', i)
        if q < 0:
            return None, n
        b = text.find("\\", i, q)
        if b >= 0:
            i = b + 2
            continue
        return _unescape(text[start:q]), q
    return None, n


def first_field(text: str, key: str) -> str | None:
    """First ``"key":"value"`` (compact form first, then spaced form)."""
    for pattern in (f'"{key}":"', f'"{key}": "'):
        idx = text.find(pattern)
        if idx < 0:
            continue
        value, _ = _scan_value(text, idx + len(pattern))
        if value is not None:
            return value
    return None


def last_field(text: str, key: str) -> str | None:
    """Last match; a spaced-form match overrides compact ones (official precedence)."""
    last: str | None = None
    for pattern in (f'"{key}":"', f'"{key}": "'):
        pos = text.rfind(pattern)
        # Find the last occurrence whose value terminates.
        while pos >= 0:
            value, _ = _scan_value(text, pos + len(pattern))
            if value is not None:
                last = value
                break
            pos = text.rfind(pattern, 0, pos)
    return last


def extract_first_prompt(head: str) -> str:
    """The first meaningful user prompt in ``head`` (≤ 200 chars + …), or a command name."""
    command_fallback = ""
    for line in head.split("\n"):
        if '"type":"user"' not in line and '"type": "user"' not in line:
            continue
        if '"tool_result"' in line:
            continue
        if '"isMeta":true' in line or '"isMeta": true' in line:
            continue
        if '"isCompactSummary":true' in line or '"isCompactSummary": true' in line:
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(entry, dict) or entry.get("type") != "user":
            continue
        message = entry.get("message")
        if not isinstance(message, dict):
            continue
        found, command_fallback = prompt_from_content(message.get("content"), command_fallback)
        if found is not None:
            return found
    return command_fallback


def prompt_from_content(content: object, command_fallback: str) -> tuple[str | None, str]:
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for block in content:
            if (
                isinstance(block, dict)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            ):
                texts.append(block["text"])
    for raw in texts:
        result = raw.replace("\n", " ").strip()
        if not result:
            continue
        cmd = _COMMAND_NAME.search(result)
        if cmd:
            if not command_fallback:
                command_fallback = cmd.group(1)
            continue
        if _SKIP_FIRST_PROMPT.match(result):
            continue
        if len(result) > 200:
            result = result[:200].rstrip() + "\u2026"
        return result, command_fallback
    return None, command_fallback


def parse_iso_ms(value: str) -> int | None:
    """ISO-8601 (``Z`` accepted) to epoch ms; ``None`` if unparseable."""
    try:
        ts = value[:-1] + "+00:00" if value.endswith("Z") else value
        return int(datetime.fromisoformat(ts).timestamp() * 1000)
    except (ValueError, OverflowError, OSError):
        return None


def info_from_lite(
    session_id: str, lite: Lite, project_path: str | None = None
) -> SDKSessionInfo | None:
    """Listing fields from a lite read; ``None`` for sidechains and metadata-only files."""
    head, tail = lite.head, lite.tail
    nl = head.find("\n")
    first_line = head[:nl] if nl >= 0 else head
    if '"isSidechain":true' in first_line or '"isSidechain": true' in first_line:
        return None

    custom_title = (
        last_field(tail, "customTitle")
        or last_field(head, "customTitle")
        or last_field(tail, "aiTitle")
        or last_field(head, "aiTitle")
        or None
    )
    first_prompt = extract_first_prompt(head) or None
    summary = (
        custom_title
        or last_field(tail, "lastPrompt")
        or last_field(tail, "summary")
        or first_prompt
    )
    if not summary:
        return None

    git_branch = last_field(tail, "gitBranch") or first_field(head, "gitBranch") or None
    cwd = first_field(head, "cwd") or project_path or None
    tag: str | None = None
    for line in reversed(tail.split("\n")):
        if line.startswith('{"type":"tag"'):
            tag = last_field(line, "tag") or None
            break
    created_at: int | None = None
    first_ts = first_field(head, "timestamp")
    if first_ts:
        created_at = parse_iso_ms(first_ts)

    return SDKSessionInfo(
        session_id=session_id,
        summary=summary,
        last_modified=lite.mtime,
        file_size=lite.size,
        custom_title=custom_title,
        first_prompt=first_prompt,
        git_branch=git_branch,
        cwd=cwd,
        tag=tag,
        created_at=created_at,
    )


def read_info(path: Path, session_id: str, project_path: str | None) -> SDKSessionInfo | None:
    """:func:`read_lite` + :func:`info_from_lite`."""
    lite = read_lite(path)
    return None if lite is None else info_from_lite(session_id, lite, project_path)
