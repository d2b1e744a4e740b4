"""Stores: the official conformance suite, our kit, and FileStore's durability."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from claude_agent_sdk.testing import run_session_store_conformance

import threadline
from threadline import FileStore, MemoryStore, UserError
from threadline.testing import check_session_store

from ._factory import simple_session, uid

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "file"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    counter = iter(range(10_000))
    if request.param == "memory":
        return MemoryStore
    return lambda: FileStore(tmp_path / f"cfg{next(counter)}")


async def test_official_conformance(make_store: Any) -> None:
    await run_session_store_conformance(make_store)


async def test_threadline_kit(make_store: Any) -> None:
    ran = await check_session_store(make_store)
    assert "concurrent_appenders" in ran and "idempotent_retry" in ran


async def test_kit_catches_a_broken_store() -> None:
    class Duplicating(MemoryStore):
        async def load(self, key: Any) -> Any:
            entries = await super().load(key)
            return None if entries is None else entries + entries[-1:]

    with pytest.raises(AssertionError, match="round_trip"):
        await check_session_store(Duplicating)


async def test_filestore_layout_permissions_and_official_readers(config_dir: Path, tmp_path: Path) -> None:
    store = FileStore()
    t = simple_session(str(tmp_path / "proj"), turns=2)
    key = {"project_key": threadline.project_key_for_directory(tmp_path / "proj"), "session_id": t.session_id}
    await store.append(key, t.entries)  # type: ignore[arg-type]
    path = config_dir / "projects" / key["project_key"] / f"{t.session_id}.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for d in (path.parent, path.parent.parent, config_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    import claude_agent_sdk as official

    assert len(official.get_session_messages(t.session_id)) == 4
    assert await store.load(key) == t.entries  # type: ignore[comparison-overlap]
    # A subagent stream with its metadata becomes a transcript + .meta.json sidecar.
    sub = {**key, "subpath": "subagents/agent-abc"}
    entries = [{"type": "user", "uuid": uid(), "isSidechain": True, "parentUuid": None,
                "message": {"role": "user", "content": "sub task"}, "sessionId": t.session_id},
               {"type": "agent_metadata", "toolUseId": "toolu_9", "agentType": "general-purpose"}]
    await store.append(sub, entries)  # type: ignore[arg-type]
    assert official.list_subagents(t.session_id) == ["abc"]
    assert official.get_subagent_messages(t.session_id, "abc")[0].parent_tool_use_id == "toolu_9"
    loaded = await store.load(sub)  # type: ignore[arg-type]
    assert loaded is not None and loaded[-1]["type"] == "agent_metadata"


@pytest.mark.parametrize(
    "key",
    [
        {"project_key": "..", "session_id": "x"},
        {"project_key": "a/b", "session_id": "x"},
        {"project_key": "p", "session_id": "../x"},
        {"project_key": "p", "session_id": "x/y"},
        {"project_key": "p", "session_id": "x", "subpath": "../../escape"},
        {"project_key": "p", "session_id": "x", "subpath": "/abs"},
        {"project_key": "p", "session_id": "x", "subpath": "a\\b"},
        {"project_key": "p", "session_id": "x", "subpath": ""},
        {"project_key": "p\x00", "session_id": "x"},
    ],
)
async def test_unsafe_keys_rejected(key: Any, config_dir: Path) -> None:
    store = FileStore()
    with pytest.raises(UserError):
        await store.append(key, [{"type": "x"}])
    with pytest.raises(UserError):
        await store.load(key)
    assert not any(config_dir.parent.glob("escape*"))


async def test_torn_tail_repaired_before_append(config_dir: Path) -> None:
    store = FileStore()
    key: Any = {"project_key": "-p", "session_id": uid()}
    await store.append(key, [{"type": "user", "uuid": "u1", "n": 1}])
    path = store.path_for(key)
    with open(path, "ab") as f:
        f.write(b'{"type":"user","uuid":"u2","n":')  # crash mid-write
    assert await store.load(key) == [{"type": "user", "uuid": "u1", "n": 1}]
    await store.append(key, [{"type": "user", "uuid": "u3", "n": 3}])
    assert path.read_bytes().count(b"\n") == 2
    assert [e["uuid"] for e in await store.load(key) or []] == ["u1", "u3"]
    # A complete last line that only lost its newline is kept, not cut.
    with open(path, "ab") as f:
        f.write(b'{"type":"user","uuid":"u4"}')
    await store.append(key, [{"type": "user", "uuid": "u5"}])
    assert [e["uuid"] for e in await store.load(key) or []] == ["u1", "u3", "u4", "u5"]


async def test_symlinked_transcript_is_not_written_through(config_dir: Path, tmp_path: Path) -> None:
    store = FileStore()
    key: Any = {"project_key": "-p", "session_id": uid()}
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("")
    path = store.path_for(key)
    path.parent.mkdir(parents=True)
    path.symlink_to(target)
    with pytest.raises(threadline.StorageError, match="symlink"):
        await store.append(key, [{"type": "x"}])
    assert target.read_text() == ""


async def test_idempotent_across_store_instances(config_dir: Path) -> None:
    key: Any = {"project_key": "-p", "session_id": uid()}
    batch = [{"type": "user", "uuid": uid()} for _ in range(3)]
    await FileStore().append(key, batch)
    await FileStore().append(key, batch)  # a retry from another process/instance
    assert len(await FileStore().load(key) or []) == 3


def test_round_trip_preserves_unknown_fields(config_dir: Path) -> None:
    from threadline.transcript._jsonl import dumps_line, iter_objects
    from threadline.transcript._views import CompactBoundaryEntry, Entry, UserEntry, parse_entry

    raw = [
        {"type": "user", "uuid": "a", "message": {"role": "user", "content": "hi"}, "futureField": {"x": [1, 2]}},
        {"type": "system", "subtype": "compact_boundary", "uuid": "b", "logicalParentUuid": "a"},
        {"type": "some-new-kind", "payload": "é\u2028🎉", "n": 12345678901234567890},
    ]
    data = b"".join(dumps_line(e) for e in raw)
    parsed = [parse_entry(e) for e in iter_objects(data)]
    assert isinstance(parsed[0], UserEntry) and parsed[0].text == "hi"
    assert isinstance(parsed[1], CompactBoundaryEntry) and parsed[1].logical_parent_uuid == "a"
    assert type(parsed[2]) is Entry
    assert [p.to_dict() for p in parsed] == raw
    assert orjson.loads(dumps_line(parsed[0].to_dict())) == raw[0]
    assert os.linesep == "\n"


async def test_own_writes_keep_the_index_current(config_dir: Path, tmp_path: Path) -> None:
    from threadline.sessions._index import SummaryIndex

    store = FileStore()
    t = simple_session(str(tmp_path / "p"))
    key: Any = {"project_key": threadline.project_key_for_directory(tmp_path / "p"), "session_id": t.session_id}
    await store.append(key, t.entries)  # type: ignore[arg-type]
    path = store.path_for(key)
    index = SummaryIndex.for_config_dir(config_dir)
    row = index._memo[str(path.parent)][str(path)]
    st = path.stat()
    assert (row[0], row[1]) == (st.st_mtime_ns, st.st_size)  # current before any listing
    assert row[3] is not None and row[3][0] == "prompt 0"
    assert index.path.exists() and stat.S_IMODE(index.path.stat().st_mode) == 0o600
