"""The summary index: listing without re-reading unchanged transcripts.

An SQLite file beside ``projects/`` (``<config>/threadline/index.sqlite3``)
caches, per transcript path, the listing fields derived from its head and
tail, keyed by ``(mtime_ns, size, inode)``. A listing stats every file (cheap)
and re-derives only files whose stat changed: files written by the ``claude``
CLI or any other program are picked up on the next listing, and our own
writes change the stat too. Rows live in a per-process memo as well, so a
warm listing is one ``scandir`` + ``stat`` per file.

The index is a cache: if it cannot be opened or written (read-only config
dir, corrupt file), listing falls back to reading heads and tails directly
and a corrupt index is rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from .._ids import is_uuid
from .._results import SDKSessionInfo
from ..transcript._lite import info_from_lite, read_lite
from ._filelog import ensure_private_dir
from ._keys import is_unicode
from ._protocol import SessionSummaryEntry

__all__ = ["SummaryIndex", "infos_for_dirs", "summaries_for_project"]

_SCHEMA_VERSION = 2
_CHAIN_MEMO = 32
_RACY_NS = 2_000_000_000
"""A file modified less than this long ago may change again without its stamp changing."""
"""Conversation chains kept in memory per process (the rest stay in SQLite)."""
# Row: (mtime_ns, size, ino, info tuple or None)
_Row = tuple[int, int, int, "tuple[Any, ...] | None"]


def _info_tuple(info: SDKSessionInfo | None) -> tuple[Any, ...] | None:
    if info is None:
        return None
    return (
        info.summary,
        info.custom_title,
        info.first_prompt,
        info.git_branch,
        info.cwd,
        info.tag,
        info.created_at,
    )


def _indexable(path: str) -> bool:
    """Whether ``path`` can be a row of the index: valid Unicode (a folder another program
    named with undecodable bytes cannot; its files are then summarised in this process's
    memory only, read again by the next process)."""
    return is_unicode(path)


class SummaryIndex:
    """One config dir's index: a process-wide memo backed by SQLite."""

    _instances: dict[Path, SummaryIndex] = {}
    _instances_lock = threading.Lock()

    def __init__(self, config_dir: Path) -> None:
        self.path = config_dir / "threadline" / "index.sqlite3"
        self._memo: dict[str, dict[str, _Row]] = {}
        self._chains: dict[str, tuple[tuple[int, int, int], array[int]]] = {}
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._db_failed = False

    @classmethod
    def for_config_dir(cls, config_dir: Path) -> SummaryIndex:
        with cls._instances_lock:
            inst = cls._instances.get(config_dir)
            if inst is None:
                inst = cls._instances[config_dir] = cls(config_dir)
            return inst

    # -- SQLite ------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is not None or self._db_failed:
            return self._db
        db: sqlite3.Connection | None = None
        try:
            ensure_private_dir(self.path.parent)
            fresh = not self.path.exists()
            db = sqlite3.connect(self.path, timeout=5, check_same_thread=False, isolation_level=None)
            if fresh:
                os.chmod(self.path, 0o600)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != _SCHEMA_VERSION:
                # One transaction, version re-read inside it: two processes creating the
                # index at once must not drop each other's fresh tables.
                db.execute("BEGIN IMMEDIATE")
                if db.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
                    db.execute("COMMIT")
                    self._db = db
                    return db
                db.execute("DROP TABLE IF EXISTS files")
                db.execute(
                    "CREATE TABLE files (path TEXT PRIMARY KEY, dir TEXT NOT NULL,"
                    " mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, ino INTEGER NOT NULL,"
                    " info BLOB)"
                )
                db.execute("CREATE INDEX files_dir ON files(dir)")
                db.execute("DROP TABLE IF EXISTS chains")
                db.execute(
                    "CREATE TABLE chains (path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL,"
                    " size INTEGER NOT NULL, ino INTEGER NOT NULL, ranges BLOB NOT NULL)"
                )
                db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
                db.execute("COMMIT")
            self._db = db
        except (sqlite3.Error, OSError) as exc:
            if db is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            self._db = None
            # Another process holding the lock is transient: try again on the next call.
            transient = isinstance(exc, sqlite3.OperationalError) and (
                "locked" in str(exc) or "busy" in str(exc)
            )
            self._db_failed = not transient
        return self._db

    def _load_dir(self, directory: str) -> dict[str, _Row]:
        memo = self._memo.get(directory)
        if memo is not None:
            return memo
        memo = self._memo[directory] = {}
        db = self._conn() if _indexable(directory) else None
        if db is None:
            return memo
        try:
            rows = db.execute(
                "SELECT path, mtime_ns, size, ino, info FROM files WHERE dir = ?", (directory,)
            ).fetchall()
        except sqlite3.Error:
            return memo
        for path, mtime_ns, size, ino, info in rows:
            memo[path] = (
                mtime_ns,
                size,
                ino,
                tuple(orjson.loads(info)) if info is not None else None,
            )
        return memo

    def _store(self, rows: list[tuple[str, str, _Row]], gone: list[str]) -> None:
        rows = [r for r in rows if _indexable(r[0])]
        gone = [p for p in gone if _indexable(p)]
        if not rows and not gone:
            return
        db = self._conn()
        if db is None:
            return
        try:
            with contextlib.closing(db.cursor()) as cur:
                cur.execute("BEGIN")
                cur.executemany(
                    "INSERT OR REPLACE INTO files(path, dir, mtime_ns, size, ino, info)"
                    " VALUES (?,?,?,?,?,?)",
                    [
                        (p, d, r[0], r[1], r[2], orjson.dumps(r[3]) if r[3] is not None else None)
                        for p, d, r in rows
                    ],
                )
                cur.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in gone])
                cur.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")

    # -- listing -----------------------------------------------------------

    # -- conversation chains ---------------------------------------------------------

    def get_chain(self, path: str, st: os.stat_result) -> array[int] | None:
        """Byte ranges of a transcript's visible messages, if cached for this exact file state."""
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            hit = self._chains.get(path)
            if hit is not None:
                return hit[1] if hit[0] == stamp else None
            db = self._conn() if _indexable(path) else None
            if db is None:
                return None
            try:
                row = db.execute(
                    "SELECT mtime_ns, size, ino, ranges FROM chains WHERE path = ?", (path,)
                ).fetchone()
            except sqlite3.Error:
                return None
            if row is None or tuple(row[:3]) != stamp:
                return None
            ranges: array[int] = array("q")
            ranges.frombytes(row[3])
            self._remember_chain(path, stamp, ranges)
            return ranges

    def put_chain(self, path: str, st: os.stat_result, ranges: array[int]) -> None:
        if time.time_ns() - st.st_mtime_ns < _RACY_NS:
            # "Racy" file state (as in git): the file was modified so recently that a
            # same-size rewrite within the file system's mtime granularity would keep
            # this exact stamp, so a chain cached now could be served for other bytes.
            # A file that is still changing gains little from the cache anyway.
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            self._remember_chain(path, stamp, ranges)
            db = self._conn() if _indexable(path) else None
            if db is None:
                return
            try:
                db.execute(
                    "INSERT OR REPLACE INTO chains(path, mtime_ns, size, ino, ranges)"
                    " VALUES (?,?,?,?,?)",
                    (path, *stamp, ranges.tobytes()),
                )
            except sqlite3.Error:
                pass

    def _remember_chain(self, path: str, stamp: tuple[int, int, int], ranges: array[int]) -> None:
        self._chains.pop(path, None)
        self._chains[path] = (stamp, ranges)
        while len(self._chains) > _CHAIN_MEMO:
            del self._chains[next(iter(self._chains))]

    def refresh(self, path: Path) -> None:
        """Re-derive one transcript's row now (called by our own writers after appending)."""
        name = path.name
        if not name.endswith(".jsonl") or not is_uuid(name[:-6]):
            return
        dkey = str(path.parent)
        with self._lock:
            memo = self._load_dir(dkey)
            try:
                st = os.stat(path)
            except OSError:
                return
            lite = read_lite(path)
            if lite is None:
                return
            row = (st.st_mtime_ns, st.st_size, st.st_ino, _info_tuple(info_from_lite(name[:-6], lite, None)))
            memo[str(path)] = row
            self._store([(str(path), dkey, row)], [])

    def scan(
        self, directories: Iterable[Path], *, any_name: bool = False
    ) -> list[tuple[str, str, os.stat_result, tuple[Any, ...] | None]]:
        """(dir, session_id, stat, info) for every non-empty session file under ``directories``.

        ``info`` is ``None`` for sidechains and sessions without a summary.
        Only ``<uuid>.jsonl`` names count unless ``any_name`` (store keys).
        """
        out: list[tuple[str, str, os.stat_result, tuple[Any, ...] | None]] = []
        fresh_rows: list[tuple[str, str, _Row]] = []
        gone: list[str] = []
        with self._lock:
            for directory in directories:
                dkey = str(directory)
                try:
                    it = os.scandir(directory)
                except OSError:
                    continue
                try:
                    memo = self._load_dir(dkey)
                except BaseException:
                    it.close()
                    raise
                seen: set[str] = set()
                with it:
                    for entry in it:
                        name = entry.name
                        if not name.endswith(".jsonl") or not (any_name or is_uuid(name[:-6])):
                            continue
                        path = entry.path
                        try:
                            st = os.stat(path)
                        except OSError:
                            continue
                        seen.add(path)
                        row = memo.get(path)
                        if (
                            row is None
                            or row[0] != st.st_mtime_ns
                            or row[1] != st.st_size
                            or row[2] != st.st_ino
                        ):
                            lite = read_lite(path)
                            if lite is None:
                                continue
                            info = _info_tuple(info_from_lite(name[:-6], lite, None))
                            row = (st.st_mtime_ns, st.st_size, st.st_ino, info)
                            memo[path] = row
                            fresh_rows.append((path, dkey, row))
                        out.append((dkey, name[:-6], st, row[3]))
                if len(seen) != len(memo):
                    for p in [p for p in memo if p not in seen]:
                        del memo[p]
                        gone.append(p)
            self._store(fresh_rows, gone)
        return out


