"""Retention: dry run, settings.json, tags keep, trash, restore, purge, racing writers."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from threadline._exceptions import SessionNotFoundError
from threadline.sessions import FileStore, SessionKey, tag_session
from threadline.sessions._filelog import locked_fd
from threadline.sessions._retention import cleanup_sessions, restore_session

DAY = 86_400


def _session(config: Path, *, age_days: float, project: str = "-proj", n: int = 2) -> Path:
    sid = str(uuid.uuid4())
    store = FileStore(config)
    key: SessionKey = {"project_key": project, "session_id": sid}
    parent = None
    entries = []
    for i in range(n):
        u = str(uuid.uuid4())
        entries.append(
            {
                "type": "user",
                "uuid": u,
                "parentUuid": parent,
                "sessionId": sid,
                "timestamp": "2026-01-01T00:00:00.000Z",
                "message": {"role": "user", "content": f"prompt {i}"},
            }
        )
        parent = u
    store.append_sync(key, entries)  # type: ignore[arg-type]
    path = store.path_for(key)
    (path.with_suffix("") / "subagents").mkdir(parents=True)
    (path.with_suffix("") / "subagents" / "agent-a1.jsonl").write_text("{}\n")
    old = time.time() - age_days * DAY
    os.utime(path, (old, old))
    return path


def test_dry_run_lists_and_changes_nothing(config_dir: Path) -> None:
    old = _session(config_dir, age_days=40)
    new = _session(config_dir, age_days=1)
    report = cleanup_sessions()
    assert report.dry_run and report.older_than_days == 30
    assert [s.session_id for s in report.removed] == [old.stem]
    assert old.exists() and new.exists()


def test_settings_cleanup_period_and_explicit_override(config_dir: Path) -> None:
    a = _session(config_dir, age_days=10)
    config_dir.joinpath("settings.json").write_text(json.dumps({"cleanupPeriodDays": 7}))
    assert [s.session_id for s in cleanup_sessions().removed] == [a.stem]
    assert cleanup_sessions(older_than_days=20).removed == []
    config_dir.joinpath("settings.json").write_text(json.dumps({"cleanupPeriodDays": 0}))
    assert cleanup_sessions().older_than_days == 30  # 0 is invalid, as in the CLI


def test_trash_restore_and_tags_keep(config_dir: Path) -> None:
    old = _session(config_dir, age_days=40)
    pinned = _session(config_dir, age_days=40)
    tag_session(pinned.stem, "pinned")
    os.utime(pinned, (time.time() - 40 * DAY,) * 2)
    hist = config_dir / "file-history" / old.stem
    hist.mkdir(parents=True)
    (hist / "x@v1").write_text("backup")
    content = old.read_bytes()

    report = cleanup_sessions(dry_run=False)
    assert [s.session_id for s in report.removed] == [old.stem]
    assert report.kept[pinned.stem] == "tagged: pinned"
    assert not old.exists() and not old.with_suffix("").exists() and not hist.exists()
    assert pinned.exists()
    trashed = config_dir / "threadline" / "trash" / "-proj" / old.name
    assert trashed.read_bytes() == content

    path = restore_session(old.stem)
    assert path == old and old.read_bytes() == content
    assert (old.with_suffix("") / "subagents" / "agent-a1.jsonl").exists()
    assert (hist / "x@v1").read_text() == "backup"
    with pytest.raises(SessionNotFoundError):
        restore_session(old.stem)


def test_purge_after_grace_period(config_dir: Path) -> None:
    old = _session(config_dir, age_days=40)
    cleanup_sessions(dry_run=False)
    later = time.time() + 31 * DAY
    assert cleanup_sessions(dry_run=True, now=later).purged == [old.stem]
    assert (config_dir / "threadline" / "trash" / "-proj" / old.name).exists()
    assert cleanup_sessions(dry_run=False, now=later).purged == [old.stem]
    assert not list((config_dir / "threadline" / "trash").rglob("*.jsonl"))
    with pytest.raises(SessionNotFoundError):
        restore_session(old.stem)


def test_a_session_being_appended_is_not_trashed(config_dir: Path) -> None:
    busy = _session(config_dir, age_days=40)
    held = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with locked_fd(busy, create=False):
            held.set()
            release.wait(5)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(5)
        report = cleanup_sessions(dry_run=False)
    finally:
        release.set()
        t.join()
    assert report.removed == [] and report.kept[busy.stem].startswith("busy")
    assert busy.exists()


def test_cleanup_racing_a_live_writer_loses_nothing(config_dir: Path) -> None:
    path = _session(config_dir, age_days=40, n=1)
    sid = path.stem
    key: SessionKey = {"project_key": "-proj", "session_id": sid}
    written: list[str] = []
    started = threading.Event()

    def writer() -> None:
        store = FileStore(config_dir)
        for i in range(300):
            u = str(uuid.uuid4())
            entry = {
                "type": "user",
                "uuid": u,
                "parentUuid": None,
                "message": {"role": "user", "content": "x"},
            }
            store.append_sync(key, [entry])  # type: ignore[list-item]
            written.append(u)
            if i == 20:
                started.set()
            time.sleep(0.0005)

    t = threading.Thread(target=writer)
    t.start()
    assert started.wait(5)
    future = time.time() + 40 * DAY  # every file counts as old: the race is real
    report = cleanup_sessions(dry_run=False, now=future, grace_days=100)
    t.join()
    assert len(written) == 300
    moved = [s.session_id for s in report.removed]
    if moved:  # trashed mid-write: the writer went on in a new file; restore merges both
        assert moved == [sid]
        restore_session(sid)
    else:  # or skipped as busy
        assert report.kept[sid].startswith("busy")
    uuids = [json.loads(x).get("uuid") for x in path.read_text().splitlines()]
    assert set(written) <= set(uuids)
    assert len(uuids) == len(set(uuids))
