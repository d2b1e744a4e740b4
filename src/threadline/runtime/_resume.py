"""Which session a run writes to, and what history it starts from.

Resolved once, before anything reaches the model, so a bad ``resume`` fails loudly and
early (never a silent new session):

- ``resume=<uuid>``: the session is looked up in the cwd's project first, then in every
  project (users resume from another directory). It runs where it is started when it is
  filed under that directory's project, or when ``cwd`` is given; started elsewhere, its
  recorded ``cwd`` is restored only when the transcript can be trusted to say where it
  ran: a local file (not a shared store), not restored from a bundle, whose recorded
  directory exists and is the one its project is filed under. A transcript is input like
  any other: one recording ``"cwd": "/"`` does not move the agent to ``/``. A value that is not a UUID raises :class:`ResumeNotFoundError` (or
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.to_thread

from .._exceptions import (
    InvalidSessionIdError,
    MessageNotFoundError,
    ProcessError,
    ResumeNotFoundError,
    StorageError,
    UserError,
)
from .._ids import is_uuid, new_uuid, validate_session_id
from ..privacy import RedactingStore
from ..privacy._detect import is_encrypted_transcript
from ..sessions import FileStore, SessionKey, SessionStore, find_session_key, store_implements
from ..sessions._imported import is_imported
from ..sessions._offsets import load_for_resume, read_for_resume
from ..sessions._paths import project_key_for_directory
from ..sessions._protocol import innermost_store, local_transcripts
from ..sessions._snapshot import (
    MIN_ENTRIES,
    FileState,
    Snapshot,
    prefix_loader,
    read_appended,
    read_snapshot,
    snapshot_path,
    write_snapshot,
)
from ..transcript._api import (
    TailKind,
    merge_api_messages,
    repair_tool_pairs,
    repaired_prefix,
    resume_closing,
    tail_kinds,
)
from ..transcript._chain import (
    build_conversation_chain_and_leaf,
    chain_and_leaf,
    chain_end,
    chain_entries,
    message_id,
)
from ..transcript._compaction import relink_compacted, resume_leaf
from ..transcript._entries import EntryFactory, fork_chain, gc_paused, git_branch
from ..transcript._jsonl import iter_objects
from ._options import AgentOptions

if TYPE_CHECKING:
    from ..privacy import Redactor

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
    """Entries to write before the first prompt (a fork's copied history, what the resume
    closes the conversation with)."""
    forked: bool = False
    """A new session copied from the resumed one (``fork_session``)."""
    chain: list[Raw] = field(default_factory=list)
    """The rebuilt chain (from the last compaction on), raw entries."""
    chain_loader: Callable[[], list[Raw]] | None = None
    """Set instead of ``chain`` when resumed from a snapshot: loads the chain on demand."""
    chain_new: list[Raw] = field(default_factory=list)
    """With ``chain_loader``: entries that follow the loaded chain (the resume's closing)."""
    source: Literal["startup", "resume"] = "startup"


def _check_resume_id(value: str) -> str:
    if is_uuid(value):
        return value
    if not value or any(c in value for c in "/\\\x00") or ".." in value:
        raise InvalidSessionIdError(value, "resume")
    raise ResumeNotFoundError(
        value,
        "(resume takes a session id: a UUID such as ResultMessage.session_id or "
        "the 'session_id' of the init SystemMessage)",
    )


def default_store(options: AgentOptions) -> SessionStore:
    """The store a run writes through: the configured one (default ``FileStore``), redacting."""
    store: SessionStore
    if options.session_store is not None:
        store = options.session_store
    else:
        store = FileStore(config_dir=options.env.get("CLAUDE_CONFIG_DIR") or None)
    redact = options.redact
    if redact is not False and not isinstance(store, RedactingStore):
        store = RedactingStore(store, _own_redactor(redact))
    return store


def _own_redactor(redact: object) -> Redactor | None:
    """``AgentOptions.redact`` when it is a :class:`~threadline.privacy.Redactor`, else
    ``None`` (the default one, built on first use: ``None`` and ``True`` load no rules)."""
    if redact is None or isinstance(redact, bool):
        return None
    from ..privacy._redact import Redactor

    return redact if isinstance(redact, Redactor) else None


@dataclass(frozen=True)
class _Rebuilt:
    """A resumed conversation before the resume closes it (see :func:`_closed`)."""

    chain: list[Raw]
    messages: list[Raw]
    """Merged API messages, unrepaired."""
    tail: list[TailKind]
    intact: int = 0
    """How many leading ``messages`` the tool-pair repair keeps as they are (known when a
    snapshot was written: ``transcript._api.repaired_prefix``)."""


def _rebuild(entries: list[Raw], at: str | None) -> _Rebuilt:
    with gc_paused(promote=len(entries) > _THREAD_THRESHOLD):  # a large history is kept
        return _rebuild_inner(entries, at)


def _rebuild_inner(entries: list[Raw], at: str | None) -> _Rebuilt:
    if at is None:
        chain_all, walked, walk_leaf = chain_and_leaf(entries)
    else:
        chain_all = chain_entries(entries)
        cut = next((i for i, e in enumerate(chain_all) if e.get("uuid") == at), None)
        if cut is None:
            raise MessageNotFoundError(f"Message {at} not found in the session (resume_session_at)")
        chain_all = chain_all[: cut + 1]
        walked, walk_leaf = build_conversation_chain_and_leaf(chain_all)
    chain = _with_end(relink_compacted(walked, chain_all), chain_all, walk_leaf)
    return _Rebuilt(chain=chain, messages=merge_api_messages(chain, []), tail=tail_kinds(chain))


DROPS_TURN_REJECTED = "Resume rejected by --resume-drops-turn:"
"""The official error text's prefix (programs match on it)."""


def check_drops_turn(entries: list[Raw], at: str, prompt: str) -> None:
    """``resume_drops_turn``: refuse a truncating resume (``resume_session_at``) unless what
    it discards is the turn of the prompt ``prompt`` and nothing else, as the CLI does: no
    other prompt (a queued message the session absorbed), no task notification.

    Raises :class:`~threadline.ProcessError` whose message starts with the CLI's
    ``Resume rejected by --resume-drops-turn:``.
    """
    chain_all = [e for e in chain_entries(entries) if e.get("isSidechain") is not True]
    cut = next((i for i, e in enumerate(chain_all) if e.get("uuid") == at), None)
    if cut is None:
        return  # the resume itself reports the unknown message
    seen_prompt = False
    for entry in chain_all[cut + 1 :]:
        if entry.get("type") != "user" or entry.get("isMeta") or entry.get("isCompactSummary"):
            continue
        content = (entry.get("message") or {}).get("content")
        blocks = content if isinstance(content, list) else []
        if blocks and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks):
            continue  # a tool result of the dropped turn
        origin = entry.get("origin")
        if isinstance(origin, dict) and origin.get("kind") == "task-notification":
            raise _drops_turn_error(f"a task notification ({entry.get('uuid')}) was absorbed")
        if entry.get("uuid") == prompt and not seen_prompt:
            seen_prompt = True
            continue
        raise _drops_turn_error(
            f"message {entry.get('uuid')} after {at} is not part of the turn of {prompt}"
        )


