"""``ClaudeSDKClient`` side by side: each method on the official SDK (bundled CLI against the
fake server) and on threadline, compared by outcome, return shape and message stream."""

from __future__ import annotations

from typing import Any

import anyio
import claude_agent_sdk as official
import pytest

import threadline

from .conftest import Duo, child_requests, delegate

pytestmark = [pytest.mark.oracle, pytest.mark.anyio]

SDKS = (official, threadline)


def _options(duo: Duo, sdk: Any, **kw: Any) -> Any:
    return duo.official(**kw) if sdk is official else duo.ours(**kw)


def _shape(messages: list[Any]) -> list[tuple[str, str | None]]:
    return [(type(m).__name__, getattr(m, "subtype", None)) for m in messages]


async def _until(condition: Any, seconds: float = 60.0) -> None:
    """Poll ``condition`` (state of another process: no event to wait on)."""
    with anyio.fail_after(seconds):
        for _ in iter(int, 1):
            if condition():
                return
            await anyio.sleep(0.05)


def _main_requests(duo: Duo) -> list[dict[str, Any]]:
    """Model requests of the conversation (the CLI's side requests have no tools)."""
    return [r for r in duo.fake.message_requests() if r.get("tools")]


@pytest.mark.parametrize("sdk", SDKS, ids=["official", "threadline"])
async def test_query_starts_the_turn_without_a_receiver(duo: Duo, sdk: Any) -> None:
    duo.script([{"text": "started"}])
    async with sdk.ClaudeSDKClient(_options(duo, sdk)) as client:
        await client.query("go")
        await _until(lambda: len(_main_requests(duo)) == 1)
        messages = [m async for m in client.receive_response()]
    assert messages[-1].result == "started"


async def test_break_and_receive_again(duo: Duo) -> None:
    shapes = []
    for sdk in SDKS:
        duo.script([{"text": "first"}, {"text": "second"}])
        async with sdk.ClaudeSDKClient(_options(duo, sdk)) as client:
            await client.query("one")
            head = []
            async for m in client.receive_response():
                head.append(m)
                break
            rest = [m async for m in client.receive_response()]
            await client.query("two")
            async for m in client.receive_messages():
                if isinstance(m, sdk.AssistantMessage):
                    break
            tail = [m async for m in client.receive_response()]
        assert rest[-1].result == "first", sdk.__name__
        assert tail[-1].result == "second", sdk.__name__
        shapes.append((_shape(head + rest), _shape(tail)))
    assert shapes[0] == shapes[1]


async def test_interrupt(duo: Duo) -> None:
    seen = []
    for sdk in SDKS:
        duo.script(
            [
                {"text": "slow " * 200, "delay_between_events_s": 0.2},
                {"text": "after"},
            ]
        )
        base = len(_main_requests(duo))
        async with sdk.ClaudeSDKClient(_options(duo, sdk)) as client:
            await client.query("slow one")
            await _until(lambda base=base: len(_main_requests(duo)) == base + 1)
            await anyio.sleep(0.5)
            await client.interrupt()
            first = [m async for m in client.receive_response()]
            await client.query("next")
            second = [m async for m in client.receive_response()]
        interrupted = [m for m in first if isinstance(m, sdk.UserMessage)]
        assert interrupted, (sdk.__name__, _shape(first))
        blocks = interrupted[-1].content
        text = blocks if isinstance(blocks, str) else blocks[0].text
        assert text == "[Request interrupted by user]"
        result = first[-1]
        assert (result.subtype, result.is_error, result.terminal_reason, result.result) == (
            "error_during_execution",
            True,
            "aborted_streaming",
            None,
        ), sdk.__name__
        assert result.num_turns == 2
        assert result.errors[0].startswith("[ede_diagnostic] result_type=user")
        assert second[-1].result == "after"
        seen.append([s for s in _shape(first) if s[0] != "StreamEvent"])
    assert seen[0] == seen[1]


