"""The Messages API wire path (httpx2 + our SSE decoder, no ``anthropic`` import): what it
sends, how it reads streams, and that errors keep the one retry table's semantics."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from threadline._exceptions import ProviderConnectionError, ProviderHTTPError, RateLimitError
from threadline.providers import ModelRequest, ModelResponse, RetryEvent, RetryPolicy
from threadline.providers._anthropic_wire import SSEDecoder
from threadline.providers.anthropic import AnthropicProvider

pytestmark = pytest.mark.anyio


def _sse(event: str | None, data: object) -> bytes:
    head = f"event: {event}\n" if event is not None else ""
    return (head + f"data: {json.dumps(data)}\n\n").encode()


def _reply(text: str) -> bytes:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 0},
    }
    return b"".join(
        [
            _sse("message_start", {"type": "message_start", "message": message}),
            b": a comment\n\n",
            _sse("ping", {"type": "ping"}),
            _sse(None, {"type": "content_block_start", "index": 0}),  # no name: skipped
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            ),
            _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": text},
                },
            ),
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 2},
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]
    )


class _Canned:
    """Answers each POST with the next canned ``(status, headers, body)``; records requests."""

    def __init__(self, answers: list[tuple[int, dict[str, str], bytes]]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                canned.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers.items()),
                        "body": json.loads(body),
                    }
                )
                status, headers, raw = canned.answers.pop(0)
                self.send_response(status)
                for k, v in {"content-type": "text/event-stream", **headers}.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned() -> Iterator[list[_Canned]]:
    made: list[_Canned] = []
    yield made
    for c in made:
        c.close()


def _server(made: list[_Canned], *answers: tuple[int, dict[str, str], bytes]) -> _Canned:
    server = _Canned(list(answers))
    made.append(server)
    return server


def _request(**kw: Any) -> ModelRequest:
    return ModelRequest(model="m", messages=[{"role": "user", "content": "hi"}], **kw)


def _text(response: ModelResponse) -> str:
    return "".join(b.get("text", "") for b in response.message["content"])


# -- the SSE decoder --------------------------------------------------------------------------


def test_decoder_line_endings_across_chunks() -> None:
    raw = b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\n: note\rdata: x\r\revent: b\ndata: {}\n\nevent: cut\ndata: 9"
    whole = SSEDecoder().feed(raw)
    assert whole == [("a", b"1\n2"), (None, b"x"), ("b", b"{}")]
    bytewise = SSEDecoder()
    got = [ev for i in range(len(raw)) for ev in bytewise.feed(raw[i : i + 1])]
    assert got == whole  # a "\r" ending one chunk and "\n" starting the next is one line end


# -- requests and replies ----------------------------------------------------------------------


async def test_sends_what_the_api_wants_and_assembles(canned: list[_Canned]) -> None:
    server = _server(canned, (200, {"request-id": "req_1"}, _reply("hello")))
    provider = AnthropicProvider(api_key="sk-test", base_url=server.url + "/gateway/")
    try:
        response = await provider.complete(
            _request(betas=("b1", "b2"), session_id="sid-1", extra_body={"metadata": {"k": 1}})
        )
    finally:
        await provider.aclose()
    assert _text(response) == "hello" and response.request_id == "req_1"
    assert response.message["stop_reason"] == "end_turn"
    assert response.message["usage"] == {"input_tokens": 3, "output_tokens": 2}
    (sent,) = server.requests
    assert sent["path"] == "/gateway/v1/messages"
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["x-api-key"] == "sk-test"
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["anthropic-beta"] == "b1,b2"
    assert headers["x-claude-code-session-id"] == "sid-1"
    assert headers["content-type"] == "application/json"
    assert sent["body"]["stream"] is True and sent["body"]["metadata"] == {"k": 1}


async def test_bearer_token_instead_of_a_key(canned: list[_Canned]) -> None:
    server = _server(canned, (200, {}, _reply("ok")))
    provider = AnthropicProvider(
        api_key="", base_url=server.url, default_headers={"Authorization": "Bearer tok"}
    )
    try:
        await provider.complete(_request())
    finally:
        await provider.aclose()
    headers = {k.lower(): v for k, v in server.requests[0]["headers"].items()}
    assert headers["authorization"] == "Bearer tok" and "x-api-key" not in headers


# -- errors: the retry table -------------------------------------------------------------------


async def test_error_event_in_a_200_stream_is_its_status_and_retried(
    canned: list[_Canned],
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server = _server(
        canned,
        (
            200,
            {},
            _sse("message_start", {"type": "message_start", "message": {}})
            + _sse("error", overloaded),
        ),
        (200, {}, _reply("second try")),
    )
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_retries=2, base_delay_s=0, max_delay_s=0, on_retry=events.append)
    provider = AnthropicProvider(api_key="k", base_url=server.url, retry=policy)
    try:
        response = await provider.complete(_request())
    finally:
        await provider.aclose()
    assert _text(response) == "second try" and response.attempts == 2
    (event,) = events
    assert isinstance(event.error, RateLimitError) and event.error.status_code == 529
    assert str(event.error) == "API Error: 529 Overloaded"


async def test_http_errors_keep_their_status_message_and_retry_rule(
    canned: list[_Canned],
) -> None:
    unauthorized = {
        "type": "error",
        "error": {"type": "authentication_error", "message": "bad key"},
    }
    server = _server(
        canned,
        (503, {"retry-after-ms": "0", "content-type": "text/plain"}, b"upstream down"),
        (401, {"content-type": "application/json"}, json.dumps(unauthorized).encode()),
    )
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_retries=5, base_delay_s=0, max_delay_s=0, on_retry=events.append)
    provider = AnthropicProvider(api_key="k", base_url=server.url, retry=policy)
    try:
        with pytest.raises(ProviderHTTPError) as caught:
            await provider.complete(_request())
    finally:
        await provider.aclose()
    assert caught.value.status_code == 401 and not caught.value.retryable
    assert str(caught.value) == "API Error: 401 bad key"
    assert caught.value.body == unauthorized
    assert [e.error.status_code for e in events] == [503]  # type: ignore[attr-defined]
    assert "upstream down" in str(events[0].error)
    assert len(server.requests) == 2  # 401 is not retried


async def test_corrupt_and_cut_streams_are_retried(canned: list[_Canned]) -> None:
    start = _sse("message_start", {"type": "message_start", "message": {}})
    server = _server(
        canned,
        (200, {}, start + b"event: content_block_delta\ndata: {not json\x00\xff\n\n"),
        (200, {}, start),  # ends without message_stop
        (200, {}, _reply("whole")),
    )
    policy = RetryPolicy(max_retries=3, base_delay_s=0, max_delay_s=0)
    provider = AnthropicProvider(api_key="k", base_url=server.url, retry=policy)
    try:
        response = await provider.complete(_request())
    finally:
        await provider.aclose()
    assert _text(response) == "whole" and response.attempts == 3


async def test_connection_refused_is_retried_then_raised() -> None:
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_retries=2, base_delay_s=0, max_delay_s=0, on_retry=events.append)
    provider = AnthropicProvider(api_key="k", base_url="http://127.0.0.1:9", retry=policy)
    try:
        with pytest.raises(ProviderConnectionError, match=r"^API Error: Connection error\.$"):
            await provider.complete(_request())
    finally:
        await provider.aclose()
    assert len(events) == 2
