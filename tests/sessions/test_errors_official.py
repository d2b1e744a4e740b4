"""Every error case of every session function, on the official SDK and on threadline.

Each case runs the same call on ``claude_agent_sdk`` and on ``threadline`` over the same
transcripts (written afresh for each side). Where the official function raises ``X``,
threadline must raise an ``X`` too (a subclass is fine: ``SessionNotFoundError`` is a
``FileNotFoundError``, ``MessageNotFoundError`` a ``ValueError``, ...) whose message starts
with the official wording (up to where the official one names the place it looked, which
threadline words its own way); where the official returns ``None`` / ``[]``, so must
threadline.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import claude_agent_sdk as official
import orjson
import pytest

import threadline

from ._factory import Transcript, simple_session

MISSING = "00000000-0000-4000-8000-000000000000"


@dataclass
class World:
    """The transcripts every case runs against (same ids on both sides)."""

    cwd: str
    sid: str
    empty_sid: str
    config: Path


def _write(config: Path, cwd: str, sid: str, empty_sid: str) -> None:
    shutil.rmtree(config, ignore_errors=True)
    t = simple_session(cwd)
    t.session_id = sid
    for e in t.entries:
        e["sessionId"] = sid
    t.write(config)
    empty = Transcript(cwd, empty_sid)
    empty.meta({"type": "custom-title", "customTitle": "nothing here", "sessionId": empty_sid})
    empty.write(config)


class MinimalStore:
    """A store with only the two required methods (works with both SDKs)."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str, str], list[Any]] = {}

    async def append(self, key: Any, entries: list[Any]) -> None:
        k = (key["project_key"], key["session_id"], key.get("subpath", ""))
        self.data.setdefault(k, []).extend(entries)

    async def load(self, key: Any) -> list[Any] | None:
        return self.data.get((key["project_key"], key["session_id"], key.get("subpath", "")))


async def _store_with_sessions(sdk: Any, world: World, store: Any) -> Any:
    """``store`` holding the world's sessions (imported from disk by that SDK)."""
    for sid in (world.sid, world.empty_sid):
        await sdk.import_session_to_store(sid, store, directory=world.cwd)
    return store


Call = Callable[[Any, World], Any]


def _sync(name: str, *args: Any, **kw: Any) -> Call:
    def call(sdk: Any, w: World) -> Any:
        return getattr(sdk, name)(*[a(w) if callable(a) else a for a in args], **kw)

    call.__name__ = name
    return call


def _store(name: str, *args: Any, store: str = "memory", **kw: Any) -> Call:
    def call(sdk: Any, w: World) -> Any:
        async def run() -> Any:
            base = sdk.InMemorySessionStore() if store == "memory" else MinimalStore()
            st = await _store_with_sessions(sdk, w, base)
            resolved = [a(w) if callable(a) else a for a in args]
            return await getattr(sdk, name)(st, *resolved, directory=w.cwd, **kw)

        return anyio.run(run)

    call.__name__ = name
    return call


def sid(w: World) -> str:
    return w.sid


def empty(w: World) -> str:
    return w.empty_sid


def cwd(w: World) -> str:
    return w.cwd


