"""Resume snapshots: a resumed big session's history kept beside its transcript.

The snapshot threshold is lowered to one entry so small sessions exercise the same path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

import threadline.runtime._resume as resume_mod
from threadline import delete_session, get_session_messages
from threadline._client import AgentClient
from threadline._query import query
from threadline.sessions._snapshot import SNAPSHOT_NAME, FileState, read_snapshot
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import conversation, options, resume_once, run_turn, transcript, transcript_file, turns

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("small_snapshots")]


@pytest.fixture(autouse=True)
def _rewrite_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume_mod, "REWRITE_AFTER", 0)  # rewritten after every append


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every full read of a transcript by a resume (a snapshot hit reads none)."""
    seen: list[Path] = []
    real = resume_mod.read_for_resume

    def spy(path: Path, record: bool = True) -> Any:
        seen.append(path)
        return real(path, record)

    monkeypatch.setattr(resume_mod, "read_for_resume", spy)
    return seen



def _snap(config_dir: Path, sid: str) -> Path:
    return transcript_file(config_dir, sid).with_suffix("") / SNAPSHOT_NAME



async def _snapshot_now(config_dir: Path, sid: str) -> None:
    """What a persisted resume does before its turn: the snapshot of the file as it is."""
    assert await anyio.to_thread.run_sync(resume_mod.refresh_snapshot, transcript_file(config_dir, sid))


async def test_a_persisted_resume_writes_a_snapshot_the_next_one_reads(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one", "two")
    await resume_once(sid)
    assert not _snap(config_dir, sid).exists(), "persist_session=False wrote a snapshot"
    await resume_once(sid, persist_session=True)
    assert len(loads) == 2
    snap = _snap(config_dir, sid)
    assert snap.exists()
    assert stat.S_IMODE(snap.stat().st_mode) == 0o600
    assert stat.S_IMODE(snap.parent.stat().st_mode) == 0o700
    await resume_once(sid, "more")
    assert len(loads) == 2, "the resume after it read the whole transcript again"
    warm = fake.message_requests()[-1]
    assert conversation(warm) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
        ("user", "again"),
        ("assistant", "echo: again"),
        ("user", "more"),
    ]
    snap.unlink()
    await resume_once(sid, "more")
    assert len(loads) == 3
    assert fake.message_requests()[-1]["messages"] == warm["messages"]


async def test_an_unchanged_transcript_is_not_read_at_all(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one")
    await _snapshot_now(config_dir, sid)
    await resume_once(sid)
    await resume_once(sid)
    assert len(loads) == 1
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "again"),
    ]


async def test_a_turn_appended_since_is_added_to_the_snapshot(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one")
    await _snapshot_now(config_dir, sid)
    await resume_once(sid, "two", persist_session=True)  # appends a turn
    size = transcript_file(config_dir, sid).stat().st_size
    await resume_once(sid, "three", persist_session=True)
    assert len(loads) == 1, "only the appended part is read"
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
        ("user", "three"),
    ]
    # and the snapshot was brought up to the state that resume read (before its own turn)
    snap = read_snapshot(transcript_file(config_dir, sid))
    assert snap is not None and snap.state.size == size
    assert snap.current == FileState.of(transcript_file(config_dir, sid))


async def test_a_branch_appended_since_makes_the_resume_read_everything(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one", "two")
    await _snapshot_now(config_dir, sid)
    first_reply = next(e for e in transcript(config_dir, sid) if e["type"] == "assistant")
    # a turn branching off the first reply (rewind), written to the same file
    await resume_once(sid, "branch", persist_session=True, resume_session_at=first_reply["uuid"])
    await resume_once(sid, "after")
    assert len(loads) == 2
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "branch"),
        ("assistant", "echo: branch"),
        ("user", "after"),
    ]


async def test_a_continuation_appended_by_another_program_is_added(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one")
    await _snapshot_now(config_dir, sid)
    path = transcript_file(config_dir, sid)
    entries = transcript(config_dir, sid)
    extra = dict(entries[-1], uuid="11111111-1111-4111-8111-111111111111")
    extra["parentUuid"] = entries[-1]["uuid"]
    extra["message"] = dict(
        extra["message"], id="msg_other", content=[{"type": "text", "text": "appended"}]
    )
    import orjson

    with path.open("ab") as fh:
        fh.write(orjson.dumps(extra) + b"\n")
    await resume_once(sid, "next")
    assert len(loads) == 1
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("assistant", "appended"),
        ("user", "next"),
    ]


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage\n[]", b'{"version": 99}\n[]', b"{not json", None],
    ids=["empty", "garbage", "future-version", "torn-header", "wrong-state"],
)
async def test_a_bad_snapshot_is_ignored_and_replaced(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    loads: list[Path],
    content: bytes | None,
) -> None:
    sid, _ = await turns(options(), "one")
    await _snapshot_now(config_dir, sid)
    snap = _snap(config_dir, sid)
    if content is None:
        # a well-formed snapshot of some other state: a different size
        header, _, body = snap.read_bytes().partition(b"\n")
        import orjson

        h = orjson.loads(header)
        h["size"] += 1
        snap.write_bytes(orjson.dumps(h) + b"\n" + body.replace(b"echo: one", b"forged"))
    else:
        snap.write_bytes(content)
    await resume_once(sid, "next", persist_session=True)
    assert len(loads) == 2
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "next"),
    ]
    assert read_snapshot(transcript_file(config_dir, sid)) is not None


