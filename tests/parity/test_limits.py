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
