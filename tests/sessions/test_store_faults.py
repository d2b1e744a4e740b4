"""FileStore under faults (issue #15 item 12): documented errors, bounded and cancellable waits.

- a full disk or a name too long raised a raw ``OSError`` where ``StorageError`` is documented;
- a half-written batch must not stay behind;
- a writer waiting for another writer's lock waited forever and could not be cancelled.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline import FileStore, StorageError

pytestmark = pytest.mark.anyio


def _entry(text: str = "hi") -> dict[str, Any]:
    return {"type": "user", "uuid": str(uuid.uuid4()), "message": {"role": "user", "content": text}}


def _key(sid: str | None = None, project: str = "-tmp-project") -> Any:
    return {"project_key": project, "session_id": sid or str(uuid.uuid4())}


async def test_full_disk_is_a_storage_error_and_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path)
    key = _key()
    first = _entry("kept")
    await store.append(key, [first])
    path = store.path_for(key)
    before = path.read_bytes()

    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        if len(data) > 10:
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    import threadline.sessions.file as file_module

    monkeypatch.setattr(file_module.os, "write", half_then_full)
    with pytest.raises(StorageError, match="disk is full") as info:
        await store.append(key, [_entry("x" * 200)])
    assert isinstance(info.value.__cause__, OSError)
    monkeypatch.setattr(file_module.os, "write", real_write)
    assert path.read_bytes() == before  # no torn half-line left behind
    assert await store.load(key) == [first]


async def test_name_too_long_is_a_storage_error(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with pytest.raises(StorageError, match="too long"):
        await store.append(_key(project="-" + "x" * 400), [_entry()])


async def test_unwritable_directory_is_a_storage_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root ignores permission bits: a read-only bind is not available, so use a file
        # where the projects directory should be
        (tmp_path / "projects").write_text("not a directory")
    else:
        (tmp_path / "projects").mkdir(mode=0o500)
    store = FileStore(tmp_path)
    with pytest.raises(StorageError):
        await store.append(_key(), [_entry()])


def _hold_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


async def test_lock_wait_is_bounded(tmp_path: Path) -> None:
    store = FileStore(tmp_path, lock_timeout=0.3)
    key = _key()
    await store.append(key, [_entry()])
    fd = _hold_lock(store.path_for(key))
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="Timed out"):
            await store.append(key, [_entry("late")])
        assert time.monotonic() - started < 5
    finally:
        os.close(fd)
    assert len(await store.load(key) or []) == 1


async def test_lock_wait_is_cancellable_and_writes_nothing_afterwards(tmp_path: Path) -> None:
    store = FileStore(tmp_path)  # the default timeout: a minute
    key = _key()
    await store.append(key, [_entry()])
    fd = _hold_lock(store.path_for(key))
    try:
        started = time.monotonic()
        with anyio.move_on_after(0.3) as scope:
            await store.append(key, [_entry("cancelled")])
        assert scope.cancelled_caught
        assert time.monotonic() - started < 5
    finally:
        os.close(fd)
    await anyio.sleep(0.1)
    loaded = await store.load(key) or []
    assert [e["message"]["content"] for e in loaded] == ["hi"]


async def test_lock_timeout_must_be_positive(tmp_path: Path) -> None:
    from threadline import UserError

    with pytest.raises(UserError):
        FileStore(tmp_path, lock_timeout=0)
