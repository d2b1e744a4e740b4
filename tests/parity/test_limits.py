"""Limits side by side: the official SDK (its bundled CLI) and threadline on one fake server.

Same script for both; the stop, its subtype, terminal reason, errors and turn count must
agree (costs differ: the CLI sends a far larger prompt, so only their relation is checked).
"""

from __future__ import annotations

from typing import Any

import claude_agent_sdk as official
import pytest

import threadline

from .conftest import Duo

pytestmark = [pytest.mark.oracle, pytest.mark.anyio]

TOOLS_THEN_TEXT = [
    {"tool_use": {"name": "Bash", "input": {"command": "echo one"}}},
    {"tool_use": {"name": "Bash", "input": {"command": "echo two"}}},
    {"text": "done"},
]


async def _run(sdk: Any, options: Any) -> tuple[list[Any], BaseException | None]:
    messages: list[Any] = []
    try:
        async for m in sdk.query(prompt="go", options=options):
            messages.append(m)
    except Exception as exc:
        return messages, exc
    return messages, None


def _kinds(messages: list[Any]) -> list[str]:
    return [type(m).__name__ for m in messages if type(m).__name__ != "SystemMessage"]


async def test_budget_stop_as_the_official(duo: Duo) -> None:
    duo.script(TOOLS_THEN_TEXT)
    theirs, their_exc = await _run(
        official, duo.official(max_budget_usd=1e-7, allowed_tools=["Bash"])
    )
    requests_theirs = len(duo.fake.message_requests())
    duo.script(TOOLS_THEN_TEXT)
    mine, my_exc = await _run(threadline, duo.ours(max_budget_usd=1e-7, allowed_tools=["Bash"]))
    requests_mine = len(duo.fake.message_requests()) - requests_theirs
    assert isinstance(their_exc, official.ResultError)
    assert isinstance(my_exc, threadline.ResultError)
    assert _kinds(theirs) == _kinds(mine) == ["AssistantMessage", "ResultMessage"]
    assert requests_theirs == requests_mine == 1
    for r in (theirs[-1], mine[-1]):
        assert r.subtype == "error_max_budget_usd" and r.is_error
        assert r.terminal_reason == "budget_exhausted"
        assert r.num_turns == 1 and r.result is None
        assert r.errors == ["Reached maximum budget ($1e-7)"]
        assert r.total_cost_usd > 1e-7
    assert str(their_exc) == str(my_exc)


async def test_max_turns_num_turns_as_the_official(duo: Duo) -> None:
    duo.script(TOOLS_THEN_TEXT)
    theirs, _ = await _run(official, duo.official(max_turns=2, allowed_tools=["Bash"]))
    duo.script(TOOLS_THEN_TEXT)
    mine, _ = await _run(threadline, duo.ours(max_turns=2, allowed_tools=["Bash"]))
    assert _kinds(theirs) == _kinds(mine)
    for r in (theirs[-1], mine[-1]):
        assert r.subtype == "error_max_turns" and r.num_turns == 3
    duo.script(TOOLS_THEN_TEXT)
    theirs, _ = await _run(official, duo.official(allowed_tools=["Bash"]))
    duo.script(TOOLS_THEN_TEXT)
    mine, _ = await _run(threadline, duo.ours(allowed_tools=["Bash"]))
    assert theirs[-1].num_turns == mine[-1].num_turns == 3


SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
    "required": ["answer"],
    "additionalProperties": False,
}


def _so(payload: dict[str, Any]) -> dict[str, Any]:
    return {"tool_use": {"name": "StructuredOutput", "input": payload}}


def _tool_results(messages: list[Any]) -> list[tuple[str, bool]]:
    return [
        (str(b.content), bool(b.is_error))
        for m in messages
        if type(m).__name__ == "UserMessage" and isinstance(m.content, list)
        for b in m.content
        if type(b).__name__ == "ToolResultBlock"
    ]