CASES: dict[str, Call] = {
    # readers: an invalid or unknown id is not an error officially
    "list_sessions/missing-dir": _sync("list_sessions", "/nonexistent/dir"),
    "get_session_info/invalid": _sync("get_session_info", "not-a-uuid"),
    "get_session_info/missing": _sync("get_session_info", MISSING),
    "get_session_messages/invalid": _sync("get_session_messages", "not-a-uuid"),
    "get_session_messages/missing": _sync("get_session_messages", MISSING),
    "list_subagents/invalid": _sync("list_subagents", "../etc"),
    "list_subagents/missing": _sync("list_subagents", MISSING),
    "get_subagent_messages/invalid": _sync("get_subagent_messages", "x", "a1"),
    "get_subagent_messages/no-agent": _sync("get_subagent_messages", sid, ""),
    "get_subagent_messages/unknown-agent": _sync("get_subagent_messages", sid, "nope"),
    # mutators
    "rename_session/invalid": _sync("rename_session", "not-a-uuid", "t"),
    "rename_session/empty-title": _sync("rename_session", sid, "   "),
    "rename_session/missing": _sync("rename_session", MISSING, "t"),
    "rename_session/missing-in-dir": _sync("rename_session", MISSING, "t", cwd),
    "tag_session/invalid": _sync("tag_session", "not-a-uuid", "t"),
    "tag_session/empty-tag": _sync("tag_session", sid, " "),
    "tag_session/missing": _sync("tag_session", MISSING, "t"),
    "delete_session/invalid": _sync("delete_session", "not-a-uuid"),
    "delete_session/missing": _sync("delete_session", MISSING),
    "fork_session/invalid": _sync("fork_session", "not-a-uuid"),
    "fork_session/invalid-up-to": _sync("fork_session", sid, None, "not-a-uuid"),
    "fork_session/missing": _sync("fork_session", MISSING),
    "fork_session/up-to-absent": _sync("fork_session", sid, None, MISSING),
    "fork_session/no-messages": _sync("fork_session", empty),
    # store-backed
    "list_sessions_from_store/minimal-store": _store("list_sessions_from_store", store="minimal"),
    "get_session_info_from_store/invalid": _store("get_session_info_from_store", "x"),
    "get_session_info_from_store/missing": _store("get_session_info_from_store", MISSING),
    "get_session_messages_from_store/invalid": _store("get_session_messages_from_store", "x"),
    "get_session_messages_from_store/missing": _store("get_session_messages_from_store", MISSING),
    "list_subagents_from_store/minimal-store": _store(
        "list_subagents_from_store", sid, store="minimal"
    ),
    "list_subagents_from_store/invalid": _store("list_subagents_from_store", "x"),
    "get_subagent_messages_from_store/invalid": _store(
        "get_subagent_messages_from_store", "x", "a1"
    ),
    "get_subagent_messages_from_store/no-agent": _store(
        "get_subagent_messages_from_store", sid, ""
    ),
    "rename_session_via_store/invalid": _store("rename_session_via_store", "x", "t"),
    "rename_session_via_store/empty-title": _store("rename_session_via_store", sid, ""),
    "tag_session_via_store/invalid": _store("tag_session_via_store", "x", "t"),
    "tag_session_via_store/empty-tag": _store("tag_session_via_store", sid, ""),
    "delete_session_via_store/invalid": _store("delete_session_via_store", "x"),
    "fork_session_via_store/invalid": _store("fork_session_via_store", "x"),
    "fork_session_via_store/invalid-up-to": _store(
        "fork_session_via_store", sid, up_to_message_id="x"
    ),
    "fork_session_via_store/missing": _store("fork_session_via_store", MISSING),
    "fork_session_via_store/up-to-absent": _store(
        "fork_session_via_store", sid, up_to_message_id=MISSING
    ),
    "fork_session_via_store/no-messages": _store("fork_session_via_store", empty),
}


def _import_case(sdk: Any, w: World, session_id: str) -> Any:
    async def run() -> Any:
        return await sdk.import_session_to_store(
            session_id, sdk.InMemorySessionStore(), directory=w.cwd
        )

    return anyio.run(run)


CASES["import_session_to_store/invalid"] = lambda sdk, w: _import_case(sdk, w, "x")
CASES["import_session_to_store/missing"] = lambda sdk, w: _import_case(sdk, w, MISSING)


def _outcome(call: Call, sdk: Any, world: World) -> tuple[str, Any]:
    _write(world.config, world.cwd, world.sid, world.empty_sid)
    try:
        return "value", call(sdk, world)
    except Exception as exc:
        return "raised", exc


def _official_prefix(message: str, session_id: str) -> str:
    """The part of an official message programs may match on (not where it looked)."""
    marker = f"Session {session_id} not found"
    return marker if message.startswith(marker) else message


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_case_matches_official(case: str, config_dir: Path, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    world = World(cwd=str(project), sid=str(uuid.uuid4()), empty_sid=str(uuid.uuid4()),
                  config=config_dir)  # fmt: skip
    call = CASES[case]
    theirs_kind, theirs = _outcome(call, official, world)
    mine_kind, mine = _outcome(call, threadline, world)
    if theirs_kind == "value":
        assert mine_kind == "value", f"official returned {theirs!r}, threadline raised {mine!r}"
        if theirs in (None, []):
            assert mine == theirs
        return
    assert mine_kind == "raised", f"official raised {theirs!r}, threadline returned {mine!r}"
    assert isinstance(mine, type(theirs)), f"{type(mine).__mro__} is not a {type(theirs)}"
    assert isinstance(mine, threadline.ClaudeSDKError), type(mine)
    session_id = next((a for a in (world.sid, world.empty_sid, MISSING) if a in str(theirs)), "")
    prefix = _official_prefix(str(theirs), session_id)
    assert str(mine).startswith(prefix), (str(mine), str(theirs))


def test_every_session_function_has_error_cases() -> None:
    functions = {name.split("/")[0] for name in CASES}
    session_functions = {
        n
        for n in official.__all__
        if ("session" in n or "subagent" in n) and callable(getattr(official, n))
        and not isinstance(getattr(official, n), type)
        and n not in ("fold_session_summary",)
    }  # fmt: skip
    assert session_functions <= functions, session_functions - functions


def test_transcripts_are_what_the_cases_assume(config_dir: Path, tmp_path: Path) -> None:
    world = World(str(tmp_path), str(uuid.uuid4()), str(uuid.uuid4()), config_dir)
    _write(config_dir, world.cwd, world.sid, world.empty_sid)
    assert len(official.get_session_messages(world.sid, world.cwd)) == 4
    assert official.get_session_messages(world.empty_sid, world.cwd) == []
    lines = list((config_dir / "projects").glob(f"*/{world.empty_sid}.jsonl"))[0].read_bytes()
    assert orjson.loads(lines.splitlines()[0])["type"] == "custom-title"
