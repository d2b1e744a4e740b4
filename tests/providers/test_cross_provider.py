"""One session, two model APIs: Anthropic → OpenAI-compatible → Anthropic.

The transcript stays in Claude Code's format throughout; each provider is sent the whole
conversation so far in its own wire format (checked in both fakes' request logs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.testing._fake_openai import FakeOpenAIServer

from ._helpers import openai_options, options, run, transcript

pytestmark = pytest.mark.anyio


def _anthropic_shape(messages: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [
        (
            m["role"],
            ["text"] if isinstance(m["content"], str) else [b["type"] for b in m["content"]],
        )
        for m in messages
    ]


async def test_session_moves_between_providers_with_the_full_conversation(
    fake_anthropic: FakeAnthropicServer,
    fake_openai: FakeOpenAIServer,
    project: Path,
    config_dir: Path,
) -> None:
    (project / "a.txt").write_text("alpha\n")
    (project / "b.txt").write_text("bravo\n")

    # -- 1. start on Anthropic: signed thinking, a tool call, a reply
    fake_anthropic.script(
        [
            {
                "thinking": "I should read a.txt",
                "text": "Reading a.",
                "tool_use": {"name": "Read", "input": {"file_path": str(project / "a.txt")}},
            },
            {"text": "a.txt says alpha."},
        ]
    )
    first = await run("first: read a.txt", options())
    sid = first[-1].session_id
    assert first[-1].result == "a.txt says alpha."
    toolu_id = fake_anthropic.message_requests()[1]["messages"][1]["content"][2]["id"]

    # -- 2. resume on the OpenAI-compatible server: parallel tool calls, reasoning
    fake_openai.script(
        [
            {
                "reasoning": "local model reasoning",
                "tool_calls": [
                    {"name": "Read", "arguments": {"file_path": str(project / "b.txt")}},
                    {"name": "Glob", "arguments": {"pattern": "*.txt"}},
                ],
            },
            {"text": "b.txt says bravo."},
        ]
    )
    second = await run("second: read b.txt", openai_options(fake_openai, resume=sid))
    assert second[-1].result == "b.txt says bravo." and second[-1].session_id == sid

    opening = fake_openai.chat_requests()[0]["messages"]
    assert [m["role"] for m in opening] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert opening[1]["content"] == "first: read a.txt"
    assert opening[2]["content"] == "Reading a."
    assert opening[2]["tool_calls"][0]["id"] == toolu_id
    assert json.loads(opening[2]["tool_calls"][0]["function"]["arguments"]) == {
        "file_path": str(project / "a.txt")
    }
    assert opening[3]["tool_call_id"] == toolu_id and "alpha" in opening[3]["content"]
    assert opening[4] == {"role": "assistant", "content": "a.txt says alpha."}
    assert opening[5] == {"role": "user", "content": "second: read b.txt"}
    blob = json.dumps(opening)
    assert "I should read a.txt" not in blob and "signature" not in blob  # thinking dropped
    assert "cache_control" not in blob

    call_ids = [c["id"] for c in fake_openai.chat_requests()[1]["messages"][-3]["tool_calls"]]
    closing = fake_openai.chat_requests()[1]["messages"]
    assert [m["role"] for m in closing][-4:] == ["user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in closing[-2:]] == call_ids
    assert "bravo" in closing[-2]["content"]

    # -- 3. back on Anthropic: everything, in Messages API shape
    fake_anthropic.script([{"text": "third reply"}])
    third = await run("third: summarise", options(resume=sid))
    assert third[-1].result == "third reply" and third[-1].session_id == sid
    body = fake_anthropic.message_requests()[-1]
    sent = body["messages"]
    assert _anthropic_shape(sent) == [
        ("user", ["text"]),
        ("assistant", ["thinking", "text", "tool_use"]),
        ("user", ["tool_result"]),
        ("assistant", ["text"]),
        ("user", ["text"]),
        # the OpenAI reply: its unsigned reasoning is kept in the transcript, never sent
        ("assistant", ["tool_use", "tool_use"]),
        ("user", ["tool_result", "tool_result"]),
        ("assistant", ["text"]),
        ("user", ["text"]),
    ]
    assert sent[1]["content"][0]["signature"]  # Claude's own thinking goes back to Claude
    assert [b["id"] for b in sent[5]["content"]] == call_ids
    assert [b["tool_use_id"] for b in sent[6]["content"]] == call_ids
    assert sent[5]["content"][1]["input"] == {"pattern": "*.txt"}
    texts = [
        b.get("text")
        for m in sent
        for b in (
            [{"type": "text", "text": m["content"]}]
            if isinstance(m["content"], str)
            else m["content"]
        )
        if b["type"] == "text"
    ]
    assert texts == [
        "first: read a.txt",
        "Reading a.",
        "a.txt says alpha.",
        "second: read b.txt",
        "b.txt says bravo.",
        "third: summarise",
    ]
    assert "local model reasoning" not in json.dumps(sent)

    # -- the one transcript: Claude Code's format, one chain, both models recorded
    entries = transcript(config_dir, sid)
    models = [e["message"]["model"] for e in entries if e["type"] == "assistant"]
    assert "fake-gpt" in models and any(m.startswith("claude") for m in models)
    uuids = {e["uuid"] for e in entries}
    assert [e for e in entries if e["parentUuid"] is None] == entries[:1]  # one root
    assert all(e["parentUuid"] in uuids for e in entries[1:])  # nothing orphaned
    assert {e["sessionId"] for e in entries} == {sid}
    reasoning = [
        b
        for e in entries
        if e["type"] == "assistant"
        for b in e["message"]["content"]
        if b["type"] == "thinking" and not b.get("signature")
    ]
    assert [b["thinking"] for b in reasoning] == ["local model reasoning"]
