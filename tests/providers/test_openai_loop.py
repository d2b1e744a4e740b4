"""The agent loop on the OpenAI-compatible provider, against the fake server (real HTTP + SSE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline._messages import (
    AssistantMessage,
    ResultMessage,
    StreamEvent,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
)
from threadline.testing._fake_openai import FakeOpenAIServer

from ._helpers import MODEL, openai_options, run, tool_results, transcript

pytestmark = pytest.mark.anyio


async def test_text_reply(fake_openai: FakeOpenAIServer, project: Path, config_dir: Path) -> None:
    fake_openai.script([{"text": "Hello from a local model"}])
    msgs = await run("hi there", openai_options(fake_openai, system_prompt="Be brief."))
    result = msgs[-1]
    assert isinstance(result, ResultMessage)
    assert result.result == "Hello from a local model" and not result.is_error
    assert result.stop_reason == "end_turn" and result.num_turns == 1
    texts = [b for m in msgs if isinstance(m, AssistantMessage) for b in m.content]
    assert texts == [TextBlock(text="Hello from a local model")]

    (body,) = fake_openai.chat_requests()
    assert body["model"] == MODEL and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi there"},
    ]
    assert "max_tokens" not in body  # the server's default unless max_tokens is set
    assert {t["function"]["name"] for t in body["tools"]} >= {"Read", "Bash", "Glob"}
    assert all(t["type"] == "function" for t in body["tools"])

    # The transcript is Claude Code's format, whatever the provider.
    entries = transcript(config_dir, result.session_id)
    assert [e["type"] for e in entries] == ["user", "assistant"]
    reply = entries[1]["message"]
    assert reply["role"] == "assistant" and reply["type"] == "message"
    assert reply["id"].startswith("msg_") and reply["model"] == MODEL
    assert reply["content"] == [{"type": "text", "text": "Hello from a local model"}]
    assert entries[1]["requestId"].startswith("req_")


async def test_max_tokens_and_usage(fake_openai: FakeOpenAIServer, project: Path) -> None:
    fake_openai.script(
        [
            {
                "text": "ok",
                "usage": {"prompt_tokens": 120, "completion_tokens": 7, "cached_tokens": 20},
            }
        ]
    )
    msgs = await run("count", openai_options(fake_openai, max_tokens=256))
    assert fake_openai.chat_requests()[0]["max_tokens"] == 256
    result = msgs[-1]
    assert result.usage == {
        "input_tokens": 100,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 20,
        "output_tokens": 7,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
    }
    assert result.model_usage[MODEL]["inputTokens"] == 100


async def test_tool_call(fake_openai: FakeOpenAIServer, project: Path, config_dir: Path) -> None:
    (project / "a.txt").write_text("alpha\n")
    fake_openai.script(
        [
            {
                "text": "Let me read it.",
                "tool_calls": {"name": "Read", "arguments": {"file_path": str(project / "a.txt")}},
            },
            {"text": "It says alpha."},
        ]
    )
    msgs = await run("read a.txt", openai_options(fake_openai))
    assert msgs[-1].result == "It says alpha." and msgs[-1].num_turns == 2
    (call,) = [
        b
        for m in msgs
        if isinstance(m, AssistantMessage)
        for b in m.content
        if isinstance(b, ToolUseBlock)
    ]
    assert call.name == "Read" and call.id.startswith("call_")
    (res,) = tool_results(msgs)
    assert res.tool_use_id == call.id and "alpha" in str(res.content)

    second = fake_openai.chat_requests()[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool"]
    assert second[2]["content"] == "Let me read it."
    assert second[2]["tool_calls"] == [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": "Read", "arguments": f'{{"file_path": "{project / "a.txt"}"}}'},
        }
    ]
    assert second[3]["tool_call_id"] == call.id and "alpha" in second[3]["content"]

    entries = transcript(config_dir, msgs[-1].session_id)
    result_entry = next(e for e in entries if "toolUseResult" in e)
    parent = next(e for e in entries if e["uuid"] == result_entry["parentUuid"])
    assert parent["message"]["content"][0] == {
        "type": "tool_use",
        "id": call.id,
        "name": "Read",
        "input": {"file_path": str(project / "a.txt")},
    }


async def test_parallel_tool_calls(fake_openai: FakeOpenAIServer, project: Path) -> None:
    (project / "a.txt").write_text("alpha\n")
    (project / "b.txt").write_text("bravo\n")
    fake_openai.script(
        [
            {
                "tool_calls": [
                    {"name": "Read", "arguments": {"file_path": str(project / "a.txt")}},
                    {"name": "Read", "arguments": {"file_path": str(project / "b.txt")}},
                    {"name": "Glob", "arguments": {"pattern": "*.txt"}},
                ]
            },
            {"text": "three results"},
        ]
    )
    msgs = await run("read both", openai_options(fake_openai))
    assert msgs[-1].result == "three results"
    calls = [
        b
        for m in msgs
        if isinstance(m, AssistantMessage)
        for b in m.content
        if isinstance(b, ToolUseBlock)
    ]
    results = tool_results(msgs)
    assert [r.tool_use_id for r in results] == [c.id for c in calls] and len(calls) == 3
    assert "alpha" in str(results[0].content) and "bravo" in str(results[1].content)

    second = fake_openai.chat_requests()[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool", "tool", "tool"]
    assert second[2]["content"] is None
    assert [c["id"] for c in second[2]["tool_calls"]] == [c.id for c in calls]
    assert [m["tool_call_id"] for m in second[3:]] == [c.id for c in calls]


async def test_tool_error_is_sent_as_an_error_tool_message(
    fake_openai: FakeOpenAIServer, project: Path
) -> None:
    missing = str(project / "missing.txt")
    fake_openai.script(
        [
            {"tool_calls": {"name": "Read", "arguments": {"file_path": missing}}},
            {"text": "that file does not exist"},
        ]
    )
    msgs = await run("read missing", openai_options(fake_openai))
    assert msgs[-1].result == "that file does not exist" and not msgs[-1].is_error
    (res,) = tool_results(msgs)
    assert res.is_error
    tool_msg = fake_openai.chat_requests()[1]["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == res.tool_use_id
    assert tool_msg["content"].startswith("Error: ")


async def test_429_then_success(fake_openai: FakeOpenAIServer, project: Path) -> None:
    fake_openai.script(
        [
            {
                "error": {"status": 429, "type": "rate_limit_exceeded", "message": "slow down"},
                "headers": {"retry-after": "0"},
            },
            {"text": "after retry"},
        ]
    )
    msgs = await run("hi", openai_options(fake_openai))
    assert msgs[-1].result == "after retry" and not msgs[-1].is_error
    assert len(fake_openai.chat_requests()) == 2


async def test_dropped_stream_is_retried_and_leaves_nothing_behind(
    fake_openai: FakeOpenAIServer, project: Path, config_dir: Path
) -> None:
    fake_openai.script(
        [
            {"text": "this reply is cut off halfway", "drop_after_chunks": 2},
            {"text": "whole reply"},
        ]
    )
    msgs = await run("hi", openai_options(fake_openai))
    assert msgs[-1].result == "whole reply"
    assert len(fake_openai.chat_requests()) == 2
    entries = transcript(config_dir, msgs[-1].session_id)
    replies = [e["message"]["content"] for e in entries if e["type"] == "assistant"]
    assert replies == [[{"type": "text", "text": "whole reply"}]]


async def test_persistent_failure_is_an_error_result_that_resumes(
    fake_openai: FakeOpenAIServer, project: Path
) -> None:
    fake_openai.script([{"text": "never whole", "drop_after_chunks": 1, "times": 4}])
    msgs = await run("hi", openai_options(fake_openai))
    result = msgs[-1]
    assert result.is_error and result.terminal_reason == "api_error"
    assert "stream" in str(result.result) or "Connection" in str(result.result)
    assert len(fake_openai.chat_requests()) == 4  # 1 + FAST_RETRY.max_retries

    fake_openai.script([{"text": "back"}])
    msgs = await run("again?", openai_options(fake_openai, resume=result.session_id))
    assert msgs[-1].result == "back"
    sent = fake_openai.chat_requests()[-1]["messages"]
    # the synthetic API-error reply is not sent; the two prompts are merged into one turn
    assert [m["role"] for m in sent] == ["system", "user"]
    # (merged as the CLI merges them: "hi\n" then "again?", the two blocks joined by "\n\n")
    assert sent[1]["content"] == "hi\n\n\nagain?"


async def test_partial_messages_are_anthropic_stream_events(
    fake_openai: FakeOpenAIServer, project: Path
) -> None:
    fake_openai.script([{"reasoning": "think first", "text": "streamed answer"}])
    msgs = await run("stream it", openai_options(fake_openai, include_partial_messages=True))
    kinds = [m.event["type"] for m in msgs if isinstance(m, StreamEvent)]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    deltas = [
        m.event["delta"]
        for m in msgs
        if isinstance(m, StreamEvent) and m.event["type"] == "content_block_delta"
    ]
    assert "".join(d.get("text", "") for d in deltas) == "streamed answer"
    assert "".join(d.get("thinking", "") for d in deltas) == "think first"
    blocks = [b for m in msgs if isinstance(m, AssistantMessage) for b in m.content]
    assert blocks == [
        ThinkingBlock(thinking="think first", signature=""),
        TextBlock(text="streamed answer"),
    ]
    assert msgs[-1].result == "streamed answer"


async def test_structured_output(
    fake_openai: FakeOpenAIServer, project: Path, config_dir: Path
) -> None:
    """output_format works on an OpenAI-compatible server: the StructuredOutput function
    carries the schema, a wrong answer is explained, the valid one is the result."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    fake_openai.script(
        [
            {"tool_calls": {"name": "StructuredOutput", "arguments": {"city": "Oslo"}}},
            {
                "tool_calls": {
                    "name": "StructuredOutput",
                    "arguments": {"city": "Oslo", "population": 717710},
                }
            },
        ]
    )
    options = openai_options(fake_openai, output_format={"type": "json_schema", "schema": schema})
    msgs = await run("biggest city of Norway?", options)
    result = msgs[-1]
    assert result.subtype == "success"
    assert result.structured_output == {"city": "Oslo", "population": 717710}
    assert result.result == '{"city":"Oslo","population":717710}'
    (first, second) = fake_openai.chat_requests()
    (function,) = [
        t["function"] for t in first["tools"] if t["function"]["name"] == "StructuredOutput"
    ]
    assert function["parameters"] == schema
    assert "must have required property 'population'" in str(second["messages"][-1])
