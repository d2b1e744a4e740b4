"""``SQLiteStore``: every session in one embedded SQLite file (WAL mode).

Layout: a ``transcripts`` row per key (head, mtime and, for main
transcripts, the folded summary), a ``chunks`` row per *append* holding the
batch as JSONL bytes (so a 10 000-entry session loads in a few rows), and a
``uuids`` table that makes ``uuid`` an idempotency key.

One connection strategy: the store owns one ``sqlite3`` connection, used only
from worker threads (``anyio.to_thread``) one call at a time (a capacity
limiter of 1), so the event loop never blocks. Writes run in
``BEGIN IMMEDIATE`` transactions; other processes sharing the file wait up to
``busy_timeout`` for the lock, so appenders in many processes are safe.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import orjson

from ..transcript._jsonl import dumps_value, iter_objects, loads_value
from ._db import (
    Batch,
    DatabaseStore,
    already_appended,
    check_db_key,
    check_expected_head,
    check_main_key,
    findable_session_id,
    findable_uuid,
    from_uuid,
    map_errors,
    merge_summary,
    prepare_batch,
    summary_from,
)
from ._keys import validate_project_key
from ._migrations import Migration
from ._protocol import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)

__all__ = ["SQLiteStore"]

T = TypeVar("T")

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "m001_initial",
        (
            """CREATE TABLE transcripts (
                id INTEGER PRIMARY KEY,
                project_key TEXT NOT NULL,
                session_id TEXT NOT NULL,
                subpath TEXT NOT NULL DEFAULT '',
                head TEXT,
                mtime INTEGER NOT NULL,
                summary BLOB,
                UNIQUE (project_key, session_id, subpath))""",
            "CREATE INDEX transcripts_by_session ON transcripts (session_id, mtime)",
            """CREATE TABLE chunks (
                id INTEGER PRIMARY KEY,
                transcript_id INTEGER NOT NULL,
                data BLOB NOT NULL)""",
            "CREATE INDEX chunks_by_transcript ON chunks (transcript_id, id)",
            """CREATE TABLE uuids (
                transcript_id INTEGER NOT NULL,
                uuid TEXT NOT NULL,
                PRIMARY KEY (transcript_id, uuid)) WITHOUT ROWID""",
        ),
    ),
    Migration(
        "m002_partial_loads",
        (
            # Entry counts (tail loads), the chunk of every uuid (loads after a uuid,
            # compaction starts), where a load from the last compaction starts.
            "ALTER TABLE chunks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE chunks ADD COLUMN n INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE uuids ADD COLUMN chunk_id INTEGER",
            "ALTER TABLE transcripts ADD COLUMN entries INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE transcripts ADD COLUMN resume_chunk INTEGER",
            "ALTER TABLE transcripts ADD COLUMN resume_at TEXT",
            # Existing chunks: count their lines; compactions made before are not indexed.
            "UPDATE chunks SET n = length(CAST(data AS TEXT)) - "
            "length(replace(CAST(data AS TEXT), char(10), ''))",
            "UPDATE chunks SET seq = w.s FROM (SELECT id, sum(n) OVER (PARTITION BY "
            "transcript_id ORDER BY id) - n AS s FROM chunks) AS w WHERE w.id = chunks.id",
            "UPDATE transcripts SET entries = (SELECT coalesce(sum(n), 0) FROM chunks "
            "WHERE transcript_id = transcripts.id), resume_chunk = 0",
        ),
    ),
)

_WHERE_KEY = "project_key = ? AND session_id = ? AND subpath = ?"


def _params(key: SessionKey) -> tuple[str, str, str]:
    return key["project_key"], key["session_id"], key.get("subpath", "")


_CHUNKS = "SELECT c.data FROM transcripts t LEFT JOIN chunks c ON c.transcript_id = t.id"
_T_KEY = "t.project_key = ? AND t.session_id = ? AND t.subpath = ?"


class SQLiteStore(DatabaseStore):
    """A :class:`~threadline.SessionStore` in one SQLite file; every optional method.

    Args:
        path: the database file (created with its directory if missing); ``":memory:"``
            gives a private database in memory, gone when the store is closed.
        busy_timeout: seconds to wait for another process's write lock.
        durable: ``synchronous=FULL`` (survives power loss) instead of
            ``NORMAL`` (survives a process crash; WAL's usual setting).

    Forks copy entries: a fork rewrites every entry's ``uuid`` and
    ``sessionId``, so there is no shared history to point at. Also a
    :class:`~threadline.sessions.PartialLoadStore`.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0, durable: bool = False
    ) -> None:
        self.path = Path(path)
        self._busy_ms = int(busy_timeout * 1000)
        self._durable = durable
        self._conn: sqlite3.Connection | None = None
        self._limiter = anyio.CapacityLimiter(1)
        self.bytes_read = 0
        """Transcript bytes fetched by loads so far (for tests and benchmarks)."""

    def _describe(self) -> str:
        return repr(str(self.path))

    async def _open(self) -> None:
        await self._call(lambda conn: None)

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    # -- plumbing ----------------------------------------------------------

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        return await anyio.to_thread.run_sync(self._in_thread, fn, limiter=self._limiter)

    def _in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with map_errors((sqlite3.Error,), f"{self!r}"):
            if self._conn is None:
                self._check_open()
                self._conn = self._connect()
            return fn(self._conn)

    def _connect(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":  # (sqlite3's name for a database in memory)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                # A new database holds transcripts: create it 0600 (SQLite's own -wal and
                # -shm files copy the database's mode) instead of 0644 by umask.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        conn = sqlite3.connect(
            self.path, timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {'FULL' if self._durable else 'NORMAL'}")
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def txn(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self._call(txn)

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        return await self._call(lambda c: c.execute(sql, params).fetchall())

    # -- appends -----------------------------------------------------------

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        check_db_key(key)
        batch = list(entries)
        await self._write(lambda conn: _append(conn, key, batch, None, check=False))

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        """Append only if the head is still ``expected_head`` (checked inside the write lock)."""
        check_db_key(key)
        check_expected_head(expected_head)
        batch = list(entries)
        await self._write(lambda conn: _append(conn, key, batch, expected_head, check=True))

    async def get_head(self, key: SessionKey) -> str | None:
        check_db_key(key)
        rows = await self._fetch(f"SELECT head FROM transcripts WHERE {_WHERE_KEY}", _params(key))
        return rows[0][0] if rows else None

    # -- reads -------------------------------------------------------------

    def _parse(self, chunks: list[bytes]) -> list[SessionStoreEntry]:
        self.bytes_read += sum(map(len, chunks))
        return list(iter_objects(b"".join(chunks)))  # type: ignore[arg-type]

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        check_db_key(key)
        rows = await self._fetch(f"{_CHUNKS} WHERE {_T_KEY} ORDER BY c.id", _params(key))
        if not rows:
            return None
        return self._parse([r[0] for r in rows if r[0] is not None])

    async def load_since_compaction(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        """The entries from the last compaction's preserved segment on (see the protocol)."""
        check_db_key(key)
        rows = await self._fetch(
            "SELECT t.resume_at, c.data FROM transcripts t LEFT JOIN chunks c "
            "ON c.transcript_id = t.id AND c.id >= coalesce(t.resume_chunk, 0) "
            f"WHERE {_T_KEY} ORDER BY c.id",
            _params(key),
        )
        if not rows:
            return None
        return from_uuid(self._parse([r[1] for r in rows if r[1] is not None]), rows[0][0])

    async def load_after(self, key: SessionKey, uuid: str) -> list[SessionStoreEntry] | None:
        """The entries after the one whose uuid is ``uuid`` (``None``: key or uuid unknown)."""
        check_db_key(key)
        if not findable_uuid(uuid):
            self._check_open()
            return None
        rows = await self._fetch(
            "SELECT c.data FROM transcripts t JOIN uuids u ON u.transcript_id = t.id "
            "AND u.uuid = ? JOIN chunks c ON c.transcript_id = t.id AND c.id >= u.chunk_id "
            f"WHERE {_T_KEY} ORDER BY c.id",
            (uuid, *_params(key)),
        )
        if not rows:
            return None
        return from_uuid(self._parse([r[0] for r in rows]), uuid, after=True)

    async def load_tail(self, key: SessionKey, count: int) -> list[SessionStoreEntry] | None:
        """The last ``count`` entries."""
        check_db_key(key)
        rows = await self._fetch(
            "SELECT c.data FROM transcripts t LEFT JOIN chunks c ON c.transcript_id = t.id "
            "AND c.id >= coalesce((SELECT max(k.id) FROM chunks k WHERE k.transcript_id = t.id "
            f"AND k.seq <= t.entries - ?), 0) WHERE {_T_KEY} ORDER BY c.id",
            (max(0, count), *_params(key)),
        )
        if not rows:
            return None
        entries = self._parse([r[0] for r in rows if r[0] is not None])
        return entries[max(0, len(entries) - count) :] if count > 0 else []

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        validate_project_key(project_key)
        rows = await self._fetch(
            "SELECT session_id, mtime FROM transcripts WHERE project_key = ? AND subpath = ''",
            (project_key,),
        )
        return [{"session_id": sid, "mtime": mtime} for sid, mtime in rows]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        validate_project_key(project_key)
        rows = await self._fetch(
            "SELECT session_id, mtime, summary FROM transcripts "
            "WHERE project_key = ? AND subpath = '' AND summary IS NOT NULL",
            (project_key,),
        )
        return [summary_from(sid, mtime, loads_value(blob)) for sid, mtime, blob in rows]

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        check_main_key(key)
        rows = await self._fetch(
            "SELECT subpath FROM transcripts WHERE project_key = ? AND session_id = ? "
            "AND subpath != '' ORDER BY subpath",
            (key["project_key"], key["session_id"]),
        )
        return [r[0] for r in rows]

    async def list_projects(self) -> list[str]:
        """Every project key that holds a transcript (for exporting everything)."""
        rows = await self._fetch("SELECT DISTINCT project_key FROM transcripts ORDER BY 1", ())
        return [r[0] for r in rows]

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The key of ``session_id`` in any project (the most recently written), else ``None``."""
        if not findable_session_id(session_id):
            self._check_open()
            return None
        rows = await self._fetch(
            "SELECT project_key FROM transcripts WHERE session_id = ? AND subpath = '' "
            "ORDER BY mtime DESC LIMIT 1",
            (session_id,),
        )
        return {"project_key": rows[0][0], "session_id": session_id} if rows else None

    # -- delete ------------------------------------------------------------

    async def delete(self, key: SessionKey) -> None:
        """Delete one key; a main key takes its subkeys and summary with it."""
        check_db_key(key)
        params: tuple[str, ...]
        if "subpath" in key:
            where, params = _WHERE_KEY, _params(key)
        else:
            where, params = "project_key = ? AND session_id = ?", _params(key)[:2]

        def run(conn: sqlite3.Connection) -> None:
            ids = f"SELECT id FROM transcripts WHERE {where}"
            conn.execute(f"DELETE FROM chunks WHERE transcript_id IN ({ids})", params)
            conn.execute(f"DELETE FROM uuids WHERE transcript_id IN ({ids})", params)
            conn.execute(f"DELETE FROM transcripts WHERE {where}", params)

        await self._write(run)


def _append(
    conn: sqlite3.Connection,
    key: SessionKey,
    entries: list[SessionStoreEntry],
    expected: str | None,
    *,
    check: bool,
) -> None:
    """One append inside ``BEGIN IMMEDIATE`` (the caller commits)."""
    row = conn.execute(
        "SELECT id, head, mtime, summary, entries, resume_chunk, resume_at FROM transcripts "
        f"WHERE {_WHERE_KEY}",
        _params(key),
    ).fetchone()
    tid, head, prev_mtime, blob, count, resume_chunk, resume_at = (
        row if row is not None else (None, None, 0, None, 0, None, None)
    )
    batch = prepare_batch(key, entries)
    stored = _stored(conn, tid, batch.uuids) if tid is not None else set()
    if check and already_appended(key, entries, stored=stored, head=head, expected=expected):
        return
    if stored:
        batch = prepare_batch(key, entries, stored)
    if tid is not None and batch.count == 0:
        return
    mtime = max(int(time.time() * 1000), prev_mtime + 1)
    summary = None
    if batch.delta is not None:
        prev = None if blob is None else loads_value(blob)
        summary = dumps_value(merge_summary(prev, batch.delta))
    if tid is None:
        tid = conn.execute(
            "INSERT INTO transcripts (project_key, session_id, subpath, mtime) "
            "VALUES (?, ?, ?, ?) RETURNING id",
            (*_params(key), mtime),
        ).fetchone()[0]
    chunk_id = None
    if batch.count:
        chunk_id = conn.execute(
            "INSERT INTO chunks (transcript_id, data, seq, n) VALUES (?, ?, ?, ?) RETURNING id",
            (tid, batch.chunk, count, batch.count),
        ).fetchone()[0]
        if batch.uuids:
            conn.executemany(
                "INSERT INTO uuids (transcript_id, uuid, chunk_id) VALUES (?, ?, ?)",
                [(tid, u, chunk_id) for u in batch.uuids],
            )
    if batch.boundary is not None:
        resume_chunk, resume_at = _resume_point(conn, tid, batch, chunk_id)
    conn.execute(
        "UPDATE transcripts SET head = coalesce(?, head), mtime = ?, summary = ?, "
        "entries = entries + ?, resume_chunk = ?, resume_at = ? WHERE id = ?",
        (batch.head, mtime, summary, batch.count, resume_chunk, resume_at, tid),
    )


def _stored(conn: sqlite3.Connection, tid: int, uuids: list[str]) -> set[str]:
    if not uuids:
        return set()
    found = {
        r[0]
        for r in conn.execute(
            "SELECT uuid FROM uuids WHERE transcript_id = ? "
            "AND uuid IN (SELECT value FROM json_each(?))",
            (tid, orjson.dumps(uuids).decode()),
        )
    }
    # json_each's text ends at a NUL ("a\u0000b" is "a"): such uuids are looked up one by one
    for uid in (u for u in uuids if "\x00" in u):
        if conn.execute(
            "SELECT 1 FROM uuids WHERE transcript_id = ? AND uuid = ?", (tid, uid)
        ).fetchone():
            found.add(uid)
    return found


def _resume_point(
    conn: sqlite3.Connection, tid: int, batch: Batch, chunk_id: int | None
) -> tuple[int | None, str | None]:
    """Where a load from the batch's compaction starts: its preserved head's chunk (stored
    earlier, or in this batch), else the boundary; ``(0, None)``: from the start."""
    start = batch.start_index()
    assert start is not None
    if start == batch.boundary and batch.preserved_head is not None:
        row = conn.execute(
            "SELECT chunk_id FROM uuids WHERE transcript_id = ? AND uuid = ?",
            (tid, batch.preserved_head),
        ).fetchone()
        if row is not None and row[0] != chunk_id:
            return (0, None) if row[0] is None else (row[0], batch.preserved_head)
    uid = batch.entries[start].get("uuid")
    return chunk_id, uid if isinstance(uid, str) else None


def _migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations this file lacks, recording each by name (forward-only)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
        for migration in MIGRATIONS:
            if migration.name in done:
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (migration.name, int(time.time() * 1000)),
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def applied_migrations(conn: Any) -> list[str]:
    """Names recorded in ``_migrations`` (for tests and diagnostics)."""
    return [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
