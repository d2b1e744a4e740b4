"""What the database stores (SQLite, PostgreSQL, Redis) share.

- :class:`DatabaseStore`: the lifecycle every store has (``async with``, an idempotent
  ``aclose()``, ``StorageError`` after close, a ``repr`` naming the store).
- **The write plan** (:func:`prepare_batch`): which entries of a batch are kept (``uuid``
  is an idempotency key, also inside one batch), their JSONL lines, where the session's
  head moves, the compaction boundary the batch carries, and the *summary delta*.
- **Summary deltas** (:func:`summary_delta`, :func:`merge_summary`): the per-session
  summary folded on append is computed from the batch alone and merged into the stored
  one by rules simple enough to run inside the database (a PostgreSQL function, a Redis
  script), so an append needs no read of the previous summary first.
  ``merge_summary(prev, summary_delta(batch)) == fold_session_summary(prev, batch)``
  (a property test holds the two together).
- **Names**: :func:`validate_namespace` (a namespace becomes a Postgres schema or a Redis
  key prefix, so only ``[a-z_][a-z0-9_]*`` is accepted) and :func:`check_db_key`
  (``validate_key``: session ids may not contain ``/`` or NUL, as in every store);
  :func:`check_main_key` for ``list_subkeys``.
- **Lookups** by a value that is not a key (:func:`findable_session_id` for
  ``find_session``, :func:`findable_uuid` for ``load_after``): a value no stored row can
  hold (a lone surrogate...) is simply not found, without a query.
- :func:`already_appended`: ``append_conditional``'s head check (conflict or lost-ack
  retry), for stores that check in-process (SQLite).
- :func:`require_driver`: a missing driver names the extra to install.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from .._exceptions import ConcurrentModificationError, StorageError, UserError
from ..transcript._jsonl import dumps_line
from ..transcript._views import CHAIN_TYPES
from ._boundary import is_boundary, preserved_head
from ._keys import is_unicode as _unicode, validate_key, validate_main_key
from ._protocol import SessionKey, SessionListSubkeysKey, SessionStoreEntry, SessionSummaryEntry
from ._summary import fold_session_summary

__all__ = [
    "check_expected_head",
    "Batch",
    "DatabaseStore",
    "already_appended",
    "check_db_key",
    "check_main_key",
    "conflict_error",
    "findable_session_id",
    "findable_uuid",
    "from_uuid",
    "is_boundary",
    "is_retry",
    "map_errors",
    "merge_summary",
    "prepare_batch",
    "preserved_head",
    "require_driver",
    "summary_delta",
    "summary_from",
    "summary_json",
    "validate_namespace",
    "with_delta",
]

_NAMESPACE = re.compile(r"^[a-z_][a-z0-9_]{0,47}\Z")


class DatabaseStore:
    """The lifecycle shared by the database stores.

    Subclasses implement :meth:`_open` (connect; called by ``async with``) and
    :meth:`_release` (close what ``_open`` made; called once by :meth:`aclose`), and call
    :meth:`_check_open` before using a connection.
    """

    _closed: bool = False

    def _describe(self) -> str:
        """The arguments shown by ``repr`` (never a password)."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    async def __aenter__(self) -> Any:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the store's connections; idempotent. Later calls raise :class:`StorageError`."""
        already, self._closed = self._closed, True
        if not already:
            await self._release()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"{self!r} is closed")

    async def _open(self) -> None:
        raise NotImplementedError

    async def _release(self) -> None:
        raise NotImplementedError


def validate_namespace(namespace: str) -> str:
    """A safe schema name / key prefix: lowercase letters, digits, ``_``; at most 48 chars."""
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise UserError(
            f"Invalid namespace: {namespace!r} (use lowercase letters, digits and '_', "
            "starting with a letter or '_', at most 48 characters)"
        )
    if namespace.startswith("pg_"):
        raise UserError(f"Invalid namespace: {namespace!r} ('pg_' is reserved by PostgreSQL)")
    return namespace


def check_db_key(key: SessionKey) -> SessionKey:
    """``validate_key`` (valid Unicode; a session id without ``/`` or NUL), as every store
    checks its keys."""
    return validate_key(key, strict_ids=False)


def check_main_key(key: SessionListSubkeysKey) -> SessionKey:
    """``list_subkeys``' key, checked as a main session's key (:func:`validate_main_key`)."""
    return validate_main_key(key)


def findable_session_id(session_id: str) -> bool:
    """Whether ``find_session`` could find ``session_id``: a session id :func:`check_db_key`
    accepts (any other names no stored session, so it is not found: ``None``)."""
    return (
        isinstance(session_id, str)
        and bool(session_id)
        and "/" not in session_id
        and "\x00" not in session_id
        and _unicode(session_id)
    )


def findable_uuid(uuid: str, *, nul: bool = True) -> bool:
    """Whether an entry uuid could be stored (``load_after``'s: any other is unknown, so the
    answer is ``None``): valid Unicode, as :func:`prepare_batch` demands; without NUL where
    the database refuses it (``nul=False``: PostgreSQL text)."""
    return isinstance(uuid, str) and _unicode(uuid) and (nul or "\x00" not in uuid)


