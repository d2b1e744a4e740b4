"""Errors side by side: what the official SDK raises, threadline raises as the same class.

Each test runs one program on the official SDK (bundled CLI against the fake server) and on
threadline, and checks that ``except <official class>`` catches both, with the same
attributes where programs read them (``ResultError.subtype``, ``errors``, ...).
"""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import claude_agent_sdk as official
import pytest

import threadline

from .conftest import Duo

pytestmark = [pytest.mark.oracle, pytest.mark.anyio]

TOOL_THEN_TEXT = [
    {"tool_use": {"name": "Bash", "input": {"command": "echo hi"}}},
    {"text": "done"},
    {"text": "second"},
]


async def _query(sdk: Any, prompt: Any, options: Any) -> tuple[list[Any], BaseException | None]:
    messages: list[Any] = []
    try:
        async for m in sdk.query(prompt=prompt, options=options):
            messages.append(m)
    except Exception as exc:
        return messages, exc
    return messages, None


def _class_names(messages: list[Any]) -> list[str]:
    return [type(m).__name__ for m in messages]


async def test_max_turns_raises_result_error_after_the_result(duo: Duo) -> None:
    duo.script(TOOL_THEN_TEXT)
    theirs, their_exc = await _query(
        official, "go", duo.official(max_turns=1, allowed_tools=["Bash"])
    )
    duo.script(TOOL_THEN_TEXT)
    mine, my_exc = await _query(threadline, "go", duo.ours(max_turns=1, allowed_tools=["Bash"]))
    assert isinstance(their_exc, official.ResultError)
    assert isinstance(my_exc, threadline.ResultError)
    assert isinstance(my_exc, threadline.ProcessError)
    for exc, msgs in ((their_exc, theirs), (my_exc, mine)):
        assert type(msgs[-1]).__name__ == "ResultMessage" and msgs[-1].is_error
        assert exc.subtype == "error_max_turns" == msgs[-1].subtype
        assert exc.terminal_reason == "max_turns"
        assert exc.session_id == msgs[-1].session_id
        assert exc.exit_code == 1
        assert str(exc).startswith("Claude Code returned an error result: ")
    assert their_exc.errors == my_exc.errors == ["Reached maximum number of turns (1)"]


async def test_api_error_raises_result_error(duo: Duo) -> None:
    error = {"error": {"status": 400, "type": "invalid_request_error", "message": "bad"}}
    duo.script([{**error, "times": 20}])
    _theirs, their_exc = await _query(official, "go", duo.official())
    duo.script([{**error, "times": 20}])
    _mine, my_exc = await _query(threadline, "go", duo.ours())
    assert isinstance(their_exc, official.ResultError)
    assert isinstance(my_exc, threadline.ResultError)
    for exc in (their_exc, my_exc):
        assert exc.api_error_status == 400
        assert exc.subtype == "success"  # an API error is reported as a "success" subtype
        assert "API Error: 400" in str(exc)


async def test_error_then_success_does_not_raise(duo: Duo) -> None:
    """Only the last result counts: a later successful turn clears the error."""

    def prompts() -> Any:
        async def gen() -> Any:
            yield {"type": "user", "message": {"role": "user", "content": "go"}}
            yield {"type": "user", "message": {"role": "user", "content": "again"}}

        return gen()

    script = [{"tool_use": {"name": "Bash", "input": {"command": "echo hi"}}}, {"text": "fine"}]
    duo.script(script)
    theirs, their_exc = await _query(
        official, prompts(), duo.official(max_turns=1, allowed_tools=["Bash"])
    )
    duo.script(script)
    mine, my_exc = await _query(
        threadline, prompts(), duo.ours(max_turns=1, allowed_tools=["Bash"])
    )
    for msgs, exc in ((theirs, their_exc), (mine, my_exc)):
        results = [m for m in msgs if type(m).__name__ == "ResultMessage"]
        assert [r.is_error for r in results] == [True, False], results
        assert exc is None, exc


async def test_unknown_resume(duo: Duo) -> None:
    missing = str(uuid.uuid4())
    theirs, their_exc = await _query(official, "hi", duo.official(resume=missing))
    mine, my_exc = await _query(threadline, "hi", duo.ours(resume=missing))
    assert theirs == [] and mine == []
    assert isinstance(their_exc, official.ResultError)
    assert isinstance(my_exc, threadline.ResultError)
    assert isinstance(my_exc, threadline.SessionNotFoundError)
    for exc in (their_exc, my_exc):
        assert exc.subtype == "error_during_execution"
        assert exc.errors == [f"No conversation found with session ID: {missing}"]
        assert exc.session_id == missing


