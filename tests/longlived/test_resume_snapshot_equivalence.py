"""A resume served from a snapshot (plus what was appended since) sends exactly what a
full read of the transcript would: random transcripts, random appended parts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

import threadline.runtime._resume as resume_mod
from threadline.runtime._resume import (
    SessionPlan,
    _close,
    _load_with_snapshot,
    _rebuild,
    _rebuild_and_snapshot,
)
from threadline.sessions._snapshot import read_snapshot
from threadline.transcript._compaction import resume_leaf

Raw = dict[str, Any]
SID = "5b0f7a4e-8f55-4d7e-9a49-0c6f4c1f0e11"


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.entries: list[Raw] = []
        self.cur: str | None = None
        self.n = 0

    def _uuid(self) -> str:
        self.n += 1
        return f"00000000-0000-4000-8000-{self.n:012d}"

    def _add(self, kind: str, parent: str | None, **fields: Any) -> Raw:
        entry = {
            "parentUuid": parent,
            "isSidechain": False,
            "type": kind,
            "uuid": self._uuid(),
            "sessionId": SID,
            "cwd": f"/work/{self.n % 3}",
            "timestamp": f"2026-11-22T00:00:{self.n % 60:02d}.000Z",
            **fields,
        }
        self.entries.append(entry)
        return entry

    def user(self, content: Any, parent: str | None, **kw: Any) -> Raw:
        return self._add("user", parent, message={"role": "user", "content": content}, **kw)

    def assistant(self, blocks: list[Raw], parent: str | None, mid: str, **kw: Any) -> Raw:
        message = {"id": mid, "role": "assistant", "model": "m", "content": blocks}
        return self._add("assistant", parent, message=message, **kw)

    def step(self) -> None:
        r = self.rng.random()
        if r < 0.35 or self.cur is None:
            p = self.user(f"prompt {self.n}", self.cur)
            a = self.assistant(
                [{"type": "text", "text": f"reply {self.n}"}], p["uuid"], f"m{self.n}"
            )
            self.cur = a["uuid"]
        elif r < 0.5:
            p = self.user(f"prompt {self.n}", self.cur)
            mid = f"m{self.n}"
            a1 = self.assistant(
                [{"type": "tool_use", "id": f"t{self.n}a", "name": "Bash", "input": {}}],
                p["uuid"],
                mid,
            )
            a2 = self.assistant(
                [{"type": "tool_use", "id": f"t{self.n}b", "name": "Bash", "input": {}}],
                a1["uuid"],
                mid,
            )
            result = lambda t: [{"type": "tool_result", "tool_use_id": t, "content": "ok"}]  # noqa: E731
            if self.rng.random() < 0.5:  # linear, as newer CLIs write
                r1 = self.user(result(a1["message"]["content"][0]["id"]), a2["uuid"])
                r2 = self.user(result(a2["message"]["content"][0]["id"]), r1["uuid"])
            else:  # each result under its own call (parallel recovery needed)
                r1 = self.user(result(a1["message"]["content"][0]["id"]), a1["uuid"])
                r2 = self.user(result(a2["message"]["content"][0]["id"]), a2["uuid"])
            if self.rng.random() < 0.8:
                a = self.assistant([{"type": "text", "text": "done"}], r2["uuid"], f"m{self.n}x")
                self.cur = a["uuid"]
            else:
                self.cur = r2["uuid"]  # results not answered yet
        elif r < 0.58:
            m = self.user("<meta>", self.cur, isMeta=True)
            if self.rng.random() < 0.5:
                self.cur = m["uuid"]
        elif r < 0.64:
            self._add(
                "user",
                None,
                isSidechain=True,
                agentId="a1",
                message={"role": "user", "content": "side"},
            )
        elif r < 0.7:
            self.entries.append(
                {"type": "custom-title", "customTitle": f"t{self.n}", "sessionId": SID}
            )
        elif r < 0.78:
            older = [
                e["uuid"]
                for e in self.entries
                if e.get("type") in ("user", "assistant") and not e.get("isSidechain")
            ]
            if older:
                self.cur = self.rng.choice(older)  # the next turn branches (rewind)
        elif r < 0.83:
            b = self._add(
                "system",
                None,
                subtype="compact_boundary",
                content="Conversation compacted",
                logicalParentUuid=self.cur,
                compactMetadata={"trigger": "manual", "preTokens": 1},
            )
            s = self.user(
                "summary", b["uuid"], isCompactSummary=True, isVisibleInTranscriptOnly=True
            )
            self.cur = s["uuid"]
        elif r < 0.88:
            a = self.assistant(
                [{"type": "text", "text": "API Error: 500"}],
                self.cur,
                f"e{self.n}",
                isApiErrorMessage=True,
            )
            self.cur = a["uuid"]
        elif r < 0.93:
            kind = self.rng.choice(["progress", "attachment", "system"])
            self._add(kind, self.cur, data={"type": "hook_progress"})  # a side leaf
        else:
            # the same message continued across the cut (a crash mid-turn)
            last = next((e for e in reversed(self.entries) if e["type"] == "assistant"), None)
            if last is not None and self.cur == last["uuid"]:
                a = self.assistant(
                    [{"type": "text", "text": "more"}], self.cur, last["message"]["id"]
                )
                self.cur = a["uuid"]


class _InterruptingWriter(_Writer):
    """Also leaves calls unanswered before the next prompt (the repair then changes
    messages in the middle of the history, not only at its end)."""

    def step(self) -> None:
        if self.cur is not None and self.rng.random() < 0.2:
            call = {"type": "tool_use", "id": f"t{self.n}i", "name": "Bash", "input": {}}
            p = self.user(f"prompt {self.n}", self.cur)
            self.cur = self.assistant([call], p["uuid"], f"m{self.n}i")["uuid"]
            return
        super().step()


def _write(path: Path, entries: list[Raw]) -> None:
    with path.open("ab") as fh:
        for e in entries:
            fh.write(orjson.dumps(e) + b"\n")


def _full(path: Path) -> tuple[Any, str | None]:
    entries = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    r = _rebuild(entries, None)
    return (r.messages, r.tail), resume_leaf(r.chain)


def _via_snapshot(path: Path) -> tuple[Any, str | None, bool, int]:
    hit, entries, state = _load_with_snapshot(path)
    if hit is not None:
        return (hit.messages, hit.tail), hit.leaf, True, hit.intact
    assert entries is not None and state is not None
    r = _rebuild_and_snapshot(entries, path, state)
    return (r.messages, r.tail), resume_leaf(r.chain), False, r.intact


def _closed(path: Path, history: Any, leaf: str | None, intact: int = 0) -> list[Raw]:
    """The history a resume starts from: closed (``_close``) and repaired, the snapshot's
    ``intact`` prefix skipped by the repair."""
    messages, tail = history
    plan = SessionPlan(
        session_id=SID,
        cwd=str(path.parent),
        key={"project_key": "p", "session_id": SID},
        store=None,
        history=messages,
        leaf_uuid=leaf,
    )
    return anyio.run(_close, plan, tail, intact).history


@pytest.mark.parametrize("seed", range(60))
def test_snapshot_plus_appended_equals_a_full_read(tmp_path: Path, seed: int) -> None:
    _rounds(tmp_path, seed)


def test_most_appended_parts_are_served_from_the_snapshot(tmp_path: Path) -> None:
    hits = sum(_rounds(tmp_path / str(seed), seed) for seed in range(60))
    # the generator branches, compacts, adds meta and sidechain entries and continues a
    # message across the cut often: about a fifth of its appended parts simply continue
    # the conversation
    assert hits >= 70, hits


@pytest.mark.parametrize("seed", range(30))
def test_a_resume_repairs_calls_left_unanswered_as_a_full_read(tmp_path: Path, seed: int) -> None:
    _rounds(tmp_path, seed, _InterruptingWriter)


def _rounds(tmp_path: Path, seed: int, writer: type[_Writer] = _Writer) -> int:
    tmp_path.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    # even seeds rewrite the snapshot after every append, odd ones keep extending it
    rewrite_after = 0 if seed % 2 == 0 else 1 << 20
    w = writer(rng)
    path = tmp_path / f"{SID}.jsonl"
    path.touch(mode=0o600)
    written = 0
    hits = 0
    for _round in range(8):
        for _ in range(rng.randint(1, 12)):
            w.step()
        _write(path, w.entries[written:])
        written = len(w.entries)
        saved, resume_mod.REWRITE_AFTER = resume_mod.REWRITE_AFTER, rewrite_after
        try:
            history, leaf, hit, intact = _via_snapshot(path)
        finally:
            resume_mod.REWRITE_AFTER = saved
        hits += hit
        full, full_leaf = _full(path)
        assert (history, leaf) == (full, full_leaf)
        assert _closed(path, history, leaf, intact) == _closed(path, full, full_leaf)
        assert read_snapshot(path) is not None
    # an unchanged file: always served from the snapshot
    assert _via_snapshot(path)[2]
    return hits
