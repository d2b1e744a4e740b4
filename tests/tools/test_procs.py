"""Tool processes: they die with the agent (even SIGKILLed) and do not see threadline's secrets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from threadline.tools import ToolContext, run_tool
from threadline.tools._bash import BashTool
from threadline.tools._procs import tool_environment

pytestmark = pytest.mark.anyio

_AGENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import anyio
    from threadline.tools import ToolContext, run_tool
    from threadline.tools._bash import BashTool

    async def main() -> None:
        work = Path(sys.argv[1])
        ctx = ToolContext(cwd=work, session_id="00000000-0000-4000-8000-000000000001")
        command = sys.argv[2]
        await run_tool(BashTool(), {"command": command}, ctx)

    anyio.run(main)
    """
)


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


@pytest.mark.parametrize(
    "command",
    [
        "touch started; sleep 1.5; touch side-effect",
        # a subshell and a background job of the command: the whole group must go
        "(sleep 1.5; touch side-effect) & touch started; wait",
    ],
)
def test_sigkilled_agent_takes_its_running_tool_with_it(tmp_path: Path, command: str) -> None:
    """Kill -9 the agent mid-command: the command's side effect never happens."""
    work = tmp_path / "work"
    work.mkdir()
    agent = subprocess.Popen([sys.executable, "-c", _AGENT, str(work), command])
    try:
        _wait_for(work / "started")
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(timeout=10)
        time.sleep(3)
        assert not (work / "side-effect").exists(), "the tool outlived the agent"
    finally:
        if agent.poll() is None:
            agent.kill()


def test_tool_environment_scrubs_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_ENCRYPTION_KEY", "k1")
    monkeypatch.setenv("THREADLINE_PG_PASSWORD", "p1")
    monkeypatch.setenv("THREADLINE_STORE", "files")  # not a secret: kept
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-oa")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")  # not a secret: kept
    env = tool_environment({"ANTHROPIC_AUTH_TOKEN": "tok", "MY_VAR": "x"})
    for gone in (
        "THREADLINE_ENCRYPTION_KEY",
        "THREADLINE_PG_PASSWORD",
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
    ):
        assert gone not in env
    assert env["THREADLINE_STORE"] == "files"
    assert env["MY_VAR"] == "x"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:1"

    monkeypatch.setenv("THREADLINE_TOOL_ENV_PASSTHROUGH", "openai_api_key")
    assert tool_environment()["OPENAI_API_KEY"] == "sk-oa"


async def test_bash_does_not_inherit_secrets(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_ENCRYPTION_KEY", "very-secret-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    ctx = ToolContext(cwd=ctx.cwd, session_id=ctx.session_id, env={"OPENAI_API_KEY": "sk-oa"})
    result = await run_tool(BashTool(), {"command": "env"}, ctx)
    assert not result.is_error
    text = str(result.content)
    assert "very-secret-key" not in text
    assert "sk-ant-secret" not in text
    assert "sk-oa" not in text
    assert "PATH=" in text