async def test_structured_output_as_the_official(duo: Duo) -> None:
    script = [_so({"answer": 42}), _so({"n": 0, "extra": True}), _so({"answer": "42"})]
    fmt = {"type": "json_schema", "schema": SCHEMA}
    duo.script(script)
    theirs, _ = await _run(official, duo.official(output_format=fmt))
    sent = duo.fake.message_requests()
    (their_tool,) = [t for t in sent[0]["tools"] if t["name"] == "StructuredOutput"]
    duo.script(script)
    mine, _ = await _run(threadline, duo.ours(output_format=fmt))
    (my_tool,) = [
        t
        for t in duo.fake.message_requests()[len(sent)]["tools"]
        if t["name"] == "StructuredOutput"
    ]
    assert my_tool == their_tool
    assert _kinds(theirs) == _kinds(mine)
    assert _tool_results(theirs) == _tool_results(mine)
    for r in (theirs[-1], mine[-1]):
        assert r.subtype == "success" and r.structured_output == {"answer": "42"}
        assert r.result == '{"answer":"42"}' and r.num_turns == 4


async def test_structured_output_retries_and_reminder_as_the_official(duo: Duo) -> None:
    fmt = {"type": "json_schema", "schema": SCHEMA}
    script = [{**_so({"answer": 1}), "repeat": True}]
    duo.script(script)
    theirs, their_exc = await _run(official, duo.official(output_format=fmt))
    duo.script(script)
    mine, my_exc = await _run(threadline, duo.ours(output_format=fmt))
    assert isinstance(their_exc, official.ResultError) and isinstance(
        my_exc, threadline.ResultError
    )
    assert _kinds(theirs) == _kinds(mine)
    for r in (theirs[-1], mine[-1]):
        assert r.subtype == "error_max_structured_output_retries" and r.num_turns == 6
        assert r.terminal_reason == "structured_output_retry_exhausted" and r.result is None
    assert theirs[-1].errors == mine[-1].errors
    script = [{"text": "plain"}, {"text": "plain again"}]
    duo.script(script)
    theirs, _ = await _run(official, duo.official(output_format=fmt))
    duo.script(script)
    mine, _ = await _run(threadline, duo.ours(output_format=fmt))
    assert _kinds(theirs) == _kinds(mine)
    reminders = [
        [b.text for b in m.content]
        for msgs in (theirs, mine)
        for m in msgs
        if type(m).__name__ == "UserMessage"
    ]
    assert reminders[0] == reminders[1]
    for r in (theirs[-1], mine[-1]):
        assert r.subtype == "success" and r.structured_output is None and r.num_turns == 2


async def test_fallback_model_as_the_official(duo: Duo) -> None:
    overloaded = {"error": {"status": 529, "type": "overloaded_error", "message": "Overloaded"}}
    script = [
        {**overloaded, "match": {"model_contains": "opus"}, "repeat": True},
        {"text": "from fallback", "match": {"model_contains": "sonnet"}, "repeat": True},
    ]
    duo.script(script)
    theirs, _ = await _run(
        official, duo.official(model="claude-opus-5-5", fallback_model="claude-sonnet-4-5")
    )
    their_models = [r["model"] for r in duo.fake.message_requests()]
    duo.script(script)
    mine, _ = await _run(
        threadline, duo.ours(model="claude-opus-5-5", fallback_model="claude-sonnet-4-5")
    )
    my_models = [r["model"] for r in duo.fake.message_requests()[len(their_models) :]]
    assert their_models == my_models == ["claude-opus-5-5"] * 3 + ["claude-sonnet-4-5"]

    def note(messages: list[Any]) -> dict[str, Any]:
        (found,) = [
            m.data
            for m in messages
            if type(m).__name__ == "SystemMessage" and m.subtype == "model_fallback"
        ]
        return {
            k: found[k] for k in ("type", "subtype", "trigger", "original_model", "fallback_model")
        }

    assert note(theirs) == note(mine)
    for r in (theirs[-1], mine[-1]):
        assert r.subtype == "success" and r.result == "from fallback"
        assert list(r.model_usage) == ["claude-sonnet-4-5"]
