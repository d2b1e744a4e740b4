"""Subagents: the Agent tool, transcripts under subagents/, foreground, background, parallel."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline._client import AgentClient
from threadline._messages import (
    AssistantMessage,
    ResultMessage,
    SystemMessage,
    ToolUseBlock,
    UserMessage,
)
from threadline._query import query
from threadline.runtime._subagents import AgentDefinition
from threadline.sessions import (
    MemoryStore,
    get_subagent_messages,
    get_subagent_messages_from_store,
    list_subagents,
    list_subagents_from_store,
)
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import conversation, options, run_turn, transcript

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
    async with AgentClient(options(agents=AGENTS, forward_subagent_text=True)) as client:
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


async def test_subagent_text_is_forwarded_only_when_asked(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """forward_subagent_text=False (the official default): of the child's messages only
    tool_use / tool_result ones reach the parent's stream; True adds its text."""
    script = [
        {"match": {"last_user_contains": "delegate it"}, "tool_use": _delegate("SUBTASK-1")},
        {
            "match": {"system_contains": "RESEARCHER", "last_user_contains": "SUBTASK-1"},
            "text": "looking",
            "tool_use": {"name": "Read", "input": {"file_path": str(project / "none.txt")}},
        },
        {"match": {"system_contains": "RESEARCHER"}, "text": "sub result 42"},
        {"match": {"last_user_contains": "sub result 42"}, "text": "main got 42"},
    ]
    seen: dict[bool, list[tuple[str, str]]] = {}
    for forward in (False, True):
        fake.script([dict(e) for e in script])
        async with AgentClient(options(agents=AGENTS, forward_subagent_text=forward)) as client:
            msgs = await run_turn(client, "delegate it")
        seen[forward] = [
            (type(m).__name__, type(m.content[0]).__name__)
            for m in msgs
            if isinstance(m, (AssistantMessage, UserMessage)) and m.parent_tool_use_id
        ]
        assert msgs[-1].result == "main got 42"
    assert seen[False] == [("AssistantMessage", "ToolUseBlock"), ("UserMessage", "ToolResultBlock")]
    assert seen[True] == [
        ("AssistantMessage", "TextBlock"),
        ("AssistantMessage", "ToolUseBlock"),
        ("UserMessage", "ToolResultBlock"),
        ("AssistantMessage", "TextBlock"),
    ]


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
                "wait_for_requests": 3,  # answered only once B's request arrived too
            },
            {
                "match": {"last_user_contains": "SUB-B", "system_contains": "RESEARCHER"},
                "text": "done B",
                "wait_for_requests": 3,
            },
            {"match": {"last_user_contains": "done"}, "text": "both done"},
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        msgs = await run_turn(client, "two at once")
        sid = client.session_id
    assert sid is not None
    # Each subagent's answer waited for the other's request: they ran at the same time.
    sent = str(fake.message_requests()[-1]["messages"])
    assert "timed out" not in sent
    assert "done A" in sent and "done B" in sent
    assert msgs[-1].result == "both done"  # type: ignore[union-attr]
    assert len(list_subagents(sid, str(project))) == 2
    results = [t for r, t in conversation(fake.message_requests()[-1]) if r == "user"]
    assert results.count("tool_result") == 2


def _child(marker: str, text: str, **extra: Any) -> dict[str, Any]:
    """A script entry answering the subagent whose prompt is ``marker``."""
    return {
        "match": {"last_user_contains": marker, "system_contains": "RESEARCHER"},
        "text": text,
        **extra,
    }


def _received(fake: FakeAnthropicServer, needle: str) -> float:
    """When the first model request whose last user text contains ``needle`` arrived."""
    for r in fake.requests:
        if r["path"] != "/v1/messages":
            continue
        # a task notification is sent inside a <system-reminder>, which _last_user skips
        last = r["body"]["messages"][-1]
        if needle in _last_user(r["body"]) or (
            "task-notification" in needle and needle in json.dumps(last)
        ):
            return float(r["received_at"])
    raise AssertionError(f"no request for {needle!r}")


