"""Sessions wired into the runtime: resume, continue, fork, branch, stores, bad ids."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from threadline._exceptions import InvalidSessionIdError, MessageNotFoundError, SessionNotFoundError
from threadline._ids import new_uuid
from threadline._messages import AssistantMessage, ResultMessage, SystemMessage
from threadline._query import query
from threadline.sessions import MemoryStore
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options, sent_texts, transcript

pytestmark = pytest.mark.anyio


async def _run(prompt: str, **kw: Any) -> list[Any]:
    return [m async for m in query(prompt=prompt, options=options(**kw))]


async def _session(prompt: str, **kw: Any) -> str:
    msgs = await _run(prompt, **kw)
    assert isinstance(msgs[-1], ResultMessage) and not msgs[-1].is_error
    return msgs[-1].session_id


async def test_resume_sends_full_history_from_another_directory(
    fake: FakeAnthropicServer,
    project: Path,
    tmp_path: Path,
    config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid = await _session("my name is Ada")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    msgs = await _run("what is my name?", resume=sid)
    init = msgs[0]
    assert isinstance(init, SystemMessage) and init.data["session_id"] == sid
    assert init.data["cwd"] == str(project)  # recorded cwd restored
    assert sent_texts(fake.message_requests()[-1]) == [
        "my name is Ada",
        "echo: my name is Ada",
        "what is my name?",
    ]
    entries = transcript(config_dir, sid)
    assert [e["type"] for e in entries] == ["user", "assistant", "user", "assistant"]
    assert entries[2]["parentUuid"] == entries[1]["uuid"]
    assert len(list((config_dir / "projects").glob("*/*.jsonl"))) == 1


async def test_explicit_cwd_wins_over_recorded(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    sid = await _session("first")
    other = tmp_path / "other"
    other.mkdir()
    msgs = await _run("second", resume=sid, cwd=str(other))
    assert msgs[0].data["cwd"] == str(other)


async def test_continue_takes_newest_session_of_cwd(
    fake: FakeAnthropicServer, project: Path
) -> None:
    await _session("older")
    newer = await _session("newer")
    msgs = await _run("continue please", continue_conversation=True)
    assert msgs[-1].session_id == newer
    assert sent_texts(fake.message_requests()[-1])[0] == "newer"


async def test_continue_without_sessions_starts_new(
    fake: FakeAnthropicServer, project: Path
) -> None:
    msgs = await _run("hello", continue_conversation=True)
    assert not msgs[-1].is_error


async def test_fork_leaves_original_untouched(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid = await _session("design a REST API")
    original = _raw(config_dir, sid)
    msgs = await _run("now GraphQL", resume=sid, fork_session=True)
    forked = msgs[-1].session_id
    assert forked != sid and msgs[0].data["session_id"] == forked
    assert _raw(config_dir, sid) == original
    assert sent_texts(fake.message_requests()[-1]) == [
        "design a REST API",
        "echo: design a REST API",
        "now GraphQL",
    ]
    entries = transcript(config_dir, forked)
    assert all(e["sessionId"] == forked for e in entries)
    assert entries[0]["forkedFrom"]["sessionId"] == sid
    original_uuids = {e["uuid"] for e in transcript(config_dir, sid)}
    assert not original_uuids & {e["uuid"] for e in entries}
    # the original still resumes on its own thread
    await _run("add auth", resume=sid)
    assert sent_texts(fake.message_requests()[-1]) == [
        "design a REST API",
        "echo: design a REST API",
        "add auth",
    ]


async def test_resume_session_at_branches_in_the_same_file(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    first = await _run("one")
    sid = first[-1].session_id
    keep = next(m for m in first if isinstance(m, AssistantMessage)).uuid
    await _run("two", resume=sid)
    await _run("three", resume=sid, resume_session_at=keep)
    assert sent_texts(fake.message_requests()[-1]) == ["one", "echo: one", "three"]
    entries = transcript(config_dir, sid)
    assert len(entries) == 6
    branch_prompt = entries[4]
    assert branch_prompt["parentUuid"] == keep
    # readers take the newest leaf: the branch
    await _run("four", resume=sid)
    assert sent_texts(fake.message_requests()[-1]) == [
        "one",
        "echo: one",
        "three",
        "echo: three",
        "four",
    ]
    with pytest.raises(MessageNotFoundError):
        await _run("x", resume=sid, resume_session_at=new_uuid())


async def test_persist_session_false_writes_nothing(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    msgs = await _run("ephemeral", persist_session=False)
    assert not msgs[-1].is_error
    assert not (config_dir / "projects").exists()
    sid = await _session("kept")
    msgs = await _run("no write on resume", resume=sid, persist_session=False)
    assert sent_texts(fake.message_requests()[-1])[0] == "kept"
    assert len(transcript(config_dir, sid)) == 2


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("session-xyz", SessionNotFoundError),
        ("../../etc/passwd", InvalidSessionIdError),
        ("123e4567-e89b-12d3-a456-426614174000", SessionNotFoundError),
    ],
)
async def test_bad_resume_fails_before_any_model_call(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, value: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        await _run("hello", resume=value)
    assert value in str(info.value)
    assert fake.message_requests() == []
    assert not (config_dir / "projects").exists()


async def test_session_store_writes_nothing_to_disk(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    store = MemoryStore()
    files_before = _files(tmp_path)
    sid = await _session("in the store", session_store=store)
    msgs = await _run("and again", session_store=store, resume=sid)
    assert not msgs[-1].is_error
    assert sent_texts(fake.message_requests()[-1])[0] == "in the store"
    assert _files(tmp_path) == files_before
    entries = await store.load({"project_key": _pk(project), "session_id": sid})
    assert entries is not None and len(entries) == 4


def _raw(config_dir: Path, sid: str) -> bytes:
    return next((config_dir / "projects").glob(f"*/{sid}.jsonl")).read_bytes()


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _pk(path: Path) -> str:
    from threadline.sessions._paths import project_key_for_directory

    return project_key_for_directory(os.fspath(path))


async def test_session_id_option(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    wanted = new_uuid()
    assert await _session("fixed id", session_id=wanted) == wanted
    with pytest.raises(InvalidSessionIdError):
        await _run("bad", session_id="nope")
