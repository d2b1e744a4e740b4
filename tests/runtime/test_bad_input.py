"""Bad input on the public entry points: a clear ``UserError`` before any model call, and
nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from threadline._client import AgentClient
from threadline._exceptions import CLIConnectionError, InvalidSessionIdError, UserError
from threadline._query import query
from threadline.runtime._hooks import HookMatcher
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options

pytestmark = pytest.mark.anyio

SID = "123e4567-e89b-12d3-a456-426614174000"


async def _noop(*_: Any) -> dict[str, Any]:
    return {}


async def _run(prompt: Any = "hi", **kw: Any) -> list[Any]:
    return [m async for m in query(prompt=prompt, options=options(**kw))]


def _nothing_written(config_dir: Path) -> bool:
    return not list(config_dir.glob("projects/*/*.jsonl"))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"permission_mode": "yolo"}, "Unknown permission_mode 'yolo'"),
        ({"max_turns": 0}, "max_turns must be an int >= 1"),
        ({"max_turns": -3}, "max_turns must be an int >= 1"),
        ({"max_turns": "3"}, "max_turns must be an int >= 1"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"compact_threshold_tokens": -1}, "compact_threshold_tokens"),
        ({"allowed_tools": "Read"}, "allowed_tools must be a list"),
        ({"disallowed_tools": "Bash"}, "disallowed_tools must be a list"),
        ({"tools": "Read"}, "tools must be a list"),
        ({"allowed_tools": ["Read", 3]}, "must hold strings"),
        ({"can_use_tool": "yes"}, "can_use_tool must be an async callable"),
        ({"hooks": {"PreToolUse": HookMatcher(hooks=[_noop])}}, "must be a list of HookMatcher"),
        ({"hooks": {"PreToolUse": [HookMatcher(hooks=["x"])]}}, "must hold HookMatcher"),
        ({"mcp_servers": 3}, "mcp_servers must map"),
        ({"env": ["A=b"]}, "env must be a dict"),
        ({"system_prompt": 3}, "system_prompt must be"),
        ({"thinking": "on"}, "thinking must be a dict"),
        ({"effort": "extreme"}, "Unknown effort"),
        ({"redact": "yes"}, "redact must be"),
        ({"session_store": "file"}, "session_store must be a SessionStore"),
        ({"agents": {"x": 3}}, "agents['x'] must be an AgentDefinition"),
        ({"provider": "gemini"}, "Unknown provider 'gemini'"),
        ({"resume": 42}, "resume must be a str"),
    ],
)
def test_bad_option_values_fail_at_construction(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(UserError) as info:
        AgentOptions(**kwargs)
    assert words in str(info.value)


def test_good_values_still_construct() -> None:
    AgentOptions(
        permission_mode="acceptEdits",
        max_turns=1,
        allowed_tools=["Read"],
        tools={"type": "preset", "preset": "claude_code"},
        hooks={"PreToolUse": [HookMatcher(matcher="Bash", hooks=[_noop])], "SessionEnd": []},
        effort="high",
        mcp_servers="{}",
        max_thinking_tokens=0,
    )


async def test_a_field_assigned_after_construction_is_checked_at_run(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    opts = options()
    opts.permission_mode = "yolo"  # type: ignore[assignment]
    with pytest.raises(UserError, match="permission_mode"):
        [m async for m in query(prompt="hi", options=opts)]
    assert fake.message_requests() == [] and _nothing_written(config_dir)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"cwd": "missing-dir"}, "cwd does not exist"),
        ({"cwd": "a-file"}, "cwd is not a directory"),
        ({"fork_session": True}, "fork_session=True needs resume"),
        ({"session_id": SID, "continue_conversation": True}, "only when fork_session=True"),
        ({"session_id": SID, "resume": SID}, "only when fork_session=True"),
        ({"mcp_servers": "no-such-config.json"}, "no MCP config file"),
        ({"mcp_servers": "{not json"}, "not valid JSON"),
        ({"mcp_servers": "list.json"}, "must be a JSON object"),
        ({"system_prompt": {"type": "file", "path": "no-such-prompt.md"}}, "prompt file"),
    ],
)
async def test_bad_combinations_fail_before_the_model(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    kwargs: dict[str, Any],
    words: str,
) -> None:
    (project / "a-file").write_text("x")
    (project / "list.json").write_text("[1, 2]")
    with pytest.raises(UserError) as info:
        await _run(**kwargs)
    assert words in str(info.value)
    assert fake.message_requests() == [] and _nothing_written(config_dir)


async def test_empty_resume_is_an_invalid_id_not_a_new_session(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    with pytest.raises(InvalidSessionIdError):
        await _run(resume="")
    assert fake.message_requests() == [] and _nothing_written(config_dir)


async def test_not_found_names_the_projects_directory(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    with pytest.raises(LookupError) as info:
        await _run(resume=SID)
    assert str(config_dir / "projects") in str(info.value)
    assert "Redactor(" not in str(info.value)


@pytest.mark.parametrize("prompt", [3, None, ["hi"], {"type": "user"}, "", "   "])
async def test_bad_prompts_fail_before_anything_runs(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, prompt: Any
) -> None:
    started: list[str] = []

    async def on_start(*_: Any) -> dict[str, Any]:
        started.append("x")
        return {}

    hooks = {"SessionStart": [HookMatcher(hooks=[on_start])]}
    with pytest.raises(UserError, match="prompt"):
        await _run(prompt, hooks=hooks)
    assert started == [] and fake.message_requests() == [] and _nothing_written(config_dir)


async def test_streamed_prompt_with_a_bad_message(fake: FakeAnthropicServer, project: Path) -> None:
    async def stream() -> AsyncIterator[Any]:
        yield {"type": "user", "message": {"role": "user", "content": "first"}}
        yield "not a dict"

    msgs: list[Any] = []
    with pytest.raises(UserError, match="user-message dict"):
        async for m in query(prompt=stream(), options=options()):
            msgs.append(m)
    assert msgs[-1].result == "echo: first"  # the first turn ran and was kept
    assert len(fake.message_requests()) == 1


async def test_client_query_rejects_bad_prompts(fake: FakeAnthropicServer, project: Path) -> None:
    async with AgentClient(options()) as client:
        with pytest.raises(UserError, match="empty"):
            await client.query("")
        with pytest.raises(UserError, match="async iterable"):
            await client.query(5)  # type: ignore[arg-type]
        with pytest.raises(UserError, match="instructions must be a str"):
            await client.compact(5)  # type: ignore[arg-type]
    assert fake.message_requests() == []


async def test_client_after_disconnect_says_so(fake: FakeAnthropicServer, project: Path) -> None:
    # the official SDK raises CLIConnectionError("Not connected. Call connect() first.")
    client = AgentClient(options())
    with pytest.raises(CLIConnectionError, match="Not connected"):
        await client.query("hi")
    await client.connect()
    await client.disconnect()
    with pytest.raises(CLIConnectionError, match="Not connected: this client was disconnected"):
        await client.query("hi")
    with pytest.raises(CLIConnectionError, match="disconnected"):
        [m async for m in client.receive_response()]


async def test_rewind_files_rejects_a_non_uuid(fake: FakeAnthropicServer, project: Path) -> None:
    async with AgentClient(options(enable_file_checkpointing=True)) as client:
        with pytest.raises(UserError, match="user_message_uuid"):
            await client.rewind_files("not-a-uuid")
        with pytest.raises(UserError, match="user_message_uuid"):
            await client.rewind_files(None)  # type: ignore[arg-type]


def test_unknown_hook_event_warns_and_is_passed_over() -> None:
    """As the official SDK, which hands unknown event names to the CLI: accepted, never
    fired; threadline says so once, at construction."""
    with pytest.warns(UserWarning, match="never fires hook event 'PreTool'"):
        options = AgentOptions(hooks={"PreTool": [HookMatcher(hooks=[_noop])]})
    assert "PreTool" in (options.hooks or {})


def test_initial_prompt_is_accepted_without_effect_as_officially(tmp_path: Path) -> None:
    """``AgentDefinition.initialPrompt`` does nothing for a subagent in the official SDK
    either (the CLI reads it only for an agent run as the main thread): no warning."""
    from threadline.runtime._options import check_run
    from threadline.runtime._subagents import AgentDefinition

    agents = {"r": AgentDefinition(description="d", prompt="p", initialPrompt="hi", effort="high")}
    check_run(AgentOptions(cwd=str(tmp_path), agents=agents))  # warnings are errors here
