"""Moving sessions in and out of a store: local Claude Code files <-> any ``SessionStore``.

- :func:`import_sessions_to_store`: every local session (or one project's),
  with its subagent transcripts and their ``.meta.json`` sidecars.
- :func:`export_session_from_store` / :func:`export_sessions_from_store`:
  back to ``<config>/projects/<project>/<session>.jsonl`` (+ subagents), so
  the ``claude`` CLI and the official readers see them.

Both are idempotent: an entry already at the destination (same ``uuid``, or
for uuid-less lines such as titles and tags, an equal line) is not written
again, so an interrupted transfer is simply run again. Progress goes to an
optional callback, and to a ``rich`` progress bar with ``show_progress=True``
(when ``rich`` is installed: ``pip install 'threadline[cli]'``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import orjson

from .._exceptions import SessionNotFoundError, UserError
from ._disk import read_agent_meta
from ._imported import is_imported, mark_imported
from ._paths import canonicalize_path, find_project_dir, projects_dir
from ._protocol import (
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    local_transcripts,
    project_lister,
    store_implements,
)
from ._store_api import jsonl_files, read_batches
from .file import FileStore

__all__ = [
    "TransferProgress",
    "TransferReport",
    "export_session_from_store",
    "export_sessions_from_store",
    "import_sessions_to_store",
]


@dataclass(frozen=True)
class TransferProgress:
    """Reported after each session: ``done`` of ``total`` sessions."""

    done: int
    total: int
    project_key: str
    session_id: str


@dataclass(frozen=True)
class TransferReport:
    sessions: int
    """Main sessions transferred."""
    transcripts: int
    """Transcripts written, subagents included."""
    entries: int
    """Entries written (already-present entries are not counted)."""


ProgressCallback = Callable[[TransferProgress], None]


@dataclass
class _Counts:
    transcripts: int = 0
    entries: int = 0


def _fingerprint(entry: Any) -> tuple[str, str | bytes]:
    uid = entry.get("uuid") if isinstance(entry, dict) else None
    if isinstance(uid, str):
        return ("uuid", uid)
    return ("line", orjson.dumps(entry, option=orjson.OPT_SORT_KEYS))


def missing_entries(existing: list[Any] | None, incoming: list[Any]) -> list[SessionStoreEntry]:
    """``incoming`` minus what ``existing`` already holds (by uuid, else by equal content)."""
    have: dict[tuple[str, str | bytes], int] = {}
    for e in existing or []:
        fp = _fingerprint(e)
        have[fp] = have.get(fp, 0) + 1
    out: list[SessionStoreEntry] = []
    for e in incoming:
        fp = _fingerprint(e)
        if have.get(fp, 0) > 0:
            have[fp] -= 1
            continue
        out.append(e)
    return out


async def _copy_in(
    store: SessionStore, key: SessionKey, incoming: list[Any], counts: _Counts
) -> None:
    fresh = missing_entries(await store.load(key), incoming)
    files = local_transcripts(store)
    if files is not None and "subpath" not in key:
        # Copied in from elsewhere (a shared store, another config dir): its recorded cwd is
        # someone else's claim, so a resume runs where it is started (as for a bundle).
        await anyio.to_thread.run_sync(_mark, Path(files.config_dir), key["session_id"])
    if fresh:
        for i in range(0, len(fresh), 500):
            await store.append(key, fresh[i : i + 500])
        counts.transcripts += 1
        counts.entries += len(fresh)


def _mark(config_dir: Path, session_id: str) -> None:
    if not is_imported(config_dir, session_id):
        mark_imported(config_dir, [session_id])


def _rich_bar() -> Any:
    """A ``rich`` progress bar, or ``None`` without rich (the transfer goes on without it)."""
    try:
        from rich.progress import Progress
    except ImportError:
        return None
    return Progress(transient=False)


@contextmanager
def _reporter(
    progress: ProgressCallback | None, show: bool, total: int, label: str
) -> Iterator[Callable[[str, str], None]]:
    bar = _rich_bar() if show else None
    task = bar.add_task(label, total=total) if bar is not None else None
    if bar is not None:
        bar.start()
    done = 0

    def step(project_key: str, session_id: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(TransferProgress(done, total, project_key, session_id))
        if bar is not None:
            bar.update(task, completed=done)

    try:
        yield step
    finally:
        if bar is not None:
            bar.stop()


def _local_sessions(
    directory: str | os.PathLike[str] | None, config_dir: Path | None
) -> list[Path]:
    root = projects_dir(config_dir)
    if directory is not None:
        pdir = find_project_dir(canonicalize_path(directory), root)
        dirs = [pdir] if pdir is not None else []
    else:
        try:
            dirs = sorted(p for p in root.iterdir() if p.is_dir())
        except OSError:
            dirs = []
    return [
        f for d in dirs for f in sorted(d.glob("*.jsonl")) if f.is_file() and f.stat().st_size > 0
    ]


def _read_all(path: Path) -> list[SessionStoreEntry]:
    batches, _ = read_batches(path, 1 << 30)
    return [e for b in batches for e in b]


async def import_sessions_to_store(
    store: SessionStore,
    *,
    directory: str | os.PathLike[str] | None = None,
    config_dir: str | os.PathLike[str] | None = None,
    include_subagents: bool = True,
    progress: ProgressCallback | None = None,
    show_progress: bool = False,
) -> TransferReport:
    """Copy local sessions (every project, or ``directory``'s) into ``store``; idempotent.

    The project key is the name of the directory each file is in, as the
    live mirror would write it. Malformed lines are skipped.
    """
    cfg = Path(config_dir) if config_dir is not None else None
    files = await anyio.to_thread.run_sync(_local_sessions, directory, cfg)
    counts = _Counts()
    with _reporter(progress, show_progress, len(files), "Importing sessions") as step:
        for path in files:
            project_key, session_id = path.parent.name, path.name[: -len(".jsonl")]
            key: SessionKey = {"project_key": project_key, "session_id": session_id}
            await _copy_in(store, key, await anyio.to_thread.run_sync(_read_all, path), counts)
            if include_subagents:
                await _import_subagents(store, key, path.with_suffix(""), counts)
            step(project_key, session_id)
    return TransferReport(len(files), counts.transcripts, counts.entries)


async def _import_subagents(
    store: SessionStore, key: SessionKey, session_dir: Path, counts: _Counts
) -> None:
    for file_path in await anyio.to_thread.run_sync(jsonl_files, session_dir / "subagents"):
        parts = list(file_path.relative_to(session_dir).parts)
        parts[-1] = parts[-1][: -len(".jsonl")]
        sub: SessionKey = {**key, "subpath": "/".join(parts)}
        entries = await anyio.to_thread.run_sync(_read_all, file_path)
        meta = read_agent_meta(file_path)
        if meta is not None:
            entries.append(cast(SessionStoreEntry, {**meta, "type": "agent_metadata"}))
        await _copy_in(store, sub, entries, counts)


async def export_session_from_store(
    store: SessionStore,
    key: SessionKey,
    config_dir: str | os.PathLike[str] | None = None,
    *,
    include_subagents: bool = True,
) -> Path:
    """Write one session (and its subagents) from ``store`` as Claude Code files; idempotent.

    Returns the main transcript's path. Raises ``FileNotFoundError`` if the
    store does not hold ``key``.
    """
    await _export_one(store, key, FileStore(config_dir), include_subagents, _Counts())
    return FileStore(config_dir).path_for(key)


async def _export_one(
    store: SessionStore, key: SessionKey, files: FileStore, subagents: bool, counts: _Counts
) -> None:
    main_key: SessionKey = {"project_key": key["project_key"], "session_id": key["session_id"]}
    entries = await store.load(main_key)
    if entries is None:
        raise SessionNotFoundError(key["session_id"], f"in {store!r}")
    await _copy_in(files, main_key, entries, counts)
    if subagents and store_implements(store, "list_subkeys"):
        for subpath in await store.list_subkeys(dict(main_key)):  # type: ignore[arg-type]
            sub: SessionKey = {**main_key, "subpath": subpath}
            await _copy_in(files, sub, await store.load(sub) or [], counts)


async def export_sessions_from_store(
    store: SessionStore,
    *,
    config_dir: str | os.PathLike[str] | None = None,
    project_keys: list[str] | None = None,
    include_subagents: bool = True,
    progress: ProgressCallback | None = None,
    show_progress: bool = False,
) -> TransferReport:
    """Write every session of ``project_keys`` (default: every project) as Claude Code files.

    Without ``project_keys`` the store must offer ``list_projects()`` (the
    SQLite, PostgreSQL and Redis stores do). Idempotent.
    """
    if project_keys is None:
        lister = project_lister(store)
        if lister is None:
            raise UserError(f"{store!r} cannot list its projects: pass project_keys=[...]")
        project_keys = list(await lister.list_projects())
    if not store_implements(store, "list_sessions"):
        raise UserError(f"{store!r} does not implement list_sessions()")
    keys: list[SessionKey] = []
    for pk in project_keys:
        keys.extend(
            {"project_key": pk, "session_id": s["session_id"]}
            for s in await store.list_sessions(pk)
        )
    files, counts = FileStore(config_dir), _Counts()
    with _reporter(progress, show_progress, len(keys), "Exporting sessions") as step:
        for key in keys:
            await _export_one(store, key, files, include_subagents, counts)
            step(key["project_key"], key["session_id"])
    return TransferReport(len(keys), counts.transcripts, counts.entries)
