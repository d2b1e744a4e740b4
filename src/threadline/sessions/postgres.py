"""``PostgresStore``: sessions shared by many hosts through PostgreSQL (psycopg 3, async pool).

Everything lives in one schema, the *namespace* (created if missing), so one
database can serve several applications or tests. Tables (see
``MIGRATIONS``; applied forward-only and recorded in ``<namespace>._migrations``
under an advisory lock, so many processes can start at once):

- ``transcripts``: one row per key with its head, ``mtime`` (database clock,
  epoch ms, strictly increasing per key) and, for main transcripts, the
  summary folded on append, so listing reads no transcript.
- ``chunks``: one row per append, the batch as JSONL bytes; a long session
  loads from a handful of rows.
- ``uuids``: ``uuid`` as an idempotency key (a retried batch is not duplicated).

An append is one transaction that first locks the key's ``transcripts`` row
(an upsert), so appends to one session are serialized across hosts and
``append_conditional`` lets exactly one of N racing writers win. Driver
errors surface as :class:`~threadline.StorageError`. asyncio only (psycopg's
async API). Forks copy: a fork rewrites every ``uuid`` and ``sessionId``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from .._exceptions import StorageError
from ..transcript._jsonl import iter_objects
from ._migrations import (
    Migration,
    already_appended,
    batch_uuids,
    check_db_key,
    map_errors,
    plan_append,
    require_driver,
    summary_from,
    summary_json,
    validate_namespace,
)
from ._protocol import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresStore"]

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "m001_initial",
        (
            """CREATE TABLE {s}.transcripts (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                project_key text NOT NULL,
                session_id text NOT NULL,
                subpath text NOT NULL DEFAULT '',
                head text,
                mtime bigint NOT NULL,
                summary bytea,
                UNIQUE (project_key, session_id, subpath))""",
            "CREATE INDEX transcripts_by_session ON {s}.transcripts (session_id, mtime)",
            """CREATE TABLE {s}.chunks (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                transcript_id bigint NOT NULL REFERENCES {s}.transcripts (id) ON DELETE CASCADE,
                data bytea NOT NULL)""",
            "CREATE INDEX chunks_by_transcript ON {s}.chunks (transcript_id, id)",
            """CREATE TABLE {s}.uuids (
                transcript_id bigint NOT NULL REFERENCES {s}.transcripts (id) ON DELETE CASCADE,
                uuid text NOT NULL,
                PRIMARY KEY (transcript_id, uuid))""",
        ),
    ),
)

_NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

_QUERIES = {
    "lock": "INSERT INTO {s}.transcripts AS t (project_key, session_id, subpath, mtime) "
    "VALUES (%s, %s, %s, 0) ON CONFLICT (project_key, session_id, subpath) "
    "DO UPDATE SET mtime = t.mtime RETURNING id, head, mtime, summary",
    "stored": "SELECT uuid FROM {s}.uuids WHERE uuid = ANY(%s) AND transcript_id = "
    "(SELECT id FROM {s}.transcripts WHERE project_key = %s AND session_id = %s AND subpath = %s)",
    "write": "WITH u AS (UPDATE {s}.transcripts SET head = %(head)s, summary = %(summary)s, "
    f"mtime = GREATEST({_NOW_MS}, mtime + 1) WHERE id = %(tid)s RETURNING mtime), "
    "c AS (INSERT INTO {s}.chunks (transcript_id, data) SELECT %(tid)s, %(chunk)s "
    "WHERE octet_length(%(chunk)s) > 0), "
    "x AS (INSERT INTO {s}.uuids (transcript_id, uuid) SELECT %(tid)s, unnest(%(uuids)s::text[])) "
    "SELECT mtime FROM u",
    "head": "SELECT head FROM {s}.transcripts "
    "WHERE project_key = %s AND session_id = %s AND subpath = %s",
    "load": "SELECT t.id, c.data FROM {s}.transcripts t "
    "LEFT JOIN {s}.chunks c ON c.transcript_id = t.id "
    "WHERE t.project_key = %s AND t.session_id = %s AND t.subpath = %s ORDER BY c.id",
    "list": "SELECT session_id, mtime FROM {s}.transcripts WHERE project_key = %s AND subpath = ''",
    "summaries": "SELECT session_id, mtime, summary FROM {s}.transcripts "
    "WHERE project_key = %s AND subpath = '' AND summary IS NOT NULL",
    "subkeys": "SELECT subpath FROM {s}.transcripts WHERE project_key = %s AND session_id = %s "
    "AND subpath <> '' ORDER BY subpath",
    "projects": "SELECT DISTINCT project_key FROM {s}.transcripts ORDER BY 1",
    "find": "SELECT project_key FROM {s}.transcripts WHERE session_id = %s AND subpath = '' "
    "ORDER BY mtime DESC LIMIT 1",
    "delete_main": "DELETE FROM {s}.transcripts WHERE project_key = %s AND session_id = %s",
    "delete_sub": "DELETE FROM {s}.transcripts "
    "WHERE project_key = %s AND session_id = %s AND subpath = %s",
}


def _params(key: SessionKey) -> tuple[str, str, str]:
    return key["project_key"], key["session_id"], key.get("subpath", "")


class PostgresStore:
    """A :class:`~threadline.SessionStore` in a PostgreSQL schema; every optional method.

    Args:
        dsn: a libpq connection string or URL (``postgresql://user@host/db``).
        namespace: the schema that holds the tables (created if missing);
            lowercase letters, digits and ``_``.
        min_size / max_size: connection pool bounds.
        connect_timeout: seconds to wait for the first connection.

    The pool opens on first use (or ``async with``); ``aclose()`` closes it
    and is idempotent.
    """

    def __init__(
        self,
        dsn: str,
        *,
        namespace: str = "threadline",
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> None:
        self._psycopg = require_driver("psycopg", "postgres", "PostgresStore")
        self._pool_mod = require_driver("psycopg_pool", "postgres", "PostgresStore")
        self.namespace = validate_namespace(namespace)
        self._dsn = dsn
        self._sizes = (min_size, max_size)
        self._timeout = connect_timeout
        self._pool: AsyncConnectionPool[Any] | None = None
        self._closed = False
        self._open_lock = anyio.Lock()
        sql = self._psycopg.sql
        schema = sql.Identifier(self.namespace)
        # Rendered once: the schema is a validated, quoted identifier.
        self._q: dict[str, str] = {
            name: sql.SQL(text).format(s=schema).as_string() for name, text in _QUERIES.items()
        }
        self._errors: tuple[type[BaseException], ...] = (
            self._psycopg.Error,
            self._pool_mod.PoolTimeout,
        )

    def __repr__(self) -> str:
        return f"PostgresStore(namespace={self.namespace!r})"

    async def __aenter__(self) -> PostgresStore:
        await self._ready()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool; idempotent. Later calls raise :class:`StorageError`."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- plumbing ----------------------------------------------------------

    async def _ready(self) -> AsyncConnectionPool[Any]:
        if self._closed:
            raise StorageError(f"{self!r} is closed")
        if self._pool is not None:
            return self._pool
        async with self._open_lock:
            if self._pool is None:
                with map_errors(self._errors, f"{self!r}: connecting"):
                    pool = self._pool_mod.AsyncConnectionPool(
                        self._dsn,
                        min_size=self._sizes[0],
                        max_size=self._sizes[1],
                        open=False,
                        timeout=self._timeout,
                        kwargs={"autocommit": True, "connect_timeout": max(1, int(self._timeout))},
                    )
                    try:
                        await pool.open(wait=True, timeout=self._timeout)
                        async with pool.connection() as conn:
                            await self._migrate(conn)
                    except BaseException:
                        await pool.close()
                        raise
                self._pool = pool
            return self._pool

    @asynccontextmanager
    async def _conn(self, what: str) -> AsyncIterator[AsyncConnection[Any]]:
        pool = await self._ready()
        with map_errors(self._errors, f"{self!r}: {what}"):
            async with pool.connection() as conn:
                yield conn

    async def _rows(self, name: str, params: Any, *, binary: bool = False) -> list[Any]:
        async with self._conn(name) as conn:
            cur = await conn.execute(self._q[name], params, binary=binary)
            return await cur.fetchall()

    async def _migrate(self, conn: AsyncConnection[Any]) -> None:
        sql = self._psycopg.sql
        schema = sql.Identifier(self.namespace)
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"threadline:{self.namespace}"]
            )
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}._migrations "
                    "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(schema)
            )
            cur = await conn.execute(sql.SQL("SELECT name FROM {}._migrations").format(schema))
            done = {r[0] for r in await cur.fetchall()}
            for migration in MIGRATIONS:
                if migration.name in done:
                    continue
                for statement in migration.statements:
                    await conn.execute(sql.SQL(statement).format(s=schema))
                await conn.execute(
                    sql.SQL("INSERT INTO {}._migrations (name) VALUES (%s)").format(schema),
                    [migration.name],
                )

    async def applied_migrations(self) -> list[str]:
        """Names recorded in ``<namespace>._migrations``, in order."""
        sql = self._psycopg.sql
        async with self._conn("migrations") as conn:
            cur = await conn.execute(
                sql.SQL("SELECT name FROM {}._migrations ORDER BY name").format(
                    sql.Identifier(self.namespace)
                )
            )
            return [r[0] for r in await cur.fetchall()]

    # -- appends -----------------------------------------------------------

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        check_db_key(key)
        await self._append(key, list(entries), None, check=False)

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        """Append only if the head is still ``expected_head`` (checked under the row lock)."""
        check_db_key(key)
        await self._append(key, list(entries), expected_head, check=True)

    async def _append(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        expected: str | None,
        *,
        check: bool,
    ) -> None:
        uuids = batch_uuids(entries)
        async with self._conn("append") as conn, conn.transaction():
            # Lock (or create) the key's row: appends to one key serialize here.
            cur = await conn.execute(self._q["lock"], _params(key), binary=True)
            row = await cur.fetchone()
            assert row is not None
            tid, head, prev_mtime, blob = row
            stored: set[str] = set()
            if prev_mtime and uuids:
                cur = await conn.execute(self._q["stored"], (uuids, *_params(key)))
                stored = {r[0] for r in await cur.fetchall()}
            if check and already_appended(
                key, entries, stored=stored, head=head, expected=expected
            ):
                return
            prev = (
                None
                if blob is None
                else summary_from(key["session_id"], prev_mtime, orjson.loads(blob))
            )
            plan = plan_append(key, entries, stored=stored, head=head, summary=prev)
            if prev_mtime and plan.count == 0:
                return
            summary = None if plan.summary is None else summary_json(plan.summary)
            await conn.execute(
                self._q["write"],
                {
                    "tid": tid,
                    "head": plan.head,
                    "summary": summary,
                    "chunk": plan.chunk,
                    "uuids": plan.uuids,
                },
            )

    async def get_head(self, key: SessionKey) -> str | None:
        check_db_key(key)
        rows = await self._rows("head", _params(key))
        return rows[0][0] if rows else None

    # -- reads -------------------------------------------------------------

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        check_db_key(key)
        rows = await self._rows("load", _params(key), binary=True)
        if not rows:
            return None
        data = b"".join(bytes(r[1]) for r in rows if r[1] is not None)
        return list(iter_objects(data))  # type: ignore[arg-type]

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        rows = await self._rows("list", (project_key,))
        return [{"session_id": sid, "mtime": int(mtime)} for sid, mtime in rows]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        rows = await self._rows("summaries", (project_key,), binary=True)
        return [summary_from(sid, mtime, orjson.loads(bytes(blob))) for sid, mtime, blob in rows]

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        rows = await self._rows("subkeys", (key["project_key"], key["session_id"]))
        return [r[0] for r in rows]

    async def list_projects(self) -> list[str]:
        """Every project key that holds a transcript (for exporting everything)."""
        return [r[0] for r in await self._rows("projects", ())]

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The key of ``session_id`` in any project (the most recently written), else ``None``."""
        rows = await self._rows("find", (session_id,))
        return {"project_key": rows[0][0], "session_id": session_id} if rows else None

    async def delete(self, key: SessionKey) -> None:
        """Delete one key; a main key takes its subkeys and summary with it (FK cascade)."""
        check_db_key(key)
        name, params = (
            ("delete_sub", _params(key)) if "subpath" in key else ("delete_main", _params(key)[:2])
        )
        async with self._conn("delete") as conn:
            await conn.execute(self._q[name], params)
