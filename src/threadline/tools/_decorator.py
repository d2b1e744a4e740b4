"""In-process ("sdk") MCP tools, API-compatible with ``claude_agent_sdk``.

``@tool(name, description, input_schema)`` turns an ``async def handler(args:
dict) -> dict`` into an :class:`SdkMcpTool`; :func:`create_sdk_mcp_server`
groups tools into a config ``{"type": "sdk", "name": ..., "instance": ...}``
for ``mcp_servers``. threadline runs these handlers directly (no MCP
transport) and exposes each one to the model as ``mcp__<server>__<tool>``,
where ``<server>`` is the key under which the config is passed in
``mcp_servers``.

A handler returns ``{"content": [{"type": "text", "text": ...}, ...],
"is_error": bool (optional)}``; content items use MCP shapes (``text``,
``image`` with ``data``/``mimeType``, ``resource``, ``resource_link``).
"""

from __future__ import annotations

import re
import types as _pytypes
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

from typing_extensions import get_type_hints, is_typeddict

from .._config_types import McpSdkServerConfig
from ._base import ToolContext, ToolResult
from ._content import mcp_result_to_blocks

__all__ = [
    "McpSdkServerConfig",
    "SdkMcpServer",
    "SdkMcpTool",
    "SdkToolAdapter",
    "build_input_schema",
    "create_sdk_mcp_server",
    "mcp_tool_name",
    "tool",
]

T = TypeVar("T")


_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_-]")


def mcp_tool_name(server: str, tool_name: str) -> str:
    """The name the model sees for an MCP tool: ``mcp__<server>__<tool>``, each part with
    characters the API refuses in names replaced by ``_`` as Claude Code does (a plugin's
    server ``plugin:p:srv`` gives ``mcp__plugin_p_srv__<tool>``)."""
    return f"mcp__{_NOT_IN_NAME.sub('_', server)}__{_NOT_IN_NAME.sub('_', tool_name)}"


@dataclass
class SdkMcpTool(Generic[T]):
    """Definition of an in-process MCP tool (same fields as ``claude_agent_sdk.SdkMcpTool``)."""

    name: str
    description: str
    input_schema: type[T] | dict[str, Any]
    handler: Callable[[T], Awaitable[dict[str, Any]]]
    annotations: Any = None


def tool(
    name: str,
    description: str,
    input_schema: type | dict[str, Any],
    annotations: Any = None,
) -> Callable[[Callable[[Any], Awaitable[dict[str, Any]]]], SdkMcpTool[Any]]:
    """Decorator defining an in-process MCP tool.

    ``input_schema`` is a JSON schema (a dict with string ``type`` and
    ``properties``), a dict of parameter name -> Python type (``{"a": float}``;
    every parameter required; ``Annotated[T, "description"]`` adds a
    description), or a ``TypedDict`` class. ``annotations`` are MCP tool
    annotations (an object or dict); ``readOnlyHint`` marks the tool read-only.
    """

    def decorator(handler: Callable[[Any], Awaitable[dict[str, Any]]]) -> SdkMcpTool[Any]:
        return SdkMcpTool(
            name=name,
            description=description,
            input_schema=input_schema,
            handler=handler,
            annotations=annotations,
        )

    return decorator


# ------------------------------------------------------------ schema building


def _type_to_schema(py_type: Any) -> dict[str, Any]:
    """JSON schema of a Python type annotation (unknown types become strings)."""
    origin = get_origin(py_type)
    if getattr(origin, "_name", None) in ("NotRequired", "Required", "ReadOnly"):
        return _type_to_schema(get_args(py_type)[0])
    if origin is Annotated:
        base, *meta = get_args(py_type)
        schema = _type_to_schema(base)
        for item in meta:
            if isinstance(item, str):
                schema["description"] = item
                break
        return schema
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if py_type in simple:
        return {"type": simple[py_type]}
    if origin is Union or isinstance(py_type, _pytypes.UnionType):
        members = [a for a in get_args(py_type) if a is not type(None)]
        if len(members) == 1:
            return _type_to_schema(members[0])
        return {"anyOf": [_type_to_schema(a) for a in members]}
    if origin is Literal:
        values = list(get_args(py_type))
        return {"enum": values}
    if py_type is list or origin in (list, tuple, set, frozenset, Sequence):
        args = get_args(py_type)
        if args:
            return {"type": "array", "items": _type_to_schema(args[0])}
        return {"type": "array"}
    if py_type is dict or origin is dict:
        return {"type": "object"}
    if is_typeddict(py_type):
        return _typeddict_schema(py_type)
    return {"type": "string"}


