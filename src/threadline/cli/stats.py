"""``threadline sessions stats [ID]``: totals per project, or the anatomy of one session."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from .._ids import is_uuid
from ..sessions._locate import locate_session
from ..sessions._paths import config_dir, projects_dir
from ._backend import Backend, open_backend, store_option
from ._console import echo_json, fmt_size, fmt_time, out_console, short
from ._errors import guarded
from ._tree import build_segments, walk

__all__ = ["stats_command"]


def _project_stats() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        projects = sorted(os.scandir(projects_dir()), key=lambda e: e.name)
    except OSError:
        return out
    for project in projects:
        if not project.is_dir():
            continue
        count = size = newest = 0
        with os.scandir(project.path) as it:
            for e in it:
                if e.name.endswith(".jsonl") and is_uuid(e.name[:-6]):
                    st = e.stat()
                    count += 1
                    size += st.st_size
                    newest = max(newest, int(st.st_mtime * 1000))
        if count:
            out.append(
                {"project": project.name, "sessions": count, "bytes": size, "newest": newest}
            )
    return out


def _session_stats(backend: Backend, session_id: str) -> dict[str, Any]:
    entries = backend.entries(session_id)
    types = Counter(str(e.get("type")) for e in entries)
    tools: Counter[str] = Counter()
    usage: Counter[str] = Counter()
    seen_ids: set[str] = set()
    prompts = 0
    for e in entries:
        message = e.get("message")
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        has_text = isinstance(content, str) or any(
            isinstance(b, dict) and b.get("type") == "text" for b in blocks
        )
        if e.get("type") == "user" and not e.get("isMeta") and has_text:
            prompts += 1
        if e.get("type") == "assistant":
            for b in blocks:
                if isinstance(b, dict) and b.get("type") == "tool_use":
                    tools[str(b.get("name"))] += 1
            mid = message.get("id")
            if isinstance(message.get("usage"), dict) and mid not in seen_ids:
                seen_ids.add(str(mid))
                for k, v in message["usage"].items():
                    if isinstance(v, int):
                        usage[k] += v
    stamps = sorted(str(e["timestamp"]) for e in entries if isinstance(e.get("timestamp"), str))
    leaves = sum(seg.is_leaf for _, seg in walk(build_segments(entries)))
    loc = locate_session(session_id, None) if backend.store is None else None
    subagents = loc.path.with_suffix("") / "subagents" if loc else None
    return {
        "session_id": session_id,
        "project": loc.project_dir.name if loc else None,
        "bytes": loc.path.stat().st_size if loc else None,
        "entries": len(entries),
        "entry_types": dict(types),
        "prompts": prompts,
        "assistant_messages": len(seen_ids),
        "tool_uses": dict(tools),
        "usage": dict(usage),
        "leaves": leaves,
        "subagents": len(list(subagents.glob("**/agent-*.jsonl")))
        if subagents and subagents.is_dir()
        else 0,
        "first_timestamp": stamps[0] if stamps else None,
        "last_timestamp": stamps[-1] if stamps else None,
    }


@click.command("stats", short_help="Totals per project, or one session's anatomy.")
@click.argument("session_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@store_option
@guarded
def stats_command(session_id: str | None, as_json: bool, store_url: str | None) -> None:
    """Totals per project, or with SESSION_ID the anatomy of one session."""
    console = out_console()
    if session_id:
        with open_backend(store_url) as backend:
            stats = _session_stats(backend, backend.resolve(session_id))
        if as_json:
            echo_json(stats)
            return
        table = Table(box=None, show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in stats.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
            table.add_row(key, escape(short(str(value), 2000)))
        console.print(table)
        return
    if store_url:
        raise click.UsageError(
            "per-project totals read Claude Code's files: give SESSION_ID with --store"
        )
    projects = _project_stats()
    if as_json:
        echo_json({"config_dir": str(config_dir()), "projects": projects})
        return
    table = Table(box=None, header_style="bold", show_footer=True)
    table.add_column("PROJECT", footer="total")
    table.add_column("SESSIONS", justify="right", footer=str(sum(p["sessions"] for p in projects)))
    table.add_column("SIZE", justify="right", footer=fmt_size(sum(p["bytes"] for p in projects)))
    table.add_column("NEWEST", no_wrap=True)
    for p in projects:
        table.add_row(
            escape(short(p["project"], 100)),
            str(p["sessions"]),
            fmt_size(p["bytes"]),
            fmt_time(p["newest"]),
        )
    console.print(table)
