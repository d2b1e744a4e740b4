"""run_tool: validation, error capture, cancellation."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from threadline.tools import BUILTIN_TOOLS, Tool, ToolContext, ToolResult, builtin_tool, run_tool
from threadline.tools._base import resolve_path, validate_input

pytestmark = pytest.mark.anyio


class _Probe:
    """A minimal Tool recording its input."""

    name = "Probe"
    description = "test tool"
    read_only = True
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "n": {"type": "integer"},
            "x": {"type": "number"},
            "b": {"type": "boolean"},
            "mode": {"type": "string", "enum": ["a", "b"]},
            "items": {"type": "array"},
        },
        "required": ["s"],
    }

    def __init__(self, behaviour: str = "ok") -> None:
        self.behaviour = behaviour
        self.seen: dict[str, Any] | None = None

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        self.seen = input
        if self.behaviour == "raise":
            raise RuntimeError("boom")
        if self.behaviour == "sleep":
            await anyio.sleep(10)
        if self.behaviour == "bad":
            return "not a result"  # type: ignore[return-value]
        return ToolResult(content="ok")


def test_protocol_is_runtime_checkable() -> None:
    assert isinstance(_Probe(), Tool)
    for tool in BUILTIN_TOOLS.values():
        assert isinstance(tool, Tool)


def test_builtin_names_and_read_only() -> None:
    assert set(BUILTIN_TOOLS) == {
        "Read", "Write", "Edit", "Glob", "Grep", "Bash", "NotebookEdit", "WebFetch",
        "WebSearch", "TaskCreate", "TaskGet", "TaskList", "TaskUpdate", "TaskStop",
        "TodoWrite", "Skill",
    }
    assert {n for n, t in BUILTIN_TOOLS.items() if t.read_only} == {
        "Read", "Glob", "Grep", "Skill", "TaskCreate", "TaskGet", "TaskList", "TaskUpdate",
        "TaskStop", "TodoWrite",
    }
    assert builtin_tool("Read") is BUILTIN_TOOLS["Read"]
    with pytest.raises(KeyError, match="known: Bash"):
        builtin_tool("read")


async def test_happy_path(ctx: ToolContext) -> None:
    probe = _Probe()
    result = await run_tool(probe, {"s": "hi", "n": 3}, ctx)
    assert result == ToolResult(content="ok")
    assert probe.seen == {"s": "hi", "n": 3}


async def test_missing_required(ctx: ToolContext) -> None:
    probe = _Probe()
    result = await run_tool(probe, {}, ctx)
    assert result.is_error
    assert isinstance(result.content, str)
    assert "InputValidationError: Probe failed" in result.content
    assert "The required parameter `s` is missing" in result.content
    assert probe.seen is None


async def test_wrong_types(ctx: ToolContext) -> None:
    result = await run_tool(_Probe(), {"s": 1, "n": "abc", "mode": "z", "items": {}}, ctx)
    assert result.is_error
    assert isinstance(result.content, str)
    assert "issues" in result.content
    assert "`s` type is expected as `string` but provided as `integer`" in result.content
    assert "`n` type is expected as `integer`" in result.content
    assert "`mode` must be one of" in result.content
    assert "`items` type is expected as `array` but provided as `object`" in result.content


async def test_not_an_object(ctx: ToolContext) -> None:
    result = await run_tool(_Probe(), ["s"], ctx)  # type: ignore[arg-type]
    assert result.is_error


def test_coercion_like_claude_code() -> None:
    schema = _Probe.input_schema
    out, problems = validate_input(schema, {"s": "x", "n": "5", "x": "2.5", "b": "true"})
    assert problems == []
    assert out == {"s": "x", "n": 5, "x": 2.5, "b": True}
    out, problems = validate_input(schema, {"s": "x", "n": 4.0, "x": 3})
    assert problems == [] and out["n"] == 4 and isinstance(out["n"], int)
    _, problems = validate_input(schema, {"s": "x", "n": 4.5})
    assert problems
    _, problems = validate_input(schema, {"s": "x", "n": True})
    assert problems  # booleans are not integers
    out, problems = validate_input(schema, {"s": "x", "n": None})
    assert problems == [] and "n" not in out  # null optional == absent


async def test_exception_becomes_error_result(ctx: ToolContext) -> None:
    result = await run_tool(_Probe("raise"), {"s": "x"}, ctx)
    assert result == ToolResult(content="Error: boom", is_error=True)


async def test_non_result_becomes_error(ctx: ToolContext) -> None:
    result = await run_tool(_Probe("bad"), {"s": "x"}, ctx)
    assert result.is_error
    assert "not a ToolResult" in str(result.content)


async def test_cancellation_propagates(ctx: ToolContext) -> None:
    with anyio.move_on_after(0.05) as scope:
        await run_tool(_Probe("sleep"), {"s": "x"}, ctx)
        pytest.fail("not cancelled")
    assert scope.cancelled_caught


def test_resolve_path(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_path(ctx, "a/../b.txt") == ctx.cwd / "b.txt"
    assert resolve_path(ctx, "/etc/hosts").as_posix() == "/etc/hosts"
    monkeypatch.setenv("HOME", str(ctx.cwd))
    assert resolve_path(ctx, "~/x") == ctx.cwd / "x"
