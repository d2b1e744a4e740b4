"""What the database stores (SQLite, PostgreSQL, Redis) share.

- **Schema migrations** are named and forward-only: each backend keeps an
  ordered tuple of :class:`Migration` and records the names it applied in a
  ``_migrations`` table (Redis needs none). A migration is never edited once
  released; a change is a new migration appended to the tuple.
- **The write plan** (:func:`plan_append`): which entries of a batch are new
  (``uuid`` is an idempotency key), where the session's head moves, and the
  folded summary. Every backend computes it from the state it read inside its
  own atomic section (transaction, row lock or Lua compare-and-set), so the
  plan is exact under concurrency.
- **Names**: :func:`validate_namespace` (a namespace becomes a Postgres schema
  or a Redis key prefix, so only ``[a-z_][a-z0-9_]*`` is accepted) and
  :func:`check_db_key` (session ids may not contain ``/`` or NUL).
- :func:`already_appended`: ``append_conditional``'s head check (conflict or
  lost-ack retry).
- :func:`require_driver`: a missing driver names the extra to install.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .._exceptions import ConcurrentModificationError, StorageError, UserError
from ..transcript._jsonl import dumps_line
from ..transcript._views import CHAIN_TYPES
from ._keys import validate_key
from ._protocol import SessionKey, SessionStoreEntry, SessionSummaryEntry
from ._summary import fold_session_summary

__all__ = [
    "AppendPlan",
    "Migration",
    "already_appended",
    "batch_uuids",
    "check_db_key",
    "conflict_error",
    "is_retry",
    "map_errors",
    "plan_append",
    "require_driver",
    "summary_from",
    "summary_json",
    "validate_namespace",
]

_NAMESPACE = re.compile(r"^[a-z_][a-z0-9_]{0,47}\Z")


@dataclass(frozen=True)
class Migration:
    """One forward-only schema step: a unique ``name`` and its SQL statements."""

    name: str
    statements: tuple[str, ...]


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
    """``validate_key`` plus: the session id is one path component without NUL."""
    validate_key(key, strict_ids=False)
    sid = key["session_id"]
    if "/" in sid or "\x00" in sid:
        raise UserError(f"Invalid session_id: {sid!r} (must not contain '/' or NUL)")
    return key


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


@dataclass(frozen=True)
class AppendPlan:
    """What one append writes: the new entries as JSONL, their uuids, head and summary."""

    chunk: bytes
    count: int
    uuids: list[str]
    head: str | None
    summary: SessionSummaryEntry | None


def batch_uuids(entries: list[SessionStoreEntry]) -> list[str]:
    """The distinct uuids of a batch, in order."""
    seen: dict[str, None] = {}
    for entry in entries:
        uid = entry.get("uuid")
        if isinstance(uid, str):
            seen[uid] = None
    return list(seen)


def plan_append(
    key: SessionKey,
    entries: list[SessionStoreEntry],
    *,
    stored: Collection[str],
    head: str | None,
    summary: SessionSummaryEntry | None,
) -> AppendPlan:
    """Plan an append given the uuids already ``stored`` among this batch's, and the state.

    Entries whose uuid is stored (or repeated in the batch) are dropped. The
    summary is folded only for main transcripts, over the entries actually kept.
    """
    fresh: list[SessionStoreEntry] = []
    new_uuids: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        uid = entry.get("uuid")
        if isinstance(uid, str):
            if uid in stored or uid in seen:
                continue
            seen.add(uid)
            new_uuids.append(uid)
            if entry.get("type") in CHAIN_TYPES:
                head = uid
        fresh.append(entry)
    folded = None
    if "subpath" not in key:
        folded = fold_session_summary(summary, key, fresh)
    chunk = b"".join(dumps_line(e) for e in fresh)
    return AppendPlan(chunk, len(fresh), new_uuids, head, folded)


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


def summary_json(summary: SessionSummaryEntry) -> bytes:
    """The stored form of a summary's ``data`` (its ``mtime`` lives with the transcript)."""
    return dumps_line(summary["data"]).rstrip(b"\n")


def summary_from(session_id: str, mtime: int, data: Any) -> SessionSummaryEntry:
    return {
        "session_id": session_id,
        "mtime": int(mtime),
        "data": data if isinstance(data, dict) else {},
    }
