"""Compaction: on demand, automatic, failed, resumed (fast path and fallback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline._client import AgentClient
from threadline._exceptions import CompactionError
from threadline._messages import SystemMessage
from threadline.runtime._hooks import HookMatcher
from threadline.sessions import MemoryStore, get_session_messages
from threadline.sessions._offsets import SIDECAR_NAME, load_tail
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import conversation, options, run_turn, transcript, turns

pytestmark = pytest.mark.anyio


def _session_file(config_dir: Path, sid: str) -> Path:
    files = list((config_dir / "projects").glob(f"*/{sid}.jsonl"))
    assert len(files) == 1
    return files[0]


async def _three_turns_then_compact(**kw: Any) -> tuple[AgentClient, Any]:
    client = AgentClient(options(**kw))
    await client.connect()
    for i in (1, 2, 3):
        await run_turn(client, f"prompt {i}")
    result = await client.compact()
    return client, result


async def test_manual_compaction_writes_claude_code_entries(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    client, result = await _three_turns_then_compact()
    try:
        compact_req = fake.message_requests()[-1]
        assert "create a detailed summary" in json.dumps(compact_req["messages"][-1])
        await run_turn(client, "prompt 4")
    finally:
        await client.disconnect()
    entries = transcript(config_dir, _sid(config_dir))
    boundary = next(e for e in entries if e.get("subtype") == "compact_boundary")
    i = entries.index(boundary)
    summary = entries[i + 1]
    replies = [e for e in entries[:i] if e["type"] == "assistant"]
    assert boundary["parentUuid"] is None
    assert boundary["type"] == "system" and boundary["content"] == "Conversation compacted"
    assert boundary["logicalParentUuid"] == replies[-1]["uuid"]
    meta = boundary["compactMetadata"]
    assert meta["trigger"] == "manual"
    assert meta["preservedSegment"] == {
        "headUuid": replies[-1]["uuid"],
        "anchorUuid": summary["uuid"],
        "tailUuid": replies[-1]["uuid"],
    }
    assert summary["isCompactSummary"] is True and summary["isVisibleInTranscriptOnly"] is True
    assert summary["parentUuid"] == boundary["uuid"]
    assert "Summary of the conversation so far" in summary["message"]["content"]
    # the next prompt hangs off the summary, as in the CLI
    prompt4 = next(e for e in entries[i:] if e.get("message", {}).get("content") == "prompt 4")
    assert prompt4["parentUuid"] == summary["uuid"]
    # what the model saw after compacting: summary, the preserved reply, the new prompt
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 3"),
        ("user", "prompt 4"),
    ]
    assert result.preserved_uuids == (replies[-1]["uuid"],)


def _sid(config_dir: Path) -> str:
    files = list((config_dir / "projects").glob("*/*.jsonl"))
    assert len(files) == 1
    return files[0].stem


async def test_resume_after_compaction_sends_summary_and_preserved_tail(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    client, _ = await _three_turns_then_compact()
    await run_turn(client, "prompt 4")
    sid = client.session_id
    await client.disconnect()
    assert sid is not None
    path = _session_file(config_dir, sid)
    assert (path.with_suffix("") / SIDECAR_NAME).is_file()
    tail = load_tail(path)
    assert tail is not None and len(tail) < len(transcript(config_dir, sid))

    # Prove the resume reads only the tail: scribble over everything before the offset.
    info = json.loads((path.with_suffix("") / SIDECAR_NAME).read_text())
    data = bytearray(path.read_bytes())
    for j in range(info["start"] - 1):
        if data[j : j + 1] != b"\n":
            data[j] = ord("x")
    path.write_bytes(bytes(data))

    async with AgentClient(options(resume=sid)) as resumed:
        await run_turn(resumed, "prompt 5")
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 3"),
        ("user", "prompt 4"),
        ("assistant", "echo: prompt 4"),
        ("user", "prompt 5"),
    ]


async def test_stale_offset_falls_back_to_a_full_parse(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    client, _ = await _three_turns_then_compact()
    sid = client.session_id
    await client.disconnect()
    assert sid is not None
    path = _session_file(config_dir, sid)
    sidecar = path.with_suffix("") / SIDECAR_NAME
    info = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**info, "boundary": info["boundary"] + 7}))
    assert load_tail(path) is None
    async with AgentClient(options(resume=sid)) as resumed:
        await run_turn(resumed, "prompt 4")
    assert conversation(fake.message_requests()[-1])[:3] == [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 3"),
        ("user", "prompt 4"),
    ]
    # the full parse learned the offset again
    assert json.loads(sidecar.read_text())["boundary"] == info["boundary"]
    sidecar.unlink()
    async with AgentClient(options(resume=sid)) as resumed:
        await run_turn(resumed, "prompt 5")
    assert conversation(fake.message_requests()[-1])[:2] == [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 3"),
    ]
    assert sidecar.is_file()


async def test_official_style_reader_starts_at_the_summary(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    client, _ = await _three_turns_then_compact()
    await run_turn(client, "prompt 4")
    sid = client.session_id
    await client.disconnect()
    assert sid is not None
    messages = get_session_messages(sid, str(project))
    first = messages[0].message
    assert isinstance(first, dict) and "being continued" in str(first["content"])
    assert [m.type for m in messages] == ["user", "user", "assistant"]


async def test_automatic_compaction_at_threshold(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "prompt 3", "kind": "main"},
                "echo": True,
                "usage": {"input_tokens": 150_000},
            },
        ]
    )
    sid, results = await _auto(fake, "prompt 1", "prompt 2", "prompt 3", "prompt 4")
    kinds = [_kind(b) for b in fake.message_requests()]
    assert kinds == ["main", "main", "main", "compact", "main"]
    assert any(isinstance(m, SystemMessage) and m.subtype == "compact_boundary" for m in results[3])
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 3"),
        ("user", "prompt 4"),
    ]
    entries = transcript(config_dir, sid)
    boundary = next(e for e in entries if e.get("subtype") == "compact_boundary")
    seg = boundary["compactMetadata"]["preservedSegment"]
    prompt4 = next(e for e in entries if e.get("message", {}).get("content") == "prompt 4")
    # as the CLI: the waiting prompt is the tail of the preserved segment
    assert seg["tailUuid"] == prompt4["uuid"] == boundary["logicalParentUuid"]
    assert boundary["compactMetadata"]["trigger"] == "auto"
    assert boundary["compactMetadata"]["preTokens"] == 150_000


def _kind(body: dict[str, Any]) -> str:
    from threadline.testing._fake_anthropic import request_kind

    return request_kind(body)


async def _auto(fake: FakeAnthropicServer, *prompts: str, **kw: Any) -> tuple[str, Any]:
    from ._util import turns

    return await turns(options(compact_threshold_tokens=100_000, **kw), *prompts)


async def test_automatic_compaction_mid_tool_loop_keeps_tool_pairs(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    (project / "a.txt").write_text("alpha\n")
    fake.script(
        [
            {
                "match": {"last_user_contains": "read it", "kind": "main"},
                "tool_use": {"name": "Read", "input": {"file_path": str(project / "a.txt")}},
                "usage": {"input_tokens": 200_000},
            },
            {"match": {"kind": "main", "last_user_contains": "alpha"}, "text": "read done"},
        ]
    )
    sid, _ = await _auto(fake, "prompt 1", "read it")
    kinds = [_kind(b) for b in fake.message_requests()]
    assert kinds == ["main", "main", "compact", "main"]
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "tool_use"),
        ("user", "tool_result"),
    ]
    async with AgentClient(options(resume=sid)) as resumed:
        await run_turn(resumed, "next")
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "tool_use"),
        ("user", "tool_result"),
        ("assistant", "read done"),
        ("user", "next"),
    ]


@pytest.mark.parametrize(
    "fault",
    [
        {"error": {"status": 500, "type": "api_error", "message": "boom"}, "times": 20},
        {"text": "<summary>never finished", "drop_after_events": 4, "times": 20},
    ],
    ids=["model-error", "stream-dropped"],
)
async def test_failed_compaction_leaves_the_session_intact(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, fault: dict[str, Any]
) -> None:
    client = AgentClient(options())
    await client.connect()
    try:
        for i in (1, 2, 3):
            await run_turn(client, f"prompt {i}")
        sid = client.session_id
        assert sid is not None
        before = _session_file(config_dir, sid).read_bytes()
        fake.script([{"match": {"kind": "compact"}, **fault}])
        with pytest.raises(CompactionError):
            await client.compact()
        assert _session_file(config_dir, sid).read_bytes() == before
        fake.script([])
        await run_turn(client, "prompt 4")
    finally:
        await client.disconnect()
    assert [t for r, t in conversation(fake.message_requests()[-1]) if r == "user"] == [
        "prompt 1",
        "prompt 2",
        "prompt 3",
        "prompt 4",
    ]
    async with AgentClient(options(resume=sid)) as resumed:
        await run_turn(resumed, "prompt 5")
    assert len(conversation(fake.message_requests()[-1])) == 9


async def test_failed_automatic_compaction_does_not_fail_the_turn(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"kind": "compact"},
                "error": {"status": 400, "type": "invalid_request_error", "message": "too long"},
                "times": 20,
            },
            {
                "match": {"last_user_contains": "prompt 2", "kind": "main"},
                "echo": True,
                "usage": {"input_tokens": 150_000},
            },
        ]
    )
    sid, results = await _auto(fake, "prompt 1", "prompt 2", "prompt 3")
    last = results[-1][-1]
    assert getattr(last, "is_error", True) is False
    assert not any(e.get("subtype") == "compact_boundary" for e in transcript(config_dir, sid))


async def test_precompact_hook_sees_trigger_and_can_block(
    fake: FakeAnthropicServer, project: Path
) -> None:
    seen: list[dict[str, Any]] = []

    async def hook(data: Any, tool_use_id: str | None, ctx: Any) -> dict[str, Any]:
        seen.append(dict(data))
        if len(seen) == 1:
            return {"decision": "block", "reason": "not now"}
        return {}

    hooks = {"PreCompact": [HookMatcher(hooks=[hook])]}
    client = AgentClient(options(hooks=hooks))
    await client.connect()
    try:
        await run_turn(client, "prompt 1")
        await run_turn(client, "prompt 2")
        with pytest.raises(CompactionError, match="not now"):
            await client.compact()
        result = await client.compact("focus on numbers")
    finally:
        await client.disconnect()
    assert [s["trigger"] for s in seen] == ["manual", "manual"]
    assert seen[1]["custom_instructions"] == "focus on numbers"
    assert seen[1]["hook_event_name"] == "PreCompact"
    assert "focus on numbers" in json.dumps(fake.message_requests()[-1]["messages"][-1])
    assert result.trigger == "manual"


async def test_compact_needs_history(fake: FakeAnthropicServer, project: Path) -> None:
    async with AgentClient(options()) as client:
        with pytest.raises(CompactionError):
            await client.compact()
        await run_turn(client, "only turn")
        await client.compact()
        await run_turn(client, "next")
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "echo: only turn"),
        ("user", "next"),
    ]


async def test_compaction_with_a_memory_store(fake: FakeAnthropicServer, project: Path) -> None:
    store = MemoryStore()
    client, _ = await _three_turns_then_compact(session_store=store)
    sid = client.session_id
    await client.disconnect()
    async with AgentClient(options(resume=sid, session_store=store)) as resumed:
        await run_turn(resumed, "prompt 4")
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 3"),
        ("user", "prompt 4"),
    ]


async def test_second_compaction_and_fork_of_compacted_session(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    client, _ = await _three_turns_then_compact()
    await run_turn(client, "prompt 4")
    await run_turn(client, "prompt 5")
    await client.compact()
    sid = client.session_id
    await client.disconnect()
    async with AgentClient(options(resume=sid)) as resumed:
        await run_turn(resumed, "prompt 6")
    assert conversation(fake.message_requests()[-1]) == [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 5"),
        ("user", "prompt 6"),
    ]
    async with AgentClient(options(resume=sid, fork_session=True)) as forked:
        await run_turn(forked, "prompt 7")
        fork_id = forked.session_id
    expected = [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 5"),
        ("user", "prompt 6"),
        ("assistant", "echo: prompt 6"),
        ("user", "prompt 7"),
    ]
    assert conversation(fake.message_requests()[-1]) == expected
    assert fork_id is not None
    async with AgentClient(options(resume=fork_id)) as again:
        await run_turn(again, "prompt 8")
    assert conversation(fake.message_requests()[-1])[:5] == expected


@pytest.mark.parametrize("snapshot", [True, False], ids=["snapshot-resume", "full-resume"])
async def test_automatic_compaction_uses_the_stored_usage_on_resume(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, snapshot: bool
) -> None:
    """The last reply reported 160k input tokens: the first call after resuming against a
    150k threshold compacts first instead of sending the whole history (issue 19, item 6)."""
    fake.script(
        [
            {"match": {"kind": "main", "last_user_contains": "prompt 3"}, "text": "big",
             "usage": {"input_tokens": 10_000, "cache_read_input_tokens": 150_000}},
        ]
    )
    sid, _ = await turns(options(), "prompt 1", "prompt 2", "prompt 3")
    if not snapshot:
        for leftover in (config_dir / "projects").glob(f"*/{sid}/threadline-resume.snap*"):
            leftover.unlink()
    before = len(fake.message_requests())
    async with AgentClient(options(resume=sid, compact_threshold_tokens=150_000)) as client:
        await run_turn(client, "prompt 4")
    kinds = [_kind(b) for b in fake.message_requests()[before:]]
    assert kinds == ["compact", "main"]
    assert conversation(fake.message_requests()[-1])[0] == ("user", "SUMMARY")
    boundary = next(e for e in transcript(config_dir, sid) if e.get("subtype") == "compact_boundary")
    assert boundary["compactMetadata"]["trigger"] == "auto"
    assert boundary["compactMetadata"]["preTokens"] == 160_000


async def test_resume_below_the_threshold_does_not_compact(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid, _ = await turns(options(), "prompt 1", "prompt 2")
    before = len(fake.message_requests())
    async with AgentClient(options(resume=sid, compact_threshold_tokens=150_000)) as client:
        await run_turn(client, "prompt 3")
    assert [_kind(b) for b in fake.message_requests()[before:]] == ["main"]
