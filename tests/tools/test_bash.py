"""Bash: output, exit codes, timeout, cap, cancellation."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline.tools import ToolContext, ToolResult, builtin_tool, run_tool
from threadline.tools._bash import MAX_OUTPUT_CHARS

pytestmark = pytest.mark.anyio


async def bash(ctx: ToolContext, command: str, **input: Any) -> ToolResult:
    return await run_tool(builtin_tool("Bash"), {"command": command, **input}, ctx)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); check /proc state when available
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().split(") ", 1)[1][0] != "Z"
        except OSError:
            return False
    return True


async def _wait_dead(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        await anyio.sleep(0.05)
    return False


async def test_stdout_and_stderr_combined(ctx: ToolContext) -> None:
    result = await bash(ctx, "echo out; echo err >&2", description="Print two lines")
    assert result == ToolResult(
        content="out\nerr",
        structured={"stdout": "out\nerr", "stderr": "", "interrupted": False, "isImage": False},
    )


async def test_cwd_and_env(ctx: ToolContext) -> None:
    ctx2 = ToolContext(cwd=ctx.cwd, session_id=ctx.session_id, env={"TL_TEST_VAR": "v1"})
    result = await bash(ctx2, 'pwd; echo "$TL_TEST_VAR"; echo "${HOME:+home set}"')
    assert result.content == f"{ctx.cwd}\nv1\nhome set"


async def test_no_output(ctx: ToolContext) -> None:
    result = await bash(ctx, "true")
    assert result == ToolResult(content="(no output)", structured=result.structured)


async def test_nonzero_exit(ctx: ToolContext) -> None:
    result = await bash(ctx, "echo partial; exit 7")
    assert result.is_error
    assert result.content == "Exit code 7\npartial"
    result = await bash(ctx, "exit 1")
    assert result.content == "Exit code 1"


async def test_output_cap(ctx: ToolContext) -> None:
    result = await bash(ctx, "yes abcdefghi | head -c 100000")
    assert isinstance(result.content, str)
    assert not result.is_error
    assert result.content.startswith("abcdefghi\n")
    assert len(result.content) < MAX_OUTPUT_CHARS + 200
    assert "[output truncated: " in result.content


async def test_timeout_kills_process_group(ctx: ToolContext, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    start = time.monotonic()
    result = await bash(ctx, f"echo started; sleep 30 & echo $! > {pidfile}; wait", timeout=500)
    assert time.monotonic() - start < 5
    assert result.is_error
    assert isinstance(result.content, str)
    assert result.content.startswith("Command timed out after 0.5s")
    assert "started" in result.content
    assert result.structured["interrupted"] is True
    assert await _wait_dead(int(pidfile.read_text()))


async def test_timeout_is_clamped(ctx: ToolContext) -> None:
    result = await bash(ctx, "echo ok", timeout=10_000_000)
    assert result.content == "ok"


async def test_cancellation_kills_process(ctx: ToolContext, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with anyio.move_on_after(1.0) as scope:
        await bash(ctx, f"echo $$ > {pidfile}; sleep 30")
    assert scope.cancelled_caught
    assert await _wait_dead(int(pidfile.read_text()))


async def test_background_child_does_not_hang(ctx: ToolContext, tmp_path: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    start = time.monotonic()
    result = await bash(ctx, f"sleep 3 & echo $! > {pidfile}; echo done")
    assert time.monotonic() - start < 2.5
    assert result.content == "done"
    os.kill(int(pidfile.read_text()), 9)


async def test_missing_cwd(ctx: ToolContext) -> None:
    gone = ToolContext(cwd=ctx.cwd / "nope", session_id="s")
    result = await bash(gone, "echo hi")
    assert result.is_error and "does not exist" in str(result.content)
