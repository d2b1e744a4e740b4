"""An in-memory :class:`SessionStore`: for tests, and sessions that must never touch disk."""

from __future__ import annotations

import copy
from typing import Any

import anyio

from .._exceptions import ConcurrentModificationError
from ..transcript._views import CHAIN_TYPES
from ._boundary import is_boundary, preserved_head
from ._keys import MsClock, key_string, validate_key, validate_main_key, validate_project_key
from ._protocol import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)
from ._summary import fold_session_summary

__all__ = ["MemoryStore"]



class _Record:
    __slots__ = ("entries", "head", "mtime", "resume", "uuids")

    def __init__(self) -> None:
        self.entries: list[SessionStoreEntry] = []
        self.uuids: dict[str, int] = {}
        """uuid -> index of its entry (idempotency, partial loads)."""
        self.mtime = 0
        self.head: str | None = None
        self.resume = 0
        """Index where a load from the last compaction starts."""


class MemoryStore:
    """Keeps transcripts in a dict. Implements every optional protocol method.

    Entries are deep-copied in and out, so callers can mutate what they passed
    or received without changing the store. ``uuid`` is an idempotency key.
    """

    def __init__(self) -> None:
        self._records: dict[str, _Record] = {}
        self._summaries: dict[tuple[str, str], SessionSummaryEntry] = {}
        self._clock = MsClock()
        self._lock = anyio.Lock()

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to release; present so every store has the same lifecycle."""

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        validate_key(key, strict_ids=False)
        async with self._lock:
            self._append_locked(key, entries)

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        """Append only if the head is still ``expected_head`` (see the protocol docs)."""
        validate_key(key, strict_ids=False)
        async with self._lock:
            record = self._records.get(key_string(key))
            head = record.head if record is not None else None
            if head != expected_head:
                uuids = [e.get("uuid") for e in entries]
                if record is not None and uuids and all(
                    isinstance(u, str) and u in record.uuids for u in uuids
                ):
                    return  # a retry of a batch that already landed
                raise ConcurrentModificationError(
                    f"Session {key['session_id']} was changed by another writer "
                    f"(expected head {expected_head}, found {head})",
                    expected=expected_head,
                    actual=head,
                )
            self._append_locked(key, entries)

    async def get_head(self, key: SessionKey) -> str | None:
        validate_key(key, strict_ids=False)
        record = self._records.get(key_string(key))
        return None if record is None else record.head

    def _append_locked(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        name = key_string(key)
        record = self._records.get(name)
        if record is None:
            record = self._records[name] = _Record()
        fresh: list[SessionStoreEntry] = []
        for entry in entries:
            uid = entry.get("uuid")
            at = len(record.entries) + len(fresh)
            if isinstance(uid, str):
                if uid in record.uuids:
                    continue
                record.uuids[uid] = at
                if entry.get("type") in CHAIN_TYPES:
                    record.head = uid
            if is_boundary(entry):
                head = preserved_head(entry)
                start = record.uuids.get(head, at) if head is not None else at
                record.resume = start if start < at else at
            fresh.append(copy.deepcopy(entry))
        record.entries.extend(fresh)
        now = self._clock()
        record.mtime = now
        if "subpath" not in key:
            skey = (key["project_key"], key["session_id"])
            summary = fold_session_summary(self._summaries.get(skey), key, fresh)
            summary["mtime"] = now
            self._summaries[skey] = summary

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        validate_key(key, strict_ids=False)
        record = self._records.get(key_string(key))
        return None if record is None else copy.deepcopy(record.entries)

    async def load_since_compaction(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        """The entries from the last compaction's preserved segment on (see the protocol)."""
        validate_key(key, strict_ids=False)
        record = self._records.get(key_string(key))
        return None if record is None else copy.deepcopy(record.entries[record.resume :])

    async def load_after(self, key: SessionKey, uuid: str) -> list[SessionStoreEntry] | None:
        """The entries after the one whose uuid is ``uuid`` (``None``: key or uuid unknown)."""
        validate_key(key, strict_ids=False)
        record = self._records.get(key_string(key))
        at = None if record is None else record.uuids.get(uuid)
        return None if record is None or at is None else copy.deepcopy(record.entries[at + 1 :])

    async def load_tail(self, key: SessionKey, count: int) -> list[SessionStoreEntry] | None:
        """The last ``count`` entries."""
        validate_key(key, strict_ids=False)
        record = self._records.get(key_string(key))
        if record is None:
            return None
        return copy.deepcopy(record.entries[max(0, len(record.entries) - count) :]) if count > 0 else []

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        validate_project_key(project_key)
        prefix = project_key + "/"
        return [
            {"session_id": name[len(prefix) :], "mtime": rec.mtime}
            for name, rec in self._records.items()
            if name.startswith(prefix) and "/" not in name[len(prefix) :]
        ]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        validate_project_key(project_key)
        return [
            copy.deepcopy(s) for (pk, _), s in self._summaries.items() if pk == project_key
        ]

    async def delete(self, key: SessionKey) -> None:
        validate_key(key, strict_ids=False)
        async with self._lock:
            name = key_string(key)
            self._records.pop(name, None)
            if "subpath" not in key:
                prefix = name + "/"
                for other in [n for n in self._records if n.startswith(prefix)]:
                    del self._records[other]
                self._summaries.pop((key["project_key"], key["session_id"]), None)

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        main = validate_main_key(key)
        prefix = key_string(main) + "/"
        return [n[len(prefix) :] for n in self._records if n.startswith(prefix)]

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The key of ``session_id`` in any project (newest if several), else ``None``."""
        best: tuple[int, str] | None = None
        for name, rec in self._records.items():
            parts = name.split("/")
            if len(parts) == 2 and parts[1] == session_id and (best is None or rec.mtime > best[0]):
                best = (rec.mtime, parts[0])
        return None if best is None else {"project_key": best[1], "session_id": session_id}

    # Test helpers, named as in the official InMemorySessionStore.
    def get_entries(self, key: SessionKey) -> list[Any]:
        record = self._records.get(key_string(key))
        return [] if record is None else copy.deepcopy(record.entries)

    @property
    def size(self) -> int:
        return sum(1 for n in self._records if n.count("/") == 1)

    def clear(self) -> None:
        self._records.clear()
        self._summaries.clear()