def _drops_turn_error(detail: str) -> ProcessError:
    return ProcessError(f"{DROPS_TURN_REJECTED} {detail}", exit_code=1)


def _with_end(chain: list[Raw], chain_all: list[Raw], walk_leaf: Raw | None) -> list[Raw]:
    """``chain`` continued past its last message to the last entry below it
    (:func:`~threadline.transcript._chain.chain_end`), as the CLI resumes it."""
    if not chain or chain[-1] is not walk_leaf:
        return chain  # it ends with parallel results recovered after the walk's leaf
    end = chain_end(chain_all, walk_leaf)
    return [*chain, *end] if end else chain


def _snapshot_eligible(
    store: SessionStore, key: SessionKey | None, options: AgentOptions
) -> Path | None:
    """The transcript path when a plain resume of a local FileStore session may use snapshots."""
    if key is None or key.get("subpath") or options.fork_session or options.resume_session_at:
        return None
    files = local_transcripts(store)
    return None if files is None else Path(files.path_for(key))


@dataclass(frozen=True)
class _Resumed:
    """A resume served from a snapshot (plus what was appended since)."""

    messages: list[Raw]
    """Merged API messages, unrepaired."""
    tail: list[TailKind]
    leaf: str | None
    cwd: str | None
    """The recorded cwd if that directory still exists."""
    state: FileState
    intact: int = 0
    """How many leading ``messages`` the tool-pair repair keeps as they are (the
    snapshot's word: ``transcript._api.repaired_prefix``)."""