async def test_set_permission_mode(duo: Duo) -> None:
    write = {"tool_use": {"name": "Write", "input": {"file_path": "", "content": "x"}}}
    for sdk in SDKS:
        target = duo.project / f"planned-{sdk.__name__}.txt"
        write["tool_use"]["input"]["file_path"] = str(target)
        duo.script([write, {"text": "done"}])
        opts = _options(duo, sdk, permission_mode="acceptEdits")
        async with sdk.ClaudeSDKClient(opts) as client:
            with pytest.raises(Exception, match=r"^Cannot set permission mode: must be one of "):
                await client.set_permission_mode("bogus")
            assert await client.set_permission_mode("plan") is None
            await client.query("write it")
            messages = [m async for m in client.receive_response()]
            info = await client.get_server_info()
        assert not target.exists(), sdk.__name__
        assert [d["tool_name"] for d in messages[-1].permission_denials] == ["Write"]
        # the official answers the initialize result of connect(); threadline the live mode
        assert info["current_permission_mode"] == (
            "acceptEdits" if sdk is official else "plan"
        )


async def test_set_model(duo: Duo) -> None:
    for sdk in SDKS:
        duo.script([{"text": "a", "repeat": True}])
        async with sdk.ClaudeSDKClient(_options(duo, sdk)) as client:
            assert await client.set_model("claude-sonnet-4-5") is None
            await client.query("one")
            [m async for m in client.receive_response()]
            after_set = _main_requests(duo)[-1]["model"]
            await client.set_model(None)
            await client.query("two")
            [m async for m in client.receive_response()]
            after_reset = _main_requests(duo)[-1]["model"]
        assert (after_set, after_reset) == ("claude-sonnet-4-5", "claude-opus-5-5"), sdk.__name__


