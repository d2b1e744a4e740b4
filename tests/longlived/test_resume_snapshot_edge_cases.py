"""Resume snapshots at the edges: an unterminated last entry, a leaf that parallel recovery moved, persist_session=False, malformed snapshot lines, a long first line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import threadline.runtime._resume as resume_mod
from threadline._query import query
from threadline.runtime._resume import _load_with_snapshot, _rebuild, _rebuild_and_snapshot
from threadline.sessions._offsets import SIDECAR_NAME, read_for_resume
from threadline.sessions._snapshot import SNAPSHOT_NAME
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.transcript._compaction import resume_leaf

from ._util import conversation, options, turns

Raw = dict[str, Any]
SID = "5b0f7a4e-8f55-4d7e-9a49-0c6f4c1f0e11"

pytestmark = pytest.mark.usefixtures("small_snapshots")


def _entry(n: int, kind: str, parent: str | None, content: Any, **kw: Any) -> Raw:
    message: Raw = {"role": kind, "content": content}
    if kind == "assistant":
        message["id"] = f"msg_{n}"
    return {
        "parentUuid": parent,
        "isSidechain": False,
        "type": kind,
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "sessionId": SID,
        "cwd": "/tmp",
        "timestamp": f"2026-01-01T00:00:{n:02d}.000Z",
        "message": message,
        **kw,
    }


def _snapshot(path: Path) -> None:
    hit, entries, state = _load_with_snapshot(path)
    assert hit is None and entries is not None and state is not None
    _rebuild_and_snapshot(entries, path, state)
    assert (path.with_suffix("") / SNAPSHOT_NAME).exists()


def _reference(path: Path) -> tuple[Any, str | None]:
    entries, _ = read_for_resume(path)
    assert entries is not None
    r = _rebuild(entries, None)
    return (r.messages, r.tail), resume_leaf(r.chain)


def test_complete_unterminated_last_entry_is_dropped_by_a_snapshot_resume(
    tmp_path: Path,
) -> None:
    """read_complete (the full read) and repair_tail (every FileStore append, and
    get_head at Runtime.open) treat a last line that parses but lost its newline as an
    entry. read_appended cuts at the last newline, so a snapshot resume leaves it out:
    the model is not sent it, and the run's first entry hangs off the older leaf
    (after repair_tail completes the line, that entry becomes an abandoned branch)."""
    path = tmp_path / f"{SID}.jsonl"
    a = _entry(1, "user", None, "first")
    b = _entry(2, "assistant", a["uuid"], [{"type": "text", "text": "reply"}])
    path.write_bytes(orjson.dumps(a) + b"\n" + orjson.dumps(b) + b"\n")
    _snapshot(path)
    c = _entry(3, "user", b["uuid"], "second")
    with path.open("ab") as fh:
        fh.write(orjson.dumps(c))  # complete entry, only the newline was lost
    hit, _, _ = _load_with_snapshot(path)
    full_history, full_leaf = _reference(path)
    assert full_leaf == c["uuid"]
    got = ((hit.messages, hit.tail), hit.leaf) if hit is not None else None
    assert got in (None, (full_history, full_leaf)), got


@pytest.mark.anyio
async def test_snapshot_resume_sends_the_unterminated_last_entry(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """End to end: a resume without a snapshot sends the unterminated last prompt (as
    read_complete keeps it); one served from a snapshot does not."""
    sid, _ = await turns(options(), "one", "two")
    path = next((config_dir / "projects").glob(f"*/{sid}.jsonl"))
    lines = path.read_bytes().splitlines()
    last = orjson.loads(lines[-1])
    extra = dict(last, uuid="00000000-0000-4000-8000-00000000beef", parentUuid=last["uuid"])
    extra.update(type="user", message={"role": "user", "content": "LOST PROMPT"})

    async def sent(**kw: Any) -> list[tuple[str, str]]:
        async for _ in query(prompt="three", options=options(resume=sid, **kw)):
            pass
        return conversation(fake.message_requests()[-1])

    assert resume_mod.refresh_snapshot(path)
    with path.open("ab") as fh:
        fh.write(orjson.dumps(extra))  # no newline
    via_snapshot = await sent(persist_session=False)
    (path.with_suffix("") / SNAPSHOT_NAME).unlink()
    via_full_read = await sent(persist_session=False)
    assert ("user", "LOST PROMPT") in via_full_read
    assert via_snapshot == via_full_read


@pytest.mark.anyio
async def test_persist_session_false_writes_no_compaction_sidecar(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """persist_session=False must write nothing; a resume of a compacted session without
    a sidecar (e.g. compacted by the CLI) writes threadline-compact.json (record_boundary
    in read_for_resume, reached from both the snapshot miss and load_for_resume)."""
    sid, _ = await turns(options(), "one", "two")
    path = next((config_dir / "projects").glob(f"*/{sid}.jsonl"))
    entries = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    leaf = entries[-1]["uuid"]
    boundary = dict(
        entries[0],
        type="system",
        subtype="compact_boundary",
        uuid="00000000-0000-4000-8000-0000000000b1",
        parentUuid=None,
        logicalParentUuid=leaf,
        content="Conversation compacted",
        compactMetadata={"trigger": "manual", "preTokens": 1},
    )
    boundary.pop("message", None)
    summary = dict(
        entries[0],
        uuid="00000000-0000-4000-8000-0000000000b2",
        parentUuid=boundary["uuid"],
        isCompactSummary=True,
        message={"role": "user", "content": "summary"},
    )
    with path.open("ab") as fh:
        fh.write(orjson.dumps(boundary) + b"\n" + orjson.dumps(summary) + b"\n")
    session_dir = path.with_suffix("")
    before = sorted(p.name for p in session_dir.iterdir()) if session_dir.exists() else []
    async for _ in query(prompt="three", options=options(resume=sid, persist_session=False)):
        pass
    after = sorted(p.name for p in session_dir.iterdir()) if session_dir.exists() else []
    assert SIDECAR_NAME not in after, (before, after)


def test_a_turn_hanging_off_a_recovered_resume_leaf(tmp_path: Path) -> None:
    """The regression-test transcript (a reply continued after its own parallel tool
    results, one message id on both sides), cut right after the continued block (a crash
    before its result). The rebuild's parallel recovery puts r1 after the anchor a2, so
    the resume leaf (chain[-1]) is r1, not the walk leaf a2. The run then writes its
    prompt under r1; the next full read walks U -> r1 -> a1 (anchor a1, a1b/a2 recovered
    after it) and sends another grouping than snapshot + U. Nothing in the appended part
    reuses a snapshotted message id, so _extend accepts it."""
    path = tmp_path / f"{SID}.jsonl"

    def call(n: int, parent: str, tool: str) -> Raw:
        block = {"type": "tool_use", "id": tool, "name": "Bash", "input": {}}
        e = _entry(n, "assistant", parent, [block])
        e["message"]["id"] = "M"
        return e

    def result(n: int, parent: str, tool: str) -> Raw:
        block = {"type": "tool_result", "tool_use_id": tool, "content": "ok"}
        return _entry(n, "user", parent, [block])

    p = _entry(1, "user", None, "go")
    a1 = call(2, p["uuid"], "t1")
    a1b = call(3, a1["uuid"], "t1b")
    r1 = result(4, a1["uuid"], "t1")  # each result under its own call
    r1b = result(5, a1b["uuid"], "t1b")
    a2 = call(6, r1b["uuid"], "t2")  # the reply continues after the results; crash here
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in (p, a1, a1b, r1, r1b, a2)))
    _snapshot(path)
    hit, _, _ = _load_with_snapshot(path)
    assert hit is not None and hit.leaf == r1["uuid"]  # a recovered entry, not the walk leaf
    u = _entry(7, "user", hit.leaf, "next prompt")  # what the resumed run writes
    with path.open("ab") as fh:
        fh.write(orjson.dumps(u) + b"\n")
    hit, _, _ = _load_with_snapshot(path)
    got = ((hit.messages, hit.tail), hit.leaf) if hit is not None else None
    assert got in (None, _reference(path)), got


@pytest.mark.parametrize(
    "line",
    [
        b'{"x":1}',
        b'{"role":"user","content":7}',
        b'{"role":"user","content":[1]}',
        b'[{"x":1}]',
        b'[{"role":"user","content":7}]',
        b'[{"role":"user","content":[1]}]',
        b"[1]",
    ],
)
def test_a_snapshot_with_malformed_messages_is_ignored_not_a_crash(
    tmp_path: Path, line: bytes
) -> None:
    """read_snapshot only checks that each message line is a dict: a snapshot of the
    right version and file state whose messages lack role/content (or have non-list
    content, non-dict blocks) crashes the resume in repair_tool_pairs / merge_api_messages
    instead of being ignored ("never trusted")."""
    path = tmp_path / f"{SID}.jsonl"
    path.write_bytes(orjson.dumps(_entry(1, "user", None, "hi")) + b"\n")
    _snapshot(path)
    snap = path.with_suffix("") / SNAPSHOT_NAME
    lines = snap.read_bytes().split(b"\n")
    lines[2] = line
    snap.write_bytes(b"\n".join(lines))
    hit, entries, _ = _load_with_snapshot(path)  # raises today
    assert hit is None and entries is not None


def test_continue_skips_a_sidechain_transcript_with_a_long_first_line(tmp_path: Path) -> None:
    """_starts_as_sidechain reads 1 MiB; a first line longer than that is not parsed (the
    partial line is skipped) and the file is taken for a main session, whereas the path
    without snapshots checks entries[0]."""
    from threadline.runtime._resume import _starts_as_sidechain

    path = tmp_path / f"{SID}.jsonl"
    first = _entry(1, "user", None, "x" * (1 << 20), isSidechain=True)
    second = _entry(2, "user", first["uuid"], "y", isSidechain=True)
    path.write_bytes(orjson.dumps(first) + b"\n" + orjson.dumps(second) + b"\n")
    assert _starts_as_sidechain(path)


def _two_turns(path: Path) -> list[bytes]:
    """A snapshot of two answered prompts; its lines."""
    a = _entry(1, "user", None, "one")
    b = _entry(2, "assistant", a["uuid"], [{"type": "text", "text": "echo: one"}])
    c = _entry(3, "user", b["uuid"], "two")
    d = _entry(4, "assistant", c["uuid"], [{"type": "text", "text": "echo: two"}])
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in (a, b, c, d)))
    _snapshot(path)
    return (path.with_suffix("") / SNAPSHOT_NAME).read_bytes().split(b"\n")


def test_a_snapshot_keeps_messages_in_arrays_and_what_the_repair_keeps(tmp_path: Path) -> None:
    """Messages are stored as arrays of many per line (one parse per line, not per
    message), and the header says how many leading messages the tool-pair repair keeps
    (every one but the last here), which a resume then does not repair again."""
    path = tmp_path / f"{SID}.jsonl"
    lines = _two_turns(path)
    header = orjson.loads(lines[0])
    assert header["intact"] == 3
    assert orjson.loads(lines[2]) == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": [{"type": "text", "text": "echo: one"}]},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": [{"type": "text", "text": "echo: two"}]},
    ]
    assert lines[3:] == [b""]
    hit, _, _ = _load_with_snapshot(path)
    assert hit is not None and hit.intact == 3


@pytest.mark.parametrize("intact", [-1, 4, 9, "3", None, 1.5, True])
def test_a_snapshot_with_a_bad_intact_count_is_ignored(tmp_path: Path, intact: Any) -> None:
    """``intact`` lets a resume skip repairing messages: a count that is not an int, or
    covers the last message or more, makes the snapshot foreign (never trusted)."""
    path = tmp_path / f"{SID}.jsonl"
    lines = _two_turns(path)
    header = orjson.loads(lines[0])
    header["intact"] = intact
    lines[0] = orjson.dumps(header)
    (path.with_suffix("") / SNAPSHOT_NAME).write_bytes(b"\n".join(lines))
    hit, entries, _ = _load_with_snapshot(path)
    assert hit is None and entries is not None


def test_a_snapshot_splits_its_arrays_and_big_messages_across_buffers(tmp_path: Path) -> None:
    """Arrays of about 64 KiB a line, and a message bigger than the 1 MiB write buffer
    (written block by block): read back as written."""
    from threadline.sessions._snapshot import FileState, read_snapshot, write_snapshot

    path = tmp_path / f"{SID}.jsonl"
    path.write_bytes(orjson.dumps(_entry(1, "user", None, "hi")) + b"\n")
    state = FileState.of(path)
    assert state is not None
    big = [{"type": "text", "text": "x" * 300_000} for _ in range(5)]
    messages: list[Raw] = []
    for i in range(3000):
        messages.append({"role": "user", "content": f"prompt {i} " * 10})
        reply = big if i == 1500 else [{"type": "text", "text": f"r{i}"}]
        messages.append({"role": "assistant", "content": reply})
    assert write_snapshot(
        path, state, messages=messages, leaf=None, message_ids=set(), cwd=None, extendable=True
    )
    lines = (path.with_suffix("") / SNAPSHOT_NAME).read_bytes().split(b"\n")
    arrays = [orjson.loads(line) for line in lines[2:] if line]
    assert 5 < len(arrays) < 100
    assert all(len(line) < (1 << 16) + 400 for line in lines[2:] if b"xxx" not in line)
    snap = read_snapshot(path)
    assert snap is not None and snap.messages == messages and snap.intact == 0
