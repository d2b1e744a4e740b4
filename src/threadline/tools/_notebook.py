"""The NotebookEdit tool (Claude Code's name and input schema): edit one cell of a ``.ipynb``.

``edit_mode`` ``replace`` (default) sets a cell's source (a code cell loses its outputs and
execution count, as in Claude Code), ``insert`` adds a cell after ``cell_id`` (or first),
``delete`` removes one. ``cell_id`` is a cell's ``id`` or, as the CLI accepts, ``cell-N``
(the N-th cell, from 0). The notebook is rewritten atomically (a temporary file renamed
over it) with its indentation kept at one space, as Jupyter writes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from ..transcript._fileio import atomic_write
from ._base import ToolContext, ToolResult, error_result, resolve_path

__all__ = ["NotebookEditTool"]


def _find(cells: list[dict[str, Any]], cell_id: str) -> int | str:
    """The index of ``cell_id`` in ``cells``, or an error message."""
    for i, cell in enumerate(cells):
        if cell.get("id") == cell_id:
            return i
    if cell_id.startswith("cell-") and cell_id[5:].isdigit():
        index = int(cell_id[5:])
        if index < len(cells):
            return index
        return f"Cell with index {index} does not exist in notebook."
    return f'Cell with ID "{cell_id}" not found in notebook.'


def _source(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _new_cell(cell_type: str, source: str, nbformat: tuple[int, int]) -> dict[str, Any]:
    import secrets  # loaded by the first new cell, not by every run

    cell: dict[str, Any] = {"cell_type": cell_type, "metadata": {}, "source": _source(source)}
    if nbformat >= (4, 5):
        cell["id"] = secrets.token_hex(4)
    if cell_type == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return cell


def _write_atomic(path: Path, text: str) -> None:
    atomic_write(path, text.encode("utf-8"), mode=0o666, keep_mode=True)


def _edit(notebook: dict[str, Any], input: dict[str, Any]) -> str | tuple[str, str | None]:
    """Apply the edit in place; an error message, or (mode, the cell id shown)."""
    cells = notebook.get("cells")
    if not isinstance(cells, list):
        return "The notebook has no cell list."
    mode = input.get("edit_mode") or "replace"
    cell_id = input.get("cell_id")
    cell_type = input.get("cell_type")
    nbformat = (int(notebook.get("nbformat", 4)), int(notebook.get("nbformat_minor", 0)))
    index = 0
    if cell_id is not None:
        found = _find(cells, str(cell_id))
        if isinstance(found, str):
            return found
        index = found
    elif mode != "insert":
        return "Cell ID must be specified when not inserting a new cell."
    if mode == "insert":
        if cell_type is None:
            return "Cell type is required when using edit_mode=insert."
        cell = _new_cell(cell_type, input["new_source"], nbformat)
        cells.insert(index + 1 if cell_id is not None else 0, cell)
        return mode, cell.get("id") or cell_id
    if mode == "delete":
        del cells[index]
        return mode, str(cell_id)
    cell = cells[index]
    cell["source"] = _source(input["new_source"])
    if cell_type is not None and cell_type != cell.get("cell_type"):
        cell["cell_type"] = cell_type
        if cell_type == "markdown":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    if cell.get("cell_type") == "code":
        cell["execution_count"] = None
        cell["outputs"] = []
    return mode, str(cell_id)


class NotebookEditTool:
    """Replace, insert or delete a cell of a Jupyter notebook."""

    name = "NotebookEdit"
    read_only = False
    description = (
        "Replaces, inserts or deletes one cell of a Jupyter notebook (.ipynb). "
        "notebook_path must be absolute. cell_id is the cell's id (or cell-N for the N-th "
        "cell, from 0). edit_mode=insert adds a cell after cell_id (at the start without "
        "one) and needs cell_type; edit_mode=delete removes the cell. Replacing a code "
        "cell clears its outputs. Read the notebook first to learn its cell ids."
    )
    input_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "notebook_path": {
                "description": "The absolute path to the Jupyter notebook file to edit "
                "(must be absolute, not relative)",
                "type": "string",
            },
            "cell_id": {
                "description": "The ID of the cell to edit. When inserting a new cell, the new "
                "cell will be inserted after the cell with this ID, or at the beginning if not "
                "specified.",
                "type": "string",
            },
            "new_source": {"description": "The new source for the cell", "type": "string"},
            "cell_type": {
                "description": "The type of the cell (code or markdown). If not specified, it "
                "defaults to the current cell type. If using edit_mode=insert, this is required.",
                "type": "string",
                "enum": ["code", "markdown"],
            },
            "edit_mode": {
                "description": "The type of edit to make (replace, insert, delete). Defaults "
                "to replace.",
                "type": "string",
                "enum": ["replace", "insert", "delete"],
            },
        },
        "required": ["notebook_path", "new_source"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        path = resolve_path(ctx, input["notebook_path"])
        if path.suffix != ".ipynb":
            return error_result(
                "File must be a Jupyter notebook (.ipynb file). For editing other file "
                "types, use the Edit tool."
            )
        apath = anyio.Path(path)
        if not await apath.is_file():
            return error_result("Notebook file does not exist.")
        try:
            notebook = json.loads(await apath.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            return error_result(f"Notebook is not valid JSON: {exc}")
        if not isinstance(notebook, dict):
            return error_result("Notebook is not valid JSON: not an object")
        outcome = _edit(notebook, input)
        if isinstance(outcome, str):
            return error_result(outcome)
        mode, shown = outcome
        text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        await anyio.to_thread.run_sync(_write_atomic, path, text)
        source = input["new_source"]
        if mode == "replace":
            message = f"Updated cell {shown} with {source}"
        elif mode == "insert":
            message = f"Inserted {f'cell {shown}' if shown else 'a new cell'} with {source}"
        else:
            message = f"Deleted cell {shown}"
        return ToolResult(
            content=message,
            structured={
                "new_source": source,
                "cell_id": shown,
                "cell_type": input.get("cell_type") or "code",
                "language": "python",
                "edit_mode": mode,
                "error": "",
                "notebook_path": str(path),
            },
        )
