"""The disk-backed session functions, with the official SDK's names and results.

Every function also takes ``strict=True`` (keyword-only): then an invalid id
raises :class:`~threadline.InvalidSessionIdError` and a missing session
:class:`~threadline.SessionNotFoundError`, where the official API returns
``[]`` or ``None``.
"""

from __future__ import annotations

import os
import sys
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .._exceptions import SessionNotFoundError
from .._ids import is_uuid, validate_session_id
from .._results import SDKSessionInfo, SessionMessage
from ..transcript._chain import (
    build_conversation_chain,
    build_subagent_chain,
    is_visible,
    page,
    to_session_messages,
)
from ..transcript._jsonl import (
    gc_paused,
    loads_line,
    parse_chain_entries,
    parse_chain_entries_with_spans,
)
from ..transcript._lite import info_from_lite, read_lite
from ._filelog import read_complete
from ._locate import Located, locate_session, search_description
from ._paths import (
    MAX_SANITIZED_LENGTH,
    canonicalize_path,
    config_dir,
    find_project_dir,
    projects_dir,
    sanitize_path,
    worktree_paths,
)

__all__ = [
    "get_session_info",
    "get_session_messages",
    "get_subagent_messages",
    "list_sessions",
    "list_subagents",
]


def _sort_page(sessions: list[SDKSessionInfo], limit: int | None, offset: int) -> list[SDKSessionInfo]:
    sessions.sort(key=lambda s: s.last_modified, reverse=True)
    if offset > 0:
        sessions = sessions[offset:]
    if limit is not None and limit > 0:
        sessions = sessions[:limit]
    return sessions


def _dedupe(sessions: list[SDKSessionInfo]) -> list[SDKSessionInfo]:
    by_id: dict[str, SDKSessionInfo] = {}
    for s in sessions:
        cur = by_id.get(s.session_id)
        if cur is None or s.last_modified > cur.last_modified:
            by_id[s.session_id] = s
    return list(by_id.values())


def _project_dirs_for(directory: str, include_worktrees: bool) -> tuple[list[tuple[Path, str | None]], bool]:
    """(project dirs with their project paths, whether results need dedup)."""
    root = projects_dir()
    canonical = canonicalize_path(directory)
    worktrees = worktree_paths(canonical) if include_worktrees else []
    if len(worktrees) <= 1:
        pdir = find_project_dir(canonical, root)
        return ([(pdir, canonical)] if pdir is not None else []), False
    ci = sys.platform == "win32"
    indexed = sorted(
        ((wt, sanitize_path(wt).lower() if ci else sanitize_path(wt)) for wt in worktrees),
        key=lambda x: len(x[1]),
        reverse=True,
    )
    dirs: list[tuple[Path, str | None]] = []
    seen: set[str] = set()
    own = find_project_dir(canonical, root)
    if own is not None:
        seen.add(own.name.lower() if ci else own.name)
        dirs.append((own, canonical))
    try:
        with os.scandir(root) as it:
            entries = [e for e in it if e.is_dir()]
    except OSError:
        return dirs, True
    for entry in entries:
        name = entry.name.lower() if ci else entry.name
        if name in seen:
            continue
        for wt, prefix in indexed:
            if name == prefix or (
                len(prefix) >= MAX_SANITIZED_LENGTH and name.startswith(prefix + "-")
            ):
                seen.add(name)
                dirs.append((Path(entry.path), wt))
                break
    return dirs, True


def list_sessions(
    directory: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    include_worktrees: bool = True,
    *,
    use_index: bool = True,
) -> list[SDKSessionInfo]:
    """Sessions newest first, with metadata from each transcript's head and tail.

    With ``directory``: that project (plus its git worktrees when
    ``include_worktrees``); without: every project. Unchanged transcripts are
    served from the summary index (``use_index=False`` reads every file).
    """
    cfg = config_dir()
    if directory:
        dirs, dedupe = _project_dirs_for(directory, include_worktrees)
    else:
        try:
            with os.scandir(cfg / "projects") as it:
                dirs = [(Path(e.path), None) for e in it if e.is_dir()]
        except OSError:
            return []
        dedupe = True
    from ._index import infos_for_dirs  # sqlite3: listing only

    sessions = infos_for_dirs(cfg, dirs, use_index=use_index)
    if dedupe:
        sessions = _dedupe(sessions)
    return _sort_page(sessions, limit, offset)


def _check_id(session_id: str, strict: bool) -> bool:
    if strict:
        validate_session_id(session_id)
        return True
    return is_uuid(session_id)


def _not_found(session_id: str, directory: str | None) -> SessionNotFoundError:
    return SessionNotFoundError(session_id, search_description(directory))


def get_session_info(
    session_id: str, directory: str | None = None, *, strict: bool = False
) -> SDKSessionInfo | None:
    """Metadata of one session (``None`` if unknown, a sidechain, or without a summary)."""
    if not _check_id(session_id, strict):
        return None
    file_name = f"{session_id}.jsonl"
    info: SDKSessionInfo | None = None
    found = False
    if directory:
        canonical = canonicalize_path(directory)

        def candidates() -> Iterator[tuple[Path | None, str]]:
            yield find_project_dir(canonical), canonical
            # Worktrees are only asked for (a git subprocess) when the file is not here.
            for wt in worktree_paths(canonical):
                if wt != canonical:
                    yield find_project_dir(wt), wt

        for pdir, ppath in candidates():
            if pdir is None:
                continue
            lite = read_lite(pdir / file_name)
            if lite is not None:
                found = True
                info = info_from_lite(session_id, lite, ppath)
                break
    else:
        try:
            with os.scandir(projects_dir()) as it:
                dirs = [e.path for e in it if e.is_dir()]
        except OSError:
            dirs = []
        for d in dirs:
            lite = read_lite(os.path.join(d, file_name))
            if lite is not None:
                found = True
                info = info_from_lite(session_id, lite)
                break
    if strict and not found:
        raise _not_found(session_id, directory)
    return info


