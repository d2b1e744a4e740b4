"""Claude ⇄ OpenAI conversion at the provider boundary (no network)."""

from __future__ import annotations

import json
from typing import Any

from threadline.providers import ModelRequest
from threadline.providers._openai_convert import (
    ChunkTranslator,
    chat_body,
    to_openai_messages,
    to_openai_tools,
)

PNG = "iVBORw0KGgo="


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def test_history_becomes_chat_messages() -> None:
    system = [{"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}}]
    history: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "secret", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xx"},
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}},
                {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "and also this"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "alpha"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "no such dir"}],
                    "is_error": True,
                },
            ],
        },
    ]
    assert to_openai_messages(system, history) == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "look"},
        {
            "role": "assistant",
            "content": "Reading.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "Read", "arguments": '{"file_path": "/a"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "Bash", "arguments": '{"command": "ls"}'},
                },
            ],
        },
        # tool messages first, right after the assistant message; then the user's text
        {"role": "tool", "tool_call_id": "toolu_1", "content": "alpha"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no such dir"},
        {"role": "user", "content": "and also this"},
    ]


def test_images_documents_and_empty_messages() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    url_image = {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}
    history: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "what is this?"}, image, url_image]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [image]},
                {"type": "document", "source": {"type": "base64", "data": "x"}},
            ],
        },
        {"role": "user", "content": "plain string"},
    ]
    out = to_openai_messages(None, history)
    assert out[0] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        ],
    }
    # the thinking-only assistant message vanished; the tool's image follows in a user message
    assert out[1] == {"role": "tool", "tool_call_id": "t1", "content": "(no output)"}
    assert out[2]["role"] == "user"
    assert out[2]["content"][0] == {"type": "text", "text": "(image output of tool call t1)"}
    assert out[2]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "document omitted" in out[2]["content"][2]["text"]
    assert out[3] == {"role": "user", "content": "plain string"}


def test_tools_and_body() -> None:
    tools: list[dict[str, Any]] = [
        {"name": "Read", "description": "Read a file", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"},  # server tool: skipped
    ]
    assert to_openai_tools(tools) == [
        {
            "type": "function",
            "function": {
                "name": "Read",
                "description": "Read a file",
                "parameters": {"type": "object"},
            },
        }
    ]
    request = ModelRequest(
        model="llama3.2",
        messages=[{"role": "user", "content": "hi"}],
        tools=tools,
        thinking={"type": "enabled", "budget_tokens": 1000},
        extra_body={"metadata": {"user_id": "x"}, "output_config": {"effort": "high"}},
        betas=("interleaved-thinking-2025-05-14",),
    )
    body = chat_body(request, max_tokens=None, include_usage=True, extra_body={"top_p": 0.9})
    assert body == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": to_openai_tools(tools),
        "top_p": 0.9,
    }


def test_chunks_become_an_anthropic_message() -> None:
    t = ChunkTranslator(model="requested")
    events = t.feed(_chunk({"role": "assistant", "reasoning": "hmm"}))
    assert events[0]["type"] == "message_start" and events[0]["message"]["model"] == "m"
    t.feed(_chunk({"content": "Hi "}))
    t.feed(_chunk({"content": "there"}))
    t.feed(
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "function": {"name": "Read", "arguments": '{"file'},
                    }
                ]
            }
        )
    )
    t.feed(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '_path": "/a"}'}}]}))
    t.feed(
        _chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "bad id!",
                        "function": {"name": "Glob", "arguments": "not json"},
                    }
                ]
            }
        )
    )
    t.feed(
        _chunk(
            {"tool_calls": [{"index": 2, "function": {"name": "Ls", "arguments": {"path": "."}}}]}
        )
    )
    assert not t.finished
    t.feed(_chunk({}, "stop"))  # Ollama-style: "stop" although tools were called
    t.feed(
        {
            "id": "c1",
            "choices": [],
            "usage": {
                "prompt_tokens": 50,
                "completion_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 10},
            },
        }
    )
    assert t.finished
    closing = t.finish()
    assert [e["type"] for e in closing] == ["content_block_stop", "message_delta", "message_stop"]
    message = t.message
    content = message["content"]
    assert content[0] == {"type": "thinking", "thinking": "hmm", "signature": ""}
    assert content[1] == {"type": "text", "text": "Hi there"}
    assert content[2] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "Read",
        "input": {"file_path": "/a"},
    }
    assert content[3]["id"] == "bad_id_" and content[3]["input"] == {"_raw_arguments": "not json"}
    assert content[4]["id"].startswith("toolu_") and content[4]["input"] == {"path": "."}
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 40,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 10,
        "output_tokens": 9,
    }
    assert json.loads(json.dumps(message)) == message  # plain JSON, ready for the transcript


def test_finish_reasons() -> None:
    for reason, expected in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
    ]:
        t = ChunkTranslator(model="m")
        t.feed(_chunk({"content": "x"}, reason))
        t.finish()
        assert t.message["stop_reason"] == expected
    empty = ChunkTranslator(model="m")
    empty.feed(_chunk({}, "stop"))
    empty.finish()
    assert empty.message["content"] == [{"type": "text", "text": ""}]
