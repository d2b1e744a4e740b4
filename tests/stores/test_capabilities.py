"""Store capabilities are declared protocols: what each store and wrapper declares, and the
kit checks the declared ones (``find_session`` included) against the plain methods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from threadline import FileStore, MemoryStore
from threadline.privacy import RedactingStore
from threadline.sessions import (
    FindSessionStore,
    SessionKey,
    capabilities_of,
    find_session_key,
)
from threadline.sessions._protocol import local_transcripts
from threadline.testing import check_session_store

from .example_store import DictStore

pytestmark = pytest.mark.anyio


def test_declared_capabilities(tmp_path: Path) -> None:
    file = FileStore(tmp_path)
    assert capabilities_of(file) >= {
        "conditional_append",
        "partial_loads",
        "find_session",
        "checked_load",
        "prepared_append",
        "local_transcripts",
        "closable",
    }
    # A wrapper declares what its inner store has and it can honour.
    wrapped = capabilities_of(RedactingStore(file))
    assert {"wrapped", "find_session", "partial_loads"} <= wrapped
    assert local_transcripts(RedactingStore(file)) is file  # through WrappedStore
    assert "prepared_append" not in wrapped and "checked_load" not in wrapped
    assert capabilities_of(DictStore()) == {"find_session", "closable"}
    assert "find_session" not in capabilities_of(RedactingStore(_Minimal()))


class _Minimal:
    """append/load only: every capability absent."""

    def __init__(self) -> None:
        self.data: dict[str, list[Any]] = {}

    async def append(self, key: SessionKey, entries: list[Any]) -> None:
        self.data.setdefault(key["session_id"], []).extend(entries)

    async def load(self, key: SessionKey) -> list[Any] | None:
        return self.data.get(key["session_id"])


async def test_find_session_key_uses_the_declared_capability() -> None:
    store = DictStore()
    key: SessionKey = {"project_key": "-p", "session_id": "5b1f3c52-0000-4000-8000-000000000001"}
    await store.append(key, [{"type": "user", "uuid": "u1"}])  # type: ignore[list-item]
    assert isinstance(store, FindSessionStore)
    assert await find_session_key(store, key["session_id"]) == key
    assert await find_session_key(_Minimal(), key["session_id"]) is None  # type: ignore[arg-type]


class _LosesSessions(MemoryStore):
    """find_session that finds nothing: the kit must notice."""

    async def find_session(self, session_id: str) -> SessionKey | None:
        return None


async def test_kit_checks_find_session() -> None:
    ran = await check_session_store(MemoryStore)
    assert "find_session" in ran
    with pytest.raises(AssertionError, match=r"check_session_store\[find_session\]"):
        await check_session_store(_LosesSessions, skip=frozenset(_all_but("find_session")))


def _all_but(name: str) -> set[str]:
    from threadline.testing._store_kit import _CHECKS

    return set(_CHECKS) - {name}


async def test_redacting_store_writes_prepared_lines_through_the_capability(
    tmp_path: Path,
) -> None:
    calls: list[str] = []

    class Spy(FileStore):
        async def append_prepared(self, *args: Any, **kwargs: Any) -> None:
            calls.append("prepared")
            await super().append_prepared(*args, **kwargs)

    class OwnAppend(FileStore):
        async def append(self, key: SessionKey, entries: list[Any]) -> None:
            calls.append("own")
            await super().append(key, entries)

    key: SessionKey = {"project_key": "-p", "session_id": "5b1f3c52-0000-4000-8000-000000000002"}
    entry = {"type": "user", "uuid": "u1", "message": {"content": "sk-ant-api03-" + "x" * 90}}
    await RedactingStore(Spy(tmp_path / "a")).append(key, [entry])  # type: ignore[list-item]
    await RedactingStore(OwnAppend(tmp_path / "b")).append(key, [entry])  # type: ignore[list-item]
    assert calls == ["prepared", "own"], "an overridden append must still run"
    for sub in ("a", "b"):
        stored = await FileStore(tmp_path / sub).load(key)
        assert stored and "x" * 90 not in str(stored)
