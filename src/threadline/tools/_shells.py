"""Background shells: what ``Bash`` with ``run_in_background: true`` starts (the ``TaskStop``
tool that stops them is :mod:`threadline.tools._taskstop`).

As Claude Code 2.1.330 does it: the call answers at once with a task id and the path of
an output file (stdout and stderr merged) that the model reads with ``Read``; when the
command ends, a ``<task-notification>`` reaches the model (the runtime delivers
:class:`ShellNotice` objects the way it delivers background subagents' reports);
``TaskStop`` (``task_id``, or the deprecated ``shell_id``) kills it. The CLI's older
``KillShell``/``KillBash`` names are aliases of ``TaskStop`` there, and ``BashOutput``/
``TaskOutput`` were removed in favour of reading the output file.

Each command is the leader of its own process group, registered with the
:func:`~threadline.tools._procs.process_guard` so it dies with the agent; it is killed
when its ``timeout`` (default 10 minutes, at most 2 hours) runs out, on ``TaskStop``, and
when the session closes (:meth:`BackgroundShells.aclose`). A thread per command waits for
it, so this works under any event loop; the finish is handed back to the loop the shell
was started from.
"""

from __future__ import annotations

import contextlib
import os
import string
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
import anyio.from_thread
import anyio.lowlevel

from ._procs import gated, kill_group, process_guard, stop_process

if TYPE_CHECKING:
    from ._shell_types import BackgroundShell, ShellNotice

__all__ = [
    "DEFAULT_BACKGROUND_TIMEOUT_MS",
    "MAX_BACKGROUND_TIMEOUT_MS",
    "BackgroundShell",
    "BackgroundShells",
    "ShellNotice",
    "task_output_dir",
]

DEFAULT_BACKGROUND_TIMEOUT_MS = 600_000
MAX_BACKGROUND_TIMEOUT_MS = 7_200_000
_ID_ALPHABET = string.ascii_lowercase + string.digits


