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

from .._exceptions import StorageError
from ..transcript._jsonl import iter_objects
from ._migrations import (
    Migration,
    already_appended,
    batch_uuids,
    check_db_key,
    map_errors,
    plan_append,
    summary_from,
    summary_json,
)
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
)

_WHERE_KEY = "project_key = ? AND session_id = ? AND subpath = ?"


def _params(key: SessionKey) -> tuple[str, str, str]:
    return key["project_key"], key["session_id"], key.get("subpath", "")


class SQLiteStore:
    """A :class:`~threadline.SessionStore` in one SQLite file; every optional method.

    Args:
        path: the database file (created with its directory if missing).
        busy_timeout: seconds to wait for another process's write lock.
        durable: ``synchronous=FULL`` (survives power loss) instead of
            ``NORMAL`` (survives a process crash; WAL's usual setting).

    Forks copy entries: a fork rewrites every entry's ``uuid`` and
    ``sessionId``, so there is no shared history to point at.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0, durable: bool = False
    ) -> None:
        self.path = Path(path)
        self._busy_ms = int(busy_timeout * 1000)
        self._durable = durable
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._limiter = anyio.CapacityLimiter(1)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def __aenter__(self) -> SQLiteStore:
        await self._call(lambda conn: None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; idempotent. Later calls raise :class:`StorageError`."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    # -- plumbing ----------------------------------------------------------

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StorageError(f"{self!r} is closed")
        return await anyio.to_thread.run_sync(self._in_thread, fn, limiter=self._limiter)

    def _in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with map_errors((sqlite3.Error,), f"{self!r}"):
            if self._conn is None:
                if self._closed:
                    raise StorageError(f"{self!r} is closed")
                self._conn = self._connect()
            return fn(self._conn)

    def _connect(self) -> sqlite3.Connection:
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
        batch = list(entries)
        await self._write(lambda conn: _append(conn, key, batch, expected_head, check=True))

    async def get_head(self, key: SessionKey) -> str | None:
        check_db_key(key)
        row = await self._call(
            lambda c: c.execute(
                f"SELECT head FROM transcripts WHERE {_WHERE_KEY}", _params(key)
            ).fetchone()
        )
        return None if row is None else row[0]

    # -- reads -------------------------------------------------------------

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        check_db_key(key)
        rows = await self._call(
            lambda c: c.execute(
                "SELECT t.id, c.data FROM transcripts t LEFT JOIN chunks c ON c.transcript_id = t.id "
                "WHERE t.project_key = ? AND t.session_id = ? AND t.subpath = ? ORDER BY c.id",
                _params(key),
            ).fetchall()
        )
        if not rows:
            return None
        data = b"".join(r[1] for r in rows if r[1] is not None)
        return list(iter_objects(data))  # type: ignore[arg-type]

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        rows = await self._call(
            lambda c: c.execute(
                "SELECT session_id, mtime FROM transcripts WHERE project_key = ? AND subpath = ''",
                (project_key,),
            ).fetchall()
        )
        return [{"session_id": sid, "mtime": mtime} for sid, mtime in rows]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        import orjson

        rows = await self._call(
            lambda c: c.execute(
                "SELECT session_id, mtime, summary FROM transcripts "
                "WHERE project_key = ? AND subpath = '' AND summary IS NOT NULL",
                (project_key,),
            ).fetchall()
        )
        return [summary_from(sid, mtime, orjson.loads(blob)) for sid, mtime, blob in rows]

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        rows = await self._call(
            lambda c: c.execute(
                "SELECT subpath FROM transcripts WHERE project_key = ? AND session_id = ? "
                "AND subpath != '' ORDER BY subpath",
                (key["project_key"], key["session_id"]),
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def list_projects(self) -> list[str]:
        """Every project key that holds a transcript (for exporting everything)."""
        rows = await self._call(
            lambda c: c.execute(
                "SELECT DISTINCT project_key FROM transcripts ORDER BY 1"
            ).fetchall()
        )
        return [r[0] for r in rows]

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The key of ``session_id`` in any project (the most recently written), else ``None``."""
        row = await self._call(
            lambda c: c.execute(
                "SELECT project_key FROM transcripts WHERE session_id = ? AND subpath = '' "
                "ORDER BY mtime DESC LIMIT 1",
                (session_id,),
            ).fetchone()
        )
        return None if row is None else {"project_key": row[0], "session_id": session_id}

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
    import orjson

    row = conn.execute(
        f"SELECT id, head, mtime, summary FROM transcripts WHERE {_WHERE_KEY}", _params(key)
    ).fetchone()
    tid, head, prev_mtime, blob = row if row is not None else (None, None, 0, None)
    uuids = batch_uuids(entries)
    stored: set[str] = set()
    if tid is not None and uuids:
        stored = {
            r[0]
            for r in conn.execute(
                "SELECT uuid FROM uuids WHERE transcript_id = ? AND uuid IN (SELECT value FROM json_each(?))",
                (tid, orjson.dumps(uuids).decode()),
            )
        }
    if check and already_appended(key, entries, stored=stored, head=head, expected=expected):
        return
    prev = None if blob is None else summary_from(key["session_id"], prev_mtime, orjson.loads(blob))
    plan = plan_append(key, entries, stored=stored, head=head, summary=prev)
    if tid is not None and plan.count == 0:
        return
    mtime = max(int(time.time() * 1000), prev_mtime + 1)
    summary = None if plan.summary is None else summary_json(plan.summary)
    if tid is None:
        tid = conn.execute(
            "INSERT INTO transcripts (project_key, session_id, subpath, head, mtime, summary) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (*_params(key), plan.head, mtime, summary),
        ).fetchone()[0]
    else:
        conn.execute(
            "UPDATE transcripts SET head = ?, mtime = ?, summary = ? WHERE id = ?",
            (plan.head, mtime, summary, tid),
        )
    if plan.chunk:
        conn.execute("INSERT INTO chunks (transcript_id, data) VALUES (?, ?)", (tid, plan.chunk))
    if plan.uuids:
        conn.executemany(
            "INSERT INTO uuids (transcript_id, uuid) VALUES (?, ?)", [(tid, u) for u in plan.uuids]
        )


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
