"""A writer waiting for another writer's lock in an anyio worker thread stops when its task
is cancelled (the wait checks the worker's cancellation)."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import anyio
import pytest

from threadline.sessions._filelog import lock_exclusive

pytestmark = pytest.mark.anyio


async def test_a_cancelled_waiter_stops_waiting(tmp_path: Path) -> None:
    path = tmp_path / "held.jsonl"
    path.write_bytes(b"")
    holder = os.open(path, os.O_RDWR)
    waiter = os.open(path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    started = time.monotonic()
    try:
        with anyio.move_on_after(0.3):
            await anyio.to_thread.run_sync(lock_exclusive, waiter, path, 30.0)
        assert time.monotonic() - started < 5  # not the 30 s timeout
    finally:
        os.close(waiter)
        os.close(holder)
