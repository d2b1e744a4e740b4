"""The ``SessionStore`` protocol, duck-type compatible with the official SDK's.

A store keeps transcripts as lists of JSON-object entries under a
:class:`SessionKey`. Only :meth:`SessionStore.append` and
:meth:`SessionStore.load` are required; the optional methods are detected the
way the official SDK does it (the method is defined on the store's class), so
a store written for ``claude_agent_sdk`` works here and ours work there.

Contract (also checked by :func:`threadline.testing.check_session_store`):

- ``append(key, entries)``: entries are stored in call order, after earlier
  appends. Entries that carry a ``uuid`` are idempotent: appending an entry
  whose uuid the key already holds is a no-op (a retried batch does not
  duplicate). ``append(key, [])`` changes nothing.
- ``load(key)``: the entries deep-equal to what was appended, in order;
  ``None`` for a key never written.
- ``list_sessions(project_key)``: main transcripts only (no subpaths), each
  with ``mtime`` in epoch milliseconds.
- ``list_session_summaries(project_key)``: one folded summary per main
  transcript (see :func:`fold_session_summary`), ``mtime`` on the same clock
  as ``list_sessions``.
- ``delete(key)``: deleting a main key removes its subkeys and summary;
  deleting a subkey removes only it; deleting an absent key is a no-op.
- ``list_subkeys(key)``: the subpaths stored under one session.

Optional capability (threadline's own, see :class:`ConditionalAppendStore`):
``append_conditional(key, entries, expected_head=...)`` appends only if the
session's *head* (the uuid of its last chain entry: user, assistant, system,
progress or attachment) is still ``expected_head``; otherwise it raises
:class:`~threadline.ConcurrentModificationError`. Metadata lines (titles, tags)
do not move the head, so renaming a live session never conflicts. A batch
whose uuids are all already stored is a successful no-op (a retry after a
lost acknowledgement).

Declared capabilities (threadline's own): see the section "Capabilities" below. Each
is a ``runtime_checkable`` protocol, so callers test ``isinstance(store, X)`` instead of
looking for a method by name, and store wrappers forward exactly what their inner store
declares.
"""

# No ``from __future__ import annotations``: TypedDicts honour ``NotRequired`` / ``Required``
# only when annotations are evaluated (``SessionKey.__required_keys__`` must not list subpath).
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from typing_extensions import NotRequired, Required, TypedDict

__all__ = [
    "CAPABILITIES",
    "CheckedLoadStore",
    "ClosableStore",
    "ConditionalAppendStore",
    "FindSessionStore",
    "LocalTranscripts",
    "PartialLoadStore",
    "PrepareLines",
    "PreparedAppendStore",
    "ProjectListingStore",
    "WrappedStore",
    "aclose_store",
    "capabilities_of",
    "innermost_store",
    "local_transcripts",
    "project_lister",
    "SessionKey",
    "SessionListSubkeysKey",
    "SessionStore",
    "SessionStoreEntry",
    "SessionStoreFlushMode",
    "SessionStoreListEntry",
    "SessionSummaryEntry",
    "store_implements",
]


class SessionKey(TypedDict):
    """Identifies one transcript: a main session, or a subpath under it."""

    project_key: str
    session_id: str
    subpath: NotRequired[str]


class SessionListSubkeysKey(TypedDict):
    project_key: str
    session_id: str


class SessionStoreEntry(TypedDict, total=False):
    """One transcript line; every other key passes through untouched."""

    type: Required[str]
    uuid: str
    timestamp: str


class SessionStoreListEntry(TypedDict):
    session_id: str
    mtime: int


class SessionSummaryEntry(TypedDict):
    session_id: str
    mtime: int
    data: dict[str, Any]


SessionStoreFlushMode = Literal["batched", "eager"]


class SessionStore(Protocol):
    """Async transcript storage. See the module docstring for the contract."""

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None: ...

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None: ...

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        raise NotImplementedError

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        raise NotImplementedError

    async def delete(self, key: SessionKey) -> None:
        raise NotImplementedError

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        raise NotImplementedError


@runtime_checkable
class ConditionalAppendStore(Protocol):
    """A store that can detect a second writer (optimistic concurrency on the head)."""

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None: ...

    async def get_head(self, key: SessionKey) -> str | None:
        """The uuid of the last chain entry of ``key`` (``None`` if empty or absent)."""
        ...


