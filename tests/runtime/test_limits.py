"""Limits: max_budget_usd, max_turns counting, task_budget, fallback_model, load_timeout_ms,
client_app, against the fake server (the CLI's behaviour is in tests/parity/test_limits.py)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline import (
    AgentClient,
    AgentDefinition,
    InMemorySessionStore,
    StorageError,
    UserError,
)
from threadline._messages import AssistantMessage, ResultMessage, SystemMessage, UserMessage
from threadline.providers import cost_usd
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import collect, options

pytestmark = pytest.mark.anyio

TOOLS_THEN_TEXT = [
    {"tool_use": {"name": "Bash", "input": {"command": "touch marker1"}}},
    {"tool_use": {"name": "Bash", "input": {"command": "touch marker2"}}},
    {"text": "done"},
]


def _result(msgs: list[Any]) -> ResultMessage:
    assert isinstance(msgs[-1], ResultMessage)
    return msgs[-1]


async def test_budget_stops_after_the_reply_that_spends_it(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """1e-7 is spent by the first reply: its tool call is not run, no second request."""
    fake.script(TOOLS_THEN_TEXT)
    msgs = await collect("go", options(max_budget_usd=1e-7, allowed_tools=["Bash"]))
    result = _result(msgs)
    assert result.subtype == "error_max_budget_usd" and result.is_error
    assert result.terminal_reason == "budget_exhausted"
    assert result.errors == ["Reached maximum budget ($1e-7)"]
    assert result.num_turns == 1 and result.result is None
    assert result.total_cost_usd and result.total_cost_usd > 1e-7
    assert len(fake.message_requests()) == 1
    assert not (project / "marker1").exists()
    assert not any(isinstance(m, UserMessage) for m in msgs)


async def test_budget_counts_every_reply_with_the_price_table(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """A budget between the first and the second reply's cumulative cost: two replies,
    one tool batch; the cost is the price table's."""
    usage = {"input_tokens": 1000, "output_tokens": 100}
    one = cost_usd("claude-opus-5-5", usage)
    fake.script([{**e, "usage": usage} for e in TOOLS_THEN_TEXT])
    msgs = await collect("go", options(max_budget_usd=one * 1.5, allowed_tools=["Bash"]))
    result = _result(msgs)
    assert result.subtype == "error_max_budget_usd" and result.num_turns == 2
    assert result.total_cost_usd == pytest.approx(2 * one)
    assert len(fake.message_requests()) == 2
    assert (project / "marker1").exists() and not (project / "marker2").exists()


