"""The Glob tool (Claude Code's name and input schema): find files by pattern, newest first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from anyio import to_thread

from ._base import ToolContext, ToolResult, error_result, resolve_path
from ._walk import expand_braces, glob_regex, newest_first, walk_files

__all__ = ["GLOB_LIMIT", "GlobTool"]

_SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
GLOB_LIMIT = 100
"""Glob returns at most this many paths."""


def _split_absolute(pattern: str) -> tuple[Path, str]:
    """Split an absolute glob into its literal directory prefix and the rest."""
    parts = Path(pattern).parts
    for i, part in enumerate(parts):
        if any(c in part for c in "*?[{"):
            return Path(*parts[:i]), "/".join(parts[i:])
    return Path(*parts[:-1]), parts[-1]


def _glob(root: Path, pattern: str) -> list[Path]:
    regexes = [glob_regex(p) for p in expand_braces(pattern)]
    found: list[Path] = []
    for path in walk_files(root):
        rel = path.relative_to(root).as_posix()
        if any(rx.match(rel) for rx in regexes):
            found.append(path)
    return newest_first(found)


class GlobTool:
    """Find files by glob pattern, newest first."""

    name = "Glob"
    read_only = True
    description = (
        "- Fast file pattern matching tool that works with any codebase size\n"
        '- Supports glob patterns like "**/*.js" or "src/**/*.ts" (and braces: "*.{ts,tsx}")\n'
        "- Returns matching file paths sorted by modification time, newest first "
        f"(at most {GLOB_LIMIT})\n"
        "- Use this tool when you need to find files by name patterns"
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA_URI,
        "type": "object",
        "properties": {
            "pattern": {"description": "The glob pattern to match files against", "type": "string"},
            "path": {
                "description": "The directory to search in. If not specified, the current "
                "working directory will be used. IMPORTANT: Omit this field to use the default "
                'directory. DO NOT enter "undefined" or "null" - simply omit it for the default '
                "behavior. Must be a valid directory path if provided.",
                "type": "string",
            },
        },
        "required": ["pattern"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """List files under ``path`` (default ``ctx.cwd``) matching ``pattern``."""
        pattern: str = input["pattern"]
        root = resolve_path(ctx, input.get("path") or ".")
        if pattern.startswith(("/", "~")):
            root, pattern = _split_absolute(str(resolve_path(ctx, pattern)))
        if not await to_thread.run_sync(root.exists):
            return error_result(
                f"<tool_use_error>Directory does not exist: {root}</tool_use_error>"
            )
        if not await to_thread.run_sync(root.is_dir):
            return error_result(f"<tool_use_error>Path is not a directory: {root}</tool_use_error>")
        matches = await to_thread.run_sync(_glob, root, pattern, abandon_on_cancel=True)
        truncated = len(matches) > GLOB_LIMIT
        shown = [str(p) for p in matches[:GLOB_LIMIT]]
        structured = {
            "filenames": shown,
            "numFiles": len(shown),
            "truncated": truncated,
            "totalMatches": len(matches),
        }
        if not shown:
            return ToolResult(content="No files found", structured=structured)
        text = "\n".join(shown)
        if truncated:
            text += (
                f"\n(Showing {len(shown)} of {len(matches)} matching files; "
                f"{len(matches) - len(shown)} more are not listed. Narrow the pattern or "
                "path to see the rest.)"
            )
        return ToolResult(content=text, structured=structured)
