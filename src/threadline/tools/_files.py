"""The Read, Write and Edit tools (Claude Code's names and input schemas).

All file IO runs in worker threads (``anyio.to_thread``) so large files never
block the event loop. Text is read and written as UTF-8; undecodable bytes
are replaced on read.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from anyio import to_thread

from ..transcript._fileio import atomic_write
from ._base import ToolContext, ToolResult, error_result, resolve_path

__all__ = ["EditTool", "ReadTool", "WriteTool"]

_SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
_MAX_SAFE_INT = 9007199254740991

DEFAULT_READ_LIMIT = 2000
"""Lines Read returns when no ``limit`` is given."""
MAX_LINE_CHARS = 2000
"""Longer lines are cut to this many characters."""
MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""Images larger than this are refused (the API's own limit is 5 MB)."""

_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


def _tool_error(message: str) -> ToolResult:
    return error_result(f"<tool_use_error>{message}</tool_use_error>")


# ---------------------------------------------------------------------- Read


def _format_numbered(lines: list[str], start: int) -> str:
    """``cat -n`` style: the line number right-aligned in six columns, a tab, the line."""
    return "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(lines, start=start))


class ReadTool:
    """Read a text file (``cat -n`` style) or an image (as an image block)."""

    name = "Read"
    read_only = True
    description = (
        "Reads a file from the local filesystem.\n\n"
        "Usage:\n"
        "- The file_path parameter should be an absolute path; relative paths resolve "
        "against the working directory.\n"
        f"- By default, it reads up to {DEFAULT_READ_LIMIT} lines starting from the beginning "
        "of the file. You can optionally specify a line offset and limit (especially handy "
        "for long files).\n"
        f"- Any lines longer than {MAX_LINE_CHARS} characters will be truncated.\n"
        "- Results are returned using cat -n format, with line numbers starting at 1.\n"
        "- PNG, JPEG, GIF and WEBP images are returned as images.\n"
        "- This tool can only read files, not directories. To list a directory, use Bash "
        "or Glob."
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA_URI,
        "type": "object",
        "properties": {
            "file_path": {"description": "The absolute path to the file to read", "type": "string"},
            "offset": {
                "description": "The line number to start reading from. Only provide if the "
                "file is too large to read at once",
                "type": "integer",
                "minimum": 0,
                "maximum": _MAX_SAFE_INT,
            },
            "limit": {
                "description": "The number of lines to read. Only provide if the file is too "
                "large to read at once.",
                "type": "integer",
                "exclusiveMinimum": 0,
                "maximum": _MAX_SAFE_INT,
            },
        },
        "required": ["file_path"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Read ``file_path`` from line ``offset`` (1-based; 0 means 1) for ``limit`` lines."""
        path = resolve_path(ctx, input["file_path"])
        offset = int(input.get("offset") or 1)
        limit = input.get("limit")
        limit = DEFAULT_READ_LIMIT if limit is None else int(limit)
        if offset < 0 or limit <= 0:
            return _tool_error("offset must be >= 0 and limit must be > 0")
        if not await to_thread.run_sync(path.exists):
            return _tool_error(f"File does not exist: {path}")
        if await to_thread.run_sync(path.is_dir):
            return _tool_error(
                f"EISDIR: illegal operation on a directory, read: {path} "
                "(Read only reads files; use Bash `ls` or Glob to list a directory)"
            )
        media_type = _IMAGE_TYPES.get(path.suffix.lower())
        if media_type is not None:
            return await self._read_image(path, media_type)
        from ._readwindow import read_window  # loaded by the first read

        window = await to_thread.run_sync(read_window, path, offset - 1, limit, MAX_LINE_CHARS)
        if window.binary:
            return _tool_error(f"Cannot read binary file: {path}")
        file_info = {
            "filePath": str(path),
            "content": "\n".join(window.lines),
            "numLines": len(window.lines),
            "startLine": window.start,
            "totalLines": window.total,
        }
        structured = {"type": "text", "file": file_info}
        if window.total == 0:
            content = (
                "<system-reminder>Warning: the file exists but the contents are empty."
                "</system-reminder>"
            )
        elif not window.lines:
            content = (
                "<system-reminder>Warning: the file exists but is shorter than the provided "
                f"offset ({offset}). The file has {window.total} lines.</system-reminder>"
            )
        else:
            content = _format_numbered(window.lines, window.start)
        return ToolResult(content=content, structured=structured)

    @staticmethod
    async def _read_image(path: Path, media_type: str) -> ToolResult:
        size = (await to_thread.run_sync(path.stat)).st_size
        if size > MAX_IMAGE_BYTES:
            return _tool_error(f"Image is too large to read ({size} bytes, max {MAX_IMAGE_BYTES})")
        data = base64.b64encode(await to_thread.run_sync(path.read_bytes)).decode("ascii")
        block = {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }
        structured = {
            "type": "image",
            "file": {"base64": data, "type": media_type, "originalSize": size},
        }
        return ToolResult(content=[block], structured=structured)


# --------------------------------------------------------------------- Write


def _read_text_or_none(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _write_text(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, content.encode("utf-8"), mode=0o666, keep_mode=True)


class WriteTool:
    """Create or overwrite a file (parent directories are created)."""

    name = "Write"
    read_only = False
    description = (
        "Writes a file to the local filesystem.\n\n"
        "Usage:\n"
        "- This tool will overwrite the existing file if there is one at the provided path.\n"
        "- Missing parent directories are created.\n"
        "- Prefer the Edit tool for modifying existing files."
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA_URI,
        "type": "object",
        "properties": {
            "file_path": {
                "description": "The absolute path to the file to write (must be absolute, "
                "not relative)",
                "type": "string",
            },
            "content": {"description": "The content to write to the file", "type": "string"},
        },
        "required": ["file_path", "content"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Write ``content`` to ``file_path`` atomically (temp file + rename)."""
        path = resolve_path(ctx, input["file_path"])
        content: str = input["content"]
        if await to_thread.run_sync(path.is_dir):
            return _tool_error(f"Path is a directory: {path}")
        original = await to_thread.run_sync(_read_text_or_none, path)
        await to_thread.run_sync(_write_text, path, content)
        kind = "create" if original is None else "update"
        structured = {
            "type": kind,
            "filePath": str(path),
            "content": content,
            "originalFile": original,
        }
        if kind == "create":
            message = f"File created successfully at: {path}"
        else:
            message = f"The file {path} has been updated successfully."
        return ToolResult(content=message, structured=structured)


# ---------------------------------------------------------------------- Edit


class EditTool:
    """Exact string replacement in a file."""

    name = "Edit"
    read_only = False
    description = (
        "Performs exact string replacements in files.\n\n"
        "Usage:\n"
        "- When editing text from Read tool output, preserve the exact indentation as it "
        "appears AFTER the line number prefix (spaces + line number + tab). Never include "
        "any part of the line number prefix in old_string or new_string.\n"
        "- The edit will FAIL if `old_string` is not unique in the file. Either provide a "
        "larger string with more surrounding context to make it unique or use `replace_all` "
        "to change every instance of `old_string`.\n"
        "- Use `replace_all` for replacing and renaming strings across the file.\n"
        "- An empty `old_string` creates a new file containing `new_string`."
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA_URI,
        "type": "object",
        "properties": {
            "file_path": {
                "description": "The absolute path to the file to modify",
                "type": "string",
            },
            "old_string": {"description": "The text to replace", "type": "string"},
            "new_string": {
                "description": "The text to replace it with (must be different from old_string)",
                "type": "string",
            },
            "replace_all": {
                "description": "Replace all occurrences of old_string (default false)",
                "default": False,
                "type": "boolean",
            },
        },
        "required": ["file_path", "old_string", "new_string"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Replace ``old_string`` by ``new_string`` (once, unless ``replace_all``).

        Errors: identical strings, missing file, ``old_string`` not found, or
        found several times without ``replace_all``. An empty ``old_string``
        creates the file if it does not exist (or is empty). If the file uses
        CRLF line endings, LF in the strings matches CRLF in the file.
        """
        path = resolve_path(ctx, input["file_path"])
        old: str = input["old_string"]
        new: str = input["new_string"]
        replace_all = bool(input.get("replace_all", False))
        if old == new:
            return _tool_error(
                "No changes to make: old_string and new_string are exactly the same."
            )
        if await to_thread.run_sync(path.is_dir):
            return _tool_error(f"Path is a directory: {path}")
        original = await to_thread.run_sync(_read_text_or_none, path)
        if old == "":
            if original:
                return _tool_error("Cannot create new file - file already exists.")
            await to_thread.run_sync(_write_text, path, new)
            structured = _edit_structured(path, old, new, original, replace_all)
            return ToolResult(
                content=f"File created successfully at: {path}", structured=structured
            )
        if original is None:
            return _tool_error(f"File does not exist: {path}")
        count = original.count(old)
        if count == 0 and "\r\n" in original and "\n" in old:
            old, new = (s.replace("\r\n", "\n").replace("\n", "\r\n") for s in (old, new))
            count = original.count(old)
        if count == 0:
            return _tool_error(f"String to replace not found in file.\nString: {old}")
        if count > 1 and not replace_all:
            return _tool_error(
                f"Found {count} matches of the string to replace, but replace_all is false. "
                "To replace all occurrences, set replace_all to true. To replace only one "
                "occurrence, please provide more context to uniquely identify the instance.\n"
                f"String: {old}"
            )
        updated = original.replace(old, new) if replace_all else original.replace(old, new, 1)
        await to_thread.run_sync(_write_text, path, updated)
        structured = _edit_structured(path, old, new, original, replace_all)
        if replace_all:
            message = (
                f"The file {path} has been updated. All occurrences were successfully "
                f"replaced ({count} replacement{'s' if count != 1 else ''})."
            )
        else:
            message = f"The file {path} has been updated successfully."
        return ToolResult(content=message, structured=structured)


def _edit_structured(
    path: Path, old: str, new: str, original: str | None, replace_all: bool
) -> dict[str, Any]:
    return {
        "filePath": str(path),
        "oldString": old,
        "newString": new,
        "originalFile": original,
        "replaceAll": replace_all,
        "userModified": False,
    }