def _load_with_snapshot(
    path: Path, write: bool = True, rewrite_after: int | None = None
) -> tuple[_Resumed | None, list[Raw] | None, FileState | None]:
    """(resumed, None, None) from a snapshot; else (None, the transcript's entries, their
    state). ``write=False`` (``persist_session=False``): nothing is written (no snapshot,
    no compaction sidecar)."""
    snap = read_snapshot(path)
    if snap is not None:
        with gc_paused():
            resumed = _extend(
                path, snap, write, REWRITE_AFTER if rewrite_after is None else rewrite_after
            )
        if resumed is not None:
            if resumed.cwd is not None and not os.path.isdir(resumed.cwd):
                resumed = replace(resumed, cwd=None)
            return resumed, None, None
    state = FileState.of(path)
    entries, _ = read_for_resume(path, record=write)
    return None, entries, state


def _extend(path: Path, snap: Snapshot, write: bool, rewrite_after: int) -> _Resumed | None:
    """The snapshot plus the entries appended after it, or ``None`` when those do more than
    continue the conversation from its leaf (then the whole transcript is read)."""
    messages, leaf, cwd, state = snap.messages, snap.leaf, snap.cwd, snap.state
    extendable, tail, intact = snap.extendable, snap.tail, snap.intact
    if snap.current.size > snap.state.size:
        got = read_appended(path, snap)
        if got is None:
            return None
        appended, state = got
        chain_all = chain_entries(appended)
        if any(e.get("isSidechain") for e in chain_all):
            return None  # sidechain entries can change which leaf the rebuild picks
        if chain_all:
            new_ids = {e["uuid"] for e in chain_all}
            if (
                not extendable
                or leaf is None
                or any(
                    e.get("parentUuid") != leaf and e.get("parentUuid") not in new_ids
                    for e in chain_all
                )
            ):
                return None  # a new root (compaction), a branch off an older entry, ...
            added, walk_leaf = build_conversation_chain_and_leaf(chain_all)
            message = added[-1] if added else None
            if message is None or message.get("isMeta") or message.get("teamName"):
                return None  # no new main-line leaf: the rebuild picks an older one
            extendable = message is walk_leaf
            added = _with_end(added, chain_all, walk_leaf)
            last = added[-1]
            if (
                added[0].get("parentUuid") != leaf
                or not _only_side_leaves(chain_all, added, leaf)
                or any(message_id(e) in snap.message_ids for e in chain_all)
            ):
                return None
            messages = merge_api_messages(added, messages)
            tail = tail_kinds(added, tail)
            leaf = last["uuid"]
            cwd = _last_cwd(added) or cwd
        if write and state == snap.current and state.size - snap.state.size >= rewrite_after:
            intact = repaired_prefix(messages, intact)
            write_snapshot(
                path,
                state,
                messages=messages,
                leaf=leaf,
                message_ids=snap.message_ids | _message_ids(chain_all),
                cwd=cwd,
                extendable=extendable,
                tail=tail,
                intact=intact,
            )
    return _Resumed(messages=messages, tail=tail, leaf=leaf, cwd=cwd, state=state, intact=intact)