# ----------------------------------------------------------------------------- Capabilities
# (redesign, #12: the local-file capabilities; keep store capability protocols together here)


@runtime_checkable
class LocalTranscripts(Protocol):
    """A store whose transcripts are files in Claude Code's layout under ``config_dir``,
    holding the entries exactly as ``load`` returns them (:class:`~threadline.sessions.FileStore`).

    The runtime's fast paths read such files directly: resume snapshots, the compaction
    offset (:mod:`threadline.sessions._offsets`), file-checkpoint backups in
    ``<config_dir>/file-history``. Any other store loads whole transcripts through ``load``.
    """

    config_dir: Path

    def path_for(self, key: SessionKey) -> Path:
        """The transcript file of ``key`` (validated: it cannot leave the store's directory)."""
        ...


@runtime_checkable
class WrappedStore(Protocol):
    """A store wrapper (redaction, encryption...): ``inner`` is the store it writes through."""

    @property
    def inner(self) -> SessionStore: ...

    def local_transcripts(self) -> LocalTranscripts | None:
        """The local files that hold this wrapper's entries unchanged, else ``None`` (a
        wrapper that changes the stored bytes, such as encryption, returns ``None``)."""
        ...


# (stores, #17: partial loads)


@runtime_checkable
class PartialLoadStore(Protocol):
    """A store that loads part of a transcript from an index, so a resume reads only what it
    sends (every threadline store; wrappers that return entries unchanged forward it).

    Each method returns a suffix of what ``load(key)`` returns, and ``None`` where ``load``
    returns ``None`` (plus the case named below):

    - ``load_since_compaction(key)``: from the last compaction's resume point on: the first
      entry of its preserved segment (``compactMetadata.preservedSegment.headUuid``) when
      that entry was stored before the boundary, else the boundary itself; everything when
      the transcript holds no compaction boundary. (A store may start earlier, at an entry,
      only for data written before it kept this index.)
    - ``load_after(key, uuid)``: the entries after the one whose uuid is ``uuid`` (the last
      one where a transcript holds that uuid twice, as only files another program wrote can:
      the copy the transcript readers keep); ``None`` when the key or the uuid is unknown
      (load in full instead), including a uuid the store could not hold (one with a lone
      surrogate, on the database stores).
    - ``load_tail(key, count)``: the last ``count`` entries (all if fewer).

    :func:`threadline.testing.check_session_store` compares each against a full ``load``.
    """

    async def load_since_compaction(self, key: SessionKey) -> list[SessionStoreEntry] | None: ...

    async def load_after(self, key: SessionKey, uuid: str) -> list[SessionStoreEntry] | None: ...

    async def load_tail(self, key: SessionKey, count: int) -> list[SessionStoreEntry] | None: ...


@runtime_checkable
class FindSessionStore(Protocol):
    """A store that finds a session by id alone, in any project (every threadline store;
    wrappers forward it). Without it, resuming a session by id from another directory
    finds it only in the project the current directory maps to.

    ``find_session(session_id)``: the key (``project_key`` and ``session_id``, no
    ``subpath``) of the session's main transcript; when several projects hold one, the one
    written most recently; ``None`` when no project does, including for an id no key of the
    store could hold (a lone surrogate, ``/``...): not a ``UserError``. Checked by
    :func:`threadline.testing.check_session_store`.
    """

    async def find_session(self, session_id: str) -> SessionKey | None: ...


@runtime_checkable
class ProjectListingStore(Protocol):
    """A store that lists its project keys (``list_projects()``: every project key holding a
    transcript), for exporting or browsing everything. SQLite, PostgreSQL and Redis do;
    a wrapper keeps project keys in clear, so :func:`project_lister` looks through it."""

    async def list_projects(self) -> list[str]: ...


@runtime_checkable
class CheckedLoadStore(Protocol):
    """A store that says which stored lines no longer parse (a damaged file) instead of
    skipping them silently (:class:`~threadline.sessions.FileStore`): ``load_checked(key)``
    is ``(load(key), numbers of the damaged complete lines, 1-based)``. Encryption uses it
    to refuse a damaged stream rather than return part of a conversation."""

    async def load_checked(
        self, key: SessionKey
    ) -> tuple[list[SessionStoreEntry] | None, list[int]]: ...


