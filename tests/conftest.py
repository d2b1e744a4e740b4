"""Shared fixtures: every test runs with its own config dir and HOME; a fake Messages API
and a project directory for the tests that want them."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

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


@pytest.fixture(scope="session", autouse=True)
def suite_tempdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The temp dir of the code under test (and its subprocesses) during the run: a short
    folder of its own (unix socket paths must stay short), removed at the end, so the suite
    leaves nothing behind in the machine's temp dir. pytest's own tmp_path stays where it is.
    """
    tmp_path_factory.getbasetemp()  # fixed before the temp dir moves
    path = Path(tempfile.mkdtemp(prefix="tl-suite-"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", str(path))
        mp.setattr(tempfile, "tempdir", str(path))
        yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def config_dir(isolated_env: Path) -> Path:
    """The isolated CLAUDE_CONFIG_DIR of this test (may not exist yet)."""
    return isolated_env


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
