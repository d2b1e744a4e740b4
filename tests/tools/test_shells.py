"""Background shells: Bash run_in_background, the output file, the notice, TaskStop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline.tools import ToolContext, run_tool
from threadline.tools._bash import BashTool
from threadline.tools._state import ToolState
from threadline.tools._taskstop import TaskStopTool

pytestmark = pytest.mark.anyio


@pytest.fixture
def sctx(ctx: ToolContext) -> ToolContext:
    return ToolContext(
        cwd=ctx.cwd, session_id=ctx.session_id, tool_use_id="toolu_bg1", state=ToolState()
    )


async def _notice(state: ToolState, wait_s: float = 20) -> object:
    with anyio.fail_after(wait_s):
        while not state.shells.notices:  # noqa: ASYNC110
            await anyio.sleep(0.02)
    return state.shells.take()[0]


async def test_background_command_reports_when_done(sctx: ToolContext) -> None:
    started = time.monotonic()
    result = await run_tool(
        BashTool(),
        {"command": "echo hello; sleep 0.3; echo bye", "run_in_background": True,
         "description": "say hi"},
        sctx,
    )
    assert time.monotonic() - started < 0.3  # answered at once
    assert not result.is_error
    text = str(result.content)
    assert text.startswith("Command running in background with ID: b")
    task_id = result.structured["backgroundTaskId"]
    assert f"ID: {task_id}." in text and "use Read on that file path" in text
    state = sctx.state
    assert state is not None
    notice = await _notice(state)
    assert notice.task_id == task_id  # type: ignore[attr-defined]
    assert notice.status == "completed"  # type: ignore[attr-defined]
    output = Path(notice.output_file)  # type: ignore[attr-defined]
    assert output.read_text() == "hello\nbye\n"
    assert oct(output.stat().st_mode & 0o777) == "0o600"
    note = notice.text  # type: ignore[attr-defined]
    assert f"<task-id>{task_id}</task-id>" in note
    assert "<tool-use-id>toolu_bg1</tool-use-id>" in note
    assert "<status>completed</status>" in note
    assert 'Background command "say hi" completed (exit code 0)' in note


async def test_failed_and_timed_out(sctx: ToolContext) -> None:
    state = sctx.state
    assert state is not None
    await run_tool(BashTool(), {"command": "exit 3", "run_in_background": True}, sctx)
    notice = await _notice(state)
    assert notice.status == "failed" and notice.exit_code == 3  # type: ignore[attr-defined]
    await run_tool(
        BashTool(), {"command": "sleep 30", "run_in_background": True, "timeout": 200}, sctx
    )
    notice = await _notice(state, wait_s=10)
    assert notice.status == "killed"  # type: ignore[attr-defined]


async def test_task_stop(sctx: ToolContext) -> None:
    state = sctx.state
    assert state is not None
    marker = sctx.cwd / "late"
    result = await run_tool(
        BashTool(),
        {"command": f"sleep 1; touch {marker}", "run_in_background": True},
        sctx,
    )
    task_id = result.structured["backgroundTaskId"]
    stopped = await run_tool(TaskStopTool(), {"task_id": task_id}, sctx)
    assert not stopped.is_error
    assert stopped.content == f"Successfully stopped task: {task_id} (sleep 1; touch {marker})"
    assert stopped.structured["task_type"] == "local_bash"
    again = await run_tool(TaskStopTool(), {"shell_id": task_id}, sctx)
    assert again.is_error
    missing = await run_tool(TaskStopTool(), {"task_id": "bnope"}, sctx)
    assert missing.is_error and missing.content == "No task found with ID: bnope"
    await anyio.sleep(1.5)
    assert not marker.exists()
    assert not state.shells.notices  # a stopped task sends no notification


async def test_session_close_kills_background_commands(sctx: ToolContext) -> None:
    state = sctx.state
    assert state is not None
    marker = sctx.cwd / "after-close"
    await run_tool(
        BashTool(), {"command": f"sleep 1; touch {marker}", "run_in_background": True}, sctx
    )
    await state.aclose()
    await anyio.sleep(1.5)
    assert not marker.exists()


async def test_spawned_on_the_loop_thread(sctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """bubblewrap's --die-with-parent follows the thread that forked it: a background
    command must not be forked from a worker thread, which may end while it runs."""
    import subprocess
    import threading

    import threadline.tools._shells as shells
    from threadline.tools._procs import process_guard

    process_guard().start()  # the guard is another process, started once
    threads: list[int] = []
    real = subprocess.Popen

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(shells.subprocess, "Popen", recording)
    await run_tool(BashTool(), {"command": "true", "run_in_background": True}, sctx)
    assert threads == [threading.get_ident()]
    state = sctx.state
    assert state is not None
    await _notice(state)
