"""The life and environment of the processes tools start (Bash, background shells).

Two guarantees live here:

* **Tool processes die with the agent.** Each Bash command runs as the leader of its own
  process group. Killing the group on timeout or cancel is the agent's job, but an agent
  killed outright (SIGKILL, the OOM killer) runs no cleanup. So the first tool process
  starts a *guard*: a tiny watchdog process reading a pipe whose only writer is the
  agent. The agent tells it each group it starts and each that ended; when the pipe
  reaches end-of-file (the agent is gone, however it died) the guard SIGKILLs every
  group still registered and exits. The kernel closes the pipe for us, so no signal
  handler or ``atexit`` is needed, and it works wherever pipes do (Linux, macOS).
  Sandboxed commands are tied once more by bubblewrap's ``--die-with-parent`` and PID
  namespace. On Linux the gate is a supervisor that is a child subreaper, so a command's
  descendants that left its group (``setsid``, a double fork) are still found and killed
  on stop, timeout, cancel and the agent's death (see :func:`gated`).

* **Tool processes do not inherit threadline's secrets.** :func:`tool_environment`
  builds the environment of a tool process: ``os.environ`` plus the options' ``env``,
  minus threadline's own secrets (``THREADLINE_ENCRYPTION_KEY`` and any other
  ``THREADLINE_*`` variable whose name says key/secret/token/password) and the model
  credentials threadline itself uses (``ANTHROPIC_API_KEY``, ``ANTHROPIC_AUTH_TOKEN``,
  ``OPENAI_API_KEY``, ``CLAUDE_CODE_OAUTH_TOKEN``). Claude Code 2.1.330 strips its OAuth
  token from Bash but passes ``ANTHROPIC_API_KEY``/``ANTHROPIC_AUTH_TOKEN`` through;
  threadline is stricter, because a prompt-injected ``env | curl ...`` should not be able
  to spend the user's API budget. A tool that needs one of these gets it by name through
  :data:`PASS_THROUGH_ENV` (``THREADLINE_TOOL_ENV_PASSTHROUGH=NAME,NAME``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping

__all__ = [
    "GATE_EXIT",
    "PASS_THROUGH_ENV",
    "SCRUBBED_ENV",
    "ProcessGuard",
    "gated",
    "kill_group",
    "process_guard",
    "stop_process",
    "tool_environment",
]

SCRUBBED_ENV: frozenset[str] = frozenset(
    {
        "THREADLINE_ENCRYPTION_KEY",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "OPENAI_API_KEY",
        "CLAUDE_CODE_OAUTH_TOKEN",
    }
)
"""Variables never passed to a tool process (besides ``THREADLINE_*`` secrets)."""

PASS_THROUGH_ENV = "THREADLINE_TOOL_ENV_PASSTHROUGH"
"""Comma-separated names of scrubbed variables a user explicitly lets tools see."""

_SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSPHRASE", "CREDENTIAL")


def _is_secret(name: str) -> bool:
    upper = name.upper()
    if upper in SCRUBBED_ENV:
        return True
    return upper.startswith("THREADLINE_") and any(w in upper for w in _SECRET_WORDS)


def tool_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a tool process: ``os.environ`` + ``extra``, secrets removed."""
    env = {**os.environ, **(extra or {})}
    allowed = {
        n.strip().upper() for n in env.get(PASS_THROUGH_ENV, "").split(",") if n.strip()
    }
    return {k: v for k, v in env.items() if not _is_secret(k) or k.upper() in allowed}


GATE_EXIT = 125
"""Exit status of a gated command whose agent died before releasing it."""

_GATE = f'read -r _ || exit {GATE_EXIT}; exec </dev/null; exec "$@"'

# The supervisor of one command on Linux (``python -I -S -c``): the gate above, then a
# child subreaper (PR_SET_CHILD_SUBREAPER) that runs the command. Whatever the command
# starts stays its descendant, even after ``setsid`` or a double fork, so it can kill them
# all: on SIGTERM, when its stdin (the agent's "lifeline" pipe) reaches end-of-file before
# the command ended, and (mode "reap") once the command has ended. It exits the way the
# command did (same code, or killed by the same signal).
_SUPERVISOR = r"""
import os, signal, sys, threading, time, ctypes
mode, argv = sys.argv[1], sys.argv[3:]
if not sys.stdin.buffer.readline():
    os._exit(GATE_EXIT_CODE)
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
me = os.getpid()
lock = threading.RLock()

def descendants():
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/" + name + "/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(name))
    out, todo = [], [me]
    while todo:
        for child in kids.get(todo.pop(), ()):
            out.append(child)
            todo.append(child)
    return out

def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return

def kill_all():
    with lock:
        for _ in range(500):
            pids = descendants()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.002)
            reap()

def stop(*_):
    kill_all()
    os.kill(me, signal.SIGKILL)  # ended by a kill, as a group SIGKILL would have

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGHUP, stop)
signal.signal(signal.SIGINT, signal.SIG_IGN)
null = os.open("/dev/null", os.O_RDONLY)
child = os.fork()
if child == 0:
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.dup2(null, 0)
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, (argv[0] + ": " + str(exc.strerror) + "\n").encode())
    os._exit(127)
os.close(null)
done = threading.Event()

def lifeline():
    while sys.stdin.buffer.read(4096):
        pass
    if not done.is_set():
        kill_all()
        os.kill(me, signal.SIGKILL)

threading.Thread(target=lifeline, daemon=True).start()
status = None
while status is None:
    try:
        pid, st = os.wait()
    except ChildProcessError:
        break
    if pid == child:
        status = st
done.set()
if mode == "reap":
    kill_all()
code = os.waitstatus_to_exitcode(status) if status is not None else 137
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(me, -code)
os._exit(code)
""".replace("GATE_EXIT_CODE", str(GATE_EXIT))