def _calc(sdk: Any) -> Any:
    @sdk.tool("add", "Add two numbers", {"a": int, "b": int})
    async def add(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": f"sum={args['a'] + args['b']}"}]}

    return sdk.create_sdk_mcp_server("calc", tools=[add])


async def test_toggle_and_reconnect_mcp_server(duo: Duo) -> None:
    for sdk in SDKS:
        duo.script([{"text": "a", "repeat": True}])
        opts = _options(duo, sdk, mcp_servers={"calc": _calc(sdk)})
        async with sdk.ClaudeSDKClient(opts) as client:
            for call in (
                client.toggle_mcp_server("nope", False),
                client.reconnect_mcp_server("nope"),
            ):
                with pytest.raises(Exception, match=r"^Server not found: nope$"):
                    await call
            assert await client.toggle_mcp_server("calc", False) is None
            off = (await client.get_mcp_status())["mcpServers"][0]
            await client.query("one")
            [m async for m in client.receive_response()]
            tools_off = {t["name"] for t in _main_requests(duo)[-1]["tools"]}
            await client.toggle_mcp_server("calc", True)
            on = (await client.get_mcp_status())["mcpServers"][0]
            await client.query("two")
            [m async for m in client.receive_response()]
            tools_on = {t["name"] for t in _main_requests(duo)[-1]["tools"]}
        assert (off["name"], off["status"]) == ("calc", "disabled"), sdk.__name__
        assert (on["status"], [t["name"] for t in on["tools"]]) == ("connected", ["add"])
        if sdk is threadline:  # the CLI defers MCP tools behind ToolSearch
            assert "mcp__calc__add" not in tools_off and "mcp__calc__add" in tools_on


async def test_stop_task_unknown_id_is_no_error(duo: Duo) -> None:
    for sdk in SDKS:
        async with sdk.ClaudeSDKClient(_options(duo, sdk)) as client:
            assert await client.stop_task("no-such-task") is None


def _kinds(value: dict[str, Any], keys: set[str]) -> dict[str, str]:
    kind = {int: "number", float: "number", bool: "bool"}
    return {k: kind.get(type(value[k]), type(value[k]).__name__) for k in sorted(keys)}


async def test_get_context_usage_and_server_info(duo: Duo) -> None:
    usage, info = {}, {}
    for sdk in SDKS:
        duo.script([{"text": "a"}])
        opts = _options(duo, sdk, mcp_servers={"calc": _calc(sdk)})
        async with sdk.ClaudeSDKClient(opts) as client:
            await client.query("one")
            [m async for m in client.receive_response()]
            usage[sdk] = await client.get_context_usage()
            info[sdk] = await client.get_server_info()
    required = set(official.ContextUsageResponse.__required_keys__)
    assert required <= set(usage[official]) and required <= set(usage[threadline])
    assert _kinds(usage[official], required) == _kinds(usage[threadline], required)
    for u in usage.values():
        assert u["totalTokens"] > 0 and 0 < u["percentage"] < 100
        assert u["model"] == "claude-opus-5-5"
        assert [t["name"] for t in u["mcpTools"]] == ["mcp__calc__add"]
        names = {c["name"] for c in u["categories"]}
        assert {"System tools", "Messages", "Free space"} <= names
    ours = set(info[threadline]) - {"session_id", "model", "tools"}
    assert ours <= set(info[official]), ours - set(info[official])
    assert _kinds(info[official], ours) == _kinds(info[threadline], ours)
    for i in info.values():
        assert i["current_permission_mode"] == "default"
        assert i["output_style"] == "default"
        assert "default" in i["available_output_styles"]
        assert any(m["resolvedModel"] == "claude-opus-5-5" for m in i["models"])


async def test_background_subagent_task_messages(duo: Duo) -> None:
    """A background subagent: a TaskStartedMessage in the launching turn, then (in the turn its
    report starts) a TaskNotificationMessage; SubagentStart and SubagentStop fire."""
    seen = {}
    for sdk in SDKS:
        agents = {
            "researcher": sdk.AgentDefinition(
                description="Finds things out", prompt="You are RESEARCHER.", tools=["Read"]
            )
        }
        delegate = {
            "name": "Agent",
            "input": {
                "description": "look it up",
                "prompt": "SUBTASK-BG",
                "subagent_type": "researcher",
                "run_in_background": True,
            },
        }
        duo.script(
            [
                {"match": {"last_user_contains": "in background"}, "tool_use": delegate},
                {"match": {"system_contains": "RESEARCHER"}, "text": "bg finding", "delay_s": 0.5},
                {"match": {"last_user_contains": "task-notification"}, "text": "noted"},
                {"match": {"last_user_contains": "Async agent launched"}, "text": "goes on"},
            ]
        )
        fired: list[str] = []

        def record(event: str) -> Any:
            async def callback(hook_input: Any, tool_use_id: Any, context: Any) -> Any:
                fired.append(event)  # noqa: B023
                return {}

            return callback

        hooks = {e: [sdk.HookMatcher(hooks=[record(e)])] for e in ("SubagentStart", "SubagentStop")}
        opts = _options(duo, sdk, agents=agents, hooks=hooks, allowed_tools=["Agent", "Read"])
        async with sdk.ClaudeSDKClient(opts) as client:
            await client.query("in background")
            first = [m async for m in client.receive_response()]
            second = [m async for m in client.receive_response()]
        started = [m for m in first if isinstance(m, sdk.TaskStartedMessage)]
        notes = [m for m in second if isinstance(m, sdk.TaskNotificationMessage)]
        assert len(started) == 1 and isinstance(started[0], sdk.SystemMessage), sdk.__name__
        assert len(notes) == 1, (sdk.__name__, [type(m).__name__ for m in second])
        assert notes[0].task_id == started[0].task_id
        assert notes[0].status == "completed"
        assert notes[0].tool_use_id == started[0].tool_use_id
        assert first[-1].result == "goes on" and second[-1].result == "noted"
        assert sorted(set(fired)) == ["SubagentStart", "SubagentStop"]
        seen[sdk] = (started[0].task_type, notes[0].summary)
    assert seen[official][0] == seen[threadline][0] == "local_agent"


async def test_stop_task_reports_killed(duo: Duo) -> None:
    """stop_task on a running background subagent: a TaskUpdatedMessage with status killed."""
    for sdk in SDKS:
        agents = {
            "researcher": sdk.AgentDefinition(
                description="Finds things out", prompt="You are RESEARCHER.", tools=["Read"]
            )
        }
        delegate = {
            "name": "Agent",
            "input": {
                "description": "slow lookup",
                "prompt": "SUBTASK-SLOW",
                "subagent_type": "researcher",
                "run_in_background": True,
            },
        }
        duo.script(
            [
                {"match": {"last_user_contains": "in background"}, "tool_use": delegate},
                {
                    "match": {"system_contains": "RESEARCHER"},
                    "text": "slow finding " * 50,
                    "delay_between_events_s": 0.3,
                },
                {"match": {"last_user_contains": "Async agent launched"}, "text": "goes on"},
                {"text": "other", "repeat": True},
            ]
        )
        opts = _options(duo, sdk, agents=agents, allowed_tools=["Agent", "Read"])
        async with sdk.ClaudeSDKClient(opts) as client:
            await client.query("in background")
            first = [m async for m in client.receive_response()]
            [started] = [m for m in first if isinstance(m, sdk.TaskStartedMessage)]
            assert await client.stop_task(started.task_id) is None
            updated = None
            with anyio.fail_after(60):
                async for m in client.receive_messages():
                    if isinstance(m, sdk.TaskUpdatedMessage) and m.task_id == started.task_id:
                        updated = m
                        if m.status in sdk.TERMINAL_TASK_STATUSES:
                            break
        assert updated is not None and updated.status == "killed", sdk.__name__
        assert isinstance(updated, sdk.SystemMessage) and updated.patch["status"] == "killed"


@pytest.mark.parametrize(
    ("model", "env"),
    [
        ("haiku", {}),
        ("sonnet", {}),
        ("opus", {}),
        ("opusplan", {}),
        ("sonnet[1m]", {}),
        ("best", {}),
        ("haiku", {"ANTHROPIC_DEFAULT_HAIKU_MODEL": "claude-my-haiku"}),
        ("claude-sonnet-4-5", {}),
    ],
)
async def test_model_aliases(duo: Duo, model: str, env: dict[str, str]) -> None:
    """``model="sonnet"`` and the other aliases are sent as the CLI resolves them, with the
    ``ANTHROPIC_DEFAULT_*_MODEL`` overrides; a model id is sent as given."""
    sent = {}
    for sdk in SDKS:
        duo.script([{"text": "ok", "repeat": True}])
        duo.fake.clear_requests()
        [m async for m in sdk.query(prompt="hi", options=_options(duo, sdk, model=model, env=env))]
        sent[sdk] = {r["model"] for r in duo.fake.message_requests()}
    assert sent[threadline] == sent[official]
    assert model.startswith("claude-") or model not in sent[threadline]


async def test_subagent_and_set_model_aliases(duo: Duo) -> None:
    """An agent definition's ``model="haiku"`` and ``set_model("sonnet")`` resolve too."""
    sent = {}
    for sdk in SDKS:
        agents = delegate(duo, sdk, model="haiku")
        opts = _options(duo, sdk, agents=agents, allowed_tools=["Agent"])
        async with sdk.ClaudeSDKClient(opts) as client:
            await client.query("delegate")
            [m async for m in client.receive_response()]
            await client.set_model("sonnet")
            await client.query("again")
            [m async for m in client.receive_response()]
        models = [r["model"] for r in duo.fake.message_requests()]
        sub = [r["model"] for r in child_requests(duo)]
        sent[sdk] = (sub, models[-1])
    assert sent[threadline] == sent[official] == (["claude-haiku-5-5"], "claude-sonnet-5-5")


@pytest.mark.parametrize(
    ("fields", "made", "effort"),
    [
        ({"effort": "high"}, False, "high"),
        ({"effort": 5000}, False, None),
        ({"permissionMode": "acceptEdits"}, True, "low"),
        ({"permissionMode": "bypassPermissions"}, False, "low"),
        ({"permissionMode": "plan"}, False, "low"),
    ],
)
async def test_agent_definition_effort_and_permission_mode(
    duo: Duo, fields: dict[str, Any], made: bool, effort: str | None
) -> None:
    """An agent definition's ``effort`` (a level; a number sends none, not the parent's) and
    ``permissionMode`` (``acceptEdits`` lets its Bash write in the project; no escalation
    to ``bypassPermissions``) hold for the subagent, as in the CLI."""
    for sdk in SDKS:
        target = duo.project / f"made-{sdk.__name__}"
        touch = {"name": "Bash", "input": {"command": f"touch {target}"}}
        agents = delegate(duo, sdk, [{"tool_use": touch}, {"text": "sub done"}], **fields)
        opts = _options(duo, sdk, agents=agents, allowed_tools=["Agent"], effort="low")
        [m async for m in sdk.query(prompt="delegate", options=opts)]
        assert target.exists() is made, sdk.__name__
        sent = (child_requests(duo)[0].get("output_config") or {}).get("effort")
        assert sent == effort, sdk.__name__


async def test_agent_definition_skills_are_preloaded(duo: Duo) -> None:
    """``AgentDefinition.skills``: each skill is in the subagent's first message after its
    task, as the CLI preloads it (same blocks, byte for byte)."""
    for name in ("alpha", "beta"):
        folder = duo.project / ".claude" / "skills" / name
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: Skill {name}\n---\n{name.upper()}-BODY do it\n"
        )
    first = {}
    for sdk in SDKS:
        agents = delegate(duo, sdk, task="SUBTASK", skills=["alpha", "beta"])
        opts = _options(
            duo, sdk, agents=agents, allowed_tools=["Agent"], setting_sources=["project"]
        )
        [m async for m in sdk.query(prompt="delegate", options=opts)]
        blocks = child_requests(duo)[0]["messages"][0]["content"]
        start = next(i for i, b in enumerate(blocks) if b.get("text", "").startswith("SUBTASK"))
        first[sdk] = [b["text"] for b in blocks[start : start + 5]]
    assert first[threadline] == first[official]
    assert "BETA-BODY" in first[threadline][-1]


