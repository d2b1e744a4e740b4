"""Right after a compaction the rebuilt chain ends with the preserved segment
(``[boundary, summary, preserved...]``) while new turns hang off the summary. A turn
written off the preserved tail (``resume_session_at=<that reply>``: a branch of the
*pre-compaction* history) must not be added to the snapshot: a full read sends the whole
pre-compaction history + branch."""

from __future__ import annotations

from pathlib import Path

import pytest

import threadline.runtime._resume as resume_mod
from threadline._client import AgentClient
from threadline.sessions._snapshot import SNAPSHOT_NAME, read_snapshot
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import conversation, options, resume_once, run_turn, transcript_file, turns

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("small_snapshots")]





async def test_branch_off_the_preserved_tail_is_not_served_from_the_snapshot(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid, _ = await turns(options(), "prompt 1", "prompt 2")
    async with AgentClient(options(resume=sid)) as client:
        await run_turn(client, "prompt 3")
        result = await client.compact()
    path = transcript_file(config_dir, sid)
    assert resume_mod.refresh_snapshot(path)  # snapshot of [boundary, summary, preserved]
    snap = read_snapshot(path)
    assert snap is not None
    tail = result.preserved_uuids[-1]
    assert snap.leaf != tail  # new turns hang off the summary, not the preserved tail

    # a turn branching at the preserved reply (written to the same file)
    await resume_once(sid, "branch", persist_session=True, resume_session_at=tail)

    await resume_once(sid, "after")  # served from the snapshot
    via_snapshot = conversation(fake.message_requests()[-1])
    (path.with_suffix("") / SNAPSHOT_NAME).unlink()
    await resume_once(sid, "after")  # full read of the same transcript
    full_read = conversation(fake.message_requests()[-1])
    assert via_snapshot == full_read
