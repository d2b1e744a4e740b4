"""Shared fixtures: every test runs with its own config dir and HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_STRIP_PREFIXES = ("ANTHROPIC_", "CLAUDE", "OPENAI_", "OTEL_")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point CLAUDE_CONFIG_DIR and HOME into tmp_path; strip inherited model/CLI variables."""
    for name in list(os.environ):
        if name.startswith(_STRIP_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    config = tmp_path / "claude-config"
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    monkeypatch.setenv("HOME", str(home))
    yield config


@pytest.fixture
def config_dir(isolated_env: Path) -> Path:
    """The isolated CLAUDE_CONFIG_DIR of this test (may not exist yet)."""
    return isolated_env
