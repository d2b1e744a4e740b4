"""The task-list tools: ``TaskCreate``/``TaskGet``/``TaskList``/``TaskUpdate`` and ``TodoWrite``.

Claude Code 2.1.330 sends the four ``Task*`` tools (its ``TodoWrite`` is only sent when
``CLAUDE_CODE_ENABLE_TASKS`` is off); threadline offers both, with the CLI's schemas and
answers. Tasks are stored where the CLI stores them, one JSON file per task under
``$CLAUDE_CONFIG_DIR/tasks/<session id>/<id>.json`` (ids count up from 1; a deleted
task's file is removed and ids that pointed at it are dropped from ``blocks``/
``blockedBy``), so the list survives a resume and moves between threadline and the CLI.
``TodoWrite`` keeps the session's list in memory (:attr:`ToolState.todos`) and answers
as the CLI does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from ..sessions._paths import config_dir as default_config_dir
from ..transcript._fileio import atomic_write
from ._base import ToolContext, ToolResult, error_result, state_for

__all__ = [
    "TaskCreateTool",
    "TaskGetTool",
    "TaskListTool",
    "TaskUpdateTool",
    "TodoWriteTool",
]

_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
_STATUSES = ("pending", "in_progress", "completed")


def _dir(ctx: ToolContext) -> Path:
    base = state_for(ctx).config_dir or default_config_dir()
    return Path(base) / "tasks" / ctx.session_id


def _load_all(directory: Path) -> dict[str, dict[str, Any]]:
    tasks: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return tasks
    for path in directory.glob("*.json"):
        try:
            task = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(task, dict) and str(task.get("id")) == path.stem:
            tasks[path.stem] = task
    return dict(sorted(tasks.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0))


def _save(directory: Path, task: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{task['id']}.json"
    data = json.dumps(task, indent=2, ensure_ascii=False).encode("utf-8")
    atomic_write(path, data, mode=0o666)


def _next_id(directory: Path, tasks: dict[str, dict[str, Any]]) -> str:
    mark = directory / ".highwatermark"
    try:
        high = int(mark.read_text().strip() or 0)
    except (OSError, ValueError):
        high = 0
    high = max([high, *(int(k) for k in tasks if k.isdigit())]) + 1
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    mark.write_text(str(high))
    return str(high)


async def _locked(ctx: ToolContext, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(directory, *args)`` in a thread under the session's tool lock."""
    lock = state_for(ctx).lock
    directory = _dir(ctx)

    def call() -> Any:
        with lock:
            return fn(directory, *args)

    return await anyio.to_thread.run_sync(call)


def _create(directory: Path, input: dict[str, Any]) -> dict[str, Any]:
    tasks = _load_all(directory)
    task: dict[str, Any] = {
        "id": _next_id(directory, tasks),
        "subject": input["subject"],
        "description": input["description"],
    }
    if input.get("activeForm"):
        task["activeForm"] = input["activeForm"]
    task.update({"status": "pending", "blocks": [], "blockedBy": []})
    if input.get("metadata"):
        task["metadata"] = dict(input["metadata"])
    _save(directory, task)
    return task


