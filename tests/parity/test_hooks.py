"""Hooks side by side: which events fire, with which input keys, and what each official hook
output does, on the official SDK (bundled CLI against the fake server) and on threadline."""

from __future__ import annotations

from collections import Counter
from typing import Any

import claude_agent_sdk as official
import pytest

import threadline

from .conftest import Duo, delegate

pytestmark = [pytest.mark.oracle, pytest.mark.anyio]

SDKS = (official, threadline)
EVENTS = (
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "UserPromptSubmit",
    "Stop",
    "SubagentStop",
    "SubagentStart",
    "PreCompact",
    "Notification",
    "PermissionRequest",
)


def _options(duo: Duo, sdk: Any, **kw: Any) -> Any:
    return duo.official(**kw) if sdk is official else duo.ours(**kw)


async def _run(sdk: Any, options: Any, prompt: str = "go") -> list[Any]:
    return [m async for m in sdk.query(prompt=prompt, options=options)]


def _recorder(calls: list[tuple[str, Any, dict[str, Any]]], event: str, output: Any = None) -> Any:
    async def callback(hook_input: Any, tool_use_id: Any, context: Any) -> Any:
        calls.append((event, tool_use_id, dict(hook_input)))
        return output or {}

    return callback


async def test_events_and_input_keys(duo: Duo) -> None:
    """One reply with a Bash call that needs permission (can_use_tool allows it) and a Read
    that fails: the same events fire with the same input keys."""
    fired: dict[Any, list[tuple[str, Any, dict[str, Any]]]] = {}
    for sdk in SDKS:
        missing = duo.project / "missing.txt"
        duo.script(
            [
                {
                    "tool_use": [
                        {"name": "Bash", "input": {"command": f"touch made-{sdk.__name__}"}},
                        {"name": "Read", "input": {"file_path": str(missing)}},
                    ]
                },
                {"text": "done"},
            ]
        )
        calls: list[tuple[str, Any, dict[str, Any]]] = []
        hooks = {e: [sdk.HookMatcher(hooks=[_recorder(calls, e)])] for e in EVENTS}

        async def allow(*_: Any) -> Any:
            return sdk.PermissionResultAllow()  # noqa: B023

        await _run(sdk, _options(duo, sdk, hooks=hooks, can_use_tool=allow, effort="medium"))
        fired[sdk] = calls

    def events(calls: list[tuple[str, Any, dict[str, Any]]]) -> Counter[tuple[str, Any]]:
        return Counter((e, i.get("tool_name")) for e, _, i in calls)

    assert events(fired[official]) == events(fired[threadline])
    assert events(fired[threadline]) == Counter(
        {
            ("UserPromptSubmit", None): 1,
            ("PreToolUse", "Bash"): 1,
            ("PermissionRequest", "Bash"): 1,
            ("PostToolUse", "Bash"): 1,
            ("PreToolUse", "Read"): 1,
            ("PostToolUseFailure", "Read"): 1,
            ("Stop", None): 1,
        }
    )
    keys = {
        sdk: {(e, i.get("tool_name")): sorted(i) for e, _, i in calls}
        for sdk, calls in fired.items()
    }
    assert keys[official] == keys[threadline]
    for calls in fired.values():
        assert all(isinstance(tool_use_id, str) for _, tool_use_id, _ in calls)
        prompt_ids = {i["prompt_id"] for _, _, i in calls}
        assert len(prompt_ids) == 1
        failure = next(i for e, _, i in calls if e == "PostToolUseFailure")
        assert failure["is_interrupt"] is False and failure["error"]
        stop = next(i for e, _, i in calls if e == "Stop")
        assert stop["background_tasks"] == [] and stop["session_crons"] == []
        assert stop["effort"] == {"level": "medium"}


def _bash_turn(duo: Duo, command: str = "echo hello") -> None:
    duo.script([{"tool_use": {"name": "Bash", "input": {"command": command}}}, {"text": "done"}])


