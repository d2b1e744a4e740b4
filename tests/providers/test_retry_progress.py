"""The retry loop reports each retry (attempt, wait, cause) and keeps to a total time bound."""

from __future__ import annotations

import socket
import time

import pytest

from threadline._exceptions import ProviderConnectionError, RateLimitError
from threadline.providers import ModelRequest, RetryEvent, RetryPolicy
from threadline.providers.openai import OpenAIProvider
from threadline.testing._fake_openai import FakeOpenAIServer

pytestmark = pytest.mark.anyio

REQUEST = ModelRequest(
    model="fake-gpt", messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_each_retry_is_reported(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script(
        [
            {"error": {"status": 529, "message": "overloaded"}, "times": 2},
            {"text": "ok"},
        ]
    )
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_retries=4, base_delay_s=0.01, max_delay_s=0.01, on_retry=events.append)
    p = OpenAIProvider(base_url=fake_openai.base_url, api_key="k", retry=policy)
    try:
        response = await p.complete(REQUEST)
    finally:
        await p.aclose()
    assert response.attempts == 3
    assert [e.attempt for e in events] == [1, 2] and all(e.max_retries == 4 for e in events)
    assert all(isinstance(e.error, RateLimitError) and "overloaded" in str(e.error) for e in events)
    assert all(0 < e.delay_s <= 0.02 for e in events)


async def test_the_total_is_bounded() -> None:
    """An unreachable endpoint: 8 retries would wait ~95 s; max_elapsed_s stops at 2 s."""
    events: list[RetryEvent] = []
    policy = RetryPolicy(max_retries=8, base_delay_s=0.5, max_elapsed_s=2.0, on_retry=events.append)
    p = OpenAIProvider(base_url=f"http://127.0.0.1:{closed_port()}/v1", api_key="k", retry=policy)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderConnectionError):
            await p.complete(REQUEST)
    finally:
        await p.aclose()
    assert time.monotonic() - started < 2.5
    assert 1 <= len(events) < 8
    assert all(e.elapsed_s + e.delay_s <= 2.0 for e in events)
    assert all(isinstance(e.error, ProviderConnectionError) for e in events)
