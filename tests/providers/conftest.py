"""Fixtures for the provider tests: both fake model servers (``project`` comes from the
top-level conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from threadline.providers import _pricing
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.testing._fake_openai import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A running fake chat-completions server (nothing in the environment points at it)."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_anthropic(fake: FakeAnthropicServer) -> FakeAnthropicServer:
    """A running fake Messages API; ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY point at it."""
    return fake


@pytest.fixture
def price_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prices registered by the test are forgotten afterwards."""
    monkeypatch.setattr(_pricing, "_PRICES", dict(_pricing._PRICES))
    monkeypatch.setattr(_pricing, "_ORDERED", list(_pricing._ORDERED))