_NO_NUL = "a NUL character, which PostgreSQL text cannot hold"


def check_expected_head(expected: str | None, *, nul: bool = True) -> None:
    """An ``expected_head`` a store can compare: valid Unicode (stored heads always are);
    without NUL where the database refuses it (``nul=False``: PostgreSQL text)."""
    if isinstance(expected, str):
        if not _unicode(expected):
            raise UserError(f"Invalid expected_head: {expected!r} (a lone surrogate: not valid Unicode)")
        if not nul and "\x00" in expected:
            raise UserError(f"Invalid expected_head: {expected!r} ({_NO_NUL})")


def require_driver(module: str, extra: str, store: str) -> ModuleType:
    """Import a driver module, or raise ``ImportError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{store} needs the {module!r} package: pip install 'threadline[{extra}]'"
        ) from exc


@contextmanager
def map_errors(driver_errors: tuple[type[BaseException], ...], what: str) -> Iterator[None]:
    """Re-raise driver errors as :class:`~threadline.StorageError` ``from`` the original."""
    try:
        yield
    except StorageError:
        raise
    except driver_errors as exc:
        raise StorageError(f"{what} failed: {exc}") from exc


# -- the write plan ------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """What one append writes, planned from the batch (and the uuids known to be stored)."""

    entries: list[SessionStoreEntry]
    """The entries kept, in order: none whose uuid is stored or repeated in the batch."""
    lines: list[bytes]
    """One JSONL line per kept entry."""
    uuids: list[str]
    """The uuids of the kept entries."""
    head: str | None
    """The last chain uuid among the kept entries (``None``: the head does not move)."""
    plain: bool
    """Whether a kept entry has no uuid (such a batch is not idempotent)."""
    delta: dict[str, Any] | None
    """The summary delta (``None`` for subpaths, which have no summary)."""
    boundary: int | None
    """Index (in :attr:`entries`) of the last compaction boundary of the batch."""
    preserved_head: str | None
    """The uuid of that compaction's first preserved entry, if it names one."""

    @property
    def chunk(self) -> bytes:
        return b"".join(self.lines)

    @property
    def count(self) -> int:
        return len(self.entries)

    def start_index(self) -> int | None:
        """Where a load from this batch's compaction starts, if the preserved head is here."""
        if self.boundary is None:
            return None
        if self.preserved_head is not None:
            for i, entry in enumerate(self.entries[: self.boundary]):
                if entry.get("uuid") == self.preserved_head:
                    return i
        return self.boundary


def prepare_batch(
    key: SessionKey,
    entries: list[SessionStoreEntry],
    stored: Collection[str] = (),
    *,
    summarize: bool = True,
    nul: bool = True,
) -> Batch:
    """Plan an append of ``entries`` given uuids already ``stored`` (dropped, as are repeats).

    ``summarize=False`` leaves :attr:`Batch.delta` out (``None``) for a caller that folds
    the batch onto a summary it knows (see :func:`with_delta`). ``nul=False`` (PostgreSQL
    text) refuses a uuid holding NUL as one with a lone surrogate is: :class:`UserError`,
    raised before anything is sent (so never inside a group of appends)."""
    kept: list[SessionStoreEntry] = []
    uuids: list[str] = []
    seen: set[str] = set()
    head: str | None = None
    plain = False
    boundary: int | None = None
    for entry in entries:
        uid = entry.get("uuid")
        if isinstance(uid, str):
            if uid in seen or uid in stored:
                continue
            if not _unicode(uid):
                # the uuid is a key column (idempotency, heads, loads after a uuid): text only
                raise UserError(f"Invalid entry uuid: {uid!r} (a lone surrogate: not valid Unicode)")
            if not nul and "\x00" in uid:
                raise UserError(f"Invalid entry uuid: {uid!r} ({_NO_NUL})")
            seen.add(uid)
            uuids.append(uid)
            if entry.get("type") in CHAIN_TYPES:
                head = uid
        else:
            plain = True
        if is_boundary(entry):
            boundary = len(kept)
        kept.append(entry)
    preserved = None if boundary is None else _stored_uuid(preserved_head(kept[boundary]), nul=nul)
    return Batch(
        entries=kept,
        lines=[dumps_line(e) for e in kept],
        uuids=uuids,
        head=head,
        plain=plain,
        delta=None if "subpath" in key or not summarize else summary_delta(key, kept),
        boundary=boundary,
        preserved_head=preserved,
    )


def _stored_uuid(uuid: str | None, *, nul: bool) -> str | None:
    """A uuid that could name a stored entry (one with a lone surrogate cannot, nor one with
    NUL where ``nul`` is false: no stored uuid has one)."""
    if uuid is None or (_unicode(uuid) and (nul or "\x00" not in uuid)):
        return uuid
    return None


