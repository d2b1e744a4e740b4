"""The fake Anthropic server, consumed by the official ``anthropic`` client."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

_clients: list[anthropic.Anthropic] = []


@pytest.fixture
def server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as srv:
        try:
            yield srv
        finally:
            while _clients:
                _clients.pop().close()


def client(server: FakeAnthropicServer, **kw: object) -> anthropic.Anthropic:
    c = anthropic.Anthropic(base_url=server.base_url, api_key="sk-test", **kw)  # type: ignore[arg-type]
    _clients.append(c)
    return c


def create(server: FakeAnthropicServer, text: str = "hi", **kw: object) -> anthropic.types.Message:
    return client(server).messages.create(
        model="claude-test",
        max_tokens=100,
        messages=[{"role": "user", "content": text}],
        **kw,  # type: ignore[arg-type]
    )


def stream(server: FakeAnthropicServer, text: str = "hi", **kw: object) -> anthropic.types.Message:
    with client(server, max_retries=0).messages.stream(
        model="claude-test",
        max_tokens=100,
        messages=[{"role": "user", "content": text}],
        **kw,  # type: ignore[arg-type]
    ) as s:
        return s.get_final_message()


def test_echo_fallback_both_modes(server: FakeAnthropicServer) -> None:
    msg = create(server, "hello there")
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "echo: hello there"
    assert msg.id.startswith("msg_")
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0
    assert msg.usage.cache_read_input_tokens == 0
    smsg = stream(server, "streamed")
    assert smsg.content[0].text == "echo: streamed"  # type: ignore[union-attr]
    assert smsg.stop_reason == "end_turn"
    assert smsg.usage.output_tokens > 0
    assert len(server.message_requests()) == 2
    assert server.requests[0]["answered_by"] == "default"
    assert "sk-test" not in json.dumps(server.requests[0]["headers"])
    assert "<cut>" in server.requests[0]["headers"].values()
    assert server.message_requests()[1]["stream"] is True


def test_text_and_usage_override(server: FakeAnthropicServer) -> None:
    server.script(
        [{"text": "scripted", "usage": {"input_tokens": 95000, "cache_read_input_tokens": 7}}]
    )
    msg = create(server)
    assert msg.content[0].text == "scripted"  # type: ignore[union-attr]
    assert msg.usage.input_tokens == 95000
    assert msg.usage.cache_read_input_tokens == 7
    # consumed: the next request falls back to echo
    assert create(server, "again").content[0].text == "echo: again"  # type: ignore[union-attr]


@pytest.mark.parametrize("streaming", [False, True])
def test_parallel_tool_use(server: FakeAnthropicServer, streaming: bool) -> None:
    server.add(
        {
            "text": "calling",
            "tool_use": [
                {"name": "Bash", "input": {"command": "echo a"}},
                {"name": "Bash", "input": {"command": "echo b", "nested": [1, 2]}, "id": "toolu_x"},
            ],
        }
    )
    msg = stream(server) if streaming else create(server)
    assert msg.stop_reason == "tool_use"
    kinds = [b.type for b in msg.content]
    assert kinds == ["text", "tool_use", "tool_use"]
    first, second = msg.content[1], msg.content[2]
    assert first.type == "tool_use" and second.type == "tool_use"
    assert first.id.startswith("toolu_")
    assert first.input == {"command": "echo a"}
    assert second.id == "toolu_x"
    assert second.input == {"command": "echo b", "nested": [1, 2]}


@pytest.mark.parametrize("streaming", [False, True])
def test_thinking_with_signature(server: FakeAnthropicServer, streaming: bool) -> None:
    server.add({"thinking": "let me think", "text": "done"})
    msg = stream(server) if streaming else create(server)
    block = msg.content[0]
    assert block.type == "thinking"
    assert block.thinking == "let me think"
    assert block.signature
    assert msg.content[1].text == "done"  # type: ignore[union-attr]


def test_streaming_event_sequence(server: FakeAnthropicServer) -> None:
    server.add({"thinking": "t", "tool_use": {"name": "Read", "input": {"file_path": "/x"}}})
    body = {
        "model": "m",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    events: list[str] = []
    deltas: list[str] = []
    with httpx.stream("POST", server.base_url + "/v1/messages", json=body) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if data["type"] == "content_block_delta":
                    deltas.append(data["delta"]["type"])
    assert events[:2] == ["message_start", "ping"]
    assert events[-2:] == ["message_delta", "message_stop"]
    assert {"thinking_delta", "signature_delta", "input_json_delta"} <= set(deltas)
    assert deltas.count("input_json_delta") >= 2


def test_error_with_retry_after(server: FakeAnthropicServer) -> None:
    server.add(
        {
            "error": {"status": 529, "type": "overloaded_error", "message": "busy"},
            "headers": {"retry-after": "0"},
            "times": 2,
        },
        {"text": "finally"},
    )
    # the client retries twice (retry-after 0) and then gets the text
    msg = client(server, max_retries=2).messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert msg.content[0].text == "finally"  # type: ignore[union-attr]
    assert len(server.message_requests()) == 3

    server.add({"error": {"status": 400, "type": "invalid_request_error", "message": "bad"}})
    with pytest.raises(anthropic.BadRequestError) as info:
        create(server)
    assert info.value.status_code == 400
    assert info.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "bad"},
    }


def test_drop_after_events_breaks_the_stream(server: FakeAnthropicServer) -> None:
    server.add({"text": "a long answer that never arrives", "drop_after_events": 3})
    # anthropic 2.x raises its transport's RemoteProtocolError (httpx2), older ones APIError
    with pytest.raises(Exception, match=r"peer closed|incomplete|Connection"):
        stream(server)


def test_malformed_sse_breaks_the_stream(server: FakeAnthropicServer) -> None:
    server.add({"text": "x", "malformed_sse": True})
    with pytest.raises(Exception):  # noqa: B017 - json error surfaced by the client
        stream(server)


def test_match_rules(server: FakeAnthropicServer) -> None:
    server.script(
        [
            {"match": {"last_user_contains": "weather"}, "text": "sunny"},
            {"match": {"system_contains": "pirate"}, "text": "arr", "repeat": True},
            {"match": {"has_tools": True, "tool_available": "Bash"}, "text": "tools!"},
            {"match": {"model_contains": "haiku"}, "text": "small model"},
            {"match": {"any_contains": "secret"}, "text": "found secret", "times": 2},
        ],
        default={"text": "default answer"},
    )
    assert create(server, "plain").content[0].text == "default answer"  # type: ignore[union-attr]
    assert create(server, "what weather?").content[0].text == "sunny"  # type: ignore[union-attr]
    assert create(server, "what weather?").content[0].text == "default answer"  # type: ignore[union-attr]
    for _ in range(3):
        msg = create(server, "hi", system="You are a pirate")
        assert msg.content[0].text == "arr"  # type: ignore[union-attr]
    tool = {"name": "Bash", "description": "d", "input_schema": {"type": "object"}}
    assert create(server, "x", tools=[tool]).content[0].text == "tools!"  # type: ignore[union-attr]
    msg = client(server).messages.create(
        model="claude-haiku-x", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert msg.content[0].text == "small model"  # type: ignore[union-attr]
    assert create(server, "the secret").content[0].text == "found secret"  # type: ignore[union-attr]
    assert create(server, "the secret").content[0].text == "found secret"  # type: ignore[union-attr]
    assert create(server, "the secret").content[0].text == "default answer"  # type: ignore[union-attr]
    answered = [r["answered_by"] for r in server.requests]
    assert answered[0] == "default"
    assert answered[1]["text"] == "sunny"


def test_compaction_fallback_and_kind(server: FakeAnthropicServer) -> None:
    server.add({"match": {"kind": "main"}, "text": "main reply"})
    compact_prompt = (
        "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.\n"
        "Your task is to create a detailed summary of the conversation so far."
    )
    msg = client(server).messages.create(
        model="m",
        max_tokens=5,
        messages=[
            {"role": "user", "content": "first prompt"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": compact_prompt},
        ],
    )
    text = msg.content[0].text  # type: ignore[union-attr]
    assert "<summary>" in text and "</summary>" in text
    assert "first prompt" in text
    assert create(server, "normal").content[0].text == "main reply"  # type: ignore[union-attr]


def test_other_endpoints_and_control(server: FakeAnthropicServer) -> None:
    c = client(server)
    count = c.messages.count_tokens(model="m", messages=[{"role": "user", "content": "hello"}])
    assert count.input_tokens > 0
    assert c.models.retrieve("claude-x").id == "claude-x"
    assert [m.id for m in c.models.list()]
    assert httpx.head(server.base_url + "/anything").status_code == 200
    assert httpx.get(server.base_url + "/whatever").json() == {}
    resp = httpx.post(
        server.base_url + "/_control/script",
        json={"responses": [{"text": "via control"}]},
    )
    assert resp.status_code == 200
    assert create(server).content[0].text == "via control"  # type: ignore[union-attr]
    assert len(server.message_requests()) == 1  # count_tokens not included
    server.clear_requests()
    assert server.requests == []


def test_delay_between_events(server: FakeAnthropicServer) -> None:
    import time

    server.add({"text": "slow", "delay_between_events_s": 0.05})
    t0 = time.monotonic()
    assert stream(server).content[0].text == "slow"  # type: ignore[union-attr]
    assert time.monotonic() - t0 >= 0.3


def test_raw_content_and_echo_entry(server: FakeAnthropicServer) -> None:
    server.add(
        {
            "content": [
                {"type": "text", "text": "raw"},
                {"type": "tool_use", "name": "T", "input": {}},
            ]
        },
        {"echo": True, "text": "and more"},
    )
    msg = stream(server)
    assert msg.content[0].text == "raw"  # type: ignore[union-attr]
    assert msg.content[1].id.startswith("toolu_")  # type: ignore[union-attr]
    msg = create(server, "say this")
    assert [b.text for b in msg.content] == ["echo: say this", "and more"]  # type: ignore[union-attr]


def test_standalone_main(tmp_path: object) -> None:
    from pathlib import Path

    script = Path(str(tmp_path)) / "script.json"
    script.write_text(json.dumps({"responses": [{"text": "from file"}]}))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "threadline.testing._fake_anthropic",
            "--port",
            "0",
            "--script",
            str(script),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        req = urllib.request.Request(
            base_url + "/v1/messages",
            data=json.dumps(
                {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
            ).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.load(resp)["content"][0]["text"] == "from file"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
