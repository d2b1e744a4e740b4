"""A snapshot resume of a transcript ending in a torn line (a crashed writer): the run's
first append repairs the tail (cuts the torn bytes), so the state the lazy chain loader
checks must end before them, or compaction would take the repair for a rewrite."""

from __future__ import annotations

from pathlib import Path

import pytest

import threadline.runtime._resume as resume_mod
from threadline._client import AgentClient
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import options, run_turn, transcript_file, turns

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("small_snapshots")]





async def test_compaction_after_snapshot_resume_of_a_torn_transcript(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid, _ = await turns(options(), "prompt 1", "prompt 2")
    path = transcript_file(config_dir, sid)
    assert resume_mod.refresh_snapshot(path)
    with path.open("ab") as fh:  # a writer killed mid-line
        fh.write(b'{"parentUuid":"x","type":"user","message":{"role":"user","content":"half a li')
    async with AgentClient(options(resume=sid)) as client:
        await run_turn(client, "prompt 3")  # repair_tail cuts the torn bytes, then appends
        assert client._runtime is not None and client._runtime._chain is None  # from the snapshot
        await client.compact()  # loads the chain lazily: must not fail
        await run_turn(client, "prompt 4")