def _last_tool_result(duo: Duo) -> dict[str, Any]:
    for message in reversed(duo.fake.message_requests()[-1]["messages"]):
        content = message.get("content")
        if message["role"] == "user" and isinstance(content, list):
            for block in content:
                if block.get("type") == "tool_result":
                    return dict(block)
    raise AssertionError("no tool result sent")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content)


async def test_defer(duo: Duo) -> None:
    out = {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "defer"}}
    for sdk in SDKS:
        _bash_turn(duo)
        calls: list[Any] = []
        hooks = {"PreToolUse": [sdk.HookMatcher(hooks=[_recorder(calls, "PreToolUse", out)])]}
        msgs = await _run(sdk, _options(duo, sdk, hooks=hooks, allowed_tools=["Bash"]))
        result = msgs[-1]
        assert [type(m).__name__ for m in msgs] == [
            "SystemMessage",
            "AssistantMessage",
            "ResultMessage",
        ], sdk.__name__
        assert (result.subtype, result.is_error, result.terminal_reason, result.stop_reason) == (
            "success",
            False,
            "tool_deferred",
            "tool_deferred",
        )
        deferred = result.deferred_tool_use
        assert type(deferred).__name__ == "DeferredToolUse"
        assert (deferred.name, deferred.input) == ("Bash", {"command": "echo hello"})
        assert result.num_turns == 1


@pytest.mark.parametrize(
    ("event", "command", "expected"),
    [
        ("PreToolUse", "echo hello", "hello"),
        ("PostToolUse", "echo hello", "hello"),
        ("PostToolUseFailure", "exit 3", "Exit code 3"),
    ],
)
async def test_additional_context_reaches_the_model(
    duo: Duo, event: str, command: str, expected: str
) -> None:
    out = {"hookSpecificOutput": {"hookEventName": event, "additionalContext": "CTX-1"}}
    for sdk in SDKS:
        _bash_turn(duo, command)
        hooks = {event: [sdk.HookMatcher(hooks=[_recorder([], event, out)])]}
        msgs = await _run(sdk, _options(duo, sdk, hooks=hooks, allowed_tools=["Bash"]))
        assert msgs[-1].result == "done"
        sent = duo.fake.message_requests()[-1]["messages"]
        texts = [_text(m["content"]) for m in sent] + [
            _text(b.get("content", "")) for m in sent if isinstance(m["content"], list)
            for b in m["content"] if b.get("type") == "tool_result"
        ]  # fmt: skip
        wording = f"{event}:Bash hook additional context: CTX-1"
        assert any(wording in t for t in texts), (sdk.__name__, sent[-2:])
        result = _last_tool_result(duo)
        assert _text(result["content"]).startswith(expected)


async def test_updated_tool_output(duo: Duo) -> None:
    replaced = {"stdout": "REPLACED", "stderr": "", "interrupted": False, "isImage": False}
    out = {"hookSpecificOutput": {"hookEventName": "PostToolUse", "updatedToolOutput": replaced}}
    for sdk in SDKS:
        _bash_turn(duo)
        hooks = {"PostToolUse": [sdk.HookMatcher(hooks=[_recorder([], "PostToolUse", out)])]}
        msgs = await _run(sdk, _options(duo, sdk, hooks=hooks, allowed_tools=["Bash"]))
        [user] = [m for m in msgs if isinstance(m, sdk.UserMessage)]
        assert user.content[0].content == "REPLACED", sdk.__name__
        assert user.content[0].is_error is False
        assert user.tool_use_result["stdout"] == "REPLACED"
        assert _last_tool_result(duo)["content"] == "REPLACED"


