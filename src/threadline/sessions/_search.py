"""Full-text search across every session, through an SQLite FTS5 index.

The index lives beside the summary index (``<config>/threadline/search.sqlite3``) and is
a cache of the transcripts, kept current incrementally like :mod:`.sessions._index`:
each search stats every transcript (``projects/*/<uuid>.jsonl``) and only files whose
``(mtime_ns, size, inode)`` changed are read again. Transcripts are append-only, so a
changed file whose previously indexed bytes are intact (same inode, not shorter, same
fingerprint of the last indexed bytes) is indexed from where the last run stopped: only
the new bytes are read. Anything else (rewritten, truncated, replaced) is re-indexed
from scratch; files that disappeared are dropped. Only complete lines are indexed, so a
line being written while we read is picked up next time.

Indexed: the text of user prompts and assistant text blocks (tool results, thinking and
meta entries are not), titles (``custom-title``) and compaction summaries. Each row keeps
the session id and message uuid, so a hit leads straight to ``resume_session_at``.

Several processes may update the index at once: each file is re-checked and written in
one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .._exceptions import StorageError, UserError
from .._ids import is_uuid
from ._paths import config_dir as _config_dir, project_key_for_directory

__all__ = ["IndexStats", "SearchHit", "SearchIndex", "search_sessions"]

_SCHEMA_VERSION = 1
_FINGERPRINT = 256

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while files are (re)indexed."""

_SCHEMA = (
    "CREATE TABLE files (path TEXT PRIMARY KEY, project TEXT NOT NULL, session_id TEXT NOT NULL,"
    " mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, ino INTEGER NOT NULL,"
    " offset INTEGER NOT NULL, tail TEXT NOT NULL)",
    "CREATE TABLE msgs (id INTEGER PRIMARY KEY, path TEXT NOT NULL, project TEXT NOT NULL,"
    " session_id TEXT NOT NULL, uuid TEXT, role TEXT NOT NULL, ts TEXT, body TEXT NOT NULL)",
    "CREATE INDEX msgs_path ON msgs(path)",
    "CREATE VIRTUAL TABLE docs USING fts5(body, content='msgs', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER msgs_ai AFTER INSERT ON msgs BEGIN"
    " INSERT INTO docs(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER msgs_ad AFTER DELETE ON msgs BEGIN"
    " INSERT INTO docs(docs, rowid, body) VALUES ('delete', old.id, old.body); END",
)


@dataclass(frozen=True)
class SearchHit:
    """One matching message."""

    session_id: str
    message_uuid: str | None
    """``None`` for hits in a title."""
    snippet: str
    """The matching passage; matched terms are wrapped in ``[`` ``]``."""
    rank: float
    """BM25 score: lower is better (hits are sorted by it)."""
    role: str
    """``user``, ``assistant``, ``title`` or ``summary``."""
    project_key: str
    timestamp: str | None = None


@dataclass(frozen=True)
class IndexStats:
    """What one :meth:`SearchIndex.update` did."""

    files: int
    """Transcripts on disk."""
    indexed: int
    """Files read (fully or incrementally)."""
    new_bytes: int
    removed: int


@dataclass(frozen=True)
class _Job:
    path: str
    project: str
    session_id: str
    st: os.stat_result


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        b["text"]
        for b in content
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    ]


def _documents(entry: dict[str, Any]) -> Iterator[tuple[str | None, str, str]]:
    """(uuid, role, text) to index for one transcript entry."""
    kind = entry.get("type")
    uuid = entry.get("uuid") if isinstance(entry.get("uuid"), str) else None
    if kind in ("user", "assistant") and not entry.get("isMeta"):
        message = entry.get("message")
        if not isinstance(message, dict):
            return
        text = "\n".join(
            t
            for t in _texts(message.get("content"))
            if not t.lstrip().startswith("<system-reminder>")
        ).strip()
        if text:
            yield uuid, str(kind), text
    elif kind == "custom-title" and isinstance(entry.get("customTitle"), str):
        yield None, "title", entry["customTitle"]
    elif kind == "summary" and isinstance(entry.get("summary"), str):
        yield uuid, "summary", entry["summary"]