def __getattr__(name: str) -> Any:
    """``BackgroundShell``, ``ShellNotice``, ``Status``: from ``_shell_types`` on first use."""
    if name in ("BackgroundShell", "ShellNotice", "Status"):
        from . import _shell_types

        return getattr(_shell_types, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CallSite(Protocol):
    """The call a shell is started for (a :class:`~threadline.tools.ToolContext` is one):
    the session's directory and id, where the output file goes, and the ``tool_use`` id."""

    @property
    def cwd(self) -> Path: ...

    @property
    def session_id(self) -> str: ...

    @property
    def tool_use_id(self) -> str: ...


def task_output_dir(cwd: str | os.PathLike[str], session_id: str) -> Path:
    """``$TMPDIR/threadline-<uid>/<cwd with / → ->/<session>/tasks`` (0700 directories).

    The layout of Claude Code's ``$TMPDIR/claude-<uid>/...``, under threadline's own
    name so the two never write into each other's files.
    """
    import tempfile  # (with secrets: loaded by the first background command, not every run)

    uid = os.getuid() if hasattr(os, "getuid") else 0
    encoded = "".join(c if c.isalnum() or c == "-" else "-" for c in str(cwd))
    return Path(tempfile.gettempdir()) / f"threadline-{uid}" / encoded / session_id / "tasks"


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """Stop a gated command and all it started (see :func:`stop_process`), then its group."""
    if proc.poll() is None:
        stop_process(proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
    kill_group(proc.pid)
    proc.wait()


class BackgroundShells:
    """The background commands of one session.

    ``on_finish`` (set by the runtime) receives a :class:`ShellNotice` on the event loop
    the command was started from, unless the command was stopped by ``TaskStop`` or by
    :meth:`aclose` (the CLI sends no notification for those either).
    """

    def __init__(self, on_finish: Callable[[ShellNotice], None] | None = None) -> None:
        self.on_finish = on_finish
        self.shells: dict[str, BackgroundShell] = {}
        self.notices: list[ShellNotice] = []
        """Finished commands nobody took yet (when ``on_finish`` is None)."""

    def _new_id(self) -> str:
        import secrets

        while True:
            task_id = "b" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
            if task_id not in self.shells:
                return task_id

    async def start(
        self,
        argv: Sequence[str],
        *,
        command: str,
        description: str,
        ctx: CallSite,
        cwd: Path,
        env: dict[str, str],
        timeout_ms: float,
        cleanup: Callable[[], None] | None = None,
    ) -> BackgroundShell:
        """Start ``argv`` in the background, output to a fresh file; returns at once.

        Long: spawn, register with the process guard and start the waiter thread as one unit (a
        failure between them must not leak a process).
        """
        task_id = self._new_id()
        directory = task_output_dir(ctx.cwd, ctx.session_id)
        output_file = directory / f"{task_id}.output"

        guard = process_guard()
        if not guard.started:
            await anyio.to_thread.run_sync(guard.start)

        def spawn() -> subprocess.Popen[bytes]:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(output_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                proc = subprocess.Popen(
                    gated(list(argv), reap=True),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=fd,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            finally:
                os.close(fd)
            guard.watch(proc.pid)
            assert proc.stdin is not None
            with contextlib.suppress(OSError):  # kept open: its end stops the command
                proc.stdin.write(b"go\n")
                proc.stdin.flush()
            return proc

        # Spawned on the event loop's thread, not a worker thread: bubblewrap's
        # --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread* that forked it
        # ends, and idle worker threads end. A fork is a few milliseconds.
        process = spawn()
        from ._shell_types import BackgroundShell  # loaded by the first background command

        shell = BackgroundShell(
            task_id=task_id,
            command=command,
            description=description or command,
            tool_use_id=ctx.tool_use_id,
            output_file=output_file,
            process=process,
            cleanup=cleanup,
        )
        self.shells[task_id] = shell
        token = anyio.lowlevel.current_token()
        shell.waiter = threading.Thread(
            target=self._wait,
            args=(shell, timeout_ms / 1000, token),
            name=f"threadline-shell-{task_id}",
            daemon=True,
        )
        shell.waiter.start()
        return shell

    def _wait(self, shell: BackgroundShell, timeout_s: float, token: Any) -> None:
        """Waiter thread: wait for the command (killing it at its deadline), then report."""
        proc = shell.process
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _terminate(proc)
        finally:
            if shell.stop_requested:
                _terminate(proc)
            kill_group(proc.pid)  # whatever it left running in its group
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            process_guard().forget(proc.pid)
            if shell.cleanup is not None:
                with contextlib.suppress(Exception):
                    shell.cleanup()
        code = proc.returncode
        if code is not None and code < 0:
            code = 128 - code
        shell.exit_code = code
        final: Literal["completed", "failed", "killed"]
        if shell.stop_requested or (proc.returncode or 0) < 0:
            final = "killed"
        else:
            final = "completed" if code == 0 else "failed"
        shell.status = final
        if shell.stop_requested:
            return
        from ._shell_types import ShellNotice

        notice = ShellNotice(
            task_id=shell.task_id,
            tool_use_id=shell.tool_use_id,
            output_file=str(shell.output_file),
            status=final,
            description=shell.description,
            exit_code=code,
        )
        with contextlib.suppress(Exception):  # the loop may be gone (session closed)
            anyio.from_thread.run_sync(self._deliver, notice, token=token)

    def _deliver(self, notice: ShellNotice) -> None:
        if self.on_finish is not None:
            self.on_finish(notice)
        else:
            self.notices.append(notice)

    def take(self) -> list[ShellNotice]:
        """The notices of finished commands not yet taken (when there is no ``on_finish``)."""
        out, self.notices = self.notices, []
        return out

    @property
    def running(self) -> list[BackgroundShell]:
        return [s for s in self.shells.values() if s.status == "running"]

    def stop(self, task_id: str) -> BackgroundShell | None:
        """Kill a running command's process group; None if there is no such running task."""
        shell = self.shells.get(task_id)
        if shell is None or shell.status != "running":
            return None
        shell.stop_requested = True
        shell.status = "killed"
        stop_process(shell.process.pid)  # the waiter kills the group once it is gone
        return shell

    async def aclose(self) -> None:
        """Kill every running command and wait for them (at the session's end)."""
        running = self.running
        for shell in running:
            self.stop(shell.task_id)
        running = [s for s in self.shells.values() if s.waiter and s.waiter.is_alive()]

        def join() -> None:
            deadline = time.monotonic() + 5
            for shell in running:
                if shell.waiter is not None:
                    shell.waiter.join(max(0.0, deadline - time.monotonic()))

        if running:
            await anyio.to_thread.run_sync(join)
