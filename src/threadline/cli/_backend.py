"""Where the CLI finds sessions: Claude Code's files (the default) or any store (``--store``).

:func:`open_backend` gives a :class:`Backend` for the command's ``--store`` URL (or
``$THREADLINE_STORE``). Every command reads and writes sessions through it, on one event
loop (a blocking portal) that also runs the agent for ``run`` and ``chat``, so a database
pool is opened once and used on one loop.

Encrypted sessions never get plaintext: in the default file mode, a transcript written by
``EncryptedStore`` is detected (its lines are envelopes) and read and written through
``EncryptedStore(FileStore())`` with the key from ``$THREADLINE_ENCRYPTION_KEY``; without
the key every command that would touch it stops with a clear error, before writing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import click
import orjson
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .._exceptions import SessionNotFoundError, UserError
from .._ids import is_uuid, new_uuid
from .._results import SDKSessionInfo, SessionMessage
from ..privacy._detect import is_encrypted_transcript
from ..privacy._store_url import parse_store_url, store_from_url
from ..sessions import (
    delete_session,
    fork_session,
    get_session_messages,
    list_sessions,
    rename_session,
    tag_session,
)
from ..sessions._locate import locate_session
from ..sessions._mutations import build_fork_entries, iso_now, sanitize_tag, split_fork_input
from ..sessions._paths import project_key_for_directory, projects_dir
from ..sessions._protocol import (
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    innermost_store,
    project_lister,
    store_implements,
)
from ..sessions._store_api import entries_to_jsonl, find_session_key, list_sessions_from_store
from ..sessions._summary import summary_to_info
from ..sessions._url import display_url
from ..sessions.file import FileStore
from ..transcript._chain import build_conversation_chain, chain_entries, to_session_messages
from ..transcript._lite import extract_first_prompt, info_from_lite, lite_from_jsonl
from ._errors import EXIT_INVALID_ID, EXIT_NOT_FOUND, EXIT_USAGE, fail

__all__ = [
    "KEY_ENV",
    "MIN_PREFIX",
    "Backend",
    "is_encrypted_file",
    "open_backend",
    "store_option",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

KEY_ENV = "THREADLINE_ENCRYPTION_KEY"
MIN_PREFIX = 4


def store_option(func: F) -> F:
    """``--store URL`` (also ``$THREADLINE_STORE``) on a command."""
    return click.option(
        "--store",
        "store_url",
        metavar="URL",
        envvar="THREADLINE_STORE",
        help="Session store URL (default: Claude Code's files). E.g. sqlite:///path.db, "
        "postgresql://..., redis://..., encrypted+file: (see docs/cli.md).",
    )(func)


def is_encrypted_file(path: Path) -> bool:
    """Whether the transcript at ``path`` was written by ``EncryptedStore`` (envelope lines)."""
    return is_encrypted_transcript(path)


def _no_key(session_id: str) -> UserError:
    return UserError(
        f"Session {session_id} is encrypted: set ${KEY_ENV} to its key "
        "(or use --store 'encrypted+file:'); nothing was read or written"
    )


def _prefix_error(value: str) -> None:
    if is_uuid(value):
        return
    hexed = value.replace("-", "")
    if not value or any(c not in "0123456789abcdefABCDEF-" for c in value) or len(value) > 36:
        fail(
            f"Invalid session id: {value!r} (expected a UUID or at least {MIN_PREFIX} "
            "hex characters of one)",
            EXIT_INVALID_ID,
        )
    if len(hexed) < MIN_PREFIX:
        fail(
            f"Session id prefix {value!r} is too short: give at least {MIN_PREFIX} characters",
            EXIT_INVALID_ID,
        )


def _pick(value: str, matches: set[str], where: str) -> str:
    if not matches:
        fail(f"Session {value} not found in {where}", EXIT_NOT_FOUND)
    if len(matches) > 1:
        listed = ", ".join(sorted(matches)[:5])
        fail(f"Session prefix {value!r} is ambiguous: {listed}", EXIT_USAGE)
    return matches.pop()


@dataclass
class Backend:
    """Sessions for the CLI, from files (``store is None``) or a store, on one event loop."""

    portal: BlockingPortal
    store: SessionStore | None
    url: str | None
    _encrypted: SessionStore | None = None

    # -- plumbing ----------------------------------------------------------------------

    def call(self, func: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """``await func(*args)`` on the backend's loop."""
        return cast(T, self.portal.call(func, *args))

    @property
    def where(self) -> str:
        return (
            f"store {display_url(self.url or '')}"
            if self.store is not None
            else f"any project under {projects_dir()}"
        )

    def encrypted_store(self, session_id: str) -> SessionStore:
        """``EncryptedStore(FileStore())`` with the key from the environment, or a clear error."""
        if self._encrypted is None:
            if not os.environ.get(KEY_ENV, "").strip():
                raise _no_key(session_id)
            self._encrypted = store_from_url("encrypted+file:")
        return self._encrypted

    def _file_route(self, session_id: str) -> tuple[SessionStore, SessionKey] | None:
        """(encrypted store, key) when the file session is encrypted; None for plain files."""
        loc = locate_session(session_id, None)
        if loc is None or not is_encrypted_file(loc.path):
            return None
        key: SessionKey = {"project_key": loc.project_dir.name, "session_id": session_id}
        return self.encrypted_store(session_id), key

    def route(self, session_id: str) -> tuple[SessionStore, SessionKey] | None:
        """(store, key) to reach ``session_id`` through a store; None: plain files."""
        if self.store is None:
            return self._file_route(session_id)
        key = self.call(self._find, session_id)
        if key is None:
            fail(f"Session {session_id} not found in {self.where}", EXIT_NOT_FOUND)
        return self.store, key

    async def _find(self, session_id: str) -> SessionKey | None:
        assert self.store is not None
        hint = project_key_for_directory(os.getcwd())
        found = await find_session_key(self.store, session_id, project_key_hint=hint)
        if found is not None:
            return found
        for pk in await store_projects(self.store):
            if any(e["session_id"] == session_id for e in await self.store.list_sessions(pk)):
                return {"project_key": pk, "session_id": session_id}
        return None

    # -- ids ---------------------------------------------------------------------------

    def resolve(self, value: str) -> str:
        """A full session id from an id or a unique prefix (at least 4 characters)."""
        _prefix_error(value)
        if self.store is None:
            if is_uuid(value):
                return value
            return _pick(value, _file_ids_with_prefix(value.lower()), self.where)
        if is_uuid(value):
            return value
        ids = self.call(self._store_ids)
        return _pick(value, {s for s in ids if s.startswith(value.lower())}, self.where)

    async def _store_ids(self) -> set[str]:
        assert self.store is not None
        out: set[str] = set()
        for pk in await store_projects(self.store):
            out.update(e["session_id"] for e in await self.store.list_sessions(pk))
        return out

    # -- reading -----------------------------------------------------------------------

    def entries(self, session_id: str) -> list[dict[str, Any]]:
        """Every stored entry of the session (raw dicts, file order)."""
        routed = self.route(session_id)
        if routed is None:
            loc = locate_session(session_id, None)
            if loc is None:
                raise SessionNotFoundError(f"Session {session_id} not found under {projects_dir()}")
            return read_entries(loc.path)
        store, key = routed
        loaded = self.call(store.load, key)
        return cast(list[dict[str, Any]], [e for e in loaded or [] if isinstance(e, dict)])

    def messages(self, session_id: str) -> list[SessionMessage]:
        """The visible conversation."""
        if self.route(session_id) is None:
            return get_session_messages(session_id, strict=True)
        entries = self.entries(session_id)
        if not entries:
            raise SessionNotFoundError(f"Session {session_id} not found in {self.where}")
        return to_session_messages(build_conversation_chain(chain_entries(entries)))

    def list_infos(self, directory: str | None, limit: int | None) -> list[SDKSessionInfo]:
        """Sessions of ``directory``'s project (None: every project), newest first."""
        if self.store is None:
            infos = list_sessions(directory=directory, limit=None)
            infos.extend(self._encrypted_infos(directory, {i.session_id for i in infos}))
        elif directory is not None:
            infos = self.call(list_sessions_from_store, self.store, directory, None)
        else:
            infos = self.call(_all_store_infos, self.store)
        infos.sort(key=lambda i: i.last_modified, reverse=True)
        return infos[:limit] if limit else infos

    def _encrypted_infos(self, directory: str | None, known: set[str]) -> list[SDKSessionInfo]:
        """Encrypted file sessions the plain listing could not read."""
        files = _unlisted_files(directory, known)
        encrypted = [(pk, p) for pk, p in files if is_encrypted_file(p)]
        if not encrypted:
            return []
        if not os.environ.get(KEY_ENV, "").strip():
            return [_locked_info(p) for _, p in encrypted]
        store = self.encrypted_store(encrypted[0][1].stem)
        return self.call(_infos_of, store, encrypted)

    # -- writing -----------------------------------------------------------------------

    def rename(self, session_id: str, title: str) -> None:
        routed = self.route(session_id)
        if routed is None:
            rename_session(session_id, title)
            return
        if not title.strip():
            raise UserError("the title must not be empty")
        entry = {"type": "custom-title", "customTitle": title.strip()}
        self.call(_append_meta, *routed, entry)

    def tag(self, session_id: str, tag: str | None) -> None:
        routed = self.route(session_id)
        if routed is None:
            tag_session(session_id, tag)
            return
        clean = sanitize_tag(tag).strip() if tag is not None else ""
        if tag is not None and not clean:
            raise UserError("the tag must not be empty (use --clear to remove it)")
        self.call(_append_meta, *routed, {"type": "tag", "tag": clean})

    def delete(self, session_id: str) -> None:
        if self.store is None:
            delete_session(session_id)
            return
        routed = self.route(session_id)
        assert routed is not None
        store, key = routed
        if not store_implements(store, "delete"):
            raise UserError(f"store {display_url(self.url or '')} cannot delete sessions")
        self.call(store.delete, key)

    def fork(self, session_id: str, up_to: str | None, title: str | None) -> str:
        routed = self.route(session_id)
        if routed is None:
            return fork_session(session_id, up_to_message_id=up_to, title=title).session_id
        return self.call(_fork_in_store, *routed, up_to, title)


