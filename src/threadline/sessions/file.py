"""``FileStore``: the default store, Claude Code's own layout on local disk.

``<config>/projects/<project_key>/<session_id>.jsonl`` for main transcripts
and ``<config>/projects/<project_key>/<session_id>/<subpath>.jsonl`` for
subagents, so the real ``claude`` CLI and the official readers see everything
threadline writes, and the other way round. A subagent stream's
``agent_metadata`` entry is written as the ``.meta.json`` sidecar the CLI uses.

Appends are durable whole lines under an exclusive lock, with torn-tail
repair (see :mod:`threadline.sessions._filelog`). ``uuid`` is an idempotency
key: a retried batch is not duplicated, even across processes.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import orjson

from .._exceptions import ConcurrentModificationError, StorageError, UserError
from ..transcript._fileio import atomic_write
from ..transcript._jsonl import dumps_line, gc_paused, iter_objects, loads_line
from ..transcript._views import CHAIN_TYPES
from ._boundary import is_boundary, preserved_head
from ._filelog import ensure_private_dir, locked_fd, read_complete, repair_tail
from ._filepartial import entries_after, last_entries, since_compaction
from ._keys import is_project_key, is_unicode, validate_key, validate_main_key
from ._offsets import compacted_floor, record_boundary
from ._paths import config_dir as _config_dir
from ._protocol import (
    PrepareLines,
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)

__all__ = ["FileStore"]

_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,250}\Z")
_UUID_VALUE = re.compile(rb'"uuid":\s*"([^"\\]*)(["\\])')
"""A uuid value up to its end (``"``), or up to an escape (``\\``: NUL, a quote, a
backslash, a line escaped whole; rare, then read whole with :data:`_UUID_ESCAPED`)."""
_UUID_ESCAPED = re.compile(rb'"uuid":\s*"((?:[^"\\]|\\.)*)"')


class _UuidCache:
    """The uuids already in one file, kept current by scanning only new bytes."""

    __slots__ = ("head", "ino", "size", "tail", "uuids")

    def __init__(self) -> None:
        self.ino = -1
        self.size = 0
        self.uuids: set[str] = set()
        self.head: str | None = None
        self.tail = b""
        """The last bytes seen (up to ``_TAIL``): they must still be there at ``size``."""


_TAIL = 256
_F = TypeVar("_F", bound=Callable[..., Any])

_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.ENAMETOOLONG: "the path is too long for the file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "an I/O error",
}


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """Operating-system failures surface as :class:`StorageError` (the cause chained)."""
    try:
        yield
    except OSError as exc:
        hint = _HINTS.get(exc.errno or 0) or exc.strerror or str(exc)
        where = f" {exc.filename}" if exc.filename else ""
        raise StorageError(f"FileStore could not {action}{where}: {hint} ({exc})") from exc


def _maps_os_errors(action: str) -> Callable[[_F], _F]:
    def wrap(fn: _F) -> _F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            with _storage_errors(action):
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


class FileStore:
    """Session store over Claude Code's on-disk layout (the default store).

    Args:
        config_dir: the Claude config directory; default ``$CLAUDE_CONFIG_DIR``
            or ``~/.claude``, resolved when the store is created.
        fsync: also ``fsync`` after each append (survives power loss, slower).
            Without it an append survives the process being killed, since
            the kernel already holds the whole line.
        lock_timeout: seconds an append waits for another writer's lock on the
            same transcript before raising :class:`StorageError` (default 60).
            The wait is cancellable.

    Operating-system failures (a full disk, a path too long, permissions) raise
    :class:`~threadline.StorageError` with the ``OSError`` chained; an append that
    fails leaves the transcript as it was.
    """

    def __init__(
        self,
        config_dir: str | os.PathLike[str] | None = None,
        *,
        fsync: bool = False,
        lock_timeout: float | None = None,
    ) -> None:
        if lock_timeout is not None and not lock_timeout > 0:
            raise UserError(f"FileStore lock_timeout must be positive, not {lock_timeout!r}")
        self.config_dir = _config_dir(config_dir)
        self.projects_dir = self.config_dir / "projects"
        self._fsync = fsync
        self._lock_timeout = lock_timeout
        self._uuid_caches: dict[Path, _UuidCache] = {}

    def __repr__(self) -> str:
        return f"FileStore(config_dir={str(self.config_dir)!r})"

    async def __aenter__(self) -> FileStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._uuid_caches.clear()

    # -- paths -------------------------------------------------------------

    def _check(self, key: SessionKey) -> SessionKey:
        validate_key(key, strict_ids=False)
        if not _SAFE_COMPONENT.match(key["session_id"]):
            raise UserError(f"Invalid session_id for a file store: {key['session_id']!r}")
        if not _SAFE_COMPONENT.match(key["project_key"]) and not key["project_key"].startswith("-"):
            raise UserError(f"Invalid project_key: {key['project_key']!r}")
        return key

    def path_for(self, key: SessionKey) -> Path:
        """The transcript file of ``key`` (validated: it cannot leave the projects dir)."""
        self._check(key)
        project = self.projects_dir / key["project_key"]
        sub = key.get("subpath")
        if sub:
            return project / key["session_id"] / (sub + ".jsonl")
        return project / (key["session_id"] + ".jsonl")

    # -- required ----------------------------------------------------------

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        path = self.path_for(key)
        if not entries:
            return
        await anyio.to_thread.run_sync(self._append_sync, path, key, list(entries))

    async def append_prepared(
        self, key: SessionKey, entries: list[SessionStoreEntry], prepare: PrepareLines
    ) -> None:
        """:meth:`append` of what ``prepare`` makes of ``entries`` in the worker thread: the
        entries to write and their JSON lines, so a wrapper that serialises them anyway
        (redaction) does not make this store serialise them again
        (:class:`~threadline.sessions.PreparedAppendStore`)."""
        path = self.path_for(key)
        if not entries:
            return
        await anyio.to_thread.run_sync(self._append_lines, path, key, entries, prepare, False, None)

    async def append_conditional_prepared(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        prepare: PrepareLines,
        *,
        expected_head: str | None,
    ) -> None:
        """:meth:`append_conditional` of what ``prepare`` makes of ``entries`` (see
        :meth:`append_prepared`)."""
        path = self.path_for(key)
        await anyio.to_thread.run_sync(
            self._append_lines, path, key, entries, prepare, True, expected_head
        )

    def _append_lines(
        self,
        path: Path,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        prepare: PrepareLines,
        check: bool,
        expected: str | None,
    ) -> None:
        ready, lines = prepare(list(entries))
        self._append_sync(path, key, ready, check=check, expected=expected, lines=lines)

    def append_sync(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        """Blocking variant of :meth:`append` for synchronous callers."""
        path = self.path_for(key)
        if entries:
            self._append_sync(path, key, list(entries))

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        """Append only if the session's head is still ``expected_head``.

        Detects a second writer (another process or host sharing the file)
        under the same lock as the write; see the protocol docs.
        """
        path = self.path_for(key)
        await anyio.to_thread.run_sync(
            lambda: self._append_sync(path, key, list(entries), check=True, expected=expected_head)
        )

    async def get_head(self, key: SessionKey) -> str | None:
        path = self.path_for(key)
        return await anyio.to_thread.run_sync(self.get_head_sync, path)

    @_maps_os_errors("read the head of")
    def get_head_sync(self, path: Path) -> str | None:
        try:
            with locked_fd(path, create=False, timeout=self._lock_timeout) as fd:
                size = repair_tail(fd)
                return self._refresh_uuids(path, fd, size).head
        except FileNotFoundError:
            return None

    @_maps_os_errors("append to")
    def _append_sync(
        self,
        path: Path,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        *,
        check: bool = False,
        expected: str | None = None,
        lines: list[bytes] | None = None,
    ) -> None:
        """``lines``: the entries' JSON lines when the caller has them (same order).

        Long: one locked section (repair, dedupe, head check, write, index) that must not be spread
        across calls holding the lock.
        """
        ensure_private_dir(path.parent, stop_at=self.config_dir)
        if key.get("subpath"):
            meta = [e for e in entries if e.get("type") == "agent_metadata"]
            if meta:
                self._write_sidecar(path, meta[-1])
                entries = [e for e in entries if e.get("type") != "agent_metadata"]
                lines = None
                if not entries:
                    return
        with locked_fd(path, create=True, timeout=self._lock_timeout) as fd:
            # Everything below runs under the exclusive lock, so the uuid check
            # and the write are atomic with respect to other threadline writers
            # (threads and processes alike).
            size = repair_tail(fd)
            cache = self._refresh_uuids(path, fd, size)
            if check and cache.head != expected:
                uuids = [e.get("uuid") for e in entries]
                if uuids and all(isinstance(u, str) and u in cache.uuids for u in uuids):
                    return  # a retry of a batch that already landed
                raise ConcurrentModificationError(
                    f"Session {key['session_id']} was changed by another writer "
                    f"(expected head {expected}, found {cache.head})",
                    expected=expected,
                    actual=cache.head,
                )
            out: list[bytes] = []
            batch_uuids: set[str] = set()
            head = cache.head
            compaction: tuple[str, str] | None = None
            for i, entry in enumerate(entries):
                uid = entry.get("uuid")
                if isinstance(uid, str):
                    if uid in cache.uuids or uid in batch_uuids:
                        continue
                    batch_uuids.add(uid)
                    if entry.get("type") in CHAIN_TYPES:
                        head = uid
                    if is_boundary(entry):
                        compaction = _compaction_start(entry, uid, cache.uuids, batch_uuids)
                out.append(dumps_line(entry) if lines is None else lines[i])
            if not out:
                return
            data = b"".join(out)
            _write_all(fd, data, size, fsync=self._fsync)
            written = len(data)
            cache.uuids |= batch_uuids
            cache.head = head
            cache.size = size + written
            cache.tail = data[-_TAIL:]
        if not key.get("subpath"):
            if compaction is not None:  # partial loads start there (the offset sidecar)
                record_boundary(path, *compaction)
            self._refresh_index(path)

    def _refresh_index(self, path: Path) -> None:
        """Keep the listing index current with our own write (best effort: it is a cache)."""
        from ._index import SummaryIndex

        try:
            SummaryIndex.for_config_dir(self.config_dir).refresh(path)
        except Exception:  # pragma: no cover - the index must never fail a write
            pass

    def _refresh_uuids(self, path: Path, fd: int, size: int) -> _UuidCache:
        """The uuid set of ``path`` (lock held), reading only bytes appended since last time."""
        cache = self._uuid_caches.get(path)
        if cache is None:
            cache = self._uuid_caches[path] = _UuidCache()
        ino = os.fstat(fd).st_ino
        if (
            ino != cache.ino
            or size < cache.size
            or (cache.tail and os.pread(fd, len(cache.tail), cache.size - len(cache.tail)) != cache.tail)
        ):
            # Another process may have replaced the file (a reused inode number) or
            # truncated and rewritten it in place: the bytes we saw last are then gone.
            # First look at this file (or it was replaced): the scan starts at the last
            # compaction's preserved segment when one is recorded, so resuming a long,
            # compacted session does not read its whole history.
            cache.ino, cache.uuids, cache.head, cache.tail = ino, set(), None, b""
            cache.size = compacted_floor(path, fd, size)
        if size > cache.size:
            new = os.pread(fd, size - cache.size, cache.size)
            # uuids by pattern, not by parsing every line: this runs over whole files the
            # first time a process appends to them. (A nested "uuid" key inside a message
            # only adds a string to the dedup set, which a fresh uuid4 never equals.)
            found = _UUID_VALUE.findall(new)
            cache.uuids.update(v.decode("utf-8", "replace") for v, end in found if end == b'"')
            if any(end != b'"' for _, end in found):
                cache.uuids.update(_unescaped(m) for m in _UUID_ESCAPED.findall(new) if b"\\" in m)
            head = _last_chain_uuid(new)
            if head is not None:
                cache.head = head
            cache.size = size
            cache.tail = new[-_TAIL:]
        return cache

    def _write_sidecar(self, transcript: Path, meta: SessionStoreEntry) -> None:
        data = {k: v for k, v in meta.items() if k != "type"}
        target = transcript.with_name(transcript.name[: -len(".jsonl")] + ".meta.json")
        atomic_write(target, orjson.dumps(data), fsync=True)

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        path = self.path_for(key)
        return await anyio.to_thread.run_sync(self._load_sync, path, key)

    async def load_checked(
        self, key: SessionKey
    ) -> tuple[list[SessionStoreEntry] | None, list[int]]:
        """:meth:`load`, plus the numbers (1-based) of the complete lines that are not JSON
        objects. :meth:`load` skips such lines, as Claude Code's readers do; a wrapper whose
        entries must all arrive (``EncryptedStore``) asks with this instead. A torn last line
        (a crash mid-append) is not counted: it was never acknowledged."""
        path = self.path_for(key)
        bad: list[int] = []
        entries = await anyio.to_thread.run_sync(self._load_sync, path, key, bad)
        return entries, bad

    @_maps_os_errors("read")
    def _load_sync(
        self, path: Path, key: SessionKey, bad: list[int] | None = None
    ) -> list[SessionStoreEntry] | None:
        try:
            data = read_complete(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        with gc_paused():
            entries: list[Any] = list(iter_objects(data)) if bad is None else _checked(data, bad)
        if key.get("subpath"):
            sidecar = path.with_name(path.name[: -len(".jsonl")] + ".meta.json")
            try:
                meta = orjson.loads(sidecar.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                meta = None
            if isinstance(meta, dict):
                entries.append({**meta, "type": "agent_metadata"})
        return entries

    # -- partial loads (PartialLoadStore) -------------------------------------

    async def load_since_compaction(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        """The entries from the last compaction's preserved segment on (the offset sidecar)."""
        return await self._partial(key, since_compaction)

    async def load_after(self, key: SessionKey, uuid: str) -> list[SessionStoreEntry] | None:
        """The entries after the one whose uuid is ``uuid`` (``None``: key or uuid unknown)."""
        return await self._partial(key, lambda path: entries_after(path, uuid), uuid=uuid)

    async def load_tail(self, key: SessionKey, count: int) -> list[SessionStoreEntry] | None:
        """The last ``count`` entries (read back from the end of the file)."""
        return await self._partial(key, lambda path: last_entries(path, count), count=count)

    async def _partial(
        self,
        key: SessionKey,
        read: Callable[[Path], list[Any] | None],
        *,
        uuid: str | None = None,
        count: int | None = None,
    ) -> list[SessionStoreEntry] | None:
        path = self.path_for(key)
        if not key.get("subpath"):
            return await anyio.to_thread.run_sync(read, path)
        # A subagent's load ends with its metadata sidecar: cut the whole load instead.
        entries = await anyio.to_thread.run_sync(self._load_sync, path, key)
        if entries is None or (uuid is None and count is None):
            return entries
        if count is not None:
            return entries[max(0, len(entries) - count) :] if count > 0 else []
        at = next((i for i in range(len(entries) - 1, -1, -1) if entries[i].get("uuid") == uuid), None)
        return None if at is None else entries[at + 1 :]  # (after the last copy, as above)

    # -- optional ----------------------------------------------------------

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        return await anyio.to_thread.run_sync(self._list_sessions_sync, project_key)

    def _project_dir(self, project_key: str) -> Path:
        """``projects/<project_key>``, validated like a key's (one path component)."""
        validate_key({"project_key": project_key, "session_id": "x"}, strict_ids=False)
        return self.projects_dir / project_key

    @_maps_os_errors("list the sessions of")
    def _list_sessions_sync(self, project_key: str) -> list[SessionStoreListEntry]:
        out: list[SessionStoreListEntry] = []
        project_dir = self._project_dir(project_key)
        try:
            it = os.scandir(project_dir)
        except OSError:
            return out
        with it:
            for entry in it:
                name = entry.name
                if not name.endswith(".jsonl"):
                    continue
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if not entry.is_file():
                    continue
                out.append({"session_id": name[:-6], "mtime": int(st.st_mtime * 1000)})
        return out

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        from ._index import summaries_for_project

        return await anyio.to_thread.run_sync(
            summaries_for_project, self.config_dir, self._project_dir(project_key)
        )

    async def delete(self, key: SessionKey) -> None:
        path = self.path_for(key)
        await anyio.to_thread.run_sync(self._delete_sync, path, key)

    @_maps_os_errors("delete")
    def _delete_sync(self, path: Path, key: SessionKey) -> None:
        for victim in (path, path.with_name(path.name[: -len(".jsonl")] + ".meta.json")):
            try:
                victim.unlink()
            except FileNotFoundError:
                pass
        self._uuid_caches.pop(path, None)
        if not key.get("subpath"):
            import shutil  # (here: with bz2 and lzma, ≈ 4 ms of a fresh process's imports)

            shutil.rmtree(path.with_suffix(""), ignore_errors=True)

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        base = self.path_for(validate_main_key(key))
        root = base.with_suffix("")
        return await anyio.to_thread.run_sync(_walk_subkeys, root)

    def project_dirs(self) -> list[str]:
        """The names of the project directories, sorted, except those no key can name (not
        valid Unicode, a backslash: a folder another program made). Raises
        :class:`OSError` (``FileNotFoundError`` when there is no projects directory yet)."""
        with os.scandir(self.projects_dir) as it:
            return sorted(e.name for e in it if is_project_key(e.name) and e.is_dir())

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The key of ``session_id`` in any project directory (newest non-empty file)."""
        return await anyio.to_thread.run_sync(self.find_session_sync, session_id)

    @_maps_os_errors("search the projects for")
    def find_session_sync(self, session_id: str) -> SessionKey | None:
        if not _SAFE_COMPONENT.match(session_id):
            return None
        best: tuple[float, str] | None = None
        try:
            it = os.scandir(self.projects_dir)
        except OSError:
            return None
        with it:
            for d in it:
                if not is_unicode(d.name):  # a name no key can hold (undecodable bytes)
                    continue
                try:
                    st = os.stat(os.path.join(d.path, session_id + ".jsonl"))
                except OSError:
                    continue
                if st.st_size > 0 and (best is None or st.st_mtime > best[0]):
                    best = (st.st_mtime, d.name)
        return None if best is None else {"project_key": best[1], "session_id": session_id}


def _write_all(fd: int, data: bytes, size: int, *, fsync: bool) -> None:
    """Write ``data`` at the end (``O_APPEND``); on failure cut the file back to ``size``,
    so a half-written batch (a full disk) never stays behind as a torn line."""
    view = memoryview(data)
    written = 0
    try:
        while written < len(data):
            written += os.write(fd, view[written:])
        if fsync:
            os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
        raise


def _checked(data: bytes, bad: list[int]) -> list[Any]:
    """Every JSON object line of ``data``; the numbers of the other non-blank lines go to ``bad``."""
    out: list[Any] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line or line.isspace():
            continue
        obj = loads_line(line)
        if obj is None:
            bad.append(number)
        else:
            out.append(obj)
    return out


def _unescaped(value: bytes) -> str:
    """A JSON string's content (its escapes undone; a lone surrogate's escape kept as one)."""
    try:
        return str(json.loads(b'"' + value + b'"'))
    except ValueError:
        return value.decode("utf-8", "replace")


def _last_chain_uuid(data: bytes) -> str | None:
    """The uuid of the last chain entry in a JSONL buffer, parsing lines from the end."""
    end = len(data)
    while end > 0:
        start = data.rfind(b"\n", 0, end - 1) + 1
        line = data[start:end]
        if b'"uuid"' in line:
            obj = loads_line(line)
            if obj is not None and obj.get("type") in CHAIN_TYPES:
                uid = obj.get("uuid")
                if isinstance(uid, str):
                    return uid
        end = start
    return None


def _compaction_start(
    boundary: SessionStoreEntry, uid: str, *stored: set[str]
) -> tuple[str, str]:
    """(boundary uuid, where a load from it starts): its preserved head when that entry is
    already written (or earlier in the batch), else the boundary."""
    head = preserved_head(boundary)
    if head is not None and head != uid and any(head in s for s in stored):
        return uid, head
    return uid, uid


def _walk_subkeys(root: Path) -> list[str]:
    out: list[str] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            if name.endswith(".jsonl"):
                stem = name[:-6]
                out.append(stem if rel == "." else f"{rel.replace(os.sep, '/')}/{stem}")
    return out
