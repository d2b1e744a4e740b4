"""Both wrappers pass the official conformance suite and threadline's kit, and stay truthful."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from claude_agent_sdk.testing import run_session_store_conformance

from threadline import FileStore, MemoryStore
from threadline.privacy import EncryptedStore, RedactingStore
from threadline.sessions import store_implements
from threadline.sessions._protocol import ConditionalAppendStore
from threadline.testing import check_session_store

from ._stores import KEY, factories

pytestmark = pytest.mark.anyio

NAMES = [
    "redacting-memory",
    "redacting-file",
    "encrypted-memory",
    "encrypted-file",
    "encrypted-memory-v2",
    "encrypted-file-raw",
    "encrypted-memory-v1",
    "encrypted-file-v1",
    "both-file",
]


CASES = [*NAMES, "encrypted-memory-tiny-batches", "encrypted-file-tiny-batches"]


def _factory(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The factory of ``name``; ``-tiny-batches``: batches of at most 2 entries / 200 bytes,
    so that every append is cut into several envelopes."""
    if name.endswith("-tiny-batches"):
        from threadline.privacy import _envelope

        monkeypatch.setattr(_envelope, "MAX_BATCH_ENTRIES", 2)
        monkeypatch.setattr(_envelope, "MAX_BATCH_BYTES", 200)
        name = name.removesuffix("-tiny-batches")
    return factories(tmp_path)[name]


@pytest.mark.parametrize("name", CASES)
async def test_official_conformance(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await run_session_store_conformance(_factory(name, tmp_path, monkeypatch))


@pytest.mark.parametrize("name", CASES)
async def test_threadline_kit(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = await check_session_store(_factory(name, tmp_path, monkeypatch))
    assert {"conditional_append", "concurrent_appenders", "summaries", "listing"} <= set(ran)


class AppendOnly:
    """The minimal store: append and load only."""

    def __init__(self) -> None:
        self.data: dict[str, list[Any]] = {}

    async def append(self, key: Any, entries: list[Any]) -> None:
        self.data.setdefault(str(sorted(key.items())), []).extend(entries)

    async def load(self, key: Any) -> list[Any] | None:
        return self.data.get(str(sorted(key.items())))


class ListOnly(AppendOnly):
    async def list_sessions(self, project_key: str) -> list[Any]:
        return []


OPTIONAL = ["list_sessions", "list_session_summaries", "delete", "list_subkeys", "append_conditional", "get_head", "find_session"]


@pytest.mark.parametrize("inner_factory", [AppendOnly, ListOnly, MemoryStore, lambda: FileStore("/nonexistent")])
def test_optional_methods_mirror_the_inner_store(inner_factory: Any) -> None:
    inner = inner_factory()
    red = RedactingStore(inner)
    enc = EncryptedStore(inner, key=KEY)
    for m in OPTIONAL:
        assert store_implements(red, m) == store_implements(inner, m), m
        assert hasattr(red, m) == hasattr(inner, m), m
    for m in OPTIONAL:
        expected = store_implements(inner, m)
        if m == "list_session_summaries":  # ours, folded from decrypted entries
            expected = store_implements(inner, "list_sessions")
        assert store_implements(enc, m) == expected, m
    assert isinstance(red, RedactingStore) and isinstance(enc, EncryptedStore)
    assert type(red).__name__ == "RedactingStore" and type(enc).__name__ == "EncryptedStore"
    assert isinstance(red, ConditionalAppendStore) == isinstance(inner, ConditionalAppendStore)
    # the official SDK's own detection agrees
    from claude_agent_sdk._internal.session_store_validation import _store_implements

    for m in ("list_sessions", "list_session_summaries", "delete", "list_subkeys"):
        assert _store_implements(red, m) == _store_implements(inner, m)


def test_variant_classes_are_cached_and_subclasses_keep_overrides() -> None:
    assert type(RedactingStore(MemoryStore())) is type(RedactingStore(MemoryStore()))
    assert type(RedactingStore(MemoryStore())) is not type(RedactingStore(cast(Any, AppendOnly())))

    class Custom(RedactingStore):
        async def list_sessions(self, project_key: str) -> list[Any]:
            return [{"session_id": "custom", "mtime": 0}]

    store = Custom(MemoryStore())
    assert isinstance(store, Custom)
    assert type(store).list_sessions is Custom.list_sessions
    assert store_implements(store, "delete")


async def test_minimal_inner_store_round_trips() -> None:
    inner: Any = AppendOnly()
    store = RedactingStore(EncryptedStore(inner, key=KEY))
    key: Any = {"project_key": "p", "session_id": "s"}
    entry: Any = {"type": "user", "uuid": "u1", "message": {"content": "hi"}}
    await store.append(key, [entry])
    assert await store.load(key) == [{"type": "user", "uuid": "u1", "message": {"content": "hi"}}]
    assert not store_implements(store, "list_session_summaries")
