"""Right after a compaction the rebuilt chain ends with the preserved segment
(``[boundary, summary, preserved...]``) while new turns hang off the summary. A turn
written off the preserved tail (``resume_session_at=<that reply>``: a branch of the
*pre-compaction* history) must not be added to the snapshot: a full read sends the whole
pre-compaction history + branch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import threadline._resume as resume_mod
from threadline._client import AgentClient
from threadline._query import query
from threadline._snapshot import SNAPSHOT_NAME, read_snapshot
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import conversation, options, run_turn, turns

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume_mod, "MIN_ENTRIES", 1)


def _file(config_dir: Path, sid: str) -> Path:
    files = list((config_dir / "projects").glob(f"*/{sid}.jsonl"))
    assert len(files) == 1
    return files[0]


async def _resume_once(sid: str, prompt: str, **kw: Any) -> None:
    kw.setdefault("persist_session", False)
    async for _ in query(prompt=prompt, options=options(resume=sid, **kw)):
        pass


async def test_branch_off_the_preserved_tail_is_not_served_from_the_snapshot(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid, _ = await turns(options(), "prompt 1", "prompt 2")
    async with AgentClient(options(resume=sid)) as client:
        await run_turn(client, "prompt 3")
        result = await client.compact()
    path = _file(config_dir, sid)
    assert resume_mod.refresh_snapshot(path)  # snapshot of [boundary, summary, preserved]
    snap = read_snapshot(path)
    assert snap is not None
    tail = result.preserved_uuids[-1]
    assert snap.leaf != tail  # new turns hang off the summary, not the preserved tail

    # a turn branching at the preserved reply (written to the same file)
    await _resume_once(sid, "branch", persist_session=True, resume_session_at=tail)

    await _resume_once(sid, "after")  # served from the snapshot
    via_snapshot = conversation(fake.message_requests()[-1])
    (path.with_suffix("") / SNAPSHOT_NAME).unlink()
    await _resume_once(sid, "after")  # full read of the same transcript
    full_read = conversation(fake.message_requests()[-1])
    assert via_snapshot == full_read