class TaskCreateTool:
    name = "TaskCreate"
    read_only = True  # changes only the session's own task list: no permission, as in the CLI
    description = (
        "Creates a task in the session's task list. Use it to plan multi-step work: one "
        "task per concrete step, with a short imperative subject ('Run the tests'), a "
        "description of what done means, and activeForm, the present-continuous label "
        "shown while it runs ('Running the tests'). New tasks start as pending. Mark a task "
        "in_progress with TaskUpdate before starting it and completed as soon as it is done."
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA,
        "type": "object",
        "properties": {
            "subject": {"description": "A brief title for the task", "type": "string"},
            "description": {"description": "What needs to be done", "type": "string"},
            "activeForm": {
                "description": "Present continuous form shown in spinner when in_progress "
                '(e.g., "Running tests")',
                "type": "string",
            },
            "metadata": {
                "description": "Arbitrary metadata to attach to the task",
                "type": "object",
                "propertyNames": {"type": "string"},
                "additionalProperties": {},
            },
        },
        "required": ["subject", "description"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        task = await _locked(ctx, _create, input)
        return ToolResult(
            content=f"Task #{task['id']} created successfully: {task['subject']}",
            structured={
                "task": {k: task[k] for k in ("id", "subject", "description")},
            },
        )


class TaskGetTool:
    name = "TaskGet"
    read_only = True
    description = (
        "Shows one task of the session's task list in full: subject, status, description "
        "and the tasks it blocks or is blocked by."
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA,
        "type": "object",
        "properties": {
            "taskId": {"description": "The ID of the task to retrieve", "type": "string"}
        },
        "required": ["taskId"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        tasks = await _locked(ctx, _load_all)
        task = tasks.get(str(input["taskId"]).lstrip("#"))
        if task is None:
            return ToolResult(content="Task not found", structured={"task": None})
        lines = [
            f"Task #{task['id']}: {task['subject']}",
            f"Status: {task.get('status', 'pending')}",
            f"Description: {task.get('description', '')}",
        ]
        if task.get("blockedBy"):
            lines.append("Blocked by: " + ", ".join(f"#{t}" for t in task["blockedBy"]))
        if task.get("blocks"):
            lines.append("Blocks: " + ", ".join(f"#{t}" for t in task["blocks"]))
        shown = {
            k: task.get(k)
            for k in ("id", "subject", "description", "status", "blocks", "blockedBy")
        }
        return ToolResult(content="\n".join(lines), structured={"task": shown})


class TaskListTool:
    name = "TaskList"
    read_only = True
    description = (
        "Lists the session's tasks with their status and what blocks them. Use it to pick "
        "the next task and to check nothing is left undone before you finish."
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA,
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        tasks = await _locked(ctx, _load_all)
        if not tasks:
            return ToolResult(content="No tasks found", structured={"tasks": []})
        lines = []
        for task in tasks.values():
            open_blockers = [
                b
                for b in task.get("blockedBy", [])
                if tasks.get(b, {}).get("status") != "completed"
            ]
            line = f"#{task['id']} [{task.get('status', 'pending')}] {task['subject']}"
            if open_blockers:
                line += " [blocked by " + ", ".join(f"#{b}" for b in open_blockers) + "]"
            lines.append(line)
        listed = [
            {
                "id": t["id"],
                "subject": t["subject"],
                "status": t.get("status", "pending"),
                "blockedBy": t.get("blockedBy", []),
            }
            for t in tasks.values()
        ]
        return ToolResult(content="\n".join(lines), structured={"tasks": listed})


def _link(tasks: dict[str, dict[str, Any]], a: str, b: str) -> None:
    """Task ``a`` blocks task ``b`` (both sides recorded)."""
    if b not in tasks[a].setdefault("blocks", []):
        tasks[a]["blocks"].append(b)
    if a not in tasks[b].setdefault("blockedBy", []):
        tasks[b]["blockedBy"].append(a)


def _update(directory: Path, input: dict[str, Any]) -> dict[str, Any] | str:
    tasks = _load_all(directory)
    task_id = str(input["taskId"]).lstrip("#")
    task = tasks.get(task_id)
    if task is None:
        return "Task not found"
    for other in [*input.get("addBlocks", []), *input.get("addBlockedBy", [])]:
        if str(other) not in tasks:
            return f"Task #{other} not found"
    before = task.get("status", "pending")
    if input.get("status") == "deleted":
        _delete(directory, tasks, task_id)
        return {"fields": ["deleted"], "before": before, "after": "deleted", "id": task_id}
    fields = _set_fields(task, input, before) + _set_links(tasks, task_id, input)
    if "metadata" in input and isinstance(input["metadata"], dict):
        merged = dict(task.get("metadata") or {})
        for k, v in input["metadata"].items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        task["metadata"] = merged
        fields.append("metadata")
    for t in tasks.values():
        _save(directory, t)
    return {"fields": fields, "before": before, "after": task.get("status"), "id": task_id}


def _delete(directory: Path, tasks: dict[str, dict[str, Any]], task_id: str) -> None:
    """Remove a task's file and every link to it."""
    (directory / f"{task_id}.json").unlink(missing_ok=True)
    for other in tasks.values():
        changed = False
        for key in ("blocks", "blockedBy"):
            if task_id in other.get(key, []):
                other[key].remove(task_id)
                changed = True
        if changed and other["id"] != task_id:
            _save(directory, other)


def _set_fields(task: dict[str, Any], input: dict[str, Any], before: str) -> list[str]:
    """The plain fields ``input`` changes (set on ``task``), in the CLI's order."""
    fields: list[str] = []
    for key in ("subject", "description", "activeForm", "owner"):
        if key in input and input[key] != task.get(key):
            task[key] = input[key]
            fields.append(key)
    if "status" in input and input["status"] != before:
        task["status"] = input["status"]
        fields.append("status")
    return fields


def _set_links(tasks: dict[str, dict[str, Any]], task_id: str, input: dict[str, Any]) -> list[str]:
    """Record ``addBlocks`` / ``addBlockedBy`` on both sides; the fields that changed."""
    fields: list[str] = []
    for other in input.get("addBlocks", []):
        _link(tasks, task_id, str(other))
    if input.get("addBlocks"):
        fields.append("blocks")
    for other in input.get("addBlockedBy", []):
        _link(tasks, str(other), task_id)
    if input.get("addBlockedBy"):
        fields.append("blockedBy")
    return fields


class TaskUpdateTool:
    name = "TaskUpdate"
    read_only = True
    description = (
        "Updates a task: its status (pending, in_progress, completed, or deleted to remove "
        "it), subject, description, activeForm, owner, metadata, and dependencies "
        "(addBlocks: tasks this one blocks; addBlockedBy: tasks that block this one). Mark "
        "a task completed only when it is fully done."
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA,
        "type": "object",
        "properties": {
            "taskId": {"description": "The ID of the task to update", "type": "string"},
            "subject": {"description": "New subject for the task", "type": "string"},
            "description": {"description": "New description for the task", "type": "string"},
            "activeForm": {
                "description": "Present continuous form shown in spinner when in_progress "
                '(e.g., "Running tests")',
                "type": "string",
            },
            "status": {
                "description": "New status for the task",
                "anyOf": [
                    {"type": "string", "enum": list(_STATUSES)},
                    {"type": "string", "const": "deleted"},
                ],
            },
            "addBlocks": {
                "description": "Task IDs that this task blocks",
                "type": "array",
                "items": {"type": "string"},
            },
            "addBlockedBy": {
                "description": "Task IDs that block this task",
                "type": "array",
                "items": {"type": "string"},
            },
            "owner": {"description": "New owner for the task", "type": "string"},
            "metadata": {
                "description": "Metadata keys to merge into the task. Set a key to null to "
                "delete it.",
                "type": "object",
                "propertyNames": {"type": "string"},
                "additionalProperties": {},
            },
        },
        "required": ["taskId"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        status = input.get("status")
        if status is not None and status not in (*_STATUSES, "deleted"):
            return error_result(
                f"<tool_use_error>InputValidationError: invalid status {status!r}</tool_use_error>"
            )
        outcome = await _locked(ctx, _update, input)
        if isinstance(outcome, str):
            return ToolResult(content=outcome, structured={"success": False, "error": outcome})
        fields = outcome["fields"]
        structured: dict[str, Any] = {
            "success": True,
            "taskId": outcome["id"],
            "updatedFields": fields,
        }
        if outcome["before"] != outcome["after"]:
            structured["statusChange"] = {"from": outcome["before"], "to": outcome["after"]}
        if fields == ["deleted"]:
            text = f"Updated task #{outcome['id']} deleted"
        elif fields:
            text = f"Updated task #{outcome['id']} {', '.join(fields)}"
        else:
            text = f"No changes to task #{outcome['id']}"
        return ToolResult(content=text, structured=structured)


class TodoWriteTool:
    """Claude Code's older single-list planner (sent by the CLI when its tasks are off)."""

    name = "TodoWrite"
    read_only = True
    description = (
        "Replaces the session's todo list with the given list. Use it to plan and track "
        "multi-step work: each item has content (imperative: 'Run the tests'), activeForm "
        "(present continuous: 'Running the tests') and status (pending, in_progress, "
        "completed). Keep exactly one item in_progress while working and mark items "
        "completed as soon as they are done."
    )
    input_schema: dict[str, Any] = {
        "$schema": _SCHEMA,
        "type": "object",
        "properties": {
            "todos": {
                "description": "The updated todo list",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "content": {"type": "string", "minLength": 1},
                        "status": {"type": "string", "enum": list(_STATUSES)},
                        "activeForm": {"type": "string", "minLength": 1},
                    },
                    "required": ["content", "status", "activeForm"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["todos"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        todos = input["todos"]
        for i, item in enumerate(todos):
            if not isinstance(item, dict):
                return error_result(f"todos[{i}] must be an object")
            for key in ("content", "status", "activeForm"):
                if not isinstance(item.get(key), str) or not item[key]:
                    return error_result(f"todos[{i}].{key} must be a non-empty string")
            if item["status"] not in _STATUSES:
                return error_result(f"todos[{i}].status must be one of {', '.join(_STATUSES)}")
        state = state_for(ctx)
        old, state.todos = state.todos, [dict(t) for t in todos]
        return ToolResult(
            content=(
                "Todos have been modified successfully. Ensure that you continue to use the "
                "todo list to track your progress. Please proceed with the current tasks if "
                "applicable"
            ),
            structured={"oldTodos": old, "newTodos": state.todos},
        )
