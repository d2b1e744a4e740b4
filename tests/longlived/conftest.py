"""Fixtures for the long-lived session tests: a fake Messages API and a project directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropicServer]:
    """A running fake server; ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY point at it."""
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