# -- helpers that run on the loop -------------------------------------------------------


async def store_projects(store: SessionStore) -> list[str]:
    """Every project key of ``store``: its ``list_projects`` (or that of a store it wraps:
    project keys are not encrypted), else a FileStore's directories."""
    lister = project_lister(store)
    if lister is not None:
        return list(await lister.list_projects())
    base = innermost_store(store)
    if isinstance(base, FileStore):
        try:
            return base.project_dirs()
        except OSError:
            return []
    raise UserError(f"{store!r} cannot list its projects (it has no list_projects())")


async def _project_infos(store: SessionStore, project_key: str) -> list[SDKSessionInfo]:
    if store_implements(store, "list_session_summaries"):
        try:
            summaries = await store.list_session_summaries(project_key)
        except NotImplementedError:
            pass
        else:
            return [i for s in summaries if (i := summary_to_info(s, None)) is not None]
    keys = [
        (project_key, e["session_id"], e["mtime"]) for e in await store.list_sessions(project_key)
    ]
    out: list[SDKSessionInfo] = []
    for pk, sid, mtime in keys:
        loaded = await store.load({"project_key": pk, "session_id": sid})
        if loaded:
            info = info_from_lite(sid, lite_from_jsonl(entries_to_jsonl(list(loaded)), mtime), None)
            if info is not None:
                out.append(info)
    return out