def _last_user(body: dict[str, Any]) -> str:
    from threadline.testing._fake_anthropic import last_user_text

    return last_user_text(body)


async def _wait_for(condition: Any, *, seconds: float) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await anyio.sleep(0.02)
    raise AssertionError("timed out")


def _notes(msgs: list[Any]) -> list[SystemMessage]:
    return [m for m in msgs if isinstance(m, SystemMessage) and m.subtype == "task_notification"]


async def test_background_subagent_overlaps_the_parent_and_starts_a_notification_turn(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-BG", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            _child("SUB-BG", "bg finding", delay_s=0.6),
            {"match": {"last_user_contains": "task-notification"}, "text": "noted"},
        ]
    )
    async with AgentClient(options(agents=AGENTS, forward_subagent_text=True)) as client:
        first = await run_turn(client, "in background")
        # the parent's turn ended while the child was still waiting for its model
        assert first[-1].result == "parent goes on"  # type: ignore[union-attr]
        assert client._runtime is not None and client._background is not None
        assert client._background.running
        second = [m async for m in client.receive_response()]  # the notification turn
        sid = client.session_id
    assert sid is not None

    # ordering on the server: the parent's second call arrived before the child was answered
    child_at = _received(fake, "SUB-BG")
    parent_next = [
        float(r["received_at"])
        for r in fake.requests
        if r["path"] == "/v1/messages"
        and _last_user(r["body"]) == "in background"
        and "<task-notification>" not in json.dumps(r["body"]["messages"][-1])
    ]
    assert len(parent_next) == 2 and parent_next[1] < child_at + 0.6
    assert _received(fake, "task-notification") >= child_at + 0.6

    started = [m for m in first if isinstance(m, SystemMessage) and m.subtype == "task_started"]
    assert len(started) == 1 and started[0].data["is_backgrounded"] is True
    assert not any(m.parent_tool_use_id for m in first if isinstance(m, AssistantMessage))

    # the second turn: the child's messages, the system notification, then the turn
    assert isinstance(second[-1], ResultMessage) and second[-1].result == "noted"
    from_sub = [m for m in second if isinstance(m, AssistantMessage) and m.parent_tool_use_id]
    assert [getattr(m.content[0], "text", "") for m in from_sub] == ["bg finding"]
    (note,) = _notes(second)
    assert note.data["status"] == "completed" and note.data["summary"] == "bg finding"
    kinds = [type(m).__name__ for m in second]
    assert kinds.index("SystemMessage") < kinds.index("ResultMessage")

    # the model saw the report as the user message of a new turn
    last = fake.message_requests()[-1]
    assert conversation(last)[-1][0] == "user"
    report = conversation(last)[-1][1]
    # (sent as the CLI sends a task notification: inside a <system-reminder>)
    assert report.startswith("<system-reminder>\n[SYSTEM NOTIFICATION - NOT USER INPUT]")
    assert "\n\n<task-notification>" in report and "<status>completed</status>" in report
    assert "<result>bg finding</result>" in report

    # recorded as the CLI records a notification turn
    entries = transcript(config_dir, sid)
    launched = next(e for e in entries if isinstance(e.get("toolUseResult"), dict))
    assert launched["toolUseResult"]["status"] == "async_launched"
    (entry,) = [
        e
        for e in entries
        if e["type"] == "user" and str(e["message"]["content"]).startswith("<task-notification>")
    ]
    assert entry["origin"] == {"kind": "task-notification", "producer": "session-task"}
    assert entry["promptSource"] == "system" and entry["turnOrigin"] == "task_notification"
    assert isinstance(entry["message"]["content"], str)
    reply = next(
        e
        for e in entries
        if e["type"] == "assistant" and e["message"]["content"][0].get("text") == "parent goes on"
    )
    assert entry["parentUuid"] == reply["uuid"]
    assert second[-1].user_message_uuid == entry["uuid"]  # type: ignore[union-attr]

    meta = next((_session_dir(config_dir, sid) / "subagents").glob("*.meta.json"))
    data = json.loads(meta.read_text())
    assert data["requestShape"] == "background" and data["status"] == "completed"
    assert data["finished"] is True

    # a resume sends the report back as the prompt of its turn
    from threadline.runtime._resume import plan_session

    plan = await plan_session(options(resume=sid))
    users = [m for m in plan.history if m["role"] == "user"]
    assert "<task-notification>" in json.dumps(users[-1])