async def test_budget_spans_the_turns_of_a_client_and_cost_is_cumulative(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """As the CLI: the budget (and total_cost_usd) covers the whole session of a client."""
    usage = {"input_tokens": 1000, "output_tokens": 100}
    one = cost_usd("claude-opus-5-5", usage)
    fake.script([{"text": "one", "usage": usage}, {"text": "two", "usage": usage}])
    results: list[ResultMessage] = []
    async with AgentClient(options(max_budget_usd=one * 1.5)) as client:
        for prompt in ("a", "b"):
            await client.query(prompt)
            async for m in client.receive_response():
                if isinstance(m, ResultMessage):
                    results.append(m)
    assert [r.subtype for r in results] == ["success", "error_max_budget_usd"]
    assert results[0].total_cost_usd == pytest.approx(one)
    assert results[1].total_cost_usd == pytest.approx(2 * one)


async def test_budget_includes_subagents(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """The subagent's replies count against the parent's budget: the child's second reply
    spends it (the child's first), the child stops, and the parent stops before calling the model again."""
    usage = {"input_tokens": 1000, "output_tokens": 100}
    one = cost_usd("claude-opus-5-5", usage)
    fake.script(
        [
            {
                "tool_use": {
                    "name": "Agent",
                    "input": {"description": "d", "prompt": "work", "subagent_type": "w"},
                },
                "usage": usage,
            },
            {"tool_use": {"name": "Glob", "input": {"pattern": "*"}}, "usage": usage},
            {"text": "child done", "usage": usage},
            {"text": "parent done", "usage": usage},
        ]
    )
    agents = {"w": AgentDefinition(description="worker", prompt="You work.")}
    msgs = await collect("go", options(max_budget_usd=one * 1.5, agents=agents))
    result = _result(msgs)
    assert result.subtype == "error_max_budget_usd"
    assert len(fake.message_requests()) == 2  # parent, child; nothing after the child
    assert result.total_cost_usd == pytest.approx(2 * one)  # the child's reply included
    assert result.model_usage["claude-opus-5-5"]["inputTokens"] == 2000


async def test_no_budget_runs_to_the_end(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(TOOLS_THEN_TEXT)
    msgs = await collect("go", options(allowed_tools=["Bash"]))
    assert _result(msgs).subtype == "success" and _result(msgs).num_turns == 3


async def test_max_turns_counts_the_refused_turn_as_the_cli(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(TOOLS_THEN_TEXT)
    msgs = await collect("go", options(max_turns=1, allowed_tools=["Bash"]))
    result = _result(msgs)
    assert result.subtype == "error_max_turns" and result.num_turns == 2
    assert result.errors == ["Reached maximum number of turns (1)"]
    assert len(fake.message_requests()) == 1


async def test_task_budget_is_sent_with_its_beta(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([{"text": "ok"}])
    await collect("go", options(task_budget={"total": 50_000}, effort="medium"))
    request = fake.requests[-1]
    assert request["body"]["output_config"] == {
        "effort": "medium",
        "task_budget": {"type": "tokens", "total": 50_000},
    }
    assert "task-budgets-2026-03-13" in request["headers"]["anthropic-beta"].split(",")


async def test_task_budget_on_an_openai_provider_raises(project: Path) -> None:
    opts = options(task_budget={"total": 10}, provider="openai", model="m", api_key="k")
    with pytest.raises(UserError, match="task_budget"):
        await collect("go", opts)


async def test_client_app_is_sent_as_a_header(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([{"text": "ok"}, {"text": "ok"}])
    await collect("go", options(client_app="my-app/1.2.3"))
    assert fake.requests[-1]["headers"]["x-client-app"] == "my-app/1.2.3"
    await collect("go", options(client_app="", env={"CLAUDE_AGENT_SDK_CLIENT_APP": "env/1"}))
    assert "x-client-app" not in fake.requests[-1]["headers"]


OVERLOADED = {"error": {"status": 529, "type": "overloaded_error", "message": "Overloaded"}}


async def test_fallback_model_on_overload(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {**OVERLOADED, "match": {"model_contains": "opus"}, "repeat": True},
            {
                "tool_use": {"name": "Glob", "input": {"pattern": "*"}},
                "match": {"model_contains": "sonnet"},
            },
            {"text": "from fallback", "match": {"model_contains": "sonnet"}, "repeat": True},
        ]
    )
    opts = options(model="claude-opus-5-5", fallback_model="claude-sonnet-4-5")
    msgs = await collect("go", opts)
    notes = [m for m in msgs if isinstance(m, SystemMessage) and m.subtype == "model_fallback"]
    assert len(notes) == 1
    assert notes[0].data["trigger"] == "overloaded"
    assert notes[0].data["original_model"] == "claude-opus-5-5"
    assert notes[0].data["fallback_model"] == "claude-sonnet-4-5"
    result = _result(msgs)
    assert result.subtype == "success" and result.result == "from fallback"
    assert list(result.model_usage) == ["claude-sonnet-4-5"]
    models = [r["model"] for r in fake.message_requests()]
    assert models[-2:] == ["claude-sonnet-4-5", "claude-sonnet-4-5"]  # for the rest of the turn
    replies = [m for m in msgs if isinstance(m, AssistantMessage)]
    assert {m.model for m in replies} == {"claude-sonnet-4-5"}


async def test_fallback_model_on_a_missing_model(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    missing = {"error": {"status": 404, "type": "not_found_error", "message": "model: x"}}
    fake.script(
        [
            {**missing, "match": {"model_contains": "opus"}, "repeat": True},
            {"text": "ok", "match": {"model_contains": "sonnet"}},
        ]
    )
    msgs = await collect("go", options(fallback_model="claude-sonnet-4-5"))
    notes = [m for m in msgs if isinstance(m, SystemMessage) and m.subtype == "model_fallback"]
    assert notes[0].data["trigger"] == "model_not_found"
    assert _result(msgs).result == "ok"


async def test_no_fallback_on_a_client_error(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    bad = {"error": {"status": 400, "type": "invalid_request_error", "message": "bad"}}
    fake.script([{**bad, "repeat": True}])
    msgs = await collect("go", options(fallback_model="claude-sonnet-4-5"))
    assert not any(isinstance(m, SystemMessage) and m.subtype == "model_fallback" for m in msgs)
    assert _result(msgs).api_error_status == 400


class _SlowStore(InMemorySessionStore):
    slow = False

    async def load(self, key: Any) -> Any:
        if self.slow:
            await anyio.sleep(5)
        return await super().load(key)

    async def load_since_compaction(self, key: Any) -> Any:
        if self.slow:
            await anyio.sleep(5)
        return await super().load_since_compaction(key)


async def test_load_timeout_bounds_a_store_read_on_resume(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    store = _SlowStore()
    fake.script([{"text": "one"}])
    first = await collect("go", options(session_store=store))
    sid = _result(first).session_id
    store.slow = True
    opts = options(session_store=store, resume=sid, load_timeout_ms=50)
    with anyio.fail_after(4), pytest.raises(StorageError, match="load_timeout_ms=50"):
        await collect("again", opts)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"max_budget_usd": -1}, "max_budget_usd"),
        ({"max_budget_usd": float("nan")}, "max_budget_usd"),
        ({"max_budget_usd": True}, "max_budget_usd"),
        ({"task_budget": {"total": 0}}, "task_budget"),
        ({"task_budget": {"tokens": 5}}, "task_budget"),
        ({"model": "a", "fallback_model": "a"}, "cannot be the same"),
        ({"fallback_model": ""}, "fallback_model"),
        ({"load_timeout_ms": -5}, "load_timeout_ms"),
        ({"client_app": "caf\u00e9 \u2603"}, "client_app"),
        ({"client_app": "a\r\nb"}, "client_app"),
    ],
)
def test_limit_values_are_checked_at_construction(kw: dict[str, Any], match: str) -> None:
    with warnings.catch_warnings(), pytest.raises(UserError, match=match):
        AgentOptions(**kw)


async def test_compaction_counts_toward_cost_and_budget(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """As the CLI's total_cost_usd, a compaction's model call is part of the session's cost
    (and so of max_budget_usd)."""
    usage = {"input_tokens": 1000, "output_tokens": 100}
    one = cost_usd("claude-opus-5-5", usage)
    fake.script(
        [
            {"text": "one", "usage": usage},
            {"text": "two", "usage": usage},
            {"match": {"kind": "compact"}, "text": "<summary>so far</summary>", "usage": usage},
            {"text": "three", "usage": usage},
        ]
    )
    results: list[ResultMessage] = []
    async with AgentClient(options(max_budget_usd=one * 3.5)) as client:
        for prompt in ("a", "b", "compact", "c"):
            if prompt == "compact":
                await client.compact()
                continue
            await client.query(prompt)
            async for m in client.receive_response():
                if isinstance(m, ResultMessage):
                    results.append(m)
    assert [r.subtype for r in results] == ["success", "success", "error_max_budget_usd"]
    assert results[-1].total_cost_usd == pytest.approx(4 * one)


async def test_fallback_comes_after_three_overloaded_answers_whatever_the_retries(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """As the CLI: 3 consecutive 529s switch to the fallback model, though the retry policy
    would try 8 more times (without a fallback model it does)."""
    from threadline.providers import RetryPolicy

    patient = RetryPolicy(max_retries=8, base_delay_s=0.0, max_delay_s=0.0)
    script = [
        {**OVERLOADED, "match": {"model_contains": "opus"}, "repeat": True},
        {"text": "from fallback", "match": {"model_contains": "sonnet"}, "repeat": True},
    ]
    fake.script(script)
    opts = options(fallback_model="claude-sonnet-4-5", retry_policy=patient)
    msgs = await collect("go", opts)
    models = [r["model"] for r in fake.message_requests()]
    assert models == ["claude-opus-5-5"] * 3 + ["claude-sonnet-4-5"]
    assert _result(msgs).result == "from fallback"
    fake.script(script)
    await collect("go", options(retry_policy=patient))
    assert len(fake.message_requests()) == 4 + 9  # no fallback: every retry is spent