async def test_updated_mcp_tool_output(duo: Duo) -> None:
    out = {
        "hookSpecificOutput": {
            "hookEventName": "PostToolUse",
            "updatedMCPToolOutput": [{"type": "text", "text": "MCP-REPLACED"}],
        }
    }
    for sdk in SDKS:

        @sdk.tool("add", "Add two numbers", {"a": int, "b": int})
        async def add(args: dict[str, Any]) -> dict[str, Any]:
            return {"content": [{"type": "text", "text": f"sum={args['a'] + args['b']}"}]}

        server = sdk.create_sdk_mcp_server("calc", tools=[add])
        duo.script(
            [{"tool_use": {"name": "mcp__calc__add", "input": {"a": 2, "b": 3}}}, {"text": "ok"}]
        )
        hooks = {"PostToolUse": [sdk.HookMatcher(hooks=[_recorder([], "PostToolUse", out)])]}
        opts = _options(
            duo, sdk, hooks=hooks, mcp_servers={"calc": server}, allowed_tools=["mcp__calc"]
        )
        await _run(sdk, opts)
        assert "MCP-REPLACED" in _text(_last_tool_result(duo)["content"]), sdk.__name__


async def test_system_message_and_suppress_output(duo: Duo) -> None:
    out = {"systemMessage": "HEADS-UP", "suppressOutput": True}
    for sdk in SDKS:
        _bash_turn(duo)
        hooks = {"PreToolUse": [sdk.HookMatcher(hooks=[_recorder([], "PreToolUse", out)])]}
        msgs = await _run(sdk, _options(duo, sdk, hooks=hooks, allowed_tools=["Bash"]))
        shape = [(type(m).__name__, getattr(m, "subtype", None)) for m in msgs]
        assert shape == [
            ("SystemMessage", "init"),
            ("AssistantMessage", None),
            ("SystemMessage", "informational"),
            ("UserMessage", None),
            ("AssistantMessage", None),
            ("ResultMessage", "success"),
        ], sdk.__name__
        data = msgs[2].data
        assert (data["content"], data["level"]) == ("PreToolUse:Bash says: HEADS-UP", "notice")
        assert _last_tool_result(duo)["content"] == "hello"


async def test_async_output_decides_nothing(duo: Duo) -> None:
    out = {
        "async_": True,
        "asyncTimeout": 1000,
        "hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny"},
    }
    for sdk in SDKS:
        _bash_turn(duo)
        hooks = {"PreToolUse": [sdk.HookMatcher(hooks=[_recorder([], "PreToolUse", out)])]}
        msgs = await _run(sdk, _options(duo, sdk, hooks=hooks, allowed_tools=["Bash"]))
        assert msgs[-1].permission_denials == [], sdk.__name__
        assert _last_tool_result(duo)["content"] == "hello"


@pytest.mark.parametrize("behavior", ["allow", "deny"])
async def test_permission_request_decides(duo: Duo, behavior: str) -> None:
    decision: dict[str, Any] = (
        {"behavior": "allow", "updatedInput": {"command": "echo FROM-HOOK"}}
        if behavior == "allow"
        else {"behavior": "deny", "message": "NO-BY-HOOK"}
    )
    out = {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": decision}}
    for sdk in SDKS:
        target = duo.project / f"never-{sdk.__name__}"
        _bash_turn(duo, f"touch {target}")
        calls: list[Any] = []
        hooks = {
            "PermissionRequest": [
                sdk.HookMatcher(hooks=[_recorder(calls, "PermissionRequest", out)])
            ]
        }
        msgs = await _run(sdk, _options(duo, sdk, hooks=hooks))
        assert len(calls) == 1, sdk.__name__
        assert not target.exists()
        result = _last_tool_result(duo)
        if behavior == "allow":
            assert (result["content"], result["is_error"]) == ("FROM-HOOK", False)
        else:
            assert (result["content"], result["is_error"]) == ("NO-BY-HOOK", True)
            [notice] = [m for m in msgs if getattr(m, "subtype", None) == "permission_denied"]
            assert notice.data["decision_reason_type"] == "hook"
            assert [d["tool_name"] for d in msgs[-1].permission_denials] == ["Bash"]


async def test_next_prompt_after_a_deferred_call(duo: Duo) -> None:
    """The conversation goes on: the deferred call gets the CLI's 'result missing' error
    result (it never runs, PreToolUse is not asked again), merged with the next prompt."""
    sent = {}
    for sdk in SDKS:
        calls: list[Any] = []
        answers = iter(
            [{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "defer"}}]
        )

        async def pre(hook_input: Any, tool_use_id: Any, context: Any) -> Any:
            calls.append(hook_input["tool_input"])  # noqa: B023
            return next(answers, {})  # noqa: B023

        target = duo.project / f"deferred-{sdk.__name__}"
        duo.script(
            [
                {"tool_use": {"name": "Bash", "input": {"command": f"touch {target}"}}},
                {"text": "after"},
            ]
        )
        hooks = {"PreToolUse": [sdk.HookMatcher(hooks=[pre])]}
        async with sdk.ClaudeSDKClient(
            _options(duo, sdk, hooks=hooks, allowed_tools=["Bash"])
        ) as c:
            await c.query("go")
            first = [m async for m in c.receive_response()]
            await c.query("next")
            second = [m async for m in c.receive_response()]
        assert first[-1].terminal_reason == "tool_deferred", sdk.__name__
        assert second[-1].result == "after" and not second[-1].is_error
        assert len(calls) == 1 and not target.exists()
        last_user = duo.fake.message_requests()[-1]["messages"][-1]
        sent[sdk] = [
            (b["type"], b.get("content") if b["type"] == "tool_result" else b.get("text"))
            for b in last_user["content"]
        ]
    assert (
        sent[official]
        == sent[threadline]
        == [
            ("tool_result", "[Tool result missing due to internal error]"),
            ("text", "next"),
        ]
    )