@pytest.mark.parametrize("how", ["inline", "named"])
async def test_agent_definition_mcp_servers(duo: Duo, how: str) -> None:
    """``AgentDefinition.mcpServers``: an inline config is started for the subagent and its
    call works; a name refers to the parent's server, whose tools stay outside a ``tools``
    list that does not name them (both SDKs answer the same error)."""
    import sys
    from pathlib import Path

    server = {
        "command": sys.executable,
        "args": [str(Path(__file__).parent.parent / "tools" / "mcp_env_server.py")],
        "env": {"TL_X": "seen"},
    }
    results = {}
    for sdk in SDKS:
        refs: list[Any] = [{"inl": server}] if how == "inline" else ["env"]
        tool = "mcp__inl__getenv" if how == "inline" else "mcp__env__getenv"
        call = {"tool_use": {"name": tool, "input": {"names": "TL_X"}}}
        agents = delegate(duo, sdk, [call, {"text": "sub done"}], tools=["Read"], mcpServers=refs)
        parent = {} if how == "inline" else {"mcp_servers": {"env": server}}
        opts = _options(
            duo, sdk, agents=agents, allowed_tools=["Agent", tool], **parent
        )
        [m async for m in sdk.query(prompt="delegate", options=opts)]
        last = child_requests(duo)[-1]["messages"][-1]["content"]
        [result] = [b for b in last if b.get("type") == "tool_result"]
        results[sdk] = str(result["content"])
    if how == "inline":
        assert "TL_X=seen" in results[official]
        assert "TL_X=seen" in results[threadline]
    else:
        assert results[threadline] == results[official]
        assert "No such tool available" in results[threadline]


