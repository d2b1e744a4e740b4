"""Appended parts a snapshot must not serve: the result is always what a full read of the
transcript (``_rebuild(entries, None)``) gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from threadline.runtime._resume import _load_with_snapshot, _rebuild, _rebuild_and_snapshot
from threadline.transcript._compaction import resume_leaf

Raw = dict[str, Any]
SID = "5b0f7a4e-8f55-4d7e-9a49-0c6f4c1f0e11"

pytestmark = pytest.mark.usefixtures("small_snapshots")


class _W:
    def __init__(self) -> None:
        self.n = 0

    def entry(self, kind: str, parent: str | None, message: Raw, **kw: Any) -> Raw:
        self.n += 1
        return {
            "parentUuid": parent,
            "isSidechain": False,
            "type": kind,
            "uuid": f"00000000-0000-4000-8000-{self.n:012d}",
            "sessionId": SID,
            "cwd": "/tmp",
            "timestamp": f"2026-01-01T00:00:{self.n:02d}.000Z",
            "message": message,
            **kw,
        }

    def call(self, parent: str | None, mid: str, tool_id: str) -> Raw:
        block = {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {}}
        return self.entry(
            "assistant", parent, {"id": mid, "role": "assistant", "model": "m", "content": [block]}
        )

    def result(self, parent: str, tool_id: str) -> Raw:
        block = {"type": "tool_result", "tool_use_id": tool_id, "content": "ok"}
        return self.entry("user", parent, {"role": "user", "content": [block]})


def _write(path: Path, entries: list[Raw]) -> None:
    with path.open("ab") as fh:
        for e in entries:
            fh.write(orjson.dumps(e) + b"\n")


def _snapshot(path: Path) -> None:
    hit, entries, state = _load_with_snapshot(path)
    assert hit is None and entries is not None and state is not None
    _rebuild_and_snapshot(entries, path, state)


def _full(path: Path) -> tuple[Any, str | None]:
    entries = [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]
    r = _rebuild(entries, None)
    return (r.messages, r.tail), resume_leaf(r.chain)


def test_a_reply_continued_after_its_tool_results(tmp_path: Path) -> None:
    """The full rebuild groups every chain entry of a message id and re-anchors recovered
    parallel results at the last one, so a reply continued after its results (one id on
    both sides of the cut) needs a full read."""
    w = _W()
    path = tmp_path / f"{SID}.jsonl"
    p = w.entry("user", None, {"role": "user", "content": "go"})
    a1 = w.call(p["uuid"], "M", "t1")
    a1b = w.call(a1["uuid"], "M", "t1b")
    r1 = w.result(a1["uuid"], "t1")  # each result under its own call
    r1b = w.result(a1b["uuid"], "t1b")
    _write(path, [p, a1, a1b, r1, r1b])
    _snapshot(path)
    a2 = w.call(r1b["uuid"], "M", "t2")  # the same reply continues after the results
    r2 = w.result(a2["uuid"], "t2")
    _write(path, [a2, r2])
    hit, entries, _ = _load_with_snapshot(path)
    assert hit is None, "an id of the snapshotted part reappeared: read everything"
    assert entries is not None
    r = _rebuild(entries, None)
    assert ((r.messages, r.tail), resume_leaf(r.chain)) == _full(path)


def test_a_meta_leaf_after_a_compaction_offset_reads_everything(tmp_path: Path) -> None:
    """After the compaction offset only a meta entry is new: the full read picks the
    newest *main* leaf, which lies before the offset, so the offset fast path must not be
    taken (nor a snapshot built from it)."""
    from threadline.sessions._offsets import read_for_resume, record_boundary

    w = _W()
    path = tmp_path / f"{SID}.jsonl"
    p = w.entry("user", None, {"role": "user", "content": "old prompt"})
    a = w.entry(
        "assistant",
        p["uuid"],
        {"id": "m1", "role": "assistant", "content": [{"type": "text", "text": "old reply"}]},
    )
    b = w.entry(
        "system",
        None,
        {"role": "user", "content": "x"},
        subtype="compact_boundary",
        logicalParentUuid=a["uuid"],
        compactMetadata={"trigger": "manual"},
    )
    b.pop("message")
    s = w.entry("user", b["uuid"], {"role": "user", "content": "summary"}, isCompactSummary=True)
    meta = w.entry("user", s["uuid"], {"role": "user", "content": "<meta>"}, isMeta=True)
    _write(path, [p, a, b, s, meta])
    assert record_boundary(path, b["uuid"], b["uuid"])
    entries, from_offset = read_for_resume(path)
    assert entries is not None and not from_offset
    assert _rebuild(entries, None).chain[-1]["uuid"] == a["uuid"] == _full(path)[1]
