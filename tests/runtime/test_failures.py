"""Failures: model errors, interrupts, denials, hooks, raising tools. Each leaves a
transcript that resumes with a valid, complete request."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline._client import AgentClient
from threadline._messages import (
    AssistantMessage,
    ResultMessage,
    StreamEvent,
    TextBlock,
    ToolResultBlock,
    UserMessage,
)
from threadline.runtime._hooks import HookMatcher
from threadline.runtime._permissions import (
    PermissionResultAllow,
    PermissionResultDeny,
    ToolPermissionContext,
)
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.tools import create_sdk_mcp_server, tool

from ._helpers import collect, options, sent_texts, transcript

pytestmark = pytest.mark.anyio


async def _run(prompt: str, **kw: Any) -> list[Any]:
    return await collect(prompt, options(**kw))


async def _resumes(fake: FakeAnthropicServer, sid: str) -> dict[str, Any]:
    """Resume ``sid`` with one more prompt; return the request the server saw."""
    fake.add({"text": "resumed fine"})
    msgs = await _run("are you there?", resume=sid)
    assert msgs[-1].result == "resumed fine" and not msgs[-1].is_error, msgs[-1]
    body = fake.message_requests()[-1]
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "user" and all(a != b for a, b in itertools.pairwise(roles))
    return body


def _results(msgs: list[Any]) -> list[ToolResultBlock]:
    return [
        b
        for m in msgs
        if isinstance(m, UserMessage)
        for b in m.content
        if isinstance(b, ToolResultBlock)
    ]


# -- model errors -------------------------------------------------------------------------


async def test_429_then_success(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [
            {
                "error": {"status": 429, "type": "rate_limit_error", "message": "slow down"},
                "headers": {"retry-after": "0"},
            },
            {"text": "after retry"},
        ]
    )
    msgs = await _run("hi")
    assert msgs[-1].result == "after retry" and not msgs[-1].is_error
    assert len(fake.message_requests()) == 2


async def test_persistent_500_is_an_error_result_and_resumes(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([{"error": {"status": 500, "type": "api_error", "message": "boom"}, "times": 10}])
    msgs = await _run("first prompt")
    result = msgs[-1]
    assert isinstance(result, ResultMessage) and result.is_error
    assert result.api_error_status == 500 and result.terminal_reason == "api_error"
    assert "API Error: 500 boom" in (result.result or "")
    synthetic = [m for m in msgs if isinstance(m, AssistantMessage)]
    assert synthetic and synthetic[0].error == "server_error"
    entries = transcript(config_dir, result.session_id)
    assert entries[-1]["isApiErrorMessage"] is True
    fake.script([])
    body = await _resumes(fake, result.session_id)
    # the synthetic error reply is dropped and both prompts merge, as the CLI sends them
    # (a "\n" ends each merged text block but the last)
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert sent_texts(body) == ["first prompt\n", "are you there?"]


async def test_400_is_not_retried(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [{"error": {"status": 400, "type": "invalid_request_error", "message": "bad"}, "times": 5}]
    )
    msgs = await _run("x")
    assert msgs[-1].api_error_status == 400
    assert len(fake.message_requests()) == 1


async def test_malformed_sse_is_retried(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "garbled", "malformed_sse": True}, {"text": "clean"}])
    msgs = await _run("x")
    assert msgs[-1].result == "clean"


async def test_dropped_stream_is_retried(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "cut", "drop_after_events": 3}, {"text": "whole"}])
    msgs = await _run("x")
    assert msgs[-1].result == "whole"
    assert [m.content for m in msgs if isinstance(m, AssistantMessage)] == [
        [TextBlock(text="whole")]
    ]


async def test_stream_dropped_every_time(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([{"text": "cut", "drop_after_events": 2, "times": 10}])
    msgs = await _run("unlucky")
    assert msgs[-1].is_error and msgs[-1].api_error_status is None
    fake.script([])
    await _resumes(fake, msgs[-1].session_id)


async def test_connection_refused(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    msgs = await _run("x", base_url="http://127.0.0.1:9")
    assert msgs[-1].is_error and "API Error" in msgs[-1].result


# -- interrupts -----------------------------------------------------------------------------


async def test_interrupt_mid_stream(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([{"text": "a long and slow answer " * 5, "delay_between_events_s": 0.2}])
    got: list[Any] = []
    async with AgentClient(options(include_partial_messages=True)) as client:
        await client.query("talk slowly")
        async for m in client.receive_response():
            got.append(m)
            if isinstance(m, StreamEvent) and m.event["type"] == "content_block_delta":
                await client.interrupt()
        sid = client.session_id
    result = got[-1]
    assert isinstance(result, ResultMessage) and result.terminal_reason == "aborted_streaming"
    assert not [m for m in got if isinstance(m, AssistantMessage)]
    assert sid is not None
    entries = transcript(config_dir, sid)
    assert entries[-1]["message"]["content"][0]["text"] == "[Request interrupted by user]"
    fake.script([])
    body = await _resumes(fake, sid)
    # as the CLI resumes a turn that ended interrupted: a synthetic reply closes it
    assert sent_texts(body) == [
        "talk slowly\n",
        "[Request interrupted by user]",
        "No response requested.",
        "are you there?",
    ]


@tool("wait", "Waits a long time", {"seconds": float})
async def _wait(args: dict[str, Any]) -> dict[str, Any]:
    await anyio.sleep(args["seconds"])
    return {"content": [{"type": "text", "text": "waited"}]}


@tool("explode", "Always fails", {})
async def _explode(args: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("kaboom")


SERVER = create_sdk_mcp_server("util", "1.0.0", [_wait, _explode])


async def test_interrupt_mid_tool(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([{"tool_use": {"name": "mcp__util__wait", "input": {"seconds": 30}}}])
    opts = options(mcp_servers={"util": SERVER}, allowed_tools=["mcp__util__wait"])
    got: list[Any] = []
    async with AgentClient(opts) as client:
        await client.query("wait for it")

        tool_started = anyio.Event()

        async def consume() -> None:
            async for m in client.receive_response():
                got.append(m)
                if isinstance(m, AssistantMessage):
                    tool_started.set()

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await tool_started.wait()
                await anyio.sleep(0.1)
                await client.interrupt()
        sid = client.session_id
    assert got[-1].terminal_reason == "aborted_tools"
    assert _results(got)[0].is_error
    assert sid is not None
    fake.script([])
    body = await _resumes(fake, sid)
    results = body["messages"][-3]["content"]
    assert results[0]["type"] == "tool_result" and results[0]["is_error"] is True
    assert results[-1] == {"type": "text", "text": "[Request interrupted by user for tool use]"}
    assert body["messages"][-2]["content"] == [{"type": "text", "text": "No response requested."}]


# -- permissions, hooks, failing tools ----------------------------------------------------


async def test_permission_denial(fake: FakeAnthropicServer, project: Path) -> None:
    target = project / "out.txt"
    fake.script(
        [
            {"tool_use": {"name": "Write", "input": {"file_path": str(target), "content": "x"}}},
            {"text": "ok, not written"},
        ]
    )
    msgs = await _run("write it")
    assert not target.exists()
    [denied] = _results(msgs)
    assert denied.is_error and "haven't granted it yet" in str(denied.content)
    result = msgs[-1]
    assert result.permission_denials == [
        {
            "tool_name": "Write",
            "tool_use_id": denied.tool_use_id,
            "tool_input": {"file_path": str(target), "content": "x"},
        }
    ]
    await _resumes(fake, result.session_id)


async def test_accept_edits_and_allowed_rules(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [
            {
                "tool_use": [
                    {"name": "Write", "input": {"file_path": "a.txt", "content": "A"}},
                    {"name": "Bash", "input": {"command": "echo hi"}},
                    {"name": "Bash", "input": {"command": "rm -rf /nonexistent"}},
                ]
            },
            {"text": "done"},
        ]
    )
    msgs = await _run("go", permission_mode="acceptEdits", allowed_tools=["Bash(echo:*)"])
    results = _results(msgs)
    assert (project / "a.txt").read_text() == "A"
    assert [bool(r.is_error) for r in results] == [False, False, True]
    assert [d["tool_input"] for d in msgs[-1].permission_denials] == [
        {"command": "rm -rf /nonexistent"}
    ]


async def test_can_use_tool_allow_and_deny(fake: FakeAnthropicServer, project: Path) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    async def decide(name: str, data: dict[str, Any], ctx: ToolPermissionContext) -> Any:
        calls.append((name, data))
        assert ctx.tool_use_id
        if data.get("command") == "sh -c 'echo allowed'":
            return PermissionResultAllow(updated_input={"command": "echo rewritten"})
        return PermissionResultDeny(message="not this one")

    fake.script(
        [
            {
                "tool_use": [
                    # not read-only (echo alone would run unasked, as in Claude Code)
                    {"name": "Bash", "input": {"command": "sh -c 'echo allowed'"}},
                    {"name": "Bash", "input": {"command": "sh -c 'echo nope'"}},
                ]
            },
            {"text": "done"},
        ]
    )
    msgs = await _run("go", can_use_tool=decide)
    ok, no = _results(msgs)
    assert "rewritten" in str(ok.content) and not ok.is_error
    assert no.is_error and no.content == "not this one"
    assert len(calls) == 2


async def test_pre_tool_use_hook_blocks(fake: FakeAnthropicServer, project: Path) -> None:
    seen: list[dict[str, Any]] = []

    async def guard(data: Any, tool_use_id: str | None, ctx: Any) -> dict[str, Any]:
        seen.append(data)
        return {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": "no shell today",
            }
        }

    async def post(data: Any, tool_use_id: str | None, ctx: Any) -> dict[str, Any]:
        seen.append(data)
        return {}

    fake.script([{"tool_use": {"name": "Bash", "input": {"command": "echo hi"}}}, {"text": "fine"}])
    msgs = await _run(
        "go",
        permission_mode="bypassPermissions",
        hooks={
            "PreToolUse": [HookMatcher(matcher="Bash", hooks=[guard])],
            "PostToolUse": [HookMatcher(hooks=[post])],
        },
    )
    [blocked] = _results(msgs)
    assert blocked.is_error and blocked.content == "no shell today"
    assert [s["hook_event_name"] for s in seen] == ["PreToolUse"]
    assert seen[0]["tool_name"] == "Bash" and seen[0]["tool_input"] == {"command": "echo hi"}
    assert msgs[-1].permission_denials[0]["tool_name"] == "Bash"


async def test_session_and_prompt_hooks(fake: FakeAnthropicServer, project: Path) -> None:
    events: list[str] = []

    def record(name: str) -> Any:
        async def cb(data: Any, tool_use_id: str | None, ctx: Any) -> dict[str, Any]:
            events.append(name)
            if name == "UserPromptSubmit":
                return {"hookSpecificOutput": {"hookEventName": name, "additionalContext": "ctx!"}}
            return {}

        return cb

    hooks = {
        n: [HookMatcher(hooks=[record(n)])]
        for n in ("SessionStart", "UserPromptSubmit", "Stop", "SessionEnd")
    }
    await _run("hello", hooks=hooks)
    assert events == ["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"]
    assert sent_texts(fake.message_requests()[-1]) == ["hello", "ctx!"]


async def test_tool_that_raises(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"tool_use": {"name": "mcp__util__explode", "input": {}}}, {"text": "it failed"}])
    msgs = await _run("explode", mcp_servers={"util": SERVER}, allowed_tools=["mcp__util"])
    [failed] = _results(msgs)
    assert failed.is_error and "kaboom" in str(failed.content)
    assert msgs[-1].result == "it failed"
    await _resumes(fake, msgs[-1].session_id)


async def test_unknown_tool(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"tool_use": {"name": "Nope", "input": {}}}, {"text": "ok"}])
    msgs = await _run("x")
    assert "No such tool available: Nope" in str(_results(msgs)[0].content)
