"""``threadline.testing.run_session_store_conformance``: the official contracts by their name."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import claude_agent_sdk
import claude_agent_sdk.testing as official_testing
import pytest

from threadline import FileStore, InMemorySessionStore, MemoryStore
from threadline.testing import run_session_store_conformance

pytestmark = pytest.mark.anyio


def test_same_signature_as_official() -> None:
    theirs = inspect.signature(official_testing.run_session_store_conformance)
    assert inspect.signature(run_session_store_conformance) == theirs


class AppendLoadOnly:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], list[Any]] = {}

    async def append(self, key: Any, entries: list[Any]) -> None:
        k = (key["project_key"], key["session_id"], key.get("subpath", ""))
        self.rows.setdefault(k, []).extend(entries)

    async def load(self, key: Any) -> list[Any] | None:
        return self.rows.get((key["project_key"], key["session_id"], key.get("subpath", "")))


class Reversing(AppendLoadOnly):
    async def load(self, key: Any) -> list[Any] | None:
        got = await super().load(key)
        return None if got is None else got[::-1]


class LeakyDelete(MemoryStore):
    async def delete(self, key: Any) -> None:  # forgets to cascade to subkeys
        if "subpath" not in key:
            await super().delete({**key, "subpath": "subagents/none"})


@pytest.mark.parametrize("name", ["memory", "in-memory", "official-in-memory", "file", "minimal"])
async def test_stores_pass(name: str, tmp_path: Path) -> None:
    counter = iter(range(1000))
    make = {
        "memory": MemoryStore,
        "in-memory": InMemorySessionStore,
        "official-in-memory": claude_agent_sdk.InMemorySessionStore,
        "file": lambda: FileStore(tmp_path / f"c{next(counter)}"),
        "minimal": AppendLoadOnly,
    }[name]
    await run_session_store_conformance(make)


async def test_async_factory_and_skip_optional() -> None:
    async def make() -> Any:
        return LeakyDelete()

    with pytest.raises(AssertionError):
        await run_session_store_conformance(make)
    await run_session_store_conformance(make, skip_optional=frozenset({"delete"}))


async def test_broken_stores_fail_on_both() -> None:
    for runner in (run_session_store_conformance, official_testing.run_session_store_conformance):
        with pytest.raises(AssertionError):
            await runner(Reversing)
        with pytest.raises(AssertionError, match="unknown optional methods"):
            await runner(MemoryStore, skip_optional=frozenset({"nope"}))