def refresh_snapshot(path: Path) -> bool:
    """Bring ``path``'s resume snapshot up to date, as a persisted resume does first (any
    size of session); whether one describes the file now."""
    hit, entries, state = _load_with_snapshot(path, True, rewrite_after=0)
    if hit is None and entries and state is not None:
        _rebuild_and_snapshot(entries, path, state)
    snap = read_snapshot(path)
    return snap is not None and snap.current == snap.state


def snapshot_after_run(plan: SessionPlan) -> bool:
    """After a run that wrote to a local transcript of at least :data:`SNAPSHOT_AFTER_RUN`
    bytes (and :data:`MIN_ENTRIES` entries) with no resume snapshot beside it, write one, so
    the first resume in another process starts warm. A session with a snapshot is left
    alone: the next resume extends it by the lines appended since. Whether one was written
    (a failure here costs only that: the next resume reads the whole transcript)."""
    if plan.store is None or plan.key.get("subpath"):
        return False
    files = local_transcripts(plan.store)
    if files is None:
        return False
    path = Path(files.path_for(plan.key))
    try:
        if path.stat().st_size < SNAPSHOT_AFTER_RUN or snapshot_path(path).exists():
            return False
        state = FileState.of(path)
        entries, _ = read_for_resume(path, record=True)
        if state is None or entries is None or len(entries) < MIN_ENTRIES:
            return False
        _rebuild_and_snapshot(entries, path, state)
    except (OSError, ValueError, StorageError):
        return False
    return True


SNAPSHOT_AFTER_RUN = 1 << 20
"""Smaller transcripts resume fast enough without a snapshot (a few ms to read)."""

REWRITE_AFTER = 1 << 20
"""A snapshot is rewritten once this many bytes were appended after it; until then each
resume parses the appended part again (cheaper than rewriting the snapshot every time)."""


def _message_ids(entries: list[Raw]) -> set[str]:
    return {mid for e in entries if (mid := message_id(e)) is not None}


def _only_side_leaves(main_new: list[Raw], added: list[Raw], leaf: str) -> bool:
    """Whether every new entry off the rebuilt chain is a childless ``progress``,
    ``attachment`` or ``system`` entry hanging off it (hook progress, the reminders the CLI
    attaches after a reply): the rebuild's leaf search walks up from such an entry to a
    message already on the chain, and its parallel-result recovery ignores them. Anything
    else off the chain (a branch, a stray root, a message) needs a full read."""
    if len(added) == len(main_new):
        return True
    on_chain = {e["uuid"] for e in added}
    on_chain.add(leaf)
    parents = {e.get("parentUuid") for e in main_new}
    return all(
        e.get("type") not in ("user", "assistant")
        and e.get("parentUuid") in on_chain
        and e["uuid"] not in parents
        for e in main_new
        if e["uuid"] not in on_chain
    )


def _rebuild_and_snapshot(entries: list[Raw], path: Path, state: FileState) -> _Rebuilt:
    with gc_paused(promote=len(entries) > _THREAD_THRESHOLD):
        chain_all, walked, walk_leaf = chain_and_leaf(entries)
        chain = _with_end(relink_compacted(walked, chain_all), chain_all, walk_leaf)
        messages = merge_api_messages(chain, [])
        tail = tail_kinds(chain)
        intact = repaired_prefix(messages)
        write_snapshot(
            path,
            state,
            messages=messages,
            leaf=resume_leaf(chain),
            message_ids=_message_ids(entries),
            cwd=_last_cwd(chain),
            extendable=bool(walked) and walked[-1] is walk_leaf,
            tail=tail,
            intact=intact,
        )
        return _Rebuilt(chain=chain, messages=messages, tail=tail, intact=intact)