async def _all_store_infos(store: SessionStore) -> list[SDKSessionInfo]:
    out: list[SDKSessionInfo] = []
    for pk in await store_projects(store):
        out.extend(await _project_infos(store, pk))
    return out


async def _infos_of(store: SessionStore, files: list[tuple[str, Path]]) -> list[SDKSessionInfo]:
    out: list[SDKSessionInfo] = []
    for pk, path in files:
        loaded = await store.load({"project_key": pk, "session_id": path.stem})
        if not loaded:
            continue
        st = path.stat()
        jsonl = entries_to_jsonl(list(loaded))
        info = info_from_lite(path.stem, lite_from_jsonl(jsonl, int(st.st_mtime * 1000)), None)
        if info is not None:
            info.file_size = st.st_size
            out.append(info)
    return out


async def _append_meta(store: SessionStore, key: SessionKey, entry: dict[str, Any]) -> None:
    full = {**entry, "sessionId": key["session_id"], "uuid": new_uuid(), "timestamp": iso_now()}
    await store.append(key, [cast(SessionStoreEntry, full)])


async def _fork_in_store(
    store: SessionStore, key: SessionKey, up_to: str | None, title: str | None
) -> str:
    raw = await store.load(key)
    objects = cast(list[dict[str, Any]], [e for e in raw or [] if isinstance(e, dict)])
    if not objects:
        raise SessionNotFoundError(f"Session {key['session_id']} not found")
    transcript, replacements = split_fork_input(objects, key["session_id"])

    def derive() -> str | None:
        custom = ai = None
        for e in objects:
            if isinstance(e.get("customTitle"), str) and e["customTitle"]:
                custom = e["customTitle"]
            if isinstance(e.get("aiTitle"), str) and e["aiTitle"]:
                ai = e["aiTitle"]
        return custom or ai or extract_first_prompt(entries_to_jsonl(objects)) or None

    forked_id, entries = build_fork_entries(
        transcript, replacements, key["session_id"], up_to, title, derive
    )
    new_key: SessionKey = {"project_key": key["project_key"], "session_id": forked_id}
    await store.append(new_key, cast(list[SessionStoreEntry], entries))
    return forked_id