@pytest.mark.parametrize("scope", ["project", "local", "user"])
async def test_agent_definition_memory(duo: Duo, scope: str) -> None:
    """``AgentDefinition.memory``: the subagent's system prompt names the same memory folder
    as the CLI's (created) and ends its memory section with the folder's ``MEMORY.md``."""
    import json as _json

    folders = {
        "project": duo.project / ".claude" / "agent-memory" / "r",
        "local": duo.project / ".claude" / "agent-memory-local" / "r",
        "user": duo.config_dir / "agent-memory" / "r",
    }
    folder = folders[scope]
    seen = {}
    for sdk in SDKS:
        if folder.exists():
            import shutil

            shutil.rmtree(folder)
        agents = delegate(duo, sdk, memory=scope)
        env = {"CLAUDE_CONFIG_DIR": str(duo.config_dir)} if sdk is threadline else {}
        opts = _options(duo, sdk, agents=agents, allowed_tools=["Agent"], env=env)
        # MEMORY.md written once the folder exists on this side's run
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "MEMORY.md").write_text("MEM-LINE-1 remember this\n- [note](note.md)\n")
        [m async for m in sdk.query(prompt="delegate", options=opts)]
        text = _json.dumps(child_requests(duo)[0]["system"])
        seen[sdk] = (
            f"{folder}/" in _json.loads(_json.dumps(text)),
            "## MEMORY.md\\n\\nMEM-LINE-1 remember this\\n- [note](note.md)" in text,
            "# Persistent Agent Memory" in text,
        )
    assert seen[threadline] == seen[official] == (True, True, True)
