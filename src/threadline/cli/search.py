"""``threadline sessions search WORDS``: full-text search through the FTS5 index."""

from __future__ import annotations

import os
from dataclasses import asdict

import click
from rich.markup import escape
from rich.table import Table

from ..sessions._paths import project_key_for_directory
from ..sessions._search import SearchIndex
from ._console import echo_json, out_console, progress_bar
from ._errors import guarded

__all__ = ["search_command"]

_EPILOG = """\b
Examples:
  threadline sessions search "rate limit"       # every word must occur
  threadline sessions search "deploy*" -n 5     # prefix match
  threadline sessions search --raw 'retry NOT backoff'
  threadline sessions search "migration" --json | jq -r '.[].session_id' | sort -u
"""

_START, _END = "\x02", "\x03"


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
@guarded
def search_command(
    words: tuple[str, ...], limit: int, this_project: bool, raw: bool, as_json: bool
) -> None:
    """Search the text of every session (the index is updated incrementally first)."""
    query = " ".join(words)
    key = project_key_for_directory(os.getcwd()) if this_project else None
    with SearchIndex() as index:
        with progress_bar("Indexing sessions") as update:
            index.update(update)
        markers = ("[", "]") if as_json else (_START, _END)
        hits = index.search(query, limit=limit, project_key=key, raw=raw, markers=markers)
    if as_json:
        echo_json([asdict(h) for h in hits])
        return
    console = out_console()
    if not hits:
        console.print(f"No matches for {query!r}.")
        return
    table = Table(box=None, header_style="bold")
    table.add_column("SESSION", no_wrap=True)
    table.add_column("ROLE", no_wrap=True)
    table.add_column("MATCH")
    table.add_column("MESSAGE", no_wrap=True, style="dim")
    for hit in hits:
        snippet = escape(" ".join(hit.snippet.split()))
        snippet = snippet.replace(_START, "[bold yellow]").replace(_END, "[/]")
        table.add_row(hit.session_id, hit.role, snippet, hit.message_uuid or "")
    console.print(table)
