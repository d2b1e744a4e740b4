"""``AgentOptions.stderr``: what the official SDK's callback receives, in-process.

The official SDK calls ``stderr(line)`` with each line the Claude Code subprocess writes to
its stderr: its warnings, its debug log with ``extra_args={"debug-to-stderr": None}``, and
the stderr of stdio MCP servers it started. threadline has no subprocess of its own; the
callback receives the same kinds of line from the session:

- threadline's log records (the ``threadline`` logger): WARNING and above, every level
  with ``extra_args={"debug-to-stderr": None}``, one line each (``<level> <logger>:
  <message>``). The handler is on a process-wide logger: with several sessions open at
  once, each callback receives every session's records;
- the stderr of the stdio MCP servers this session starts, line by line (read by a daemon
  thread, so the callback is called from that thread for those lines).

Without a callback nothing changes (MCP servers' stderr goes to ``sys.stderr``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TextIO

__all__ = ["open_stderr"]

_LOGGER = "threadline"


class _Handler(logging.Handler):
    def __init__(self, callback: Callable[[str], None], level: int) -> None:
        super().__init__(level)
        self._callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = f"{record.levelname} {record.name}: {record.getMessage()}"
            self._callback(line)
        except Exception:  # a failing callback must not break the run
            self.handleError(record)


def _pump(read_fd: int, callback: Callable[[str], None]) -> None:
    with open(read_fd, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                callback(line.rstrip("\n"))
            except Exception:
                pass


def open_stderr(
    callback: Callable[[str], None] | None, *, debug: bool, stack: AsyncExitStack
) -> TextIO | None:
    """Route the session's log records to ``callback`` until ``stack`` closes; the file
    stdio MCP servers should write their stderr to (``None``: no callback, the default)."""
    if callback is None:
        return None
    logger = logging.getLogger(_LOGGER)
    handler = _Handler(callback, logging.DEBUG if debug else logging.WARNING)
    logger.addHandler(handler)
    previous = logger.level
    if debug and (logger.level == logging.NOTSET or logger.level > logging.DEBUG):
        logger.setLevel(logging.DEBUG)

    def detach() -> None:
        logger.removeHandler(handler)
        if debug:
            logger.setLevel(previous)

    stack.callback(detach)
    read_fd, write_fd = os.pipe()
    errlog = open(write_fd, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed by stack
    threading.Thread(
        target=_pump, args=(read_fd, callback), name="threadline-mcp-stderr", daemon=True
    ).start()
    stack.callback(errlog.close)  # after the servers (registered later, closed first): EOF
    return errlog
