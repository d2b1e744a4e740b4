"""A small example store, not shipped: what adding a store takes.

One module (this one) plus one line in ``tests/stores/conftest.py``'s backend table, which
runs it through the official conformance suite and ``check_session_store``. It keeps
transcripts in a dict, with the required ``append``/``load``, the official optional
methods, and one declared capability, :class:`~threadline.sessions.FindSessionStore`
(``find_session``); the kit checks each of them. It leaves out conditional appends and
partial loads, so callers take their general paths (and the kit skips those checks).
"""

from __future__ import annotations

import copy
import time

from threadline.sessions import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
    fold_session_summary,
)


class DictStore:
    """Transcripts in a dict keyed by (project, session, subpath)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str], list[SessionStoreEntry]] = {}
        self._uuids: dict[tuple[str, str, str], set[str]] = {}
        self._mtimes: dict[tuple[str, str], int] = {}
        self._summaries: dict[tuple[str, str], SessionSummaryEntry] = {}
        self._last_ms = 0

    @staticmethod
    def _k(key: SessionKey) -> tuple[str, str, str]:
        return key["project_key"], key["session_id"], key.get("subpath") or ""

    def _now(self) -> int:
        self._last_ms = max(self._last_ms + 1, int(time.time() * 1000))
        return self._last_ms

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        k = self._k(key)
        seen = self._uuids.setdefault(k, set())
        new = [copy.deepcopy(e) for e in entries if e.get("uuid") not in seen]
        if not new:
            return
        seen.update(e["uuid"] for e in new if "uuid" in e)
        self._data.setdefault(k, []).extend(new)
        if not k[2]:  # main transcripts are listed and summarised
            main = (k[0], k[1])
            summary = fold_session_summary(self._summaries.get(main), key, new)
            self._mtimes[main] = summary["mtime"] = self._now()
            self._summaries[main] = summary

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        entries = self._data.get(self._k(key))
        return copy.deepcopy(entries) if entries is not None else None

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        return [
            {"session_id": sid, "mtime": mtime}
            for (pk, sid), mtime in self._mtimes.items()
            if pk == project_key
        ]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        return [copy.deepcopy(s) for (pk, _), s in self._summaries.items() if pk == project_key]

    async def delete(self, key: SessionKey) -> None:
        project, sid, sub = self._k(key)
        doomed = [k for k in self._data if k[:2] == (project, sid) and (not sub or k[2] == sub)]
        for k in doomed:
            del self._data[k]
            self._uuids.pop(k, None)
        if not sub:
            self._mtimes.pop((project, sid), None)
            self._summaries.pop((project, sid), None)

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        project, sid = key["project_key"], key["session_id"]
        return [k[2] for k in self._data if k[:2] == (project, sid) and k[2]]

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The declared capability: the project that wrote ``session_id`` last."""
        mains = [(m, pk) for (pk, sid), m in self._mtimes.items() if sid == session_id]
        return {"project_key": max(mains)[1], "session_id": session_id} if mains else None

    async def aclose(self) -> None:
        """Nothing to release."""
