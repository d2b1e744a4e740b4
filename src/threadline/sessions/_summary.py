"""Incremental per-session summaries, folded on append so listing reads no transcripts.

:func:`fold_session_summary` matches the official SDK's fold field for field,
so summaries written by our stores are readable by the official listing code.
"""

from __future__ import annotations

from typing import Any

from .._results import SDKSessionInfo
from ..transcript._lite import parse_iso_ms, prompt_from_content
from ._protocol import SessionKey, SessionStoreEntry, SessionSummaryEntry

__all__ = ["fold_session_summary", "summary_to_info"]

_LAST_WINS = {
    "customTitle": "custom_title",
    "aiTitle": "ai_title",
    "lastPrompt": "last_prompt",
    "summary": "summary_hint",
    "gitBranch": "git_branch",
}


def _fold_first_prompt(data: dict[str, Any], entry: dict[str, Any]) -> None:
    if data.get("first_prompt_locked") or entry.get("type") != "user":
        return
    if entry.get("isMeta") is True or entry.get("isCompactSummary") is True:
        return
    message = entry.get("message")
    if not isinstance(message, dict):
        return
    content = message.get("content")
    if isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content
    ):
        return
    found, fallback = prompt_from_content(content, data.get("command_fallback") or "")
    if fallback:
        data["command_fallback"] = fallback
    if found is not None:
        data["first_prompt"] = found
        data["first_prompt_locked"] = True


def fold_session_summary(
    prev: SessionSummaryEntry | None, key: SessionKey, entries: list[SessionStoreEntry]
) -> SessionSummaryEntry:
    """Fold appended ``entries`` into the summary of ``key`` (pure; ``mtime`` untouched)."""
    if prev is not None:
        summary: SessionSummaryEntry = {
            "session_id": prev["session_id"],
            "mtime": prev["mtime"],
            "data": dict(prev["data"]),
        }
    else:
        summary = {"session_id": key["session_id"], "mtime": 0, "data": {}}
    data = summary["data"]
    for raw in entries:
        entry: dict[str, Any] = dict(raw)
        if "is_sidechain" not in data:
            data["is_sidechain"] = entry.get("isSidechain") is True
        if "created_at" not in data:
            ts = entry.get("timestamp")
            ms = parse_iso_ms(ts) if isinstance(ts, str) else None
            if ms is not None:
                data["created_at"] = ms
        if "cwd" not in data:
            cwd = entry.get("cwd")
            if isinstance(cwd, str) and cwd:
                data["cwd"] = cwd
        _fold_first_prompt(data, entry)
        for src, dst in _LAST_WINS.items():
            val = entry.get(src)
            if isinstance(val, str):
                data[dst] = val
        if entry.get("type") == "tag":
            tag = entry.get("tag")
            if isinstance(tag, str) and tag:
                data["tag"] = tag
            else:
                data.pop("tag", None)
    return summary


def summary_to_info(entry: SessionSummaryEntry, project_path: str | None) -> SDKSessionInfo | None:
    """Listing info from a folded summary; ``None`` for sidechains and empty sessions."""
    data = entry["data"]
    if data.get("is_sidechain"):
        return None
    first_prompt = (
        data.get("first_prompt") if data.get("first_prompt_locked") else data.get("command_fallback")
    ) or None
    custom_title = data.get("custom_title") or data.get("ai_title") or None
    summary = custom_title or data.get("last_prompt") or data.get("summary_hint") or first_prompt
    if not summary:
        return None
    return SDKSessionInfo(
        session_id=entry["session_id"],
        summary=summary,
        last_modified=entry["mtime"],
        file_size=None,
        custom_title=custom_title,
        first_prompt=first_prompt,
        git_branch=data.get("git_branch") or None,
        cwd=data.get("cwd") or project_path or None,
        tag=data.get("tag") or None,
        created_at=data.get("created_at"),
    )