def with_delta(key: SessionKey, batch: Batch) -> Batch:
    """``batch`` with its summary delta (planned with ``summarize=False``)."""
    if batch.delta is not None or "subpath" in key:
        return batch
    return replace(batch, delta=summary_delta(key, batch.entries))


def conflict_error(
    key: SessionKey, expected: str | None, actual: str | None
) -> ConcurrentModificationError:
    return ConcurrentModificationError(
        f"Session {key['session_id']} was changed by another writer "
        f"(expected head {expected}, found {actual})",
        expected=expected,
        actual=actual,
    )


def is_retry(entries: list[SessionStoreEntry], stored: Collection[str]) -> bool:
    """True if every entry carries a uuid that is already stored (a lost-ack retry)."""
    uuids = [e.get("uuid") for e in entries]
    return bool(uuids) and all(isinstance(u, str) and u in stored for u in uuids)


def already_appended(
    key: SessionKey,
    entries: list[SessionStoreEntry],
    *,
    stored: Collection[str],
    head: str | None,
    expected: str | None,
) -> bool:
    """``append_conditional``'s check, given the state read inside the atomic section.

    False when the head is still ``expected`` (go on and write); True when it moved but the
    batch is a lost-ack retry (every uuid already stored: nothing to write); else raises
    :class:`~threadline.ConcurrentModificationError`.
    """
    if head == expected:
        return False
    if is_retry(entries, stored):
        return True
    raise conflict_error(key, expected, head)


def from_uuid(
    entries: list[SessionStoreEntry], uuid: str | None, *, after: bool = False
) -> list[SessionStoreEntry]:
    """``entries`` from (or after) the first one whose uuid is ``uuid`` (all if absent).

    Partial loads read whole chunks (a chunk is one append) and cut here.
    """
    if uuid is None:
        return entries
    at = next((i for i, e in enumerate(entries) if e.get("uuid") == uuid), None)
    if at is None:
        return entries
    return entries[at + 1 :] if after else entries[at:]


# -- summaries -----------------------------------------------------------------------

_FIRST_WINS = ("is_sidechain", "created_at", "cwd")
_LAST_WINS = ("custom_title", "ai_title", "last_prompt", "summary_hint", "git_branch")


def summary_delta(key: SessionKey, entries: list[SessionStoreEntry]) -> dict[str, Any]:
    """What ``entries`` contribute to a session summary, whatever came before them.

    ``{"first": {...}, "last": {...}, "unset": [...], "prompt": {...}}``: fields set only
    if absent, fields overwritten, fields removed (a cleared tag), and the first-prompt
    fields (``command_fallback``, ``first_prompt``), which apply only while the stored
    summary has no locked first prompt. See :func:`merge_summary`.
    """
    data = fold_session_summary(None, key, entries)["data"]
    delta: dict[str, Any] = {
        "first": {k: data[k] for k in _FIRST_WINS if k in data},
        "last": {k: data[k] for k in _LAST_WINS if k in data},
        "unset": [],
        "prompt": {},
    }
    tag = _final_tag(entries)
    if tag == "":
        delta["unset"].append("tag")
    elif tag is not None:
        delta["last"]["tag"] = tag
    if data.get("command_fallback"):
        delta["prompt"]["command_fallback"] = data["command_fallback"]
    if data.get("first_prompt_locked"):
        delta["prompt"]["first_prompt"] = data["first_prompt"]
    return delta


def _final_tag(entries: list[SessionStoreEntry]) -> str | None:
    """The tag the batch leaves (``""``: cleared; ``None``: no tag entry)."""
    tag: str | None = None
    for entry in entries:
        if entry.get("type") == "tag":
            value = entry.get("tag")
            tag = value if isinstance(value, str) and value else ""
    return tag


def merge_summary(prev: dict[str, Any] | None, delta: dict[str, Any]) -> dict[str, Any]:
    """Apply a :func:`summary_delta` to a stored summary's ``data`` (a new dict)."""
    merged = dict(prev or {})
    for name, value in delta["first"].items():
        merged.setdefault(name, value)
    prompt = delta["prompt"]
    if not merged.get("first_prompt_locked"):
        if "command_fallback" in prompt and not merged.get("command_fallback"):
            merged["command_fallback"] = prompt["command_fallback"]
        if "first_prompt" in prompt:
            merged["first_prompt"] = prompt["first_prompt"]
            merged["first_prompt_locked"] = True
    merged.update(delta["last"])
    for name in delta["unset"]:
        merged.pop(name, None)
    return merged


def summary_json(summary: SessionSummaryEntry) -> bytes:
    """The stored form of a summary's ``data`` (its ``mtime`` lives with the transcript)."""
    return dumps_line(summary["data"]).rstrip(b"\n")


def summary_from(session_id: str, mtime: int, data: Any) -> SessionSummaryEntry:
    return {
        "session_id": session_id,
        "mtime": int(mtime),
        "data": data if isinstance(data, dict) else {},
    }
