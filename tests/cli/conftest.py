"""Fixtures for the CLI tests: a fake Messages API, a project cwd, a click runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from threadline.cli import cli
from threadline.testing._fake_anthropic import FakeAnthropicServer


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


def invoke(*args: str, input: str | None = None) -> Result:
    """Run ``threadline ARGS`` in-process (stderr kept apart from stdout)."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def run_tl(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """Run ``python -m threadline.cli ARGS`` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "threadline.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
