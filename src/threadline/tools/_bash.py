"""The Bash tool (Claude Code's name and input schema).

Each call runs ``/bin/bash -c <command>`` in ``ctx.cwd`` as the leader of a
new process group, with the environment of :func:`~threadline.tools._procs.tool_environment`
(``os.environ`` plus ``ctx.env``, threadline's secrets and the model credentials
removed), stdin from ``/dev/null`` and stderr merged into stdout. Output is capped at
:data:`MAX_OUTPUT_CHARS`. A non-zero exit status is an error result that shows the exit
code. On timeout, or when the caller's cancel scope fires, the whole process group is
killed (SIGKILL); should the agent process itself die, the process guard kills it
(:mod:`threadline.tools._procs`).

``run_in_background: true`` starts the command and answers at once with a task id and
an output file (:mod:`threadline.tools._shells`). With a sandbox in the session's
:class:`~threadline.tools._state.ToolState`, commands run inside it
(:mod:`threadline.tools._sandbox`), except excluded commands and, when the settings
allow it, calls with ``dangerouslyDisableSandbox: true``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from ._base import ToolContext, ToolResult, resolve_path, state_for
from ._procs import gated, kill_group, process_guard, stop_process, tool_environment
from ._shells import DEFAULT_BACKGROUND_TIMEOUT_MS, MAX_BACKGROUND_TIMEOUT_MS

__all__ = ["DEFAULT_TIMEOUT_MS", "MAX_OUTPUT_CHARS", "MAX_TIMEOUT_MS", "BashTool"]

DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 600_000
MAX_OUTPUT_CHARS = 30_000
_MAX_KEEP_BYTES = MAX_OUTPUT_CHARS * 4 + 4  # enough bytes for MAX_OUTPUT_CHARS of UTF-8
_DRAIN_GRACE_S = 0.25  # after bash exits, how long to wait for pipe EOF (background children)


async def _stop(process: anyio.abc.Process) -> None:
    """Kill the command and all it started: its supervisor first (setsid'd descendants
    too), then its whole group. Shielded: it runs on timeout and on cancel."""
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            stop_process(process.pid)
            with anyio.move_on_after(2):
                await process.wait()
        kill_group(process.pid)
        try:
            process.kill()
        except ProcessLookupError:
            pass


class _Output:
    """Collects up to _MAX_KEEP_BYTES of output, counting (and dropping) the rest."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = _MAX_KEEP_BYTES - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        extra = len(text) - MAX_OUTPUT_CHARS
        if extra > 0 or self.dropped:
            text = text[:MAX_OUTPUT_CHARS].rstrip("\n")
            more = max(extra, 0) + self.dropped
            unit = "characters" if not self.dropped else "characters/bytes"
            text += f"\n\n... [output truncated: {more} more {unit} not shown]"
        return text.rstrip("\n")