@dataclass
class _Loaded:
    """A session picked by resume/continue: from a snapshot (``hit``) or its entries."""

    key: SessionKey
    hit: _Resumed | None = None
    entries: list[Raw] | None = None
    state: FileState | None = None
    """The transcript's state before it was read (snapshot eligible), else ``None``."""
    path: Path | None = None


def _refuse_encrypted(store: SessionStore, key: SessionKey) -> None:
    """A store that writes plaintext into local files never resumes (and so appends to) a
    transcript that ``EncryptedStore`` wrote: that takes the session's own store."""
    files = local_transcripts(store)
    if files is None:  # not local files, or a wrapper that changes the bytes (encryption)
        return
    path = Path(files.path_for(key))
    if is_encrypted_transcript(path):
        raise UserError(
            f"Session {key['session_id']} is encrypted (written by EncryptedStore): resume it "
            "with its store, session_store=EncryptedStore(FileStore(), key=...); without it "
            "the session would get plaintext appended. Nothing was read or written."
        )


async def _load_session(store: SessionStore, key: SessionKey, options: AgentOptions) -> _Loaded:
    await anyio.to_thread.run_sync(_refuse_encrypted, store, key)
    path = _snapshot_eligible(store, key, options)
    if path is not None:
        write = bool(options.persist_session)  # persist_session=False writes nothing at all
        hit, entries, state = await anyio.to_thread.run_sync(_load_with_snapshot, path, write)
        return _Loaded(key=key, hit=hit, entries=entries, state=state if write else None, path=path)
    entries = await load_for_resume(
        store, key, at=options.resume_session_at, record=bool(options.persist_session)
    )
    return _Loaded(key=key, entries=entries)


async def _newest_session(
    store: SessionStore, project_key: str, options: AgentOptions
) -> _Loaded | None:
    if not store_implements(store, "list_sessions"):
        raise UserError("continue_conversation needs a session_store with list_sessions()")
    listed = await store.list_sessions(project_key)
    for item in sorted(listed, key=lambda x: x.get("mtime", 0), reverse=True):
        sid = item.get("session_id")
        if not is_uuid(sid):
            continue
        key: SessionKey = {"project_key": project_key, "session_id": sid}
        path = _snapshot_eligible(store, key, options)
        if path is not None and await anyio.to_thread.run_sync(_starts_as_sidechain, path):
            continue
        loaded = await _load_session(store, key, options)
        if loaded.hit is not None:
            return loaded
        if not loaded.entries or (path is None and loaded.entries[0].get("isSidechain") is True):
            continue
        return loaded
    return None


def _starts_as_sidechain(path: Path) -> bool:
    """Whether a transcript's first entry is a sidechain one (a subagent's, not a session)."""
    try:
        with open(path, "rb") as fh:
            for line in fh:  # the first line that is an object, however long
                first = next(iter_objects(line), None)
                if first is not None:
                    return first.get("isSidechain") is True
    except OSError:
        pass
    return False


_T = TypeVar("_T")


async def _timed(options: AgentOptions, step: Awaitable[_T]) -> _T:
    """One read of a ``session_store`` while resuming, bounded by ``load_timeout_ms`` (the
    official SDK's rule: a store that does not settle fails the query instead of hanging).
    Local transcripts (no ``session_store``) are not bounded."""
    if options.session_store is None:
        return await step
    ms = options.load_timeout_ms
    try:
        with anyio.fail_after(ms / 1000):
            return await step
    except TimeoutError:
        raise StorageError(
            f"session_store did not answer within load_timeout_ms={ms} while resuming "
            f"({type(options.session_store).__name__}); raise load_timeout_ms for a slow store"
        ) from None