async def test_query_emits_a_second_result_for_the_notification_turn(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-BG", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            _child("SUB-BG", "bg finding", delay_s=0.3),
            {"match": {"last_user_contains": "task-notification"}, "text": "noted"},
        ]
    )
    msgs = [m async for m in query(prompt="in background", options=options(agents=AGENTS))]
    results = [m for m in msgs if isinstance(m, ResultMessage)]
    assert [r.result for r in results] == ["parent goes on", "noted"]
    inits = [i for i, m in enumerate(msgs) if isinstance(m, SystemMessage) and m.subtype == "init"]
    assert len(inits) == 2
    first_result = msgs.index(results[0])
    (note,) = _notes(msgs)
    assert first_result < msgs.index(note) < inits[1]


async def test_report_is_absorbed_by_a_running_turn(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    (project / "notes.txt").write_text("some notes\n")
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-BG", background=True),
            },
            {
                "match": {"last_user_contains": "Async agent launched"},
                "tool_use": {"name": "Read", "input": {"file_path": str(project / "notes.txt")}},
                "delay_s": 0.5,
            },
            _child("SUB-BG", "bg finding", delay_s=0.1),
            {"match": {"last_user_contains": "task-notification"}, "text": "read and noted"},
        ]
    )
    msgs = [m async for m in query(prompt="in background", options=options(agents=AGENTS))]
    results = [m for m in msgs if isinstance(m, ResultMessage)]
    assert [r.result for r in results] == ["read and noted"]  # one turn: no second result
    assert len(_notes(msgs)) == 1
    last = fake.message_requests()[-1]
    final_user = last["messages"][-1]
    kinds = [b["type"] for b in final_user["content"]]
    assert kinds == ["tool_result", "text"]  # the Read result, then the report
    # sent as the CLI sends a task notification: a <system-reminder> saying it is not user input
    report = final_user["content"][1]["text"]
    assert report.startswith("<system-reminder>\n[SYSTEM NOTIFICATION - NOT USER INPUT]\n")
    assert "\n\n<task-notification>" in report and report.endswith("\n</system-reminder>")
    sid = results[0].session_id
    entries = transcript(config_dir, sid)
    entry = next(
        e
        for e in entries
        if e["type"] == "user" and str(e["message"]["content"]).startswith("<task-notification>")
    )
    assert entry["origin"]["kind"] == "task-notification" and "turnOrigin" not in entry


