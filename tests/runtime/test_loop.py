"""The agent loop against the fake server: text, tools, thinking, caching, partial messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from threadline._messages import (
    AssistantMessage,
    ResultMessage,
    StreamEvent,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import collect, options, transcript

pytestmark = pytest.mark.anyio


async def _run(prompt: str, **kw: Any) -> list[Any]:
    return await collect(prompt, options(**kw))


async def test_parallel_tools_run_and_are_recorded_like_the_cli(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    (project / "a.txt").write_text("alpha\n")
    fake.script(
        [
            {
                "text": "Reading both.",
                "tool_use": [
                    {"name": "Read", "input": {"file_path": str(project / "a.txt")}},
                    {"name": "Bash", "input": {"command": "echo bravo"}},
                ],
            },
            {"text": "done"},
        ]
    )
    msgs = await _run("read things", allowed_tools=["Bash"])
    result = msgs[-1]
    assert isinstance(result, ResultMessage) and result.result == "done" and result.num_turns == 2
    tool_uses = [
        b
        for m in msgs
        if isinstance(m, AssistantMessage)
        for b in m.content
        if isinstance(b, ToolUseBlock)
    ]
    results = [
        b
        for m in msgs
        if isinstance(m, UserMessage)
        for b in m.content
        if isinstance(b, ToolResultBlock)
    ]
    assert [r.tool_use_id for r in results] == [t.id for t in tool_uses]
    assert "alpha" in str(results[0].content) and "bravo" in str(results[1].content)
    assert all(isinstance(m.uuid, str) for m in msgs if isinstance(m, UserMessage))

    second = fake.message_requests()[1]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert [b["type"] for b in second["messages"][1]["content"]] == ["text", "tool_use", "tool_use"]
    assert [b["tool_use_id"] for b in second["messages"][2]["content"]] == [t.id for t in tool_uses]

    entries = transcript(config_dir, result.session_id)
    by_uuid = {e["uuid"]: e for e in entries}
    assistants = [e for e in entries if e["type"] == "assistant"]
    assert len({e["message"]["id"] for e in assistants[:3]}) == 1
    assert [len(e["message"]["content"]) for e in assistants] == [1, 1, 1, 1]
    for e in entries:
        for key in (
            "parentUuid",
            "isSidechain",
            "userType",
            "cwd",
            "sessionId",
            "version",
            "gitBranch",
            "type",
            "message",
            "uuid",
            "timestamp",
        ):
            assert key in e, key
    tool_results = [e for e in entries if e["type"] == "user" and "toolUseResult" in e]
    for e in tool_results:
        parent = by_uuid[e["parentUuid"]]
        assert parent["message"]["content"][0]["id"] == e["message"]["content"][0]["tool_use_id"]
        assert e["sourceToolAssistantUUID"] == e["parentUuid"]
    # the next reply hangs off the last tool result
    assert assistants[-1]["parentUuid"] == tool_results[-1]["uuid"]


async def test_prompt_is_persisted_before_the_model_is_called(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    seen: list[int] = []
    fake.script([{"text": "ok", "delay_s": 0.3}])
    import threading

    def watch() -> None:
        import time

        time.sleep(0.15)
        seen.extend(
            len(p.read_text().splitlines()) for p in (config_dir / "projects").glob("*/*.jsonl")
        )

    t = threading.Thread(target=watch)
    t.start()
    await _run("persist me first")
    t.join()
    assert seen == [1]


async def test_thinking_blocks_keep_their_signature_across_turns(
    fake: FakeAnthropicServer, project: Path
) -> None:
    fake.script(
        [
            {"thinking": "hmm", "tool_use": {"name": "Glob", "input": {"pattern": "*.py"}}},
            {"text": "nothing found"},
        ]
    )
    msgs = await _run("find py", thinking={"type": "enabled", "budget_tokens": 2048})
    thinking = [
        b
        for m in msgs
        if isinstance(m, AssistantMessage)
        for b in m.content
        if isinstance(b, ThinkingBlock)
    ]
    assert thinking and thinking[0].signature.startswith("sig_")
    second = fake.message_requests()[1]
    block = second["messages"][1]["content"][0]
    assert block == {"type": "thinking", "thinking": "hmm", "signature": thinking[0].signature}
    assert second["thinking"] == {"type": "enabled", "budget_tokens": 2048}


async def test_prompt_caching_breakpoints(fake: FakeAnthropicServer, project: Path) -> None:
    await _run("cache me", system_prompt="You are terse.")
    body = fake.message_requests()[0]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}


async def test_partial_messages_stream_events(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "streamed text"}])
    msgs = await _run("stream", include_partial_messages=True)
    events = [m for m in msgs if isinstance(m, StreamEvent)]
    kinds = [e.event["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    deltas = "".join(
        e.event["delta"].get("text", "") for e in events if e.event["type"] == "content_block_delta"
    )
    assert deltas == "streamed text"
    assert all(e.session_id == msgs[-1].session_id for e in events)
    # as the CLI orders them: a "requesting" status, the events up to the last delta, the
    # assembled message, then the closing events
    first_assistant = next(i for i, m in enumerate(msgs) if isinstance(m, AssistantMessage))
    before = [e.event["type"] for e in events if msgs.index(e) < first_assistant]
    after = [e.event["type"] for e in events if msgs.index(e) > first_assistant]
    assert after == ["content_block_stop", "message_delta", "message_stop"]
    assert before[-1] == "content_block_delta"
    assert msgs[1].subtype == "status" and msgs[1].data["status"] == "requesting"  # type: ignore[union-attr]


async def test_max_turns(fake: FakeAnthropicServer, project: Path, config_dir: Path) -> None:
    fake.script([{"tool_use": {"name": "Glob", "input": {"pattern": "*"}}, "repeat": True}])
    msgs = await _run("loop forever", max_turns=2)
    result = msgs[-1]
    assert isinstance(result, ResultMessage)
    assert result.subtype == "error_max_turns" and result.is_error and result.num_turns == 3
    assert len(fake.message_requests()) == 2
    # the transcript still resumes: the next request is valid and complete
    fake.script([{"text": "resumed"}])
    msgs = await _run("go on", resume=result.session_id)
    assert msgs[-1].result == "resumed"
    body = fake.message_requests()[-1]
    # as the CLI resumes a session that ended with tool results: a synthetic reply closes
    # them, the prompt is a turn of its own
    assert body["messages"][-3]["content"][0]["type"] == "tool_result"
    assert body["messages"][-2] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "No response requested."}],
    }
    assert body["messages"][-1]["content"][-1]["text"] == "go on"


async def test_result_message_totals(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "x", "usage": {"input_tokens": 1000, "output_tokens": 100}}])
    msgs = await _run("cost", model="claude-sonnet-4-6")
    result = msgs[-1]
    assert result.usage["input_tokens"] == 1000 and result.usage["output_tokens"] == 100
    assert result.total_cost_usd == pytest.approx((1000 * 3 + 100 * 15) / 1e6)
    assert result.model_usage["claude-sonnet-4-6"]["inputTokens"] == 1000
    assert result.duration_ms >= result.duration_api_ms >= 0
    assert fake.message_requests()[0]["model"] == "claude-sonnet-4-6"
