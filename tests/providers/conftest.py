"""Fixtures for the provider tests: both fake model servers and a project directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from threadline.providers import _pricing
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.testing._fake_openai import FakeOpenAIServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A running fake chat-completions server (nothing in the environment points at it)."""
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def fake_anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropicServer]:
    """A running fake Messages API; ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY point at it."""
    with FakeAnthropicServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-test")
        yield server


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory that is also the process cwd."""
    path = tmp_path / "project"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def price_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prices registered by the test are forgotten afterwards."""
    monkeypatch.setattr(_pricing, "_PRICES", dict(_pricing._PRICES))
    monkeypatch.setattr(_pricing, "_ORDERED", list(_pricing._ORDERED))