def _to_info(
    session_id: str, st: os.stat_result, t: tuple[Any, ...], project_path: str | None
) -> SDKSessionInfo:
    return SDKSessionInfo(
        session_id=session_id,
        summary=t[0],
        last_modified=int(st.st_mtime * 1000),
        file_size=st.st_size,
        custom_title=t[1],
        first_prompt=t[2],
        git_branch=t[3],
        cwd=t[4] or project_path or None,
        tag=t[5],
        created_at=t[6],
    )


def infos_for_dirs(
    config_dir: Path, dirs: list[tuple[Path, str | None]], *, use_index: bool = True
) -> list[SDKSessionInfo]:
    """Listing info for every session in ``dirs`` (pairs of project dir and project path)."""
    out: list[SDKSessionInfo] = []
    if not use_index:
        for directory, project_path in dirs:
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                if name.endswith(".jsonl") and is_uuid(name[:-6]):
                    lite = read_lite(directory / name)
                    if lite is not None:
                        info = info_from_lite(name[:-6], lite, project_path)
                        if info is not None:
                            out.append(info)
        return out
    project_paths = {str(d): p for d, p in dirs}
    index = SummaryIndex.for_config_dir(config_dir)
    for dkey, sid, st, t in index.scan([d for d, _ in dirs]):
        if t is not None:
            out.append(_to_info(sid, st, t, project_paths.get(dkey)))
    return out


def summaries_for_project(config_dir: Path, project_dir: Path) -> list[SessionSummaryEntry]:
    """``list_session_summaries`` for a :class:`FileStore`, served from the index."""
    index = SummaryIndex.for_config_dir(config_dir)
    out: list[SessionSummaryEntry] = []
    for _, sid, st, t in index.scan([project_dir], any_name=True):
        mtime = int(st.st_mtime * 1000)
        if t is None:
            # Sidechain or no summary: a summary that lists as nothing.
            out.append({"session_id": sid, "mtime": mtime, "data": {"is_sidechain": True}})
            continue
        data: dict[str, Any] = {"is_sidechain": False, "summary_hint": t[0]}
        if t[1]:
            data["custom_title"] = t[1]
        if t[2]:
            data["first_prompt"] = t[2]
            data["first_prompt_locked"] = True
        for key, value in (("git_branch", t[3]), ("cwd", t[4]), ("tag", t[5]), ("created_at", t[6])):
            if value is not None:
                data[key] = value
        out.append({"session_id": sid, "mtime": mtime, "data": data})
    return out
