"""The Grep tool (Claude Code's name and input schema), in pure Python with ``re``.

Patterns are Python regular expressions (close to ripgrep's syntax for
everyday use). Binary files (a NUL byte in the first 8 KiB) and
version-control directories are skipped; ``.gitignore`` is not consulted.
Output formats follow Claude Code's:

* ``files_with_matches`` (default): ``Found N files`` then one path per line,
  newest first; ``No files found`` when nothing matches.
* ``content``: ``path:line:text`` for matches, ``path-line-text`` for context
  lines, ``--`` between non-adjacent groups (``-n`` false drops the numbers).
* ``count``: ``path:count`` (matching lines per file), then a total.

``head_limit`` (default 250, 0 = unlimited) and ``offset`` page through the
output lines / entries.
"""

from __future__ import annotations

from typing import Any

from ._base import ToolContext, ToolResult

__all__ = ["GREP_DEFAULT_HEAD_LIMIT", "GrepTool"]

_SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
GREP_DEFAULT_HEAD_LIMIT = 250
"""Grep's default ``head_limit`` (as in Claude Code); 0 means unlimited."""


def _content_only(description: str) -> str:
    return f'{description} Requires output_mode: "content", ignored otherwise.'


_INPUT_SCHEMA: dict[str, Any] = {
    "$schema": _SCHEMA_URI,
    "type": "object",
    "properties": {
        "pattern": {
            "description": "The regular expression pattern to search for in file contents",
            "type": "string",
        },
        "path": {
            "description": "File or directory to search in (rg PATH). Defaults to current "
            "working directory.",
            "type": "string",
        },
        "glob": {
            "description": 'Glob pattern to filter files (e.g. "*.js", "*.{ts,tsx}") - maps to '
            "rg --glob",
            "type": "string",
        },
        "output_mode": {
            "description": 'Output mode: "content" shows matching lines (supports -A/-B/-C '
            'context, -n line numbers, head_limit), "files_with_matches" shows file paths '
            '(supports head_limit), "count" shows match counts (supports head_limit). '
            'Defaults to "files_with_matches".',
            "type": "string",
            "enum": ["content", "files_with_matches", "count"],
        },
        "-B": {
            "description": _content_only("Number of lines to show before each match (rg -B)."),
            "type": "number",
        },
        "-A": {
            "description": _content_only("Number of lines to show after each match (rg -A)."),
            "type": "number",
        },
        "-C": {"description": "Alias for context.", "type": "number"},
        "context": {
            "description": _content_only(
                "Number of lines to show before and after each match (rg -C)."
            ),
            "type": "number",
        },
        "-n": {
            "description": _content_only("Show line numbers in output (rg -n).")
            + " Defaults to true.",
            "type": "boolean",
        },
        "-i": {"description": "Case insensitive search (rg -i)", "type": "boolean"},
        "-o": {
            "description": _content_only(
                "Print only the matched (non-empty) parts of each matching line, one match "
                "per output line (rg -o / --only-matching)."
            )
            + " Defaults to false.",
            "type": "boolean",
        },
        "type": {
            "description": "File type to search (rg --type). Common types: js, py, rust, go, "
            "java, etc. More efficient than include for standard file types.",
            "type": "string",
        },
        "head_limit": {
            "description": 'Limit output to first N lines/entries, equivalent to "| head -N". '
            "Works across all output modes: content (limits output lines), files_with_matches "
            "(limits file paths), count (limits count entries). Defaults to 250 when "
            "unspecified. Pass 0 for unlimited (use sparingly \u2014 large result sets waste "
            "context).",
            "type": "number",
        },
        "offset": {
            "description": "Skip first N lines/entries before applying head_limit, equivalent "
            'to "| tail -n +N | head -N". Works across all output modes. Defaults to 0.',
            "type": "number",
        },
        "multiline": {
            "description": "Enable multiline mode where . matches newlines and patterns can "
            "span lines (rg -U --multiline-dotall). Default: false.",
            "type": "boolean",
        },
    },
    "required": ["pattern"],
    "additionalProperties": False,
}


class GrepTool:
    """Search file contents with a regular expression."""

    name = "Grep"
    read_only = True
    description = (
        "A powerful search tool for file contents.\n\n"
        "  Usage:\n"
        '  - Supports full regex syntax (e.g., "log.*Error", "function\\s+\\w+"); patterns '
        "are Python regular expressions\n"
        '  - Filter files with glob parameter (e.g., "*.js", "**/*.tsx") or type parameter '
        '(e.g., "js", "py", "rust")\n'
        '  - Output modes: "content" shows matching lines, "files_with_matches" shows only '
        'file paths (default), "count" shows match counts\n'
        "  - Multiline matching: By default patterns match within single lines only. For "
        "cross-line patterns, use `multiline: true`\n"
        "  - Binary files and version-control directories are skipped"
    )
    input_schema: dict[str, Any] = _INPUT_SCHEMA

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Search ``path`` (default ``ctx.cwd``) for ``pattern``; see the module docstring."""
        from ._grepsearch import run_grep  # loaded by the first search

        return await run_grep(input, ctx, default_head_limit=GREP_DEFAULT_HEAD_LIMIT)
