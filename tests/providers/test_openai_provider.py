"""OpenAIProvider on its own: errors mapped into threadline's tree, the retry table, the wire."""

from __future__ import annotations

import importlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from threadline._exceptions import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    RateLimitError,
)
from threadline.providers import ModelRequest, ModelResponse, Provider, RetryPolicy
from threadline.providers.openai import OpenAIProvider
from threadline.testing._fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.anyio

RETRY = RetryPolicy(max_retries=2, base_delay_s=0.0, max_delay_s=0.0)
REQUEST = ModelRequest(
    model="fake-gpt",
    messages=[{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
    system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
)


@pytest.fixture
async def provider(fake_openai: FakeOpenAIServer) -> AsyncIterator[OpenAIProvider]:
    p = OpenAIProvider(base_url=fake_openai.base_url, api_key="sk-test", retry=RETRY)
    yield p
    await p.aclose()


async def _failure(provider: OpenAIProvider) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await provider.complete(REQUEST)
    return info.value


def test_fits_the_provider_protocol() -> None:
    assert isinstance(OpenAIProvider(base_url="http://127.0.0.1:9/v1"), Provider)


@pytest.mark.parametrize(
    ("status", "kind", "cls", "retryable", "requests"),
    [
        (400, "invalid_request_error", ProviderHTTPError, False, 1),
        (401, "authentication_error", ProviderHTTPError, False, 1),
        (404, "not_found_error", ProviderHTTPError, False, 1),
        (429, "rate_limit_exceeded", RateLimitError, True, 3),
        (500, "server_error", ProviderHTTPError, True, 3),
        (503, "server_error", ProviderHTTPError, True, 3),
    ],
)
async def test_status_errors_map_into_threadline_errors(
    provider: OpenAIProvider,
    fake_openai: FakeOpenAIServer,
    status: int,
    kind: str,
    cls: type[ProviderHTTPError],
    retryable: bool,
    requests: int,
) -> None:
    fake_openai.script(
        [{"error": {"status": status, "type": kind, "message": "nope"}, "repeat": True}]
    )
    err = await _failure(provider)
    assert type(err) is cls and isinstance(err, ProviderHTTPError)
    assert err.status_code == status and err.retryable is retryable
    assert str(err) == f"API Error: {status} nope"
    assert isinstance(err.__cause__, openai.APIStatusError)
    assert len(fake_openai.chat_requests()) == requests


async def test_error_inside_a_200_stream(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script(
        [
            {
                "stream_error": {"message": "overloaded", "type": "server_error", "code": 429},
                "repeat": True,
            }
        ]
    )
    err = await _failure(provider)
    assert isinstance(err, RateLimitError) and err.status_code == 429
    assert len(fake_openai.chat_requests()) == 3

    fake_openai.script([{"stream_error": {"message": "bad input", "code": "400"}}, {"text": "x"}])
    fake_openai.clear_requests()
    err = await _failure(provider)
    assert type(err) is ProviderHTTPError and err.status_code == 400 and not err.retryable
    assert len(fake_openai.chat_requests()) == 1


async def test_connection_refused_is_a_connection_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1", retry=RETRY)
    try:
        err = await _failure(p)
    finally:
        await p.aclose()
    assert type(err) is ProviderConnectionError
    assert isinstance(err.__cause__, openai.APIConnectionError)


@pytest.mark.parametrize(
    "fault",
    [{"drop_after_chunks": 3}, {"malformed_sse": True}, {"no_finish": True}],
    ids=["dropped", "malformed", "no-finish-reason"],
)
async def test_broken_streams_are_retried(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer, fault: dict[str, Any]
) -> None:
    fake_openai.script([{"text": "broken reply", **fault}, {"text": "good reply"}])
    response = await provider.complete(REQUEST)
    assert response.message["content"] == [{"type": "text", "text": "good reply"}]
    assert response.attempts == 2 and len(fake_openai.chat_requests()) == 2


async def test_broken_streams_give_up_with_a_connection_error(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script([{"text": "broken reply", "drop_after_chunks": 2, "repeat": True}])
    err = await _failure(provider)
    assert type(err) is ProviderConnectionError
    assert len(fake_openai.chat_requests()) == 3


async def test_retry_after_is_honoured(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        [
            {"error": {"status": 503, "message": "busy"}, "headers": {"retry-after-ms": "300"}},
            {"text": "ok"},
        ]
    )
    p = OpenAIProvider(
        base_url=fake_openai.base_url,
        retry=RetryPolicy(max_retries=1, base_delay_s=0.0, max_delay_s=5.0),
    )
    started = time.monotonic()
    try:
        response = await p.complete(REQUEST)
    finally:
        await p.aclose()
    assert time.monotonic() - started >= 0.3
    assert response.attempts == 2 and response.total_duration_ms >= 300


async def test_stream_yields_events_then_the_response(
    provider: OpenAIProvider, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script([{"text": "hi", "usage": {"prompt_tokens": 10, "completion_tokens": 2}}])
    items = [item async for item in provider.stream(REQUEST)]
    assert isinstance(items[-1], ModelResponse)
    events = [i for i in items if not isinstance(i, ModelResponse)]
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[-2]["usage"]["input_tokens"] == 10 and events[-2]["usage"]["output_tokens"] == 2
    headers = fake_openai.requests[0]["headers"]
    assert headers["authorization"] == "<cut>"  # a bearer token was sent


async def test_extra_body_and_no_usage_option(fake_openai: FakeOpenAIServer) -> None:
    p = OpenAIProvider(
        base_url=fake_openai.base_url,
        extra_body={"temperature": 0.2},
        include_usage=False,
        max_tokens=100,
    )
    try:
        response = await p.complete(REQUEST)
    finally:
        await p.aclose()
    body = fake_openai.chat_requests()[0]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 100
    assert "stream_options" not in body
    assert response.message["usage"]["input_tokens"] == 0  # the server sent none


def test_missing_openai_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    monkeypatch.delitem(sys.modules, "threadline.providers.openai")
    with pytest.raises(ImportError, match=r"threadline\[openai\]"):
        importlib.import_module("threadline.providers.openai")


def test_importing_threadline_does_not_import_openai() -> None:
    code = "import sys, threadline, threadline.providers; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