async def plan_session(options: AgentOptions) -> SessionPlan:
    """Resolve resume / continue / fork / session_id into a :class:`SessionPlan`: find the
    session, then one constructor per case (new, from a snapshot, fork, resume)."""
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
    found = await _find(options, store, project_key)
    if found is None:
        return _plan_new(options, cwd, project_key, write_store)
    if found.hit is not None:
        return await _plan_from_snapshot(options, store, found, cwd, write_store)
    rebuilt = await _rebuilt(options, found)
    cwd = _resume_cwd(options, store, found.key, _last_cwd(rebuilt.chain), cwd)
    if options.fork_session:
        return await _plan_fork(options, found.key, rebuilt, cwd, write_store)
    return await _plan_resume(options, found.key, rebuilt, cwd, write_store)


async def _find(options: AgentOptions, store: SessionStore, project_key: str) -> _Loaded | None:
    """The session ``resume`` names (which must exist) or ``continue`` picks, else None."""
    if options.resume is not None:
        sid = _check_resume_id(options.resume)
        key = await _timed(options, find_session_key(store, sid, project_key_hint=project_key))
        found = await _timed(options, _load_session(store, key, options)) if key else None
        if found is None or (found.hit is None and not found.entries):
            raise ResumeNotFoundError(sid, f"(looked in every project of {_where(store)})")
        return found
    if options.continue_conversation:
        return await _timed(options, _newest_session(store, project_key, options))
    return None


def _plan_new(
    options: AgentOptions, cwd: str, project_key: str, write_store: SessionStore | None
) -> SessionPlan:
    sid = options.session_id or new_uuid()
    return SessionPlan(
        session_id=sid,
        cwd=cwd,
        key={"project_key": project_key, "session_id": sid},
        store=write_store,
    )


async def _plan_from_snapshot(
    options: AgentOptions,
    store: SessionStore,
    found: _Loaded,
    cwd: str,
    write_store: SessionStore | None,
) -> SessionPlan:
    """A resume served by the FileStore snapshot: history at once, the chain on demand."""
    hit, path = found.hit, found.path
    assert hit is not None and path is not None
    plan = SessionPlan(
        session_id=found.key["session_id"],
        cwd=_resume_cwd(options, store, found.key, hit.cwd, cwd),
        key=found.key,
        store=write_store,
        history=hit.messages,
        leaf_uuid=hit.leaf,
        chain_loader=prefix_loader(
            path, hit.state, lambda entries: _rebuild_inner(entries, None).chain
        ),
        source="resume",
    )
    return await _close(plan, hit.tail, hit.intact)


async def _rebuilt(options: AgentOptions, found: _Loaded) -> _Rebuilt:
    """The chain and history of the loaded entries (snapshotted, or off the event loop
    when large)."""
    loaded = found.entries or []
    if options.resume_drops_turn is not None and options.resume_session_at is not None:
        check_drops_turn(loaded, options.resume_session_at, options.resume_drops_turn)
    if found.state is not None and found.path is not None and len(loaded) >= MIN_ENTRIES:
        return await anyio.to_thread.run_sync(
            _rebuild_and_snapshot, loaded, found.path, found.state
        )
    if len(loaded) > _THREAD_THRESHOLD:
        return await anyio.to_thread.run_sync(_rebuild, loaded, options.resume_session_at)
    return _rebuild(loaded, options.resume_session_at)


async def _plan_fork(
    options: AgentOptions,
    key: SessionKey,
    rebuilt: _Rebuilt,
    cwd: str,
    write_store: SessionStore | None,
) -> SessionPlan:
    """A new session whose first entries are a copy of the resumed chain."""
    new_id = options.session_id or new_uuid()
    copied = fork_chain(rebuilt.chain, new_session_id=new_id, source_session_id=key["session_id"])
    plan = SessionPlan(
        session_id=new_id,
        cwd=cwd,
        key={"project_key": project_key_for_directory(cwd), "session_id": new_id},
        store=write_store,
        history=rebuilt.messages,
        leaf_uuid=copied[-1]["uuid"] if copied else None,
        pending=copied,
        forked=True,
        chain=list(copied),
        source="resume",
    )
    return await _close(plan, rebuilt.tail, rebuilt.intact)