def _read_file(path: Path) -> bytes:
    try:
        return read_complete(path)
    except OSError:
        return b""


def _locate(session_id: str, directory: str | None, strict: bool) -> Located | None:
    loc = locate_session(session_id, directory)
    if loc is None and strict:
        raise _not_found(session_id, directory)
    return loc


def get_session_messages(
    session_id: str,
    directory: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    *,
    strict: bool = False,
) -> list[SessionMessage]:
    """The visible conversation of a session, oldest first (chain rebuilt from parentUuid)."""
    if not _check_id(session_id, strict):
        return []
    loc = _locate(session_id, directory, strict)
    if loc is None:
        return []
    try:
        with open(loc.path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except OSError:
        return []
    stable = len(data) == st.st_size
    from ._index import SummaryIndex  # sqlite3: reading a session, not running one

    index = SummaryIndex.for_config_dir(config_dir()) if stable else None
    ranges = index.get_chain(str(loc.path), st) if index is not None else None
    with gc_paused():
        if ranges is not None:
            # Warm: the chain of this exact file state is known; parse only the lines of
            # the requested page.
            return _messages_from_ranges(data, ranges, limit, offset)
        entries, spans = parse_chain_entries_with_spans(data)
        chain = build_conversation_chain(entries)
        visible = [e for e in chain if is_visible(e)]
        if index is not None:
            flat: array[int] = array("q")
            for e in visible:
                flat.extend(spans[id(e)])
            index.put_chain(str(loc.path), st, flat)
        return page(to_session_messages(visible), limit, offset)


def _messages_from_ranges(
    data: bytes, ranges: array[int], limit: int | None, offset: int
) -> list[SessionMessage]:
    indexes = page(list(range(len(ranges) // 2)), limit, offset)
    view = memoryview(data)
    loads = orjson.loads
    make = SessionMessage
    out: list[SessionMessage] = []
    append = out.append
    for i in indexes:
        chunk = view[ranges[2 * i] : ranges[2 * i + 1]]
        try:
            e = loads(chunk)
        except orjson.JSONDecodeError:
            e = loads_line(bytes(chunk))
        if type(e) is not dict:
            continue
        append(
            make(
                "user" if e.get("type") == "user" else "assistant",
                e.get("uuid", ""),
                e.get("sessionId", ""),
                e.get("message"),
            )
        )
    return out


def _subagent_files(base: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []

    def walk(d: Path) -> None:
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            name = e.name
            if e.is_file() and name.startswith("agent-") and name.endswith(".jsonl"):
                out.append((name[len("agent-") : -len(".jsonl")], Path(e.path)))
            elif e.is_dir(follow_symlinks=False):
                walk(Path(e.path))

    walk(base)
    return out


def list_subagents(session_id: str, directory: str | None = None, *, strict: bool = False) -> list[str]:
    """Ids of the subagents recorded under a session (``agent-<id>.jsonl`` files)."""
    if not _check_id(session_id, strict):
        return []
    loc = _locate(session_id, directory, strict)
    if loc is None:
        return []
    return [aid for aid, _ in _subagent_files(loc.path.with_suffix("") / "subagents")]


def read_agent_meta(transcript: Path) -> dict[str, Any] | None:
    """The ``.meta.json`` sidecar beside a subagent transcript (``None`` if unusable)."""
    sidecar = transcript.with_name(transcript.name[: -len(".jsonl")] + ".meta.json")
    try:
        meta = orjson.loads(sidecar.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


def parent_ids(meta: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if not meta:
        return None, None
    tool_use_id = meta.get("toolUseId")
    parent_agent = meta.get("parentAgentId")
    return (
        tool_use_id if isinstance(tool_use_id, str) else None,
        parent_agent if isinstance(parent_agent, str) else None,
    )


def get_subagent_messages(
    session_id: str,
    agent_id: str,
    directory: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    *,
    strict: bool = False,
) -> list[SessionMessage]:
    """A subagent's conversation; each message carries ``parent_tool_use_id`` from the sidecar."""
    if not _check_id(session_id, strict):
        return []
    if not agent_id:
        if strict:
            raise SessionNotFoundError(session_id, "(empty agent_id)")
        return []
    loc = _locate(session_id, directory, strict)
    if loc is None:
        return []
    match = next(
        (p for aid, p in _subagent_files(loc.path.with_suffix("") / "subagents") if aid == agent_id),
        None,
    )
    if match is None:
        if strict:
            raise SessionNotFoundError(session_id, f"(no subagent {agent_id!r})")
        return []
    data = _read_file(match)
    if not data:
        return []
    tool_use_id, parent_agent = parent_ids(read_agent_meta(match))
    with gc_paused():
        chain = build_subagent_chain(parse_chain_entries(data))
    messages = to_session_messages(
        chain, visible_only=False, parent_tool_use_id=tool_use_id, parent_agent_id=parent_agent
    )
    return page(messages, limit, offset)
