"""A command cannot outlive its stop by leaving its process group (security finding 14).

``setsid`` (or a double fork and ``setsid``) takes a process out of the command's group, so
a group kill misses it. Commands run under a subreaper that kills every descendant.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from threadline.tools import ToolContext, run_tool
from threadline.tools._bash import BashTool
from threadline.tools._state import ToolState
from threadline.tools._taskstop import TaskStopTool

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux subreaper"),
]

# leave the group two ways: setsid(1) in a background job, and a double fork + setsid
_ESCAPE = textwrap.dedent(
    """
    setsid sleep 300 > /dev/null 2>&1 < /dev/null & echo $! > {d}/a.pid
    python3 -c 'import os, sys
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            open(sys.argv[1], "w").write(str(os.getpid()))
            os.closerange(0, 3)
            os.execvp("sleep", ["sleep", "300"])
        os._exit(0)
    os.wait()' {d}/b.pid
    touch {d}/started
    sleep 60
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="latin-1") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _pids(d: Path) -> list[int]:
    deadline = time.monotonic() + 20
    while not all((d / n).exists() and (d / n).read_text() for n in ("a.pid", "b.pid")):
        assert time.monotonic() < deadline, "the command never started its children"
        time.sleep(0.02)
    return [int((d / n).read_text()) for n in ("a.pid", "b.pid")]


def _assert_all_die(pids: list[int]) -> None:
    deadline = time.monotonic() + 10
    try:
        while any(_alive(p) for p in pids):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"escaped the stop: {[p for p in pids if _alive(p)]} still running"
                )
            time.sleep(0.05)
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


async def test_task_stop_kills_setsid_children(ctx: ToolContext, tmp_path: Path) -> None:
    sctx = ToolContext(cwd=ctx.cwd, session_id=ctx.session_id, tool_use_id="t", state=ToolState())
    started = await run_tool(
        BashTool(), {"command": _ESCAPE.format(d=tmp_path), "run_in_background": True}, sctx
    )
    assert not started.is_error
    pids = await anyio.to_thread.run_sync(_pids, tmp_path)
    task_id = started.structured["backgroundTaskId"] if started.structured else ""
    stopped = await run_tool(TaskStopTool(), {"task_id": task_id}, sctx)
    assert not stopped.is_error
    await anyio.to_thread.run_sync(_assert_all_die, pids)


async def test_timeout_kills_setsid_children(ctx: ToolContext, tmp_path: Path) -> None:
    result = await run_tool(BashTool(), {"command": _ESCAPE.format(d=tmp_path), "timeout": 3000}, ctx)
    assert result.is_error and "timed out" in str(result.content)
    await anyio.to_thread.run_sync(_assert_all_die, _pids(tmp_path))


async def test_cancel_kills_setsid_children(ctx: ToolContext, tmp_path: Path) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_tool, BashTool(), {"command": _ESCAPE.format(d=tmp_path)}, ctx)
        await anyio.to_thread.run_sync(_pids, tmp_path)
        tg.cancel_scope.cancel()
    await anyio.to_thread.run_sync(_assert_all_die, _pids(tmp_path))


_AGENT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import anyio
    from threadline.tools import ToolContext, run_tool
    from threadline.tools._bash import BashTool

    async def main() -> None:
        ctx = ToolContext(cwd=Path(sys.argv[1]), session_id="00000000-0000-4000-8000-000000000002")
        await run_tool(BashTool(), {"command": sys.argv[2]}, ctx)

    anyio.run(main)
    """
)


def test_sigkilled_agent_takes_setsid_children(tmp_path: Path) -> None:
    agent = subprocess.Popen([sys.executable, "-c", _AGENT, str(tmp_path), _ESCAPE.format(d=tmp_path)])
    try:
        pids = _pids(tmp_path)
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(timeout=10)
        _assert_all_die(pids)
    finally:
        if agent.poll() is None:
            agent.kill()