async def test_interrupt_stops_running_background_children(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-SLOW", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            _child("SUB-SLOW", "too late", delay_s=10),
            {"match": {"last_user_contains": "next one"}, "text": "next answered"},
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        await run_turn(client, "in background")
        bg = client._background  # type: ignore[union-attr]
        assert bg is not None and bg.running
        await anyio.sleep(0.2)  # the child is waiting for its model
        await client.interrupt()
        await _wait_for(lambda: not bg.running, seconds=5)
        assert not bg.ready  # a stopped child sends no report
        after = await run_turn(client, "next one")
        sid = client.session_id
    assert after[-1].result == "next answered"  # type: ignore[union-attr]
    assert not any("task-notification" in json.dumps(b) for b in fake.message_requests())
    assert sid is not None
    _check_killed_child(sid, project, config_dir)


def _check_killed_child(sid: str, project: Path, config_dir: Path) -> None:
    (agent_id,) = list_subagents(sid, str(project))
    meta = json.loads(
        (_session_dir(config_dir, sid) / "subagents" / f"agent-{agent_id}.meta.json").read_text()
    )
    assert meta["status"] == "killed" and meta["finished"] is True
    got = get_subagent_messages(sid, agent_id, str(project))
    assert [m.type for m in got] == ["user", "user"]  # the prompt, then the interruption marker
    assert "interrupted" in json.dumps(got[-1].message)
    sdk = pytest.importorskip("claude_agent_sdk")
    os.environ["CLAUDE_CONFIG_DIR"] = str(config_dir)
    official = sdk.get_subagent_messages(sid, agent_id, directory=str(project))
    assert [(m.type, m.uuid) for m in official] == [(m.type, m.uuid) for m in got]


async def test_disconnect_stops_running_background_children(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-SLOW", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            _child("SUB-SLOW", "too late", delay_s=10),
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        await run_turn(client, "in background")
        await anyio.sleep(0.2)
        sid = client.session_id
    # (a child left to finish would answer after 10 s and be recorded "completed", not "killed")
    assert sid is not None
    _check_killed_child(sid, project, config_dir)


async def test_children_that_do_not_stop_in_time_are_cancelled(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-SLOW", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            _child("SUB-SLOW", "too late", delay_s=10),
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        await run_turn(client, "in background")
        await anyio.sleep(0.2)
        bg = client._background  # type: ignore[union-attr]
        assert bg is not None
        await bg.aclose(grace_s=0)  # no grace: the task is cancelled outright
        assert not bg.running and not bg.ready
        sid = client.session_id
    assert sid is not None
    (agent_id,) = list_subagents(sid, str(project))
    meta = json.loads(
        (_session_dir(config_dir, sid) / "subagents" / f"agent-{agent_id}.meta.json").read_text()
    )
    assert meta["status"] == "killed" and meta["finished"] is True
    got = get_subagent_messages(sid, agent_id, str(project))
    assert [m.type for m in got] == ["user"]  # cut before its reply; still readable


async def test_breaking_out_of_query_stops_background_children(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    from contextlib import aclosing

    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-SLOW", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            _child("SUB-SLOW", "too late", delay_s=10),
        ]
    )
    sid = ""
    async with aclosing(query(prompt="in background", options=options(agents=AGENTS))) as run:
        async for message in run:
            if isinstance(message, ResultMessage):
                sid = message.session_id
                await anyio.sleep(0.2)
                break
    _check_killed_child(sid, project, config_dir)


async def test_failing_background_child_reports_a_failure(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-FAIL", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            {
                "match": {"system_contains": "RESEARCHER"},
                "error": {"status": 400, "type": "invalid_request_error", "message": "sub broke"},
                "times": 20,
            },
            {"match": {"last_user_contains": "task-notification"}, "text": "handled"},
        ]
    )
    msgs = [m async for m in query(prompt="in background", options=options(agents=AGENTS))]
    results = [m for m in msgs if isinstance(m, ResultMessage)]
    assert [r.result for r in results] == ["parent goes on", "handled"]
    assert all(not r.is_error for r in results)
    (note,) = _notes(msgs)
    assert note.data["status"] == "failed"
    report = conversation(fake.message_requests()[-1])[-1][1]
    assert "<status>failed</status>" in report and "sub broke" in report
    meta = next((_session_dir(config_dir, results[0].session_id) / "subagents").glob("*.meta.json"))
    data = json.loads(meta.read_text())
    assert data["status"] == "failed" and data["finished"] is True


