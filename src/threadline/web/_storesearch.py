"""Full-text search over a ``SessionStore``: an in-memory SQLite FTS5 index.

Local files have their on-disk index (:mod:`threadline.sessions._search`); a store has
none, so the web app keeps one in memory for as long as it runs. Each search first
brings it up to date: sessions whose listing ``mtime`` changed since they were indexed
are loaded again (16 at a time), sessions gone from the listing are dropped. The first
search over a big store therefore loads every session once; later ones only the changed.
What is indexed is what the file index indexes (prompts, assistant text, titles,
compaction summaries), with the same query syntax.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import anyio
import anyio.to_thread

from .._exceptions import UserError
from ..sessions._protocol import SessionStore
from ..sessions._search import documents, fts_query
from ._rows import Hit, Row

__all__ = ["StoreSearch"]

_SCHEMA = (
    "CREATE TABLE msgs (id INTEGER PRIMARY KEY, project TEXT NOT NULL, session_id TEXT NOT NULL,"
    " uuid TEXT, role TEXT NOT NULL, ts TEXT, body TEXT NOT NULL)",
    "CREATE INDEX msgs_sid ON msgs(session_id)",
    "CREATE VIRTUAL TABLE docs USING fts5(body, content='msgs', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER msgs_ai AFTER INSERT ON msgs BEGIN"
    " INSERT INTO docs(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER msgs_ad AFTER DELETE ON msgs BEGIN"
    " INSERT INTO docs(docs, rowid, body) VALUES ('delete', old.id, old.body); END",
)


class StoreSearch:
    """One store's search index (in memory)."""

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._known: dict[str, int] = {}
        self._update = anyio.Lock()
        self._thread_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            for statement in _SCHEMA:
                db.execute(statement)
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _replace(self, sid: str, project: str, rows: list[tuple[Any, ...]] | None) -> None:
        with self._thread_lock:
            db = self._conn()
            db.execute("BEGIN")
            db.execute("DELETE FROM msgs WHERE session_id = ?", (sid,))
            if rows:
                db.executemany(
                    "INSERT INTO msgs(project, session_id, uuid, role, ts, body) VALUES (?,?,?,?,?,?)",
                    rows,
                )
            db.execute("COMMIT")

    async def refresh(self, store: SessionStore, rows: list[Row]) -> None:
        async with self._update:
            current = {r.session_id: r for r in rows}
            for sid in [s for s in self._known if s not in current]:
                await anyio.to_thread.run_sync(self._replace, sid, "", None)
                del self._known[sid]
            stale = [r for r in rows if self._known.get(r.session_id) != r.last_modified]
            limiter = anyio.CapacityLimiter(16)

            async def one(r: Row) -> None:
                async with limiter:
                    entries = await store.load({"project_key": r.project_key, "session_id": r.session_id})
                docs: list[tuple[Any, ...]] = []
                for e in entries or ():
                    if not isinstance(e, dict):
                        continue
                    ts = e.get("timestamp") if isinstance(e.get("timestamp"), str) else None
                    for uuid, role, text in documents(dict(e)):
                        docs.append((r.project_key, r.session_id, uuid, role, ts, text))
                await anyio.to_thread.run_sync(self._replace, r.session_id, r.project_key, docs)
                self._known[r.session_id] = r.last_modified

            async with anyio.create_task_group() as tg:
                for r in stale:
                    tg.start_soon(one, r)

    def _query(
        self, query: str, project: str | None, limit: int, markers: tuple[str, str]
    ) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT m.session_id, m.project, m.uuid, m.role, snippet(docs, 0, ?, ?, '…', 16), m.ts"
            " FROM docs JOIN msgs m ON m.id = docs.rowid WHERE docs MATCH ?"
        )
        params: list[Any] = [markers[0], markers[1], fts_query(query)]
        if project is not None:
            sql += " AND m.project = ?"
            params.append(project)
        sql += " ORDER BY bm25(docs) LIMIT ?"
        params.append(max(1, limit))
        with self._thread_lock:
            try:
                return self._conn().execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise UserError(f"bad search query {query!r}: {exc}") from exc

    async def search(
        self,
        store: SessionStore,
        rows: list[Row],
        query: str,
        *,
        project: str | None,
        limit: int,
        markers: tuple[str, str],
    ) -> list[Hit]:
        fts_query(query)  # a bad query fails before any loading
        await self.refresh(store, rows)
        found = await anyio.to_thread.run_sync(self._query, query, project, limit, markers)
        return [Hit(sid, pk, uuid, role, snippet, ts) for sid, pk, uuid, role, snippet, ts in found]
