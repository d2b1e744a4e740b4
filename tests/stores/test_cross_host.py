"""Two hosts (processes with their own HOME and CLAUDE_CONFIG_DIR) share one database.

Host A creates a session with ``threadline.query``; host B, in another
directory, resumes it by id and adds a turn; host A lists its project and
reads B's turn. The model is the fake Anthropic server. Neither host writes a
local transcript: the store is the only copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import Backend

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def _host(tmp: Path, name: str, fake: FakeAnthropicServer) -> dict[str, str]:
    base = tmp / name
    for d in ("home", "claude", "project"):
        (base / d).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))}
    env.update(
        HOME=str(base / "home"),
        CLAUDE_CONFIG_DIR=str(base / "claude"),
        ANTHROPIC_BASE_URL=fake.base_url,
        ANTHROPIC_API_KEY="sk-ant-fake-test",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    return env


def _run(env: dict[str, str], *args: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.stores._host", *args],
        env=env,
        cwd=str(Path(env["HOME"]).parent / "project"),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return orjson.loads(proc.stdout)


@pytest.mark.parametrize("backend", ["postgres", "redis", "redis_cluster"], indirect=True)
async def test_two_hosts_share_a_session(backend: Backend, tmp_path: Path) -> None:
    ns = backend.make().namespace  # registered for cleanup
    url = backend.url
    with FakeAnthropicServer() as fake:
        a, b = _host(tmp_path, "host-a", fake), _host(tmp_path, "host-b", fake)
        project_a = str(tmp_path / "host-a" / "project")
        created = _run(a, backend.name, url, ns, "create", project_a, "my name is Ada")
        sid = created["session_id"]
        assert not created["is_error"] and created["texts"] == ["echo: my name is Ada"]

        resumed = _run(b, backend.name, url, ns, "resume", sid, "what is my name?")
        assert resumed["session_id"] == sid and not resumed["is_error"]
        # B's model call carried A's history.
        last = fake.message_requests()[-1]
        assert [m["role"] for m in last["messages"]] == ["user", "assistant", "user"]

        read = _run(a, backend.name, url, ns, "read", project_a, sid)
    assert read["listed"] == [sid] and read["summaries"] == ["my name is Ada"]
    kinds = [k for k, _ in read["messages"]]
    assert kinds == ["user", "assistant", "user", "assistant"]
    assert "what is my name?" in orjson.dumps(read["messages"][2][1]).decode()
    for host in ("host-a", "host-b"):
        config = tmp_path / host / "claude"
        assert not list(config.rglob("*.jsonl")), f"{host} wrote a local transcript"
