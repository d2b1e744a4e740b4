"""Subagents: the Agent tool, transcripts under subagents/, foreground, background, parallel."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from threadline._client import AgentClient
from threadline._messages import AssistantMessage, ResultMessage, ToolUseBlock, UserMessage
from threadline._subagents import AgentDefinition
from threadline.sessions import (
    MemoryStore,
    get_subagent_messages,
    get_subagent_messages_from_store,
    list_subagents,
    list_subagents_from_store,
)
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import conversation, options, run_turn

pytestmark = pytest.mark.anyio

AGENTS = {
    "researcher": AgentDefinition(
        description="Finds things out", prompt="You are RESEARCHER.", tools=["Read"]
    ),
}


def _delegate(prompt: str, *, background: bool = False, kind: str = "researcher") -> dict[str, Any]:
    return {
        "name": "Agent",
        "input": {
            "description": f"task {prompt}",
            "prompt": prompt,
            "subagent_type": kind,
            "run_in_background": background,
        },
    }


def _session_dir(config_dir: Path, sid: str) -> Path:
    files = list((config_dir / "projects").glob(f"*/{sid}.jsonl"))
    assert len(files) == 1
    return files[0].with_suffix("")


async def test_foreground_subagent_is_recorded_and_reported(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {"match": {"last_user_contains": "delegate it"}, "tool_use": _delegate("SUBTASK-1")},
            {"match": {"system_contains": "RESEARCHER"}, "text": "sub result 42"},
            {"match": {"last_user_contains": "sub result 42"}, "text": "main got 42"},
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        msgs = await run_turn(client, "delegate it")
        sid = client.session_id
    assert sid is not None
    result = msgs[-1]
    assert isinstance(result, ResultMessage) and result.result == "main got 42"
    call = next(
        b
        for m in msgs
        if isinstance(m, AssistantMessage)
        for b in m.content
        if isinstance(b, ToolUseBlock)
    )
    from_sub = [
        m for m in msgs if isinstance(m, (AssistantMessage, UserMessage)) and m.parent_tool_use_id
    ]
    assert from_sub and all(m.parent_tool_use_id == call.id for m in from_sub)
    assert any(
        isinstance(m, AssistantMessage) and getattr(m.content[0], "text", "") == "sub result 42"
        for m in from_sub
    )

    # the subagent request: its own system prompt, its tool subset, only its prompt
    sub_req = next(b for b in fake.message_requests() if "RESEARCHER" in json.dumps(b["system"]))
    assert [t["name"] for t in sub_req["tools"]] == ["Read"]
    assert conversation(sub_req) == [("user", "SUBTASK-1")]
    main_tools = [t["name"] for t in fake.message_requests()[0]["tools"]]
    assert "Agent" in main_tools

    # on disk: <session>/subagents/agent-<id>.jsonl + .meta.json
    sub_dir = _session_dir(config_dir, sid) / "subagents"
    files = sorted(p.name for p in sub_dir.iterdir())
    assert len(files) == 2 and files[0].endswith(".jsonl") and files[1].endswith(".meta.json")
    agent_id = files[0][len("agent-") : -len(".jsonl")]
    meta = json.loads((sub_dir / files[1]).read_text())
    assert meta["agentType"] == "researcher" and meta["toolUseId"] == call.id
    assert meta["finished"] is True and meta["requestShape"] == "foreground"
    entries = [json.loads(x) for x in (sub_dir / files[0]).read_text().splitlines()]
    assert all(e["isSidechain"] is True and e["agentId"] == agent_id for e in entries)
    assert all(e["sessionId"] == sid for e in entries)

    assert list_subagents(sid, str(project)) == [agent_id]
    got = get_subagent_messages(sid, agent_id, str(project))
    assert [m.type for m in got] == ["user", "assistant"]
    assert all(m.parent_tool_use_id == call.id for m in got)

    # the main transcript's tool result carries the CLI's toolUseResult shape
    main = [
        json.loads(x)
        for x in (_session_dir(config_dir, sid).with_suffix(".jsonl")).read_text().splitlines()
    ]
    tr = next(e for e in main if isinstance(e.get("toolUseResult"), dict))
    assert tr["toolUseResult"]["agentId"] == agent_id
    assert tr["toolUseResult"]["status"] == "completed"


async def test_official_readers_see_threadline_subagents(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sdk = pytest.importorskip("claude_agent_sdk")
    fake.script(
        [
            {"match": {"last_user_contains": "delegate it"}, "tool_use": _delegate("SUBTASK-1")},
            {"match": {"system_contains": "RESEARCHER"}, "text": "sub result"},
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        await run_turn(client, "delegate it")
        sid = client.session_id
    assert sid is not None
    os.environ["CLAUDE_CONFIG_DIR"] = str(config_dir)
    ids = sdk.list_subagents(sid, directory=str(project))
    assert ids == list_subagents(sid, str(project))
    official = sdk.get_subagent_messages(sid, ids[0], directory=str(project))
    ours = get_subagent_messages(sid, ids[0], str(project))
    assert [(m.type, m.uuid) for m in official] == [(m.type, m.uuid) for m in ours]
    assert [m.parent_tool_use_id for m in official] == [m.parent_tool_use_id for m in ours]


async def test_parallel_subagents(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "two at once"},
                "tool_use": [_delegate("SUB-A"), _delegate("SUB-B")],
            },
            {
                "match": {"last_user_contains": "SUB-A", "system_contains": "RESEARCHER"},
                "text": "done A",
                "delay_s": 0.3,
            },
            {
                "match": {"last_user_contains": "SUB-B", "system_contains": "RESEARCHER"},
                "text": "done B",
                "delay_s": 0.3,
            },
            {"match": {"last_user_contains": "done"}, "text": "both done"},
        ]
    )
    import time

    async with AgentClient(options(agents=AGENTS)) as client:
        started = time.monotonic()
        msgs = await run_turn(client, "two at once")
        elapsed = time.monotonic() - started
        sid = client.session_id
    assert sid is not None
    assert elapsed < 0.55  # the two 0.3 s subagents overlapped
    assert msgs[-1].result == "both done"  # type: ignore[union-attr]
    assert len(list_subagents(sid, str(project))) == 2
    results = [t for r, t in conversation(fake.message_requests()[-1]) if r == "user"]
    assert results.count("tool_result") == 2


async def test_background_subagent_reports_through_a_task_notification(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-BG", background=True),
            },
            {"match": {"system_contains": "RESEARCHER"}, "text": "bg finding"},
            {"match": {"last_user_contains": "task-notification"}, "text": "noted"},
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        msgs = await run_turn(client, "in background")
        sid = client.session_id
    assert msgs[-1].result == "noted"  # type: ignore[union-attr]
    last = fake.message_requests()[-1]["messages"][-1]
    texts = [b.get("text") or b.get("content") for b in last["content"]]
    assert "Async agent launched" in str(texts[0])
    assert "<task-notification>" in str(texts[-1]) and "bg finding" in str(texts[-1])
    assert sid is not None
    meta = next((_session_dir(config_dir, sid) / "subagents").glob("*.meta.json"))
    assert json.loads(meta.read_text())["requestShape"] == "background"


async def test_failing_subagent_answers_with_an_error(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {"match": {"last_user_contains": "delegate it"}, "tool_use": _delegate("SUB-FAIL")},
            {
                "match": {"system_contains": "RESEARCHER"},
                "error": {"status": 400, "type": "invalid_request_error", "message": "sub broke"},
                "times": 20,
            },
            {"match": {"last_user_contains": "Subagent failed"}, "text": "handled the failure"},
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        msgs = await run_turn(client, "delegate it")
        sid = client.session_id
    assert msgs[-1].result == "handled the failure"  # type: ignore[union-attr]
    result_msg = next(
        m
        for m in msgs
        if isinstance(m, UserMessage)
        and m.parent_tool_use_id is None
        and isinstance(m.content, list)
    )
    block = result_msg.content[0]
    assert block.is_error is True and "sub broke" in str(block.content)  # type: ignore[union-attr]
    assert sid is not None
    meta = next((_session_dir(config_dir, sid) / "subagents").glob("*.meta.json"))
    data = json.loads(meta.read_text())
    assert data["status"] == "failed" and data["finished"] is True


async def test_unknown_subagent_type(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [
            {"match": {"last_user_contains": "delegate"}, "tool_use": _delegate("X", kind="nope")},
            {"match": {"last_user_contains": "not found"}, "text": "ok"},
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        msgs = await run_turn(client, "delegate")
    assert msgs[-1].result == "ok"  # type: ignore[union-attr]


async def test_subagents_with_a_memory_store(fake: FakeAnthropicServer, project: Path) -> None:
    store = MemoryStore()
    fake.script(
        [
            {"match": {"last_user_contains": "delegate it"}, "tool_use": _delegate("SUBTASK-1")},
            {"match": {"system_contains": "RESEARCHER"}, "text": "sub result"},
        ]
    )
    async with AgentClient(options(agents=AGENTS, session_store=store)) as client:
        await run_turn(client, "delegate it")
        sid = client.session_id
    assert sid is not None
    ids = await list_subagents_from_store(store, sid, directory=str(project))
    assert len(ids) == 1
    got = await get_subagent_messages_from_store(store, sid, ids[0], directory=str(project))
    assert [m.type for m in got] == ["user", "assistant"]
    assert got[0].parent_tool_use_id is not None
