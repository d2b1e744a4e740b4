"""@tool, create_sdk_mcp_server and in-process SDK tools."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Optional

import pytest
from typing_extensions import TypedDict

from threadline.tools import (
    SdkMcpServer,
    SdkMcpTool,
    Tool,
    ToolContext,
    create_sdk_mcp_server,
    open_mcp_tools,
    run_tool,
    tool,
)
from threadline.tools._decorator import build_input_schema

pytestmark = pytest.mark.anyio


@tool("add", "Add two numbers", {"a": float, "b": float})
async def add(args: dict[str, Any]) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": f"Sum: {args['a'] + args['b']}"}]}


@tool("divide", "Divide", {"a": float, "b": float})
async def divide(args: dict[str, Any]) -> dict[str, Any]:
    if args["b"] == 0:
        return {"content": [{"type": "text", "text": "Division by zero"}], "is_error": True}
    return {"content": [{"type": "text", "text": str(args["a"] / args["b"])}]}


@tool("explode", "Raises", {}, annotations={"readOnlyHint": True})
async def explode(args: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("kaboom")


@tool("picture", "Returns an image and a resource", {})
async def picture(args: dict[str, Any]) -> dict[str, Any]:
    return {
        "content": [
            {"type": "image", "data": "aGk=", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "file:///x", "text": "resource text"}},
            {"type": "resource_link", "name": "doc", "uri": "file:///doc"},
        ]
    }


class _PointBase(TypedDict):
    x: int


class Point(_PointBase, total=False):
    label: str


def test_decorator_returns_sdk_mcp_tool() -> None:
    assert isinstance(add, SdkMcpTool)
    assert add.name == "add" and add.description == "Add two numbers"
    assert add.input_schema == {"a": float, "b": float}


def test_type_dict_schemas() -> None:
    assert build_input_schema({"a": float, "n": int, "s": str, "ok": bool}) == {
        "type": "object",
        "properties": {
            "a": {"type": "number"},
            "n": {"type": "integer"},
            "s": {"type": "string"},
            "ok": {"type": "boolean"},
        },
        "required": ["a", "n", "s", "ok"],
    }
    schema = build_input_schema(
        {
            "tags": list[str],
            "meta": dict[str, int],
            "maybe": Optional[int],  # noqa: UP045 - testing the typing form
            "either": int | str,
            "doc": Annotated[str, "A described field"],
        }
    )
    assert schema["properties"] == {
        "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"type": "object"},
        "maybe": {"type": "integer"},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "doc": {"type": "string", "description": "A described field"},
    }
    assert build_input_schema(Point) == {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "label": {"type": "string"}},
        "required": ["x"],
    }
    raw = {"type": "object", "properties": {"q": {"type": "string"}}, "required": []}
    assert build_input_schema(raw) is raw


def test_create_sdk_mcp_server_config() -> None:
    config = create_sdk_mcp_server("calc", version="2.0.0", tools=[add, divide])
    assert config["type"] == "sdk" and config["name"] == "calc"
    server = config["instance"]
    assert isinstance(server, SdkMcpServer)
    assert server.version == "2.0.0" and [t.name for t in server.tools] == ["add", "divide"]
    assert create_sdk_mcp_server("empty")["instance"].tools == []


async def test_sdk_server_tools_run_in_process(ctx: ToolContext) -> None:
    config = create_sdk_mcp_server("calc", tools=[add, divide, explode, picture])
    async with contextlib.AsyncExitStack() as stack:
        tools = await open_mcp_tools({"math": config}, stack)
    by_name = {t.name: t for t in tools}
    assert list(by_name) == [
        "mcp__math__add",
        "mcp__math__divide",
        "mcp__math__explode",
        "mcp__math__picture",
    ]
    assert all(isinstance(t, Tool) for t in tools)
    assert by_name["mcp__math__explode"].read_only and not by_name["mcp__math__add"].read_only
    assert by_name["mcp__math__add"].input_schema["required"] == ["a", "b"]

    result = await run_tool(by_name["mcp__math__add"], {"a": 1, "b": 2.5}, ctx)
    assert result.content == [{"type": "text", "text": "Sum: 3.5"}] and not result.is_error

    result = await run_tool(by_name["mcp__math__divide"], {"a": 1, "b": 0}, ctx)
    assert result.is_error and result.content == [{"type": "text", "text": "Division by zero"}]

    result = await run_tool(by_name["mcp__math__add"], {"a": 1}, ctx)
    assert result.is_error and "`b` is missing" in str(result.content)

    result = await run_tool(by_name["mcp__math__explode"], {}, ctx)
    assert result.is_error and result.content == "Error: kaboom"

    result = await run_tool(by_name["mcp__math__picture"], {}, ctx)
    assert result.content == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}},
        {"type": "text", "text": "resource text"},
        {"type": "text", "text": "doc\nfile:///doc"},
    ]


async def test_sdk_server_call_tool_directly() -> None:
    server = create_sdk_mcp_server("calc", tools=[add])["instance"]
    assert await server.call_tool("add", {"a": 1, "b": 1}) == {
        "content": [{"type": "text", "text": "Sum: 2"}]
    }
    assert (await server.call_tool("nope", {}))["is_error"] is True


async def test_official_sdk_server_instance_over_memory(ctx: ToolContext) -> None:
    """A server built by claude_agent_sdk.create_sdk_mcp_server works too (in-memory MCP)."""
    claude_agent_sdk = pytest.importorskip("claude_agent_sdk")

    @claude_agent_sdk.tool("greet", "Greet someone", {"name": str})
    async def greet(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": f"Hello, {args['name']}!"}]}

    config = claude_agent_sdk.create_sdk_mcp_server("greeter", tools=[greet])
    async with contextlib.AsyncExitStack() as stack:
        tools = await open_mcp_tools({"hi": config}, stack)
        assert [t.name for t in tools] == ["mcp__hi__greet"]
        result = await run_tool(tools[0], {"name": "Ada"}, ctx)
        assert result.content == [{"type": "text", "text": "Hello, Ada!"}]
        assert not result.is_error


async def test_official_sdk_tool_objects_accepted(ctx: ToolContext) -> None:
    """Tools made with claude_agent_sdk.tool can be grouped by threadline's server."""
    claude_agent_sdk = pytest.importorskip("claude_agent_sdk")

    @claude_agent_sdk.tool("shout", "Upper-case", {"text": str})
    async def shout(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": args["text"].upper()}]}

    config = create_sdk_mcp_server("s", tools=[shout])
    async with contextlib.AsyncExitStack() as stack:
        (t,) = await open_mcp_tools({"s": config}, stack)
    result = await run_tool(t, {"text": "hey"}, ctx)
    assert result.content == [{"type": "text", "text": "HEY"}]