async def test_unknown_resume_on_connect(duo: Duo) -> None:
    missing = str(uuid.uuid4())
    their_client = official.ClaudeSDKClient(duo.official(resume=missing))
    with pytest.raises(official.ResultError):
        await their_client.connect()
    my_client = threadline.ClaudeSDKClient(duo.ours(resume=missing))
    with pytest.raises(threadline.ResultError) as info:
        await my_client.connect()
    assert isinstance(info.value, threadline.SessionNotFoundError)


async def test_client_before_connect(duo: Duo) -> None:
    for sdk, options in ((official, duo.official()), (threadline, duo.ours())):
        client = sdk.ClaudeSDKClient(options)
        with pytest.raises(sdk.CLIConnectionError, match=r"^Not connected\. Call connect\(\)"):
            await client.query("hi")
        with pytest.raises(sdk.CLIConnectionError, match="Not connected"):
            await client.interrupt()
        with pytest.raises(sdk.CLIConnectionError, match="Not connected"):
            async for _ in client.receive_messages():
                pass
        with pytest.raises(sdk.ClaudeSDKError):
            await client.query("hi")


async def test_client_error_result_does_not_raise(duo: Duo) -> None:
    """The official client reports max_turns in the ResultMessage only, and goes on."""
    for sdk, options in (
        (official, duo.official(max_turns=1, allowed_tools=["Bash"])),
        (threadline, duo.ours(max_turns=1, allowed_tools=["Bash"])),
    ):
        duo.script(TOOL_THEN_TEXT)
        async with sdk.ClaudeSDKClient(options) as client:
            await client.query("go")
            first = [m async for m in client.receive_response()]
            await client.query("again")
            second = [m async for m in client.receive_response()]
        assert first[-1].subtype == "error_max_turns" and first[-1].is_error
        assert second[-1].subtype == "success", (sdk.__name__, second[-1])


async def _allow(*_: Any) -> Any:
    return threadline.PermissionResultAllow()


async def test_can_use_tool_with_permission_prompt_tool_is_a_value_error(duo: Duo) -> None:
    text = "can_use_tool callback cannot be used with permission_prompt_tool_name"
    with pytest.raises(ValueError, match=text):
        await _raise(official.query(
            prompt="hi",
            options=duo.official(can_use_tool=_allow, permission_prompt_tool_name="mcp__x__y"),
        ))  # fmt: skip
    with pytest.raises(ValueError, match=text):
        await _raise(threadline.query(
            prompt="hi",
            options=duo.ours(can_use_tool=_allow, permission_prompt_tool_name="mcp__x__y"),
        ))  # fmt: skip
    assert duo.fake.message_requests() == []


async def _raise(gen: Any) -> None:
    async for _ in gen:
        pass


@pytest.mark.parametrize(
    ("kw", "text"),
    [
        ({"allowed_tools": ["Read", "Bash(ls:*)", "Write(*)"]}, "invoked for: Read, Write"),
        ({"permission_mode": "bypassPermissions"}, "'bypassPermissions' auto-approves"),
    ],
)
async def test_shadowed_can_use_tool_warns(duo: Duo, kw: dict[str, Any], text: str) -> None:
    for sdk, options in (
        (official, duo.official(can_use_tool=_allow, **kw)),
        (threadline, duo.ours(can_use_tool=_allow, **kw)),
    ):
        duo.script([{"text": "ok"}])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await _raise(sdk.query(prompt="hi", options=options))
        shadow = [w for w in caught if issubclass(w.category, sdk.CanUseToolShadowedWarning)]
        assert len(shadow) == 1, (sdk.__name__, [str(w.message) for w in caught])
        assert text in str(shadow[0].message)


async def test_narrow_rules_do_not_warn(duo: Duo) -> None:
    duo.script([{"text": "ok"}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", threadline.CanUseToolShadowedWarning)
        await _raise(threadline.query(
            prompt="hi", options=duo.ours(can_use_tool=_allow, allowed_tools=["Bash(ls:*)"])
        ))  # fmt: skip
