"""``threadline sessions search WORDS``: full-text search through the FTS5 index."""

from __future__ import annotations

import os
import re
from dataclasses import asdict
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ..sessions._paths import project_key_for_directory, projects_dir
from ..sessions._search import SearchHit, SearchIndex, scan_documents
from ._backend import (
    KEY_ENV,
    Backend,
    is_encrypted_file,
    open_backend,
    store_option,
    store_projects,
)
from ._console import echo_json, out_console, progress_bar
from ._errors import guarded
from ._safe import one_line, visible

__all__ = ["search_command"]

_EPILOG = """\b
Examples:
  threadline sessions search "rate limit"       # every word must occur
  threadline sessions search "deploy*" -n 5     # prefix match
  threadline sessions search --raw 'retry NOT backoff'
  threadline sessions search "migration" --json | jq -r '.[].session_id' | sort -u
"""

_START, _END = "\x02", "\x03"


def _scan_store(
    backend: Backend, query: str, project_key: str | None, limit: int, markers: tuple[str, str]
) -> list[SearchHit]:
    """Hits in a store's sessions, newest sessions first (no index: a linear scan)."""
    return backend.call(_scan_store_async, backend.store, query, project_key, limit, markers)


async def _scan_store_async(
    store: Any, query: str, project_key: str | None, limit: int, markers: tuple[str, str]
) -> list[SearchHit]:
    keys: list[tuple[int, str, str]] = []
    for pk in [project_key] if project_key else await store_projects(store):
        keys.extend((e["mtime"], pk, e["session_id"]) for e in await store.list_sessions(pk))
    hits: list[SearchHit] = []
    for _, pk, sid in sorted(keys, reverse=True):
        entries = await store.load({"project_key": pk, "session_id": sid})
        objects = [e for e in entries or [] if isinstance(e, dict)]
        for hit in scan_documents(objects, query, session_id=sid, project_key=pk, markers=markers):
            hits.append(hit)
            if len(hits) >= limit:
                return hits
    return hits


def _scan_encrypted(
    backend: Backend, query: str, project_key: str | None, limit: int, markers: tuple[str, str]
) -> list[SearchHit]:
    """Hits in encrypted file sessions (decrypted in memory only), or a note without the key."""
    base = projects_dir()
    dirs = [base / project_key] if project_key else sorted(p for p in base.glob("*") if p.is_dir())
    files = [(d.name, p) for d in dirs for p in sorted(d.glob("*.jsonl")) if is_encrypted_file(p)]
    if not files:
        return []
    if not os.environ.get(KEY_ENV, "").strip():
        click.echo(
            f"note: {len(files)} encrypted session(s) not searched: set ${KEY_ENV} to include them",
            err=True,
        )
        return []
    hits: list[SearchHit] = []
    for pk, path in files:
        entries = backend.entries(path.stem)
        for hit in scan_documents(
            entries, query, session_id=path.stem, project_key=pk, markers=markers
        ):
            hits.append(hit)
            if len(hits) >= limit:
                return hits
    return hits


def _snippet_text(snippet: str) -> Text:
    """The snippet with matches highlighted; every piece made safe for the terminal."""
    text = Text()
    bold = False
    for piece in re.split(f"([{_START}{_END}])", " ".join(snippet.split())):
        if piece == _START:
            bold = True
        elif piece == _END:
            bold = False
        elif piece:
            text.append(visible(re.sub(r"\s+", " ", piece)), style="bold yellow" if bold else "")
    return text


@click.command("search", epilog=_EPILOG, short_help="Full-text search of all sessions.")
@click.argument("words", nargs=-1, required=True)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="At most N hits.",
)
@click.option(
    "--project", "this_project", is_flag=True, help="Only the current directory's project."
)
@click.option("--raw", is_flag=True, help="WORDS is an FTS5 query (AND/OR/NOT/NEAR, quotes).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@store_option
@guarded
def search_command(
    words: tuple[str, ...],
    limit: int,
    this_project: bool,
    raw: bool,
    as_json: bool,
    store_url: str | None,
) -> None:
    """Search the text of every session (the index is updated incrementally first).

    Sessions in a store (--store) and encrypted sessions have no index: they are read
    and searched in memory.
    """
    query = " ".join(words)
    key = project_key_for_directory(os.getcwd()) if this_project else None
    markers = ("[", "]") if as_json else (_START, _END)
    with open_backend(store_url) as backend:
        if backend.store is not None:
            if raw:
                raise click.UsageError("--raw needs the search index of Claude Code's files")
            hits = _scan_store(backend, query, key, limit, markers)
        else:
            with SearchIndex() as index:
                with progress_bar("Indexing sessions") as update:
                    index.update(update)
                if index.in_memory:
                    click.echo(
                        f"note: the search index could not be written ({index.fallback_reason}); "
                        "searching without keeping it",
                        err=True,
                    )
                hits = index.search(query, limit=limit, project_key=key, raw=raw, markers=markers)
            if len(hits) < limit and not raw:
                hits += _scan_encrypted(backend, query, key, limit - len(hits), markers)
    if as_json:
        echo_json([asdict(h) for h in hits])
        return
    console = out_console()
    if not hits:
        console.print(Text(f"No matches for {one_line(query)!r}."))
        return
    table = Table(box=None, header_style="bold")
    table.add_column("SESSION", no_wrap=True)
    table.add_column("ROLE", no_wrap=True)
    table.add_column("MATCH")
    table.add_column("MESSAGE", no_wrap=True, style="dim")
    for hit in hits:
        table.add_row(
            Text(one_line(hit.session_id)),
            Text(one_line(hit.role)),
            _snippet_text(hit.snippet),
            Text(one_line(hit.message_uuid or "")),
        )
    console.print(table)
