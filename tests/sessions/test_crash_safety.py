"""A writer killed with SIGKILL at random moments never leaves an unreadable session."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import claude_agent_sdk as official
import orjson

import threadline
from threadline import FileStore

from ._factory import uid


def _writer(store: FileStore, key: dict[str, str], seed: int) -> None:  # runs in the child
    rng = random.Random(seed)
    parent = None
    n = 0
    while True:
        batch = []
        for _ in range(rng.randint(1, 4)):
            u = uid()
            size = rng.choice([10, 200, 5_000, 400_000])
            batch.append({
                "parentUuid": parent, "isSidechain": False, "type": "user" if n % 2 == 0 else "assistant",
                "uuid": u, "sessionId": key["session_id"], "timestamp": "2026-01-01T00:00:00.000Z",
                "cwd": "/w", "message": {"role": "user" if n % 2 == 0 else "assistant",
                                         "content": f"turn {n} " + "x" * size},
            })
            parent = u
            n += 1
        store.append_sync(key, batch)  # type: ignore[arg-type]


def test_sigkill_during_appends_never_corrupts(config_dir: Path) -> None:
    store = FileStore()
    rng = random.Random(1234)
    trials = 200
    for trial in range(trials):
        sid = uid()
        key = {"project_key": "-w", "session_id": sid}
        pid = os.fork()
        if pid == 0:  # child: append until killed
            try:
                _writer(store, key, trial)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.02))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        path = store.path_for(key)  # type: ignore[arg-type]
        if not path.exists():
            continue
        # Readers (ours and the official ones) must not fail on whatever is there.
        ours = threadline.get_session_messages(sid)
        theirs = official.get_session_messages(sid)
        assert len(ours) == len(theirs)
        official.list_sessions()
        threadline.list_sessions()
        # The next append repairs any torn tail and yields a fully valid file.
        store.append_sync(key, [{"type": "user", "uuid": uid(), "parentUuid": None, "sessionId": sid,  # type: ignore[list-item]
                                 "message": {"role": "user", "content": "after crash"}}])
        data = path.read_bytes()
        assert data.endswith(b"\n")
        for line in data.splitlines():
            assert isinstance(orjson.loads(line), dict)
        assert threadline.get_session_messages(sid)[-1].message["content"] == "after crash"
        # Each trial's listing checks one torn file, not every earlier one (which made the
        # test quadratic and slow on a loaded machine).
        path.unlink()
