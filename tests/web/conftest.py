"""Fixtures for the web tests: one config dir of real CLI sessions plus generated ones."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from threadline.web import FileSource, create_app, loopback_hosts

from . import _sessions

BASE = "http://127.0.0.1:8765"


@dataclass
class WebData:
    config: Path
    ids: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebData]:
    """Real transcripts from the bundled ``claude`` CLI (forks, branches, subagents,
    compaction, parallel tools), an official-SDK fork, and generated hostile/rich sessions."""
    from oracle.corpus import build_corpus, config_env
    from threadline.testing._claude_cli import claude_cli_path

    claude_cli_path()  # the bundled CLI is a dev dependency: its absence is an error
    corpus = build_corpus(tmp_path_factory.mktemp("web-corpus"))
    if corpus.server is not None:
        corpus.server.stop()
    data = WebData(config=corpus.config_dir)
    for scenario in ("single", "thinking", "resume", "cli_fork", "branch", "parallel_tools",
                     "subagent_fg", "subagent_bg", "compact", "sdk_rename_tag", "named"):
        data.ids[scenario] = corpus.id(scenario)
    data.notes["branch_at"] = corpus.notes["branch_at"]
    import claude_agent_sdk

    with config_env(corpus.config_dir):
        fork = claude_agent_sdk.fork_session(
            corpus.id("branch"),
            directory=str(corpus.session_cwd[corpus.id("branch")]),
            up_to_message_id=corpus.notes["branch_at"],
            title="SDK fork of branch",
        )
        sub = claude_agent_sdk.fork_session(
            corpus.id("subagent_fg"),
            directory=str(corpus.session_cwd[corpus.id("subagent_fg")]),
            title="SDK fork of the subagent session",
        )
    data.ids["sdk_fork"] = fork.session_id
    data.ids["sdk_fork_sub"] = sub.session_id
    data.ids["hostile"] = _sessions.hostile(corpus.config_dir)
    data.ids["rich"] = _sessions.rich(corpus.config_dir)
    yield data


def make_client(config: Path, **kwargs: object) -> TestClient:
    app = create_app(FileSource(config), allowed_hosts=loopback_hosts("127.0.0.1", 8765), **kwargs)  # type: ignore[arg-type]
    return TestClient(app, base_url=BASE)


@pytest.fixture
def client(web_data: WebData) -> Iterator[TestClient]:
    with make_client(web_data.config) as c:
        yield c


@pytest.fixture
def writable_config(web_data: WebData, tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(web_data.config, config, symlinks=True)
    shutil.rmtree(config / "threadline", ignore_errors=True)
    return config


@pytest.fixture
def writer(writable_config: Path) -> Iterator[TestClient]:
    with make_client(writable_config, allow_writes=True) as c:
        c.headers["x-threadline-csrf"] = c.get("/api/info").json()["csrf"]
        yield c
