"""The ``TaskStop`` tool: stop a background shell by its task id (see :mod:`._shells`).

A module of its own so that the shells container (:mod:`._shells`) sits below the session
state and the tool interface, and this tool above both.
"""

from __future__ import annotations

from typing import Any

from ._base import ToolContext, ToolResult, error_result, state_for

__all__ = ["TaskStopTool"]


class TaskStopTool:
    """Stop a background task (a background Bash command) by id."""

    name = "TaskStop"
    read_only = True  # stops only what the agent itself started: no permission, as in the CLI
    description = (
        "Stops a running background task by its ID (the ID a background Bash command "
        "returned). Use it to end long-running or unneeded background commands. Returns "
        "an error if no running task has that ID."
    )
    input_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "task_id": {"description": "The ID of the background task to stop", "type": "string"},
            "shell_id": {"description": "Deprecated: use task_id instead", "type": "string"},
        },
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        task_id = input.get("task_id") or input.get("shell_id")
        if not task_id:
            return error_result("Missing required parameter: task_id")
        shells = state_for(ctx).shells
        shell = shells.stop(str(task_id))
        if shell is None:
            known = shells.shells.get(str(task_id))
            if known is not None:
                return error_result(f"Task {task_id} is not running (status: {known.status})")
            return error_result(f"No task found with ID: {task_id}")
        message = f"Successfully stopped task: {shell.task_id} ({shell.command})"
        return ToolResult(
            content=message,
            structured={
                "message": message,
                "task_id": shell.task_id,
                "task_type": "local_bash",
                "command": shell.command,
            },
        )
