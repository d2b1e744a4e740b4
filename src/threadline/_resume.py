"""Which session a run writes to, and what history it starts from.

Resolved once, before anything reaches the model, so a bad ``resume`` fails loudly and
early (never a silent new session):

- ``resume=<uuid>``: the session is looked up in the cwd's project first, then in every
  project (users resume from another directory); its recorded ``cwd`` is restored unless
  ``cwd`` was given. A value that is not a UUID raises :class:`SessionNotFoundError` (or
  :class:`InvalidSessionIdError` when it could not even be a name, e.g. ``../x``).
- ``continue_conversation``: the newest session of the cwd's project; none → a new session.
- ``resume_session_at=<uuid>``: history up to and including that entry; the new turn
  branches there, in the same file (as the CLI does).
- ``fork_session``: the resumed chain is copied under a new id with fresh uuids and
  ``forkedFrom`` (the official ``fork_session`` transform, applied to the chain only, so
  abandoned branches are not copied); the original is never written to. The copy is
  written with the first prompt, so a fork that never runs a turn leaves nothing behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio.to_thread

from ._chain import build_conversation_chain, chain_entries
from ._compact import load_for_resume, relink_compacted, resume_leaf
from ._exceptions import (
    InvalidSessionIdError,
    MessageNotFoundError,
    SessionNotFoundError,
    UserError,
)
from ._ids import is_uuid, new_uuid, validate_session_id
from ._options import AgentOptions
from ._paths import project_key_for_directory
from ._record import chain_to_api_messages, fork_chain, gc_paused
from .sessions import FileStore, SessionKey, SessionStore, find_session_key

__all__ = ["SessionPlan", "plan_session"]

Raw = dict[str, Any]
_THREAD_THRESHOLD = 2_000


@dataclass(kw_only=True)
class SessionPlan:
    """Where a run writes and what it starts from."""

    session_id: str
    cwd: str
    key: SessionKey
    store: SessionStore | None
    """None when ``persist_session=False``: nothing is written."""
    history: list[Raw] = field(default_factory=list)
    leaf_uuid: str | None = None
    pending: list[Raw] = field(default_factory=list)
    """Entries to write before the first prompt (a fork's copied history)."""
    chain: list[Raw] = field(default_factory=list)
    """The rebuilt chain (from the last compaction on), raw entries."""
    source: Literal["startup", "resume"] = "startup"


def _check_resume_id(value: str) -> str:
    if is_uuid(value):
        return value
    if not value or any(c in value for c in "/\\\x00") or ".." in value:
        raise InvalidSessionIdError(value, "resume")
    raise SessionNotFoundError(
        value,
        "(resume takes a session id: a UUID such as ResultMessage.session_id or "
        "the 'session_id' of the init SystemMessage)",
    )


def default_store(options: AgentOptions) -> SessionStore:
    """The store a run writes through: the configured one (default ``FileStore``), redacting."""
    from .privacy import RedactingStore, Redactor

    store: SessionStore
    if options.session_store is not None:
        store = options.session_store
    else:
        store = FileStore(config_dir=options.env.get("CLAUDE_CONFIG_DIR") or None)
    redact = options.redact
    if redact is not False and not isinstance(store, RedactingStore):
        store = RedactingStore(store, redact if isinstance(redact, Redactor) else None)
    return store


def _rebuild(entries: list[Raw], at: str | None) -> tuple[list[Raw], list[Raw]]:
    with gc_paused():
        return _rebuild_inner(entries, at)


def _rebuild_inner(entries: list[Raw], at: str | None) -> tuple[list[Raw], list[Raw]]:
    chain_all = chain_entries(entries)
    if at is not None:
        cut = next((i for i, e in enumerate(chain_all) if e.get("uuid") == at), None)
        if cut is None:
            raise MessageNotFoundError(f"Message {at} not found in the session (resume_session_at)")
        chain_all = chain_all[: cut + 1]
    chain = relink_compacted(build_conversation_chain(chain_all), chain_all)
    return chain, chain_to_api_messages(chain)


async def _newest_session(
    store: SessionStore, project_key: str
) -> tuple[SessionKey, list[Raw]] | None:
    lister = getattr(store, "list_sessions", None)
    if lister is None:
        raise UserError("continue_conversation needs a session_store with list_sessions()")
    listed = await lister(project_key)
    for item in sorted(listed, key=lambda x: x.get("mtime", 0), reverse=True):
        sid = item.get("session_id")
        if not is_uuid(sid):
            continue
        key: SessionKey = {"project_key": project_key, "session_id": sid}
        entries = await store.load(key)
        if not entries or entries[0].get("isSidechain") is True:
            continue
        return key, [dict(e) for e in entries]
    return None


async def plan_session(options: AgentOptions) -> SessionPlan:
    """Resolve resume / continue / fork / session_id into a :class:`SessionPlan`."""
    cwd_given = options.cwd is not None
    cwd = _start_cwd(options)
    if options.session_id is not None:
        validate_session_id(options.session_id, "session_id")
    if options.resume_session_at is not None and not (
        options.resume or options.continue_conversation
    ):
        raise UserError("resume_session_at needs resume (or continue_conversation)")
    store = default_store(options)
    write_store = store if options.persist_session else None
    project_key = project_key_for_directory(cwd)

    found: tuple[SessionKey, list[Raw]] | None = None
    if options.resume is not None:
        sid = _check_resume_id(options.resume)
        key = await find_session_key(store, sid, project_key_hint=project_key)
        entries = (
            await load_for_resume(store, key, at=options.resume_session_at)
            if key is not None
            else None
        )
        if key is None or not entries:
            raise SessionNotFoundError(sid, f"(looked in every project of {_where(store)})")
        found = key, entries
    elif options.continue_conversation:
        found = await _newest_session(store, project_key)

    if found is None:
        sid = options.session_id or new_uuid()
        return SessionPlan(
            session_id=sid,
            cwd=cwd,
            key={"project_key": project_key, "session_id": sid},
            store=write_store,
        )

    key, loaded = found
    if len(loaded) > _THREAD_THRESHOLD:
        chain, history = await anyio.to_thread.run_sync(_rebuild, loaded, options.resume_session_at)
    else:
        chain, history = _rebuild(loaded, options.resume_session_at)
    if not cwd_given:
        cwd = _recorded_cwd(chain) or cwd
    leaf = resume_leaf(chain)
    if options.fork_session:
        new_id = options.session_id or new_uuid()
        copied = fork_chain(chain, new_session_id=new_id, source_session_id=key["session_id"])
        return SessionPlan(
            session_id=new_id,
            cwd=cwd,
            key={"project_key": project_key_for_directory(cwd), "session_id": new_id},
            store=write_store,
            history=history,
            leaf_uuid=copied[-1]["uuid"] if copied else None,
            pending=copied,
            chain=list(copied),
            source="resume",
        )
    if options.session_id is not None and options.session_id != key["session_id"]:
        raise UserError(
            "session_id can be combined with resume/continue only when fork_session=True"
        )
    return SessionPlan(
        session_id=key["session_id"],
        cwd=cwd,
        key=key,
        store=write_store,
        history=history,
        leaf_uuid=leaf,
        chain=chain,
        source="resume",
    )


def _start_cwd(options: AgentOptions) -> str:
    return os.path.abspath(os.fspath(options.cwd)) if options.cwd is not None else os.getcwd()


def _recorded_cwd(chain: list[Raw]) -> str | None:
    """The session's last recorded cwd, if that directory still exists."""
    for entry in reversed(chain):
        recorded = entry.get("cwd")
        if isinstance(recorded, str):
            return recorded if os.path.isdir(recorded) else None
    return None


def _where(store: SessionStore) -> str:
    """The store, readably: wrappers (redaction, encryption) peeled, a FileStore's directory."""
    inner: Any = store
    while getattr(inner, "inner", None) is not None:
        inner = inner.inner
    projects = getattr(inner, "projects_dir", None)
    if projects is not None:
        return str(projects)
    return repr(inner)