async def _plan_resume(
    options: AgentOptions,
    key: SessionKey,
    rebuilt: _Rebuilt,
    cwd: str,
    write_store: SessionStore | None,
) -> SessionPlan:
    """The session itself, continued from its last entry."""
    if options.session_id is not None and options.session_id != key["session_id"]:
        raise UserError(
            "session_id can be combined with resume/continue only when fork_session=True"
        )
    plan = SessionPlan(
        session_id=key["session_id"],
        cwd=cwd,
        key=key,
        store=write_store,
        history=rebuilt.messages,
        leaf_uuid=resume_leaf(rebuilt.chain),
        chain=rebuilt.chain,
        source="resume",
    )
    return await _close(plan, rebuilt.tail, rebuilt.intact)


async def _close(plan: SessionPlan, tail: list[TailKind], intact: int = 0) -> SessionPlan:
    """Close the resumed conversation as the CLI does before the next prompt
    (:func:`~threadline.transcript._api.resume_closing`): a result for every call of the
    last reply that has none, then ``No response requested.`` when it ends with a user
    message. Those entries are written before the first prompt (as the CLI writes them)
    and are part of the history the run starts from, which is then repaired (but for its
    first ``intact`` messages, known to be kept as they are: the closing entries merge
    only into the last message or after it)."""
    calls, reply = resume_closing(plan.history, tail)
    if calls or reply:
        branch = await anyio.to_thread.run_sync(git_branch, plan.cwd)
        factory = EntryFactory(session_id=plan.session_id, cwd=plan.cwd, git_branch=branch)
        closing: list[Raw] = []
        leaf = plan.leaf_uuid
        for call_id in calls:
            closing.append(factory.interrupted_result(str(call_id), tool_use_entry=leaf))
            leaf = closing[-1]["uuid"]
        if reply:
            closing.append(factory.no_response(leaf))
        merge_api_messages(closing, plan.history)
        plan.pending.extend(closing)
        plan.leaf_uuid = closing[-1]["uuid"]
        if plan.chain_loader is None:
            plan.chain.extend(closing)
        else:
            plan.chain_new.extend(closing)
    plan.history = repair_tool_pairs(plan.history, intact)
    return plan


def _start_cwd(options: AgentOptions) -> str:
    return os.path.abspath(os.fspath(options.cwd)) if options.cwd is not None else os.getcwd()


def _resume_cwd(
    options: AgentOptions, store: SessionStore, key: SessionKey, recorded: str | None, start: str
) -> str:
    """Where a resumed session runs (see the module docs): ``start`` unless the transcript's
    recorded ``cwd`` is both needed and trustworthy."""
    if options.cwd is not None or key["project_key"] == project_key_for_directory(start):
        return start
    if recorded is None or not os.path.isabs(recorded) or not os.path.isdir(recorded):
        return start
    files = local_transcripts(store)
    if files is None:  # a shared store: its transcripts were written by anyone
        return start
    if project_key_for_directory(recorded) != key["project_key"]:
        return start  # the transcript claims a directory other than the one it is filed under
    if is_imported(Path(files.config_dir), key["session_id"]):
        return start
    return recorded


def _last_cwd(chain: list[Raw]) -> str | None:
    for entry in reversed(chain):
        recorded = entry.get("cwd")
        if isinstance(recorded, str):
            return recorded
    return None


def _where(store: SessionStore) -> str:
    """The store, readably: wrappers (redaction, encryption) peeled, a FileStore's directory."""
    inner = innermost_store(store)
    if isinstance(inner, FileStore):
        return str(inner.projects_dir)
    return repr(inner)
