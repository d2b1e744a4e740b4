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
one ``BEGIN IMMEDIATE`` transaction. When the config dir cannot be written (a read-only
history), the index is built in memory for the one search instead.

Snippets are cut here, not by FTS5's ``snippet()`` (which is quadratic in the number of
matches: minutes for a word repeated through a 4 MB message): a window of about 16 words
around the first match, found by one regex scan, so a hit costs time linear in its text
and the snippet is bounded whatever the message weighs. The same matching serves
:func:`scan_documents`, the search of sessions that have no index (stores, encrypted
sessions: nothing derived from their plaintext is written anywhere).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .._exceptions import StorageError, UserError
from .._ids import is_uuid
from ._keys import is_unicode
from ._paths import config_dir as _config_dir, project_key_for_directory

__all__ = [
    "IndexStats",
    "SearchHit",
    "SearchIndex",
    "documents",
    "make_snippet",
    "query_terms",
    "scan_documents",
    "search_sessions",
]

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


def documents(entry: dict[str, Any]) -> Iterator[tuple[str | None, str, str]]:
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


_SNIPPET_CHARS = 120
"""Characters of context on each side of the first match."""
_FTS_WORDS = re.compile(r"[\w*]+")
_FTS_KEYWORDS = frozenset({"AND", "OR", "NOT", "NEAR"})


def query_terms(query: str, *, raw: bool = False) -> list[tuple[str, bool]]:
    """(lower-cased term, is a prefix) for each word of a query (FTS5 keywords left out)."""
    out: list[tuple[str, bool]] = []
    words = _FTS_WORDS.findall(query) if raw else query.split()
    for word in words:
        if raw and word in _FTS_KEYWORDS:
            continue
        prefix = word.endswith("*")
        term = word.rstrip("*").strip("\"'").lower()
        if term:
            out.append((term, prefix))
    return out


def _term_pattern(terms: list[tuple[str, bool]]) -> re.Pattern[str] | None:
    if not terms:
        return None
    parts = [re.escape(t) + (r"\w*" if prefix else r"(?!\w)") for t, prefix in terms]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + ")", re.IGNORECASE)


def make_snippet(
    body: str, terms: list[tuple[str, bool]], markers: tuple[str, str] = ("[", "]")
) -> str:
    """About 16 words around the first match of ``terms`` in ``body``, matches marked.

    Linear in ``len(body)`` up to the first match, bounded in its output; without a match
    (diacritics folded by the index, say) the start of the body.
    """
    pattern = _term_pattern(terms)
    found = pattern.search(body) if pattern is not None else None
    center = found.start() if found else 0
    start = max(0, center - _SNIPPET_CHARS)
    stop = min(len(body), center + _SNIPPET_CHARS)
    if start > 0:
        space = body.find(" ", start, center)
        start = space + 1 if space >= 0 else start
    if stop < len(body):
        space = body.rfind(" ", center, stop)
        stop = space if space > center else stop
    window = body[start:stop]
    if pattern is not None:
        window = pattern.sub(lambda m: f"{markers[0]}{m.group()}{markers[1]}", window)
    return ("…" if start > 0 else "") + window + ("…" if stop < len(body) else "")


def _matches_all(text: str, terms: list[tuple[str, bool]]) -> bool:
    return all(
        re.search(r"(?<!\w)" + re.escape(t) + (r"" if p else r"(?!\w)"), text, re.IGNORECASE)
        for t, p in terms
    )


def scan_documents(
    entries: Iterable[dict[str, Any]],
    query: str,
    *,
    session_id: str,
    project_key: str,
    markers: tuple[str, str] = ("[", "]"),
) -> Iterator[SearchHit]:
    """Hits in one session's entries, without an index (every word must occur)."""
    terms = query_terms(query)
    if not terms:
        raise UserError("search needs at least one word")
    for entry in entries:
        ts = entry.get("timestamp") if isinstance(entry.get("timestamp"), str) else None
        for uuid, role, text in documents(entry):
            if _matches_all(text, terms):
                yield SearchHit(
                    session_id=session_id,
                    message_uuid=uuid,
                    snippet=make_snippet(text, terms, markers),
                    rank=0.0,
                    role=role,
                    project_key=project_key,
                    timestamp=ts,
                )


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
        self.in_memory = False
        """True when the index on disk could not be opened or written: it lives in memory."""
        self.fallback_reason = ""

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
            self._db = self._open_disk()
        except StorageError as exc:
            if "FTS5" in str(exc):
                raise
            self.fallback_reason = str(exc)
            self._db = self._open_memory()
        return self._db

    def _open_memory(self) -> sqlite3.Connection:
        db = sqlite3.connect(":memory:", isolation_level=None)
        for statement in _SCHEMA:
            db.execute(statement)
        self.in_memory = True
        return db

    def _open_disk(self) -> sqlite3.Connection:
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
        return db

    # -- keeping current ---------------------------------------------------------------

    def _on_disk(self) -> list[_Job]:
        out: list[_Job] = []
        try:
            projects = sorted(os.scandir(self.config_dir / "projects"), key=lambda e: e.name)
        except OSError:
            return out
        for project in projects:
            # (a path that is not valid Unicode, a folder another program named with
            # undecodable bytes, cannot be a row of the index: not searched)
            if not is_unicode(project.path) or not project.is_dir():
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
        """Index one file incrementally.

        Long: one SQLite transaction (read from the stored offset, insert, record the new
        offset) that must commit or roll back whole.
        """
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
                for uuid, role, text in documents(entry):
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
        terms = query_terms(query, raw=raw)
        sql = (
            "SELECT m.session_id, m.uuid, m.role, m.project, m.ts, m.id, bm25(docs)"
            " FROM docs JOIN msgs m ON m.id = docs.rowid WHERE docs MATCH ?"
        )
        params: list[Any] = [match]
        if project_key is not None:
            sql += " AND m.project = ?"
            params.append(project_key)
        sql += " ORDER BY bm25(docs) LIMIT ?"
        params.append(max(1, limit))
        db = self._conn()
        try:
            rows = db.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise UserError(f"bad search query {query!r}: {exc}") from exc
        hits: list[SearchHit] = []
        for sid, uuid, role, project, ts, rowid, rank in rows:
            (body,) = db.execute("SELECT body FROM msgs WHERE id = ?", (rowid,)).fetchone()
            hits.append(
                SearchHit(
                    session_id=sid,
                    message_uuid=uuid,
                    snippet=make_snippet(body, terms, markers),
                    rank=float(rank),
                    role=role,
                    project_key=project,
                    timestamp=ts,
                )
            )
        return hits


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