async def test_include_hook_events_for_command_hooks(duo: Duo) -> None:
    """With include_hook_events the CLI streams hook_started / hook_response for command
    hooks of the settings (SDK callbacks report none), between the call and its result."""
    import json

    settings = {
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "echo '{}'"}]}
            ]
        }
    }
    seen = {}
    for sdk in SDKS:
        _bash_turn(duo)
        callbacks: list[Any] = []
        hooks = {"PostToolUse": [sdk.HookMatcher(hooks=[_recorder(callbacks, "PostToolUse")])]}
        opts = _options(
            duo,
            sdk,
            settings=json.dumps(settings),
            include_hook_events=True,
            allowed_tools=["Bash"],
            hooks=hooks,
        )
        msgs = await _run(sdk, opts)
        seen[sdk] = [(type(m).__name__, getattr(m, "subtype", None)) for m in msgs]
        events = [m for m in msgs if isinstance(m, sdk.HookEventMessage)]
        assert [e.hook_event_name for e in events] == ["PreToolUse", "PreToolUse"], sdk.__name__
        response = events[1].data
        assert (response["hook_name"], response["exit_code"], response["outcome"]) == (
            "PreToolUse:Bash",
            0,
            "success",
        )
        assert response["stdout"] == "{}\n" and response["hook_id"] == events[0].data["hook_id"]
        assert len(callbacks) == 1
    assert seen[official] == seen[threadline]


async def test_subagent_start_context_reaches_the_subagent(duo: Duo) -> None:
    """SubagentStart's additionalContext is in the subagent's first request, in the CLI's
    wording, on both SDKs (the CLI sends it in a system-role message; threadline as a text
    block after the task), and not in the parent's requests."""
    wording = "SubagentStart hook additional context: SUBCTX-1"
    out = {"hookSpecificOutput": {"hookEventName": "SubagentStart", "additionalContext": "SUBCTX-1"}}
    for sdk in SDKS:
        agents = delegate(duo, sdk, task="SUBTASK-FG", tools=["Read"])
        before = len(duo.fake.message_requests())
        hooks = {"SubagentStart": [sdk.HookMatcher(hooks=[_recorder([], "SubagentStart", out)])]}
        opts = _options(duo, sdk, agents=agents, hooks=hooks, allowed_tools=["Agent", "Read"])
        msgs = await _run(sdk, opts, "delegate")
        assert msgs[-1].result == "done", sdk.__name__
        requests = duo.fake.message_requests()[before:]
        child = [r for r in requests if "RESEARCHER" in str(r.get("system"))]
        parent = [r for r in requests if "RESEARCHER" not in str(r.get("system"))]
        assert child and parent, sdk.__name__
        assert any(wording in _text(m["content"]) for m in child[0]["messages"]), sdk.__name__
        assert "SUBTASK-FG" in _text(child[0]["messages"][0]["content"])
        assert all("SUBCTX-1" not in str(r["messages"]) for r in parent), sdk.__name__


