"""Session functions on synthetic transcripts, compared with the official readers."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import claude_agent_sdk as official
import orjson
import pytest

import threadline
from threadline import (
    InvalidSessionIdError,
    SessionNotFoundError,
    fork_session,
    get_session_info,
    get_session_messages,
    list_sessions,
    rename_session,
    tag_session,
)

from ._factory import Transcript, sessions_in_an_undecodable_folder, simple_session, uid


def asdicts(items: list[object]) -> list[dict[str, object]]:
    return [dataclasses.asdict(i) for i in items]  # type: ignore[call-overload]


def same_as_official(session_id: str, directory: str | None = None) -> None:
    assert asdicts(get_session_messages(session_id, directory)) == asdicts(
        official.get_session_messages(session_id, directory)
    )
    ours = get_session_info(session_id, directory)
    theirs = official.get_session_info(session_id, directory)
    assert (ours and dataclasses.asdict(ours)) == (theirs and dataclasses.asdict(theirs))


def test_listing_matches_official(config_dir: Path, tmp_path: Path) -> None:
    for i in range(5):
        t = simple_session(str(tmp_path / f"proj{i % 2}"), turns=i + 1)
        if i == 3:
            t.meta({"type": "custom-title", "customTitle": "named", "sessionId": t.session_id})
        if i == 4:
            t.meta({"type": "tag", "tag": "wip", "sessionId": t.session_id})
        t.write(config_dir)
    # A sidechain-only file and a metadata-only file are excluded by both.
    side = Transcript(str(tmp_path / "proj0"))
    side.user("hidden", isSidechain=True)
    side.write(config_dir)
    meta = Transcript(str(tmp_path / "proj0"))
    meta.meta({"type": "permission-mode", "mode": "default"})
    meta.write(config_dir)
    for kwargs in ({}, {"limit": 2}, {"limit": 2, "offset": 1}, {"offset": 10}, {"limit": 0}):
        assert asdicts(list_sessions(**kwargs)) == asdicts(official.list_sessions(**kwargs))  # type: ignore[arg-type]
    d = str(tmp_path / "proj0")
    assert asdicts(list_sessions(d)) == asdicts(official.list_sessions(d))
    assert asdicts(list_sessions(d, use_index=False)) == asdicts(official.list_sessions(d))
    assert len(list_sessions()) == 5


def test_listing_reads_a_project_folder_whose_name_is_not_utf8(
    config_dir: Path, tmp_path: Path
) -> None:
    """A project folder another program named with undecodable bytes cannot be a row of the
    summary index (its path is not valid Unicode): its sessions are read from the files and
    listed as the official SDK lists them, where the listing failed with UnicodeEncodeError."""
    plain, odd = sessions_in_an_undecodable_folder(config_dir, tmp_path)
    for _ in range(2):  # the index cold, then warm
        assert asdicts(list_sessions()) == asdicts(official.list_sessions())
        assert {i.session_id for i in list_sessions()} == {plain.session_id, odd.session_id}
    assert asdicts(list_sessions(use_index=False)) == asdicts(official.list_sessions())
    # and opened (its chain is not a row of the index either: UnicodeEncodeError)
    for _ in range(2):
        assert asdicts(get_session_messages(odd.session_id)) == asdicts(
            official.get_session_messages(odd.session_id)
        )


@pytest.mark.anyio
async def test_a_file_store_under_a_config_dir_whose_path_is_not_utf8(tmp_path: Path) -> None:
    """The summary index cannot hold such paths: a FileStore there lists its sessions'
    summaries from memory (list_session_summaries failed with UnicodeEncodeError)."""
    root = tmp_path / os.fsdecode(b"conf\xff")
    store = threadline.FileStore(root)
    key = {"project_key": "-p", "session_id": uid()}
    await store.append(key, [{"type": "user", "uuid": uid(), "message": {"content": "hi"}}])
    assert [s["session_id"] for s in await store.list_session_summaries("-p")] == [key["session_id"]]
    assert [s["session_id"] for s in await store.list_sessions("-p")] == [key["session_id"]]


def test_index_revalidates_on_external_change(config_dir: Path, tmp_path: Path) -> None:
    t = simple_session(str(tmp_path / "p"))
    path = t.write(config_dir)
    assert list_sessions()[0].summary == "prompt 0"
    with open(path, "ab") as f:  # another program appends a title
        f.write(orjson.dumps({"type": "custom-title", "customTitle": "later", "sessionId": t.session_id}) + b"\n")
    assert list_sessions()[0].summary == "later"
    path.unlink()
    assert list_sessions() == []


def test_messages_parallel_tools_and_branches(config_dir: Path, tmp_path: Path) -> None:
    t = Transcript(str(tmp_path / "p"))
    t.user("run two things")
    a1, a2 = t.assistant(
        [
            {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "echo 1"}},
            {"type": "tool_use", "id": "toolu_2", "name": "Bash", "input": {"command": "echo 2"}},
        ]
    )
    t.tool_result(a1, "1")
    r2 = t.tool_result(a2, "2")
    t.last = r2["uuid"]
    t.text("both done")
    branch_point = t.last
    t.user("path A")
    t.text("A")
    t.last = branch_point
    t.user("path B")  # a later branch from the same point wins
    t.text("B")
    t.write(config_dir)
    msgs = get_session_messages(t.session_id)
    same_as_official(t.session_id)
    texts = [m.message["content"] if isinstance(m.message["content"], str) else m.message["content"][0].get("text") for m in msgs]
    assert "path B" in texts and "path A" not in texts
    assert len(msgs) == 8  # prompt, 2 tool uses, 2 results, reply, prompt B, reply B


def test_compaction_and_cycles(config_dir: Path, tmp_path: Path) -> None:
    t = Transcript(str(tmp_path / "p"))
    t.user("old prompt")
    old = t.text("old reply")
    boundary = {"parentUuid": None, "logicalParentUuid": old["uuid"], "type": "system", "subtype": "compact_boundary",
                "uuid": uid(), "sessionId": t.session_id, "timestamp": "2026-03-01T11:00:00.000Z", "content": "Conversation compacted"}
    t.meta(boundary)
    t.last = boundary["uuid"]
    t.user("summary of earlier", isCompactSummary=True, isVisibleInTranscriptOnly=True)
    t.user("new prompt")
    t.text("new reply")
    t.write(config_dir)
    msgs = get_session_messages(t.session_id)
    assert [m.message["content"] if isinstance(m.message["content"], str) else "x" for m in msgs][0] == "summary of earlier"
    same_as_official(t.session_id)
    # A parentUuid cycle must not hang or crash.
    c = Transcript(str(tmp_path / "p"))
    a, b = uid(), uid()
    c.user("a", uuid=a, parent=b)
    c.user("b", uuid=b, parent=a)
    c.write(config_dir)
    assert get_session_messages(c.session_id) == official.get_session_messages(c.session_id) == []


@pytest.mark.parametrize(
    "bad", ["", "nope", "../../etc/passwd", "a" * 36, "123e4567-e89b-12d3-a456-42661417400/", "\x00"]
)
def test_bad_ids(bad: str) -> None:
    assert get_session_messages(bad) == []
    assert get_session_info(bad) is None
    assert threadline.list_subagents(bad) == []
    with pytest.raises(InvalidSessionIdError):
        get_session_messages(bad, strict=True)
    for fn in (lambda: rename_session(bad, "t"), lambda: tag_session(bad, "t"),
               lambda: threadline.delete_session(bad), lambda: fork_session(bad)):
        with pytest.raises(ValueError):
            fn()


def test_strict_not_found(config_dir: Path) -> None:
    sid = uid()
    assert get_session_messages(sid) == []
    with pytest.raises(SessionNotFoundError, match=sid):
        get_session_messages(sid, strict=True)
    with pytest.raises(SessionNotFoundError):
        get_session_info(sid, strict=True)
    with pytest.raises(FileNotFoundError):
        rename_session(sid, "x")


def test_rename_tag_fork_seen_by_official(config_dir: Path, tmp_path: Path) -> None:
    t = simple_session(str(tmp_path / "p"), turns=3)
    t.write(config_dir)
    rename_session(t.session_id, "  My title ")
    tag_session(t.session_id, "ok\u200b")
    info = official.get_session_info(t.session_id)
    assert info is not None and info.custom_title == "My title" and info.tag == "ok"
    tag_session(t.session_id, None)
    assert official.get_session_info(t.session_id).tag is None  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="title"):
        rename_session(t.session_id, "   ")
    cut = get_session_messages(t.session_id)[2].uuid
    forked = fork_session(t.session_id, up_to_message_id=cut)
    msgs = official.get_session_messages(forked.session_id)
    assert [m.message["content"] for m in msgs] == ["prompt 0", "reply 0"[:0] or msgs[1].message["content"], "prompt 1"]
    assert all(m.uuid not in {e["uuid"] for e in t.entries} for m in msgs)
    assert official.get_session_info(forked.session_id).custom_title == "My title (fork)"  # type: ignore[union-attr]
    assert len(get_session_messages(t.session_id)) == 6  # source untouched
    with pytest.raises(threadline.MessageNotFoundError):
        fork_session(t.session_id, up_to_message_id=uid())
    # Fork output equals the official transform modulo fresh uuids and timestamps.
    full = fork_session(t.session_id, title="Alt")
    ours = official.get_session_messages(full.session_id)
    assert [m.message for m in ours] == [m.message for m in get_session_messages(t.session_id)]


def test_delete(config_dir: Path, tmp_path: Path) -> None:
    t = simple_session(str(tmp_path / "p"))
    path = t.write(config_dir)
    sub = path.with_suffix("") / "subagents"
    sub.mkdir(parents=True)
    (sub / "agent-a1.jsonl").write_text("{}\n")
    threadline.delete_session(t.session_id)
    assert not path.exists() and not path.with_suffix("").exists()
    assert list_sessions() == []


def test_bad_lines_are_skipped(config_dir: Path, tmp_path: Path) -> None:
    t = simple_session(str(tmp_path / "p"), turns=2)
    path = t.write(config_dir)
    lines = path.read_bytes().split(b"\n")
    garbage = [b"not json", b"[1,2,3]", b'{"type":"user","uuid":', b"", b"   ", b'"str"', b"NaN"]
    mixed = [lines[0], *garbage, *lines[1:-1]]
    path.write_bytes(b"\n".join(mixed) + b'\n{"type":"assistant","uui')  # torn last line
    same_as_official(t.session_id)
    assert len(get_session_messages(t.session_id)) == 4
    # Invalid UTF-8 makes the official reader raise UnicodeDecodeError; ours skips the line.
    path.write_bytes(b"\n".join([lines[0], b"\xff\xfe\x00binary", *lines[1:-1]]) + b"\n")
    assert len(get_session_messages(t.session_id)) == 4
    assert list_sessions()[0].session_id == t.session_id
    # A 0-byte file is treated as absent.
    empty = Transcript(str(tmp_path / "p"))
    empty.write(config_dir)
    assert get_session_info(empty.session_id) is None
    assert get_session_messages(empty.session_id) == []


def test_huge_line(config_dir: Path, tmp_path: Path) -> None:
    t = Transcript(str(tmp_path / "p"))
    t.user("start")
    t.text("x" * (50 * 1024 * 1024))
    t.user("after")
    t.write(config_dir)
    msgs = get_session_messages(t.session_id)
    assert len(msgs) == 3 and len(msgs[1].message["content"][0]["text"]) == 50 * 1024 * 1024
    info = get_session_info(t.session_id)
    assert info is not None and info.first_prompt == "start"


def test_messages_cache_follows_the_file(config_dir: Path, tmp_path: Path) -> None:
    from threadline.sessions._index import SummaryIndex

    t = simple_session(str(tmp_path / "p"), turns=3)
    path = t.write(config_dir)
    first = asdicts(get_session_messages(t.session_id))
    assert asdicts(get_session_messages(t.session_id)) == first  # warm (memo)
    SummaryIndex._instances.clear()  # a new process: the chain comes from SQLite
    assert asdicts(get_session_messages(t.session_id)) == first
    assert asdicts(get_session_messages(t.session_id, limit=2, offset=1)) == first[1:3]
    # Appending (a new branch from the first reply) invalidates the cached chain.
    t.last = t.entries[1]["uuid"]
    t.user("a new branch")
    path.write_bytes(path.read_bytes() + orjson.dumps(t.entries[-1]) + b"\n")
    now = get_session_messages(t.session_id)
    assert [m.message["content"] for m in now if m.type == "user"] == ["prompt 0", "a new branch"]
    assert asdicts(now) == asdicts(official.get_session_messages(t.session_id))
