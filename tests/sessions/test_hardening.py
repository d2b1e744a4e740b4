"""Review fixes: replaced files, racy caches, file modes, key validation on listings."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import claude_agent_sdk as official
import orjson
import pytest

from threadline import FileStore, StorageError, UserError, get_session_messages
from threadline.sessions._bundle import export_bundle, import_bundle
from threadline.sessions._retention import cleanup_sessions, restore_session

from ._factory import simple_session
from .test_functions import asdicts

DAY = 86_400


@pytest.fixture(autouse=True)
def _umask() -> Any:
    old = os.umask(0o022)  # the usual umask: group/other read unless we say otherwise
    yield
    os.umask(old)


def _entry(sid: str, parent: str | None = None, text: str = "x") -> dict[str, Any]:
    return {
        "type": "user",
        "uuid": str(uuid.uuid4()),
        "parentUuid": parent,
        "sessionId": sid,
        "message": {"role": "user", "content": text},
    }


def _uuids(path: Path) -> list[str]:
    return [orjson.loads(line)["uuid"] for line in path.read_bytes().splitlines()]


def test_uuid_cache_notices_an_in_place_rewrite(tmp_path: Path) -> None:
    """Another process truncates and rewrites the file (same inode, not shorter): the
    dedup cache must not keep treating the old uuids as present."""
    store = FileStore(tmp_path / "cfg")
    sid = str(uuid.uuid4())
    key: Any = {"project_key": "-p", "session_id": sid}
    old = [_entry(sid), _entry(sid)]
    store.append_sync(key, old)
    path = store.path_for(key)
    ino = path.stat().st_ino
    # "another process": rewrite in place with other, longer content
    other = [_entry(sid, text="y" * 400) for _ in range(3)]
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(b"".join(orjson.dumps(e) + b"\n" for e in other))
    assert path.stat().st_ino == ino
    store.append_sync(key, [old[0]])  # re-appending an entry that is no longer there
    assert _uuids(path) == [e["uuid"] for e in other] + [old[0]["uuid"]]


@pytest.mark.anyio
async def test_conditional_append_sees_the_rewritten_head(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "cfg")
    sid = str(uuid.uuid4())
    key: Any = {"project_key": "-p", "session_id": sid}
    store.append_sync(key, [_entry(sid)])
    path = store.path_for(key)
    other = [_entry(sid, text="z" * 300)]
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(orjson.dumps(other[0]) + b"\n")
    assert await store.get_head(key) == other[0]["uuid"]
    await store.append_conditional(key, [_entry(sid, other[0]["uuid"])], expected_head=other[0]["uuid"])


def test_append_waiting_for_the_lock_follows_a_replaced_file(tmp_path: Path) -> None:
    """A writer blocked on the lock while the file is replaced (restore, rewrite) must
    append to the new file, not to the unlinked old inode."""
    store = FileStore(tmp_path / "cfg")
    sid = str(uuid.uuid4())
    key: Any = {"project_key": "-p", "session_id": sid}
    first = _entry(sid)
    store.append_sync(key, [first])
    path = store.path_for(key)
    late = _entry(sid, first["uuid"])
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    t = threading.Thread(target=store.append_sync, args=(key, [late]))
    try:
        t.start()
        time.sleep(0.2)  # the writer has opened the old file and waits for the lock
        replacement = path.with_name("replacement")
        replacement.write_bytes(path.read_bytes())
        os.replace(replacement, path)
    finally:
        os.close(fd)  # releases the lock on the old inode
        t.join(5)
    assert _uuids(path) == [first["uuid"], late["uuid"]]


def test_sidecar_temp_file_is_removed_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileStore(tmp_path / "cfg")
    sid = str(uuid.uuid4())
    key: Any = {"project_key": "-p", "session_id": sid, "subpath": "subagents/agent-a1"}

    def boom(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(StorageError, match="disk full"):  # the OSError, chained
        store.append_sync(key, [{"type": "agent_metadata", "agentType": "x"}])
    folder = store.path_for(key).parent
    assert [p.name for p in folder.iterdir()] == []


@pytest.mark.anyio
@pytest.mark.parametrize("bad", ["..", "../..", "a/b", "."])
async def test_listings_reject_project_keys_outside_projects(tmp_path: Path, bad: str) -> None:
    cfg = tmp_path / "cfg"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / f"{uuid.uuid4()}.jsonl").write_bytes(b'{"type":"user"}\n')
    store = FileStore(cfg)
    with pytest.raises(UserError):
        await store.list_sessions(bad)
    with pytest.raises(UserError):
        await store.list_session_summaries(bad)


def test_chain_cache_is_not_fooled_by_a_same_size_rewrite(config_dir: Path, tmp_path: Path) -> None:
    """Rewritten in place, same size, within the file system's mtime granularity: the
    stamp (mtime_ns, size, inode) does not change, the content does."""
    t = simple_session(str(tmp_path / "p"), turns=2)
    path = t.write(config_dir)
    st = path.stat()
    assert len(get_session_messages(t.session_id)) == 4
    # Cut the chain: "prompt 1" now points at an unknown parent (same length).
    link = t.entries[2]["parentUuid"].encode()
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"parentUuid":"' + link, b'"parentUuid":"' + str(uuid.uuid4()).encode()))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same tick
    after = path.stat()
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (st.st_mtime_ns, st.st_size, st.st_ino)
    now = get_session_messages(t.session_id)
    assert [m.message["content"] for m in now if m.type == "user"] == ["prompt 1"]
    assert asdicts(now) == asdicts(official.get_session_messages(t.session_id))
    # An old, settled file is still served from the cache, and correctly.
    old = time.time() - 3600
    os.utime(path, (old, old))
    first = get_session_messages(t.session_id)
    assert get_session_messages(t.session_id, limit=1, offset=1)[0] == first[1]


def _old_session(config: Path) -> Path:
    store = FileStore(config)
    sid = str(uuid.uuid4())
    key: Any = {"project_key": "-proj", "session_id": sid}
    store.append_sync(key, [_entry(sid)])
    path = store.path_for(key)
    old = time.time() - 40 * DAY
    os.utime(path, (old, old))
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_trash_and_restore_stay_private(config_dir: Path) -> None:
    path = _old_session(config_dir)
    sid = path.stem
    report = cleanup_sessions(dry_run=False)
    assert [s.session_id for s in report.removed] == [sid]
    trash = config_dir / "threadline" / "trash"
    for d in (config_dir / "threadline", trash, trash / "-proj"):
        assert _mode(d) == 0o700, d
    assert _mode(trash / "-proj" / f"{sid}.trashed.json") == 0o600
    # A writer started a new file meanwhile: restore merges, and keeps it 0600.
    FileStore(config_dir).append_sync({"project_key": "-proj", "session_id": sid}, [_entry(sid)])
    restored = restore_session(sid)
    assert restored == path and len(_uuids(path)) == 2
    assert _mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir() if "restore" in p.name] == []


def test_restore_into_a_missing_project_dir_is_private(config_dir: Path) -> None:
    path = _old_session(config_dir)
    cleanup_sessions(dry_run=False)
    os.rmdir(path.parent)
    assert restore_session(path.stem) == path
    assert _mode(path.parent) == 0o700 and _mode(path) == 0o600


def test_bundle_file_and_imported_dirs_are_private(config_dir: Path, tmp_path: Path) -> None:
    t = simple_session(str(tmp_path / "p"))
    path = t.write(config_dir)
    sub = path.with_suffix("") / "subagents"
    sub.mkdir(parents=True)
    (sub / "agent-a1.jsonl").write_bytes(b'{"type":"user"}\n')
    bundle = tmp_path / "out.tlbundle"
    export_bundle([t.session_id], bundle)
    assert _mode(bundle) == 0o600
    other = tmp_path / "other-config"
    import_bundle(bundle, config_dir=other)
    dest = other / "projects" / path.parent.name
    for d in (other, other / "threadline", other / "projects", dest, dest / t.session_id, dest / t.session_id / "subagents"):
        assert _mode(d) == 0o700, d
    assert _mode(dest / path.name) == 0o600


def test_validators_reject_a_trailing_newline(tmp_path: Path) -> None:
    """``$`` also matches before a final newline; the validators must not."""
    from threadline._ids import is_uuid
    from threadline.sessions._db import validate_namespace
    from threadline.sessions._keys import validate_subpath

    sid = str(uuid.uuid4())
    assert is_uuid(sid) and not is_uuid(sid + "\n")
    with pytest.raises(UserError):
        validate_namespace("threadline\n")
    with pytest.raises(UserError):
        validate_subpath("subagents/agent-a1\n")
    store = FileStore(tmp_path / "cfg")
    with pytest.raises(UserError):
        store.path_for({"project_key": "-p", "session_id": "abc\n"})


def test_cleanup_rejects_negative_days_and_config_dir_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threadline
    from threadline.sessions._paths import config_dir

    for bad in ({"older_than_days": -5}, {"grace_days": -1}, {"older_than_days": float("nan")}):
        with pytest.raises(threadline.UserError, match="days"):
            threadline.cleanup_sessions(**bad)  # type: ignore[arg-type]
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir("~/cfg") == tmp_path / "cfg"


def test_restore_rerun_after_a_crash_does_not_duplicate(config_dir: Path) -> None:
    path = _old_session(config_dir)
    sid = path.stem
    cleanup_sessions(dry_run=False)
    trashed = config_dir / "threadline" / "trash" / "-proj" / f"{sid}.jsonl"
    FileStore(config_dir).append_sync({"project_key": "-proj", "session_id": sid}, [_entry(sid)])
    # A restore that merged, then crashed before removing the trashed copy:
    merged = trashed.read_bytes() + path.read_bytes()
    path.write_bytes(merged)
    assert trashed.exists()
    restore_session(sid)
    assert path.read_bytes() == merged and len(_uuids(path)) == 2
    assert not trashed.exists()