PrepareLines = Callable[[list[SessionStoreEntry]], tuple[list[SessionStoreEntry], list[bytes]]]
"""Turns a batch into the entries to store and their JSON lines (one ``bytes`` each, newline
included); run by the store in its writer, off the event loop."""


@runtime_checkable
class PreparedAppendStore(Protocol):
    """A store that writes JSON lines and lets a wrapper hand it lines already serialised
    (:class:`~threadline.sessions.FileStore`). A wrapper that serialises every entry anyway
    (redaction scans the JSON) then does not make the store serialise it again.

    ``append_prepared(key, entries, prepare)`` is :meth:`SessionStore.append` of what
    ``prepare(entries)`` returns, run in the store's worker; ``append_conditional_prepared``
    is the same for :meth:`ConditionalAppendStore.append_conditional`. The lines must be
    exactly ``dumps_line`` of the returned entries.
    """

    async def append_prepared(
        self, key: SessionKey, entries: list[SessionStoreEntry], prepare: PrepareLines
    ) -> None: ...

    async def append_conditional_prepared(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        prepare: PrepareLines,
        *,
        expected_head: str | None,
    ) -> None: ...


@runtime_checkable
class ClosableStore(Protocol):
    """A store holding resources (connections, pools): ``aclose()`` releases them
    (idempotent). Whoever made the store closes it; wrappers close their inner store."""

    async def aclose(self) -> None: ...


CAPABILITIES: dict[str, type] = {
    "conditional_append": ConditionalAppendStore,
    "partial_loads": PartialLoadStore,
    "find_session": FindSessionStore,
    "list_projects": ProjectListingStore,
    "checked_load": CheckedLoadStore,
    "prepared_append": PreparedAppendStore,
    "local_transcripts": LocalTranscripts,
    "wrapped": WrappedStore,
    "closable": ClosableStore,
}
"""threadline's declared store capabilities, by name (the official optional methods,
``list_sessions`` and the rest, are detected as the official SDK does: see
:func:`store_implements`)."""


def capabilities_of(store: object) -> frozenset[str]:
    """The names in :data:`CAPABILITIES` that ``store`` declares."""
    return frozenset(name for name, proto in CAPABILITIES.items() if isinstance(store, proto))


def project_lister(store: object) -> ProjectListingStore | None:
    """The store, or a store it wraps, that lists project keys; ``None`` if none does."""
    seen = 0
    while seen < 64:
        if isinstance(store, ProjectListingStore):
            return store
        if not isinstance(store, WrappedStore):
            return None
        store, seen = store.inner, seen + 1
    return None


async def aclose_store(store: object) -> None:
    """Close ``store`` if it is a :class:`ClosableStore`."""
    if isinstance(store, ClosableStore):
        await store.aclose()


def local_transcripts(store: object) -> LocalTranscripts | None:
    """The :class:`LocalTranscripts` whose files hold ``store``'s entries as ``load`` returns
    them: the store itself, or what a wrapper declares; ``None`` for any other store."""
    if isinstance(store, LocalTranscripts):
        return store
    if isinstance(store, WrappedStore):
        return store.local_transcripts()
    return None


def innermost_store(store: object) -> object:
    """``store`` with every wrapper peeled off (the store that holds the bytes)."""
    seen = 0
    while isinstance(store, WrappedStore) and seen < 64:
        store, seen = store.inner, seen + 1
    return store


def store_implements(store: object, name: str) -> bool:
    """True if ``store`` provides optional method ``name`` (not the protocol default).

    Checks our protocol's defaults and, when installed, the official SDK's, so
    a subclass of either that leaves a method unimplemented is detected.
    """
    impl = getattr(type(store), name, None)
    if impl is None or not callable(impl):
        return False
    if impl is getattr(SessionStore, name, None):
        return False
    official = _official_protocol()
    return not (official is not None and impl is getattr(official, name, None))


def _official_protocol() -> type | None:
    import sys

    mod = sys.modules.get("claude_agent_sdk.types")
    return getattr(mod, "SessionStore", None) if mod is not None else None