async def test_background_child_that_raises_reports_a_failure(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from threadline.runtime import _subagents

    async def explode(self: Any) -> Any:
        await anyio.sleep(0.05)
        raise RuntimeError("boom in the child")

    monkeypatch.setattr(_subagents._ChildRun, "run", explode)
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-X", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            {"match": {"last_user_contains": "task-notification"}, "text": "handled"},
        ]
    )
    msgs = [m async for m in query(prompt="in background", options=options(agents=AGENTS))]
    results = [m for m in msgs if isinstance(m, ResultMessage)]
    assert [r.result for r in results] == ["parent goes on", "handled"]
    (note,) = _notes(msgs)
    assert note.data["status"] == "failed"
    report = conversation(fake.message_requests()[-1])[-1][1]
    assert "<status>failed</status>" in report and "RuntimeError: boom in the child" in report


async def test_report_between_turns_starts_its_own_turn_at_once(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    """As the CLI: a report that arrives between turns starts the task-notification turn
    at once, with nobody receiving; its messages wait in the client's buffer."""
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-BG", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            _child("SUB-BG", "bg finding", delay_s=0.1),
            {"match": {"last_user_contains": "task-notification"}, "text": "answered both"},
            {"match": {"last_user_contains": "what next"}, "text": "next answered"},
        ]
    )
    async with AgentClient(options(agents=AGENTS)) as client:
        await run_turn(client, "in background")
        # the report's turn runs without a receiver: its model request arrives
        await _wait_for(lambda: len(fake.message_requests()) == 4, seconds=5)
        report_turn = [m async for m in client.receive_response()]
        msgs = await run_turn(client, "what next")
    assert report_turn[-1].result == "answered both"  # type: ignore[union-attr]
    assert len(_notes(report_turn)) == 1
    assert msgs[-1].result == "next answered"  # type: ignore[union-attr]
    assert _notes(msgs) == []
    last = conversation(fake.message_requests()[-1])
    assert last[-1] == ("user", "what next")


async def test_several_background_children_run_in_parallel(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "three at once"},
                "tool_use": [
                    _delegate("SUB-A", background=True),
                    _delegate("SUB-B", background=True),
                    _delegate("SUB-C", background=True),
                ],
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "launched three"},
            # each child answers only once the parent's two requests and all three children's
            # have arrived: serial children would answer "timed out"
            _child("SUB-A", "done A", wait_for_requests=5),
            _child("SUB-B", "done B", wait_for_requests=5),
            _child("SUB-C", "done C", wait_for_requests=5),
            {"match": {"last_user_contains": "task-notification"}, "text": "noted", "repeat": True},
        ]
    )
    msgs = [m async for m in query(prompt="three at once", options=options(agents=AGENTS))]
    results = [m for m in msgs if isinstance(m, ResultMessage)]
    assert results[0].result == "launched three" and results[-1].result == "noted"
    assert 2 <= len(results) <= 4
    notes = _notes(msgs)
    assert sorted(n.data["summary"] for n in notes) == ["done A", "done B", "done C"]
    sid = results[0].session_id
    assert len(list_subagents(sid, str(project))) == 3
    reports = [
        e
        for e in transcript(config_dir, sid)
        if e["type"] == "user" and str(e["message"]["content"]).startswith("<task-notification>")
    ]
    assert len(reports) == 3
    assert sum(1 for e in reports if e.get("turnOrigin") == "task_notification") == len(results) - 1


async def test_background_children_without_persistence(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "match": {"last_user_contains": "in background"},
                "tool_use": _delegate("SUB-BG", background=True),
            },
            {"match": {"last_user_contains": "Async agent launched"}, "text": "parent goes on"},
            _child("SUB-BG", "bg finding", delay_s=0.2),
            {"match": {"last_user_contains": "task-notification"}, "text": "noted"},
        ]
    )
    opts = options(agents=AGENTS, persist_session=False)
    msgs = [m async for m in query(prompt="in background", options=opts)]
    assert [m.result for m in msgs if isinstance(m, ResultMessage)] == ["parent goes on", "noted"]
    assert not (config_dir / "projects").exists() or not list(
        (config_dir / "projects").rglob("*.json*")
    )


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