# -- files -------------------------------------------------------------------------------


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a transcript file (bad lines skipped)."""
    out: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
    return out


def _project_dirs(directory: str | None) -> list[Path]:
    base = projects_dir()
    if directory is not None:
        path = base / project_key_for_directory(directory)
        return [path] if path.is_dir() else []
    try:
        return [Path(e.path) for e in os.scandir(base) if e.is_dir()]
    except OSError:
        return []


def _unlisted_files(directory: str | None, known: set[str]) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for project in _project_dirs(directory):
        try:
            names = os.listdir(project)
        except OSError:
            continue
        for name in names:
            sid = name[:-6]
            if name.endswith(".jsonl") and is_uuid(sid) and sid not in known:
                out.append((project.name, project / name))
    return out


def _locked_info(path: Path) -> SDKSessionInfo:
    try:
        st = path.stat()
        mtime, size = int(st.st_mtime * 1000), st.st_size
    except OSError:
        mtime, size = 0, None
    return SDKSessionInfo(
        session_id=path.stem,
        summary=f"[encrypted: set ${KEY_ENV} to read it]",
        last_modified=mtime,
        file_size=size,
    )


def _file_ids_with_prefix(prefix: str) -> set[str]:
    matches: set[str] = set()
    for project in _project_dirs(None):
        try:
            names = os.listdir(project)
        except OSError:
            continue
        for name in names:
            if name.endswith(".jsonl") and name.startswith(prefix) and is_uuid(name[:-6]):
                matches.add(name[:-6])
    return matches


@contextmanager
def open_backend(url: str | None) -> Iterator[Backend]:
    """The backend for ``--store URL`` (None: Claude Code's files), closed on exit."""
    store: SessionStore | None = None
    if url:
        spec = parse_store_url(url)
        if spec.kind == "file" and not spec.encrypted:
            # Claude Code's files in another config dir: the file mode, with all its features.
            if spec.target:
                os.environ["CLAUDE_CONFIG_DIR"] = spec.target
        else:
            store = store_from_url(url)
    with start_blocking_portal() as portal:
        backend = Backend(portal=portal, store=store, url=url)
        try:
            yield backend
        finally:
            for s in (store, backend._encrypted):
                close = getattr(s, "aclose", None)
                if close is not None:
                    try:
                        portal.call(close)
                    except Exception:  # closing must not hide the real error
                        pass
