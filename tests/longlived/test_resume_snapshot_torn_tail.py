"""A snapshot resume of a transcript ending in a torn line (a crashed writer): the run's
first append repairs the tail (cuts the torn bytes), so the state the lazy chain loader
checks must end before them, or compaction would take the repair for a rewrite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import threadline._resume as resume_mod
from threadline._client import AgentClient
from threadline._query import query
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import options, run_turn, turns

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume_mod, "MIN_ENTRIES", 1)


def _file(config_dir: Path, sid: str) -> Path:
    files = list((config_dir / "projects").glob(f"*/{sid}.jsonl"))
    assert len(files) == 1
    return files[0]


async def _resume_once(sid: str, prompt: str = "again", **kw: Any) -> None:
    kw.setdefault("persist_session", False)
    async for _ in query(prompt=prompt, options=options(resume=sid, **kw)):
        pass


async def test_compaction_after_snapshot_resume_of_a_torn_transcript(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid, _ = await turns(options(), "prompt 1", "prompt 2")
    path = _file(config_dir, sid)
    assert resume_mod.refresh_snapshot(path)
    with path.open("ab") as fh:  # a writer killed mid-line
        fh.write(b'{"parentUuid":"x","type":"user","message":{"role":"user","content":"half a li')
    async with AgentClient(options(resume=sid)) as client:
        await run_turn(client, "prompt 3")  # repair_tail cuts the torn bytes, then appends
        assert client._runtime is not None and client._runtime._chain is None  # from the snapshot
        await client.compact()  # loads the chain lazily: must not fail
        await run_turn(client, "prompt 4")
