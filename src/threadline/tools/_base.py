"""The tool interface the agent loop codes against.

A tool is any object with ``name``, ``description``, ``input_schema`` (a JSON
schema), ``read_only`` and an ``async run(input, ctx) -> ToolResult``. The loop
never calls ``run`` directly: it calls :func:`run_tool`, which validates the
input against the schema, turns exceptions into error results the model can
read, and lets cancellation through.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio

from ._state import ToolState

__all__ = [
    "Tool",
    "ToolContext",
    "ToolResult",
    "error_result",
    "resolve_path",
    "run_tool",
    "state_for",
    "validate_input",
]


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """Where and for whom a tool call runs.

    ``cwd`` is the directory relative paths resolve against (and where Bash
    runs); ``env`` holds extra environment variables for Bash, layered over
    ``os.environ`` (threadline's secrets and the model credentials are removed
    from both, see :mod:`threadline.tools._procs`); ``tool_use_id`` is the id of
    the ``tool_use`` block being answered; ``state`` is the session's
    :class:`~threadline.tools._state.ToolState` (background shells, task list,
    sandbox...), created by the runtime.
    """

    cwd: Path
    session_id: str
    env: Mapping[str, str] = field(default_factory=dict)
    tool_use_id: str = ""
    state: ToolState | None = None


@dataclass(kw_only=True)
class ToolResult:
    """The outcome of one tool call.

    ``content`` is the Anthropic ``tool_result`` content: a string, or a list
    of content blocks (``{"type": "text", ...}``, ``{"type": "image", ...}``).
    ``structured`` is what Claude Code stores as ``toolUseResult`` next to the
    tool_result in the transcript (``None`` when there is nothing to store).
    """

    content: str | list[dict[str, Any]]
    is_error: bool = False
    structured: Any = None


@runtime_checkable
class Tool(Protocol):
    """A tool the model can call.

    ``read_only`` is True for tools that need no permission because they change
    nothing outside the session (Read, Glob, Grep, Skill, and, as in Claude Code,
    the session's own task list and TaskStop): permission mode ``"plan"`` allows
    only those. WebFetch and WebSearch are not: a URL or a query can carry data
    out. Implementations may use plain attributes or properties for the four data
    members.
    """

    @property
    def name(self) -> str:
        """The name the model calls the tool by (``mcp__<server>__<tool>`` for MCP tools)."""
        ...

    @property
    def description(self) -> str:
        """What the model is told the tool does."""
        ...

    @property
    def input_schema(self) -> dict[str, Any]:
        """JSON schema (``type: object``) of the tool's input."""
        ...

    @property
    def read_only(self) -> bool:
        """True if the tool needs no permission (see the class docstring)."""
        ...

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run the tool. May raise: :func:`run_tool` turns exceptions into error results."""
        ...


def error_result(message: str, structured: Any = None) -> ToolResult:
    """An ``is_error`` result whose content is ``message``."""
    return ToolResult(content=message, is_error=True, structured=structured)


def resolve_path(ctx: ToolContext, path: str) -> Path:
    """Expand ``~`` and resolve ``path`` against ``ctx.cwd`` (symlinks are not resolved)."""
    p = Path(os.path.expanduser(path))
    if not p.is_absolute():
        p = Path(ctx.cwd).expanduser() / p
    return Path(os.path.normpath(p))


# ---------------------------------------------------------------- validation

_JSON_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _json_type_of(value: Any) -> str:
    for py_type, json_name in _JSON_TYPE_NAMES.items():
        if type(value) is py_type:
            return json_name
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _coerce(value: Any, expected: str) -> tuple[bool, Any]:
    """Check ``value`` against one JSON type; returns (ok, possibly-coerced value).

    Like Claude Code, numeric strings are accepted for number/integer fields
    and ``"true"``/``"false"`` for boolean fields; integral floats pass as
    integers.
    """
    actual = _json_type_of(value)
    if expected == actual:
        return True, value
    if expected == "number" and actual == "integer":
        return True, value
    if expected == "integer" and actual == "number" and float(value).is_integer():
        return True, int(value)
    if actual == "string":
        text = value.strip()
        if expected == "boolean" and text in ("true", "false"):
            return True, text == "true"
        if expected in ("integer", "number"):
            try:
                number = float(text) if text else None
            except ValueError:
                number = None
            if number is not None and number == number and abs(number) != float("inf"):
                if expected == "integer":
                    if number.is_integer():
                        return True, int(number)
                    return False, value
                return True, int(number) if number.is_integer() and "." not in text else number
    return False, value


def validate_input(schema: Mapping[str, Any], input: Any) -> tuple[dict[str, Any], list[str]]:
    """Check ``input`` against the top level of a JSON object schema.

    Checks that ``input`` is an object, that every ``required`` key is present,
    and the basic ``type`` (and ``enum``) of each declared property. Returns
    the (lightly coerced) input and the list of problems, empty when valid.
    Nested schemas and ``additionalProperties`` are not enforced.
    """
    if not isinstance(input, Mapping):
        return {}, [f"The input must be an object, but it is {_json_type_of(input)}"]
    out = dict(input)
    problems: list[str] = []
    for key in schema.get("required", ()) or ():
        if key not in out:
            problems.append(f"The required parameter `{key}` is missing")
    properties = schema.get("properties") or {}
    for key, value in list(out.items()):
        prop = properties.get(key)
        if not isinstance(prop, Mapping):
            continue
        expected = prop.get("type")
        if value is None and expected != "null" and key not in (schema.get("required") or ()):
            del out[key]  # an explicit null for an optional field means "absent"
            continue
        if expected is not None:
            choices = [expected] if isinstance(expected, str) else list(expected)
            for choice in choices:
                ok, coerced = _coerce(value, choice)
                if ok:
                    out[key] = value = coerced
                    break
            else:
                problems.append(
                    f"The parameter `{key}` type is expected as `{' | '.join(choices)}` "
                    f"but provided as `{_json_type_of(value)}`"
                )
                continue
        enum = prop.get("enum")
        if enum is not None and value not in enum:
            allowed = ", ".join(repr(e) for e in enum)
            problems.append(f"The parameter `{key}` must be one of {allowed}, got {value!r}")
    return out, problems


async def run_tool(tool: Tool, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Validate ``input`` and run ``tool``, never letting a tool failure escape.

    * Invalid input gives an error result
      ``<tool_use_error>InputValidationError: ...</tool_use_error>`` without
      calling the tool.
    * An exception raised by the tool gives ``ToolResult(content="Error: ...",
      is_error=True)``.
    * Cancellation (``anyio.get_cancelled_exc_class()``), ``KeyboardInterrupt``
      and ``SystemExit`` propagate.
    """
    try:
        name = tool.name
        problems: list[str] = []
        if getattr(tool, "raw_input", False):  # the tool validates its input itself
            checked = dict(input)
        else:
            checked, problems = validate_input(tool.input_schema, input)
    except Exception as exc:
        return error_result(f"Error: broken tool definition: {exc}")
    if problems:
        plural = "issues" if len(problems) > 1 else "issue"
        return error_result(
            f"<tool_use_error>InputValidationError: {name} failed due to the following "
            f"{plural}:\n" + "\n".join(problems) + "</tool_use_error>"
        )
    cancelled = anyio.get_cancelled_exc_class()
    try:
        result = await tool.run(checked, ctx)
    except cancelled:
        raise
    except Exception as exc:
        message = str(exc) or type(exc).__name__
        return error_result(f"Error: {message}")
    if not isinstance(result, ToolResult):
        return error_result(
            f"Error: tool {name} returned {type(result).__name__}, not a ToolResult"
        )
    return result


_FALLBACK: dict[tuple[str, str], ToolState] = {}
_FALLBACK_LOCK = threading.Lock()


def state_for(ctx: ToolContext) -> ToolState:
    """``ctx.state``, else the state kept for ``(ctx.session_id, ctx.cwd)``."""
    state = ctx.state
    if state is not None:
        return state
    key = (ctx.session_id, str(ctx.cwd))
    with _FALLBACK_LOCK:
        found = _FALLBACK.get(key)
        if found is None:
            found = _FALLBACK[key] = ToolState()
        return found