class BashTool:
    """Run a shell command."""

    name = "Bash"
    read_only = False
    description = (
        "Executes a given bash command and returns its output (stdout and stderr combined).\n\n"
        "Usage notes:\n"
        "  - The command argument is required; it runs with `/bin/bash -c` in the working "
        "directory.\n"
        f"  - You can specify an optional timeout in milliseconds (up to {MAX_TIMEOUT_MS}ms / "
        f"{MAX_TIMEOUT_MS // 60000} minutes). If not specified, commands will timeout after "
        f"{DEFAULT_TIMEOUT_MS}ms ({DEFAULT_TIMEOUT_MS // 60000} minutes).\n"
        "  - It is very helpful if you write a clear, concise description of what this command "
        "does in 5-10 words.\n"
        f"  - If the output exceeds {MAX_OUTPUT_CHARS} characters, output will be truncated "
        "before being returned to you.\n"
        "  - Each call runs in a fresh shell: `cd` and exported variables do not carry over.\n"
        "  - When issuing multiple commands, use the ';' or '&&' operator to separate them.\n"
        "  - Set `run_in_background: true` for long-running commands (servers, watchers, "
        "long builds): you get a task ID and an output file at once, read the file with Read "
        "to check progress, are notified when it ends, and can stop it with TaskStop.\n"
        "  - When sandboxing is on, commands run with writes limited to the working "
        "directory and network access limited to allowed hosts; a failure caused by the "
        "sandbox shows as 'Read-only file system', 'Operation not permitted' or a proxy 403."
    )
    input_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "command": {"description": "The command to execute", "type": "string"},
            "timeout": {
                "description": "Optional timeout in milliseconds (max "
                f"{MAX_TIMEOUT_MS} for a foreground command)",
                "type": "number",
            },
            "description": {
                "description": "Clear, concise description of what this command does in "
                'active voice, in 5-10 words (e.g. ls -> "List files in current directory").',
                "type": "string",
            },
            "run_in_background": {
                "description": "Set to true to run this command in the background. With it, "
                "`timeout` limits how long the command may run in the background before it "
                f"is stopped (default {DEFAULT_BACKGROUND_TIMEOUT_MS} ms, max "
                f"{MAX_BACKGROUND_TIMEOUT_MS} ms).",
                "type": "boolean",
            },
            "dangerouslyDisableSandbox": {
                "description": "Set this to true to dangerously override sandbox mode and run "
                "commands without sandboxing.",
                "type": "boolean",
            },
        },
        "required": ["command"],
        "additionalProperties": False,
    }

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run ``command``; ``timeout`` in ms (default 120000, clamped to 1..600000)."""
        command: str = input["command"]
        background = bool(input.get("run_in_background"))
        cwd = resolve_path(ctx, ".")
        if not await anyio.Path(cwd).is_dir():
            return ToolResult(content=f"Working directory does not exist: {cwd}", is_error=True)
        state = state_for(ctx)
        argv = ["/bin/bash", "-c", command]
        env = tool_environment(ctx.env)
        sandbox = state.sandbox
        release: Callable[[], None] | None = None
        if sandbox is not None and sandbox.will_sandbox(input):
            argv, env = sandbox.wrap(argv, env)
            release = sandbox.release
        try:
            if background:
                started = await _start_background(input, ctx, state, argv, env, cwd, release)
                release = None  # the background shell releases the sandbox when it ends
                return started
            return await _run_foreground(command, input, argv, env, cwd)
        finally:
            if release is not None:
                release()


async def _run_foreground(
    command: str, input: dict[str, Any], argv: list[str], env: dict[str, str], cwd: Any
) -> ToolResult:
    timeout_ms = input.get("timeout")
    timeout_ms = DEFAULT_TIMEOUT_MS if timeout_ms is None else float(timeout_ms)
    timeout_ms = min(max(timeout_ms, 1.0), MAX_TIMEOUT_MS)
    output = _Output()
    timed_out = False
    guard = process_guard()
    if not guard.started:
        await anyio.to_thread.run_sync(guard.start)
    process = await anyio.open_process(
        gated(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    guard.watch(process.pid)
    try:
        assert process.stdin is not None
        with anyio.CancelScope(shield=True):
            await process.stdin.send(b"go\n")  # kept open: its end stops the command
        with anyio.move_on_after(timeout_ms / 1000) as scope:
            await _collect(process, output)
        if scope.cancelled_caught:
            timed_out = True
            await _stop(process)
    finally:
        if process.returncode is None:  # cancelled from outside (or timed out)
            await _stop(process)
        with anyio.CancelScope(shield=True):
            await process.aclose()
        guard.forget(process.pid)
    return _result(command, process.returncode, output, timed_out, timeout_ms)


async def _start_background(
    input: dict[str, Any],
    ctx: ToolContext,
    state: Any,
    argv: list[str],
    env: dict[str, str],
    cwd: Any,
    release: Callable[[], None] | None,
) -> ToolResult:
    timeout_ms = input.get("timeout")
    timeout_ms = DEFAULT_BACKGROUND_TIMEOUT_MS if timeout_ms is None else float(timeout_ms)
    timeout_ms = min(max(timeout_ms, 1.0), MAX_BACKGROUND_TIMEOUT_MS)
    shell = await state.shells.start(
        argv,
        command=input["command"],
        description=str(input.get("description") or ""),
        ctx=ctx,
        cwd=cwd,
        env=env,
        timeout_ms=timeout_ms,
        cleanup=release,
    )
    text = (
        f"Command running in background with ID: {shell.task_id}. Output is being written "
        f"to: {shell.output_file}. You will be notified when it completes. To check interim "
        "output, use Read on that file path."
    )
    return ToolResult(
        content=text,
        structured={
            "stdout": "",
            "stderr": "",
            "interrupted": False,
            "isImage": False,
            "backgroundTaskId": shell.task_id,
        },
    )


async def _collect(process: anyio.abc.Process, output: _Output) -> None:
    """Read output until EOF and the process has exited.

    Once bash exits, a background child may keep the pipe open: reading then
    stops after a short grace period instead of waiting for it.
    """
    stdout = process.stdout
    assert stdout is not None
    eof = anyio.Event()

    async def read_all() -> None:
        try:
            async for chunk in stdout:
                output.add(chunk)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            eof.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_all)
        await process.wait()
        with anyio.move_on_after(_DRAIN_GRACE_S):
            await eof.wait()
        tg.cancel_scope.cancel()


def _format_ms(ms: float) -> str:
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m {rest:g}s"


def _result(
    command: str, returncode: int | None, output: _Output, timed_out: bool, timeout_ms: float
) -> ToolResult:
    text = output.text()
    structured = {
        "stdout": text,
        "stderr": "",
        "interrupted": timed_out,
        "isImage": False,
    }
    if timed_out:
        message = f"Command timed out after {_format_ms(timeout_ms)}"
        return ToolResult(
            content=f"{message}\n{text}" if text else message, is_error=True, structured=structured
        )
    code = returncode if returncode is not None else -1
    if code < 0:
        code = 128 - code  # killed by signal N: report it the way a shell does
    if code != 0:
        return ToolResult(
            content=f"Exit code {code}\n{text}" if text else f"Exit code {code}",
            is_error=True,
            structured=structured,
        )
    return ToolResult(content=text or "(no output)", structured=structured)