@pytest.mark.parametrize(
    ("answer", "made"),
    [
        ('{"ok": false, "reason": "NOPE-REASON"}', False),
        ('{"ok": true, "reason": "fine"}', True),
        ("not json", True),
    ],
)
async def test_settings_prompt_hook(duo: Duo, answer: str, made: bool) -> None:
    """A settings ``prompt`` hook asks the model with ``$ARGUMENTS`` replaced by the event's
    JSON: ``ok: false`` blocks the call (the CLI's tool result) and stops the turn; ``ok:
    true`` and an unusable answer let it run."""
    import json as _json

    settings = {
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "prompt", "prompt": "Safe? $ARGUMENTS"}]}
            ]
        }
    }
    runs = {}
    for sdk in SDKS:
        target = duo.project / f"made-{sdk.__name__}"
        duo.script(
            [
                {"match": {"last_user_contains": "Safe?"}, "text": answer, "repeat": True},
                {"match": {"last_user_contains": "go"}, "tool_use": {"name": "Bash", "input": {"command": f"touch {target}"}}},
                {"text": "done", "repeat": True},
            ]
        )  # fmt: skip
        duo.fake.clear_requests()
        opts = _options(
            duo, sdk, settings=_json.dumps(settings), permission_mode="bypassPermissions"
        )
        msgs = await _run(sdk, opts)
        assert target.exists() is made, sdk.__name__
        [asked] = [r for r in duo.fake.message_requests() if "Safe?" in str(r["messages"])]
        text = asked["messages"][-1]["content"][0]["text"]
        event = _json.loads(text.removeprefix("Safe? "))
        assert event["tool_input"] == {"command": f"touch {target}"}
        schema = asked["output_config"]["format"]["schema"]
        users = [m for m in msgs if type(m).__name__ == "UserMessage"]
        result = msgs[-1]
        runs[sdk] = (
            [(b.content, b.is_error) for u in users for b in u.content],
            result.terminal_reason,
            result.stop_reason,
            result.result,
            sorted(schema["properties"]),
        )
    their, mine = runs[official], runs[threadline]
    assert mine[0] and their[1:] == mine[1:], (their, mine)
    if not made:
        assert mine[0] == their[0]
        assert mine[0][0][0] == "PreToolUse:Bash hook error: [Safe? $ARGUMENTS]: NOPE-REASON"


@pytest.mark.parametrize("event", ["PreToolUse", "PostToolUse"])
async def test_continue_false_stops_the_turn(duo: Duo, event: str) -> None:
    """``continue: false`` from a tool hook: the call still runs, then the turn ends with
    ``terminal_reason="hook_stopped"`` and an empty result, as the CLI ends it."""
    seen = {}
    for sdk in SDKS:
        target = duo.project / f"made-{event}-{sdk.__name__}"
        duo.script(
            [
                {"tool_use": {"name": "Bash", "input": {"command": f"touch {target}"}}},
                {"text": "done", "repeat": True},
            ]
        )
        out = {"continue_": False, "stopReason": "HALT"}
        hooks = {event: [sdk.HookMatcher(hooks=[_recorder([], event, out)])]}
        opts = _options(duo, sdk, hooks=hooks, permission_mode="bypassPermissions")
        msgs = await _run(sdk, opts)
        assert target.exists(), sdk.__name__
        result = msgs[-1]
        seen[sdk] = (result.subtype, result.terminal_reason, result.stop_reason, result.result)
    assert seen[threadline] == seen[official] == ("success", "hook_stopped", "tool_use", "")