def gated(argv: list[str], *, reap: bool = False) -> list[str]:
    """``argv`` behind a gate: it waits for a line on stdin before it execs.

    The agent starts the process with a stdin pipe, registers its group with the guard,
    then writes a newline. Without the gate a command could run, and finish its side
    effects, in the instant between spawn and registration; if the agent dies in that
    instant the gate reads end-of-file and the command never runs. The command itself
    then gets ``/dev/null`` as stdin.

    On Linux the gate is a supervisor that is a child subreaper: keep the stdin pipe open
    while the command runs (its end-of-file, or SIGTERM, kills every descendant, those
    that left the group with ``setsid`` included; see :func:`stop_process`). ``reap``:
    also kill whatever the command left running once it ends (background commands).
    """
    if sys.platform.startswith("linux") and sys.executable:
        mode = "reap" if reap else "keep"
        return [sys.executable, "-I", "-S", "-c", _SUPERVISOR, mode, "--", *argv]
    return ["/bin/sh", "-c", _GATE, "threadline-gate", *argv]


def stop_process(pid: int) -> None:
    """Ask a gated command's supervisor to kill everything the command started (SIGTERM);
    then :func:`kill_group` its group (the caller does, once it exited or ~2 s passed)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)


def kill_group(pgid: int) -> None:
    """SIGKILL process group ``pgid``; a group that is already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# The guard's own code: run with ``python -I -S -c``. It reads "+PGID"/"-PGID" lines and,
# at end-of-file, kills what is left. It must not die of the terminal's Ctrl-C (it is in
# its own session). No PR_SET_PDEATHSIG: that fires when the *thread* that spawned the
# guard ends (a worker thread, say), not the process; end-of-file on the pipe is exact.
_GUARD_CODE = r"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
def reap():
    # SIGTERM to each leader first: a command's supervisor then kills all it started,
    # setsid'd ones included; then SIGKILL to every group
    for g in groups:
        try:
            os.kill(g, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 2
    while groups and time.monotonic() < deadline:
        alive = False
        for g in groups:
            try:
                with open("/proc/%d/stat" % g, "rb") as fh:
                    alive = alive or fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
            except OSError:
                pass
        if not alive or not os.path.isdir("/proc/self"):
            break
        time.sleep(0.01)
    for g in groups:
        try:
            os.killpg(g, signal.SIGKILL)
        except OSError:
            pass
signal.signal(signal.SIGTERM, lambda *_: (reap(), os._exit(0)))
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)
sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
reap()
"""


class ProcessGuard:
    """The watchdog that kills registered process groups when this process dies.

    One per process, started on first use (:func:`process_guard`); after ``fork`` the
    child starts its own. Registering is a write of a few bytes to a pipe, done while
    holding a lock so lines from several threads never interleave. If the guard cannot
    be started (no ``sys.executable``), :meth:`watch` is a no-op and the loss of the
    guarantee is logged once, never raised: a tool call must not fail for it.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._failed = False
        self._pid = os.getpid()

    def _start(self) -> subprocess.Popen[bytes] | None:
        if self._failed:
            return None
        if self._proc is not None and self._proc.poll() is None and self._pid == os.getpid():
            return self._proc
        self._pid = os.getpid()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _GUARD_CODE, str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
            assert proc.stdout is not None
            ready = proc.stdout.readline()
            proc.stdout.close()
            if ready.strip() != b"ready":
                raise OSError("the process guard did not start")
        except (OSError, AssertionError) as exc:
            import logging

            logging.getLogger("threadline.tools").warning(
                "tool processes will not be killed if this process dies: %s", exc
            )
            self._failed = True
            return None
        self._proc = proc
        return proc

    def start(self) -> None:
        """Start the guard now (blocking for a few ms; call it off the event loop)."""
        with self._lock:
            self._start()

    @property
    def started(self) -> bool:
        proc = self._proc
        return self._failed or (
            proc is not None and proc.poll() is None and self._pid == os.getpid()
        )

    def _send(self, line: str) -> None:
        with self._lock:
            proc = self._start()
            if proc is None or proc.stdin is None:
                return
            try:
                proc.stdin.write(line.encode() + b"\n")
                proc.stdin.flush()
            except OSError:
                self._proc = None

    def watch(self, pgid: int) -> None:
        """Kill group ``pgid`` if this process dies before :meth:`forget` is called."""
        self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        """Group ``pgid`` ended (or was killed): the guard no longer needs to kill it."""
        if self._proc is not None:
            self._send(f"-{pgid}")

    def close(self) -> None:
        """Stop the guard now, killing whatever is still registered (at exit, and tests)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


_GUARD: ProcessGuard | None = None
_GUARD_LOCK = threading.Lock()


def process_guard() -> ProcessGuard:
    """This process's :class:`ProcessGuard` (a fresh one in a forked child)."""
    global _GUARD
    with _GUARD_LOCK:
        if _GUARD is None or _GUARD._pid != os.getpid():
            _GUARD = ProcessGuard()
            atexit.register(_GUARD.close)  # a normal exit ends the tool processes too
        return _GUARD