def fts_query(text: str) -> str:
    """Words as an FTS5 query: every word must occur (``word*`` matches a prefix)."""
    terms: list[str] = []
    for word in text.split():
        prefix = word.endswith("*") and len(word) > 1
        word = word.rstrip("*") if prefix else word
        if not word:
            continue
        terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    if not terms:
        raise UserError("search needs at least one word")
    return " ".join(terms)


class SearchIndex:
    """The full-text index of one config dir (open, :meth:`update`, :meth:`search`)."""

    def __init__(self, config_dir: str | os.PathLike[str] | None = None) -> None:
        self.config_dir = _config_dir(config_dir)
        self.path = self.config_dir / "threadline" / "search.sqlite3"
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- storage -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fresh = not self.path.exists()
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            if fresh:
                os.chmod(self.path, 0o600)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                    for table in ("docs", "msgs", "files"):
                        db.execute(f"DROP TABLE IF EXISTS {table}")
                    for statement in _SCHEMA:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if "fts5" in str(exc).lower():
                raise StorageError("this Python's SQLite has no FTS5 support") from exc
            raise StorageError(f"cannot open the search index {self.path}: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"cannot open the search index {self.path}: {exc}") from exc
        self._db = db
        return db

    # -- keeping current ---------------------------------------------------------------

    def _on_disk(self) -> list[_Job]:
        out: list[_Job] = []
        try:
            projects = sorted(os.scandir(self.config_dir / "projects"), key=lambda e: e.name)
        except OSError:
            return out
        for project in projects:
            if not project.is_dir():
                continue
            try:
                entries = list(os.scandir(project.path))
            except OSError:
                continue
            for entry in entries:
                name = entry.name
                if not name.endswith(".jsonl") or not is_uuid(name[:-6]):
                    continue
                try:
                    st = os.stat(entry.path)
                except OSError:
                    continue
                out.append(_Job(entry.path, project.name, name[:-6], st))
        return out

    def stale(self) -> tuple[list[_Job], list[str], int]:
        """(files to read, indexed paths now gone, files on disk)."""
        db = self._conn()
        known = {
            row[0]: (row[1], row[2], row[3])
            for row in db.execute("SELECT path, mtime_ns, size, ino FROM files")
        }
        jobs: list[_Job] = []
        disk = self._on_disk()
        for job in disk:
            row = known.pop(job.path, None)
            if row != (job.st.st_mtime_ns, job.st.st_size, job.st.st_ino):
                jobs.append(job)
        return jobs, list(known), len(disk)

    def update(self, progress: ProgressCallback | None = None) -> IndexStats:
        """Bring the index up to date with the transcripts on disk."""
        jobs, gone, total = self.stale()
        db = self._conn()
        new_bytes = 0
        try:
            for path in gone:
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM msgs WHERE path = ?", (path,))
                db.execute("DELETE FROM files WHERE path = ?", (path,))
                db.execute("COMMIT")
            for done, job in enumerate(jobs, 1):
                new_bytes += self._index_file(db, job)
                if progress is not None:
                    progress(done, len(jobs))
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise StorageError(f"search index update failed: {exc}") from exc
        return IndexStats(files=total, indexed=len(jobs), new_bytes=new_bytes, removed=len(gone))

    def _index_file(self, db: sqlite3.Connection, job: _Job) -> int:
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT mtime_ns, size, ino, offset, tail FROM files WHERE path = ?", (job.path,)
            ).fetchone()
            try:
                with open(job.path, "rb") as f:
                    st = os.fstat(f.fileno())
                    start = self._resume_offset(f, st, row)
                    if start == 0 and row is not None:
                        db.execute("DELETE FROM msgs WHERE path = ?", (job.path,))
                    f.seek(start)
                    data = f.read(max(0, st.st_size - start))
            except OSError:
                db.execute("DELETE FROM msgs WHERE path = ?", (job.path,))
                db.execute("DELETE FROM files WHERE path = ?", (job.path,))
                db.execute("COMMIT")
                return 0
            end = data.rfind(b"\n") + 1
            complete = data[:end]
            rows = []
            for line in complete.splitlines():
                if not line.strip():
                    continue
                try:
                    entry = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(entry, dict):
                    continue
                ts = entry.get("timestamp") if isinstance(entry.get("timestamp"), str) else None
                for uuid, role, text in _documents(entry):
                    rows.append((job.path, job.project, job.session_id, uuid, role, ts, text))
            db.executemany(
                "INSERT INTO msgs(path, project, session_id, uuid, role, ts, body)"
                " VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            offset = start + end
            tail = self._fingerprint(job.path, offset)
            db.execute(
                "INSERT OR REPLACE INTO files(path, project, session_id, mtime_ns, size, ino,"
                " offset, tail) VALUES (?,?,?,?,?,?,?,?)",
                (
                    job.path,
                    job.project,
                    job.session_id,
                    st.st_mtime_ns,
                    st.st_size,
                    st.st_ino,
                    offset,
                    tail,
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        return end

    @staticmethod
    def _fingerprint(path: str, offset: int) -> str:
        try:
            with open(path, "rb") as f:
                f.seek(max(0, offset - _FINGERPRINT))
                return hashlib.sha256(f.read(min(offset, _FINGERPRINT))).hexdigest()
        except OSError:
            return ""

    @staticmethod
    def _resume_offset(f: Any, st: os.stat_result, row: tuple[Any, ...] | None) -> int:
        """Where to start reading: the old offset if the indexed prefix is intact, else 0."""
        if row is None:
            return 0
        _mtime, _size, ino, offset, tail = row
        if ino != st.st_ino or st.st_size < offset or offset <= 0:
            return 0
        f.seek(max(0, offset - _FINGERPRINT))
        seen = hashlib.sha256(f.read(min(offset, _FINGERPRINT))).hexdigest()
        return int(offset) if seen == tail else 0

    # -- querying ----------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 20,
        project_key: str | None = None,
        raw: bool = False,
        markers: tuple[str, str] = ("[", "]"),
    ) -> list[SearchHit]:
        """Best matches first (BM25); ``raw`` passes FTS5 query syntax through.

        ``markers`` wrap the matched terms in snippets.
        """
        match = query if raw else fts_query(query)
        sql = (
            "SELECT m.session_id, m.uuid, m.role, m.project, m.ts,"
            " snippet(docs, 0, ?, ?, '…', 16), bm25(docs)"
            " FROM docs JOIN msgs m ON m.id = docs.rowid WHERE docs MATCH ?"
        )
        params: list[Any] = [markers[0], markers[1], match]
        if project_key is not None:
            sql += " AND m.project = ?"
            params.append(project_key)
        sql += " ORDER BY bm25(docs) LIMIT ?"
        params.append(max(1, limit))
        try:
            rows = self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise UserError(f"bad search query {query!r}: {exc}") from exc
        return [
            SearchHit(
                session_id=sid,
                message_uuid=uuid,
                snippet=snippet,
                rank=float(rank),
                role=role,
                project_key=project,
                timestamp=ts,
            )
            for sid, uuid, role, project, ts, snippet, rank in rows
        ]


def search_sessions(
    query: str,
    *,
    limit: int = 20,
    directory: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
) -> list[SearchHit]:
    """Full-text search over every session (or ``directory``'s project), best first.

    The index is brought up to date first (only new or changed transcripts are read).
    Every word must occur; ``word*`` matches a prefix.
    """
    with SearchIndex() as index:
        index.update(progress)
        key = project_key_for_directory(directory) if directory is not None else None
        return index.search(query, limit=limit, project_key=key)