def _typeddict_schema(td: Any) -> dict[str, Any]:
    hints = get_type_hints(td, include_extras=True)
    properties = {key: _type_to_schema(hint) for key, hint in hints.items()}
    required = sorted(getattr(td, "__required_keys__", properties.keys()))
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def build_input_schema(input_schema: Any) -> dict[str, Any]:
    """The JSON schema for a tool's declared ``input_schema`` (as the official SDK builds it)."""
    if isinstance(input_schema, dict):
        if isinstance(input_schema.get("type"), str) and "properties" in input_schema:
            return input_schema
        properties = {key: _type_to_schema(value) for key, value in input_schema.items()}
        return {"type": "object", "properties": properties, "required": list(properties)}
    if is_typeddict(input_schema):
        return _typeddict_schema(input_schema)
    return {"type": "object", "properties": {}}


def _read_only_hint(annotations: Any) -> bool:
    if annotations is None:
        return False
    if isinstance(annotations, dict):
        value = annotations.get("readOnlyHint", annotations.get("read_only_hint"))
    else:
        value = getattr(annotations, "readOnlyHint", None)
        if value is None:
            value = getattr(annotations, "read_only_hint", None)
    return bool(value)


# ------------------------------------------------------------------ the server


class SdkToolAdapter:
    """A :class:`~threadline.tools.Tool` that calls an SDK tool's handler in-process."""

    def __init__(self, server_name: str, definition: Any) -> None:
        self.definition = definition
        self.name = mcp_tool_name(server_name, definition.name)
        self.description: str = definition.description
        self.input_schema: dict[str, Any] = build_input_schema(definition.input_schema)
        self.read_only = _read_only_hint(getattr(definition, "annotations", None))

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Call the handler with ``input``; its ``content``/``is_error`` become the result."""
        result = await self.definition.handler(input)
        if not isinstance(result, dict):
            raise TypeError(
                f"tool handler {self.definition.name!r} returned {type(result).__name__}, "
                "expected a dict with 'content'"
            )
        blocks = mcp_result_to_blocks(result.get("content") or [], result.get("structuredContent"))
        is_error = bool(result.get("is_error", result.get("isError", False)))
        return ToolResult(content=blocks, is_error=is_error, structured=blocks)


@dataclass
class SdkMcpServer:
    """The ``instance`` of an sdk server config: a named, versioned set of tools."""

    name: str
    version: str = "1.0.0"
    tools: list[SdkMcpTool[Any]] = field(default_factory=list)

    def as_tools(self, server_name: str | None = None) -> list[SdkToolAdapter]:
        """The server's tools as threadline Tools named ``mcp__<server_name>__<tool>``."""
        return [SdkToolAdapter(server_name or self.name, t) for t in self.tools]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a tool by its plain name; returns the handler's result dict."""
        for t in self.tools:
            if t.name == name:
                return await t.handler(arguments)
        return {"content": [{"type": "text", "text": f"Tool '{name}' not found"}], "is_error": True}


def create_sdk_mcp_server(
    name: str, version: str = "1.0.0", tools: list[SdkMcpTool[Any]] | None = None
) -> McpSdkServerConfig:
    """Create an in-process MCP server config: ``{"type": "sdk", "name", "instance"}``.

    ``instance`` is an :class:`SdkMcpServer`. Pass the config in ``mcp_servers``
    under a key; its tools reach the model as ``mcp__<key>__<tool>``.
    """
    server = SdkMcpServer(name=name, version=version, tools=list(tools or []))
    return {"type": "sdk", "name": name, "instance": server}