async def test_turns_after_a_snapshot_resume_chain_to_the_leaf(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one", "two")
    await _snapshot_now(config_dir, sid)
    async with AgentClient(options(resume=sid)) as client:
        await run_turn(client, "three")
        await run_turn(client, "four")
    assert len(loads) == 1
    texts = [
        m.message["content"]
        if isinstance(m.message["content"], str)
        else m.message["content"][0]["text"]
        for m in get_session_messages(sid)
    ]
    assert texts == [
        "one",
        "echo: one",
        "two",
        "echo: two",
        "three",
        "echo: three",
        "four",
        "echo: four",
    ]


async def test_compaction_after_a_snapshot_resume_loads_the_chain(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "prompt 1", "prompt 2")
    await _snapshot_now(config_dir, sid)
    async with AgentClient(options(resume=sid)) as client:
        await run_turn(client, "prompt 3")
        assert client._runtime is not None and client._runtime._chain is None  # not loaded yet
        result = await client.compact()
        await run_turn(client, "prompt 4")
    assert len(loads) == 1
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 3"),
        ("user", "prompt 4"),
    ]
    entries = transcript(config_dir, sid)
    replies = [e for e in entries if e["type"] == "assistant"]
    assert result.preserved_uuids == (replies[-2]["uuid"],)


async def test_recorded_cwd_is_restored_from_a_snapshot(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    sid, _ = await turns(options(), "one")
    await _snapshot_now(config_dir, sid)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    seen: list[str] = []
    async for m in query(prompt="x", options=options(resume=sid, persist_session=False)):
        if getattr(m, "subtype", None) == "init":
            seen.append(m.data["cwd"])  # type: ignore[attr-defined]
    assert seen == [str(project)]


async def test_no_snapshot_for_small_sessions_forks_or_branches(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    loads: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resume_mod, "MIN_ENTRIES", 2_000)
    sid, _ = await turns(options(), "one")
    await resume_once(sid, persist_session=True)
    assert not _snap(config_dir, sid).exists()
    monkeypatch.setattr(resume_mod, "MIN_ENTRIES", 1)
    first = transcript(config_dir, sid)[0]["uuid"]
    await resume_once(sid, persist_session=True, resume_session_at=first)
    await resume_once(sid, persist_session=True, fork_session=True)
    assert not _snap(config_dir, sid).exists()


async def test_delete_session_removes_the_snapshot(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid, _ = await turns(options(), "one")
    await resume_once(sid, persist_session=True)
    snap = _snap(config_dir, sid)
    assert snap.exists()
    delete_session(sid)
    assert not snap.exists()
    assert not list(config_dir.rglob(SNAPSHOT_NAME))


async def test_bundles_leave_the_snapshot_behind(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    import tarfile

    from threadline.sessions._bundle import export_bundle

    sid, _ = await turns(options(), "one")
    await _snapshot_now(config_dir, sid)
    out = tmp_path / "b.tlbundle"
    export_bundle([sid], out)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert any(n.endswith(f"{sid}.jsonl") for n in names)
    assert not any(SNAPSHOT_NAME in n for n in names), names


async def test_continue_conversation_uses_the_snapshot_too(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one")
    for prompt in ("two", "three"):
        async for _ in query(prompt=prompt, options=options(continue_conversation=True)):
            pass
    assert len(loads) == 1, "the second continue reads the snapshot and the appended turn"
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
        ("user", "three"),
    ]
    assert read_snapshot(transcript_file(config_dir, sid)) is not None


async def test_a_snapshot_cut_short_is_not_used(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one", "two")
    await _snapshot_now(config_dir, sid)
    snap = _snap(config_dir, sid)
    data = snap.read_bytes()
    snap.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])  # the last message lost
    assert read_snapshot(transcript_file(config_dir, sid)) is None
    await resume_once(sid, "three")
    assert len(loads) == 2
    assert conversation(fake.message_requests()[-1])[-2:] == [
        ("assistant", "echo: two"),
        ("user", "three"),
    ]


async def test_small_appends_do_not_rewrite_the_snapshot(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    loads: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resume_mod, "REWRITE_AFTER", 1 << 20)
    sid, _ = await turns(options(), "one")
    await _snapshot_now(config_dir, sid)
    first = read_snapshot(transcript_file(config_dir, sid))
    assert first is not None
    for prompt in ("two", "three"):
        await resume_once(sid, prompt, persist_session=True)
    await resume_once(sid, "four")
    assert len(loads) == 1
    again = read_snapshot(transcript_file(config_dir, sid))
    assert again is not None and again.state == first.state  # the same snapshot, still used
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
        ("user", "three"),
        ("assistant", "echo: three"),
        ("user", "four"),
    ]


async def test_a_run_that_wrote_a_big_session_leaves_a_snapshot(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    loads: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first resume of a session threadline wrote, in another process, starts warm:
    the run that wrote it left the snapshot when it ended (sizes lowered to one byte)."""
    monkeypatch.setattr(resume_mod, "SNAPSHOT_AFTER_RUN", 1)
    sid, _ = await turns(options(), "one", "two")
    snap = _snap(config_dir, sid)
    assert snap.exists(), "the run ended without leaving a snapshot"
    assert len(loads) == 1  # the run's end read its transcript once
    await resume_once(sid)
    assert len(loads) == 1, "the first resume read the whole transcript"
    warm = fake.message_requests()[-1]
    assert conversation(warm) == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
        ("user", "again"),
    ]
    snap.unlink()
    await resume_once(sid)
    assert fake.message_requests()[-1]["messages"] == warm["messages"]


async def test_small_sessions_and_unpersisted_runs_leave_no_snapshot_at_their_end(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, loads: list[Path]
) -> None:
    sid, _ = await turns(options(), "one")  # far below SNAPSHOT_AFTER_RUN (1 MiB)
    assert not _snap(config_dir, sid).exists() and loads == []
    await resume_once(sid)  # persist_session=False: writes nothing, at its end too
    assert not _snap(config_dir, sid).exists()
