"""The tools through a whole run: MCP failures reported (side by side with the official
SDK), unknown tool names warn, the sandbox and background shells inside the agent loop."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline import AgentClient, AgentOptions, ResultMessage, SystemMessage, UserMessage
from threadline.testing._claude_cli import cli_env
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.tools._sandbox import probe_bubblewrap

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).with_name("mcp_echo_server.py")


def _servers(dead_port: int) -> dict[str, Any]:
    return {
        "broken": {"command": "/nonexistent/server"},
        "deadhttp": {"type": "http", "url": f"http://127.0.0.1:{dead_port}/mcp"},
        "echo": {"command": sys.executable, "args": [str(SERVER)]},
    }


def _dead_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _threadline_run(options: AgentOptions, prompt: str) -> list[Any]:
    out: list[Any] = []
    async with AgentClient(options) as client:
        await client.query(prompt)
        async for message in client.receive_response():
            out.append(message)
        out.append(await client.get_mcp_status())
    return out


async def test_mcp_failure_reported_like_the_official(
    fake: FakeAnthropicServer, tmp_path: Path, project: Path
) -> None:
    fake.script([{"text": "threadline ok"}, {"text": "official ok"}])
    port = _dead_port()
    messages = await _threadline_run(
        AgentOptions(cwd=str(project), mcp_servers=_servers(port)), "hi"
    )
    init = next(m for m in messages if isinstance(m, SystemMessage) and m.subtype == "init")
    ours = init.data["mcp_servers"]
    assert ours == [
        {"name": "broken", "status": "failed", "source": "dynamic"},
        {"name": "deadhttp", "status": "failed", "source": "dynamic"},
        {"name": "echo", "status": "connected", "source": "dynamic"},
    ]
    our_tools = sorted(t for t in init.data["tools"] if t.startswith("mcp__"))
    assert our_tools == ["mcp__echo__add", "mcp__echo__echo", "mcp__echo__fail"]
    result = next(m for m in messages if isinstance(m, ResultMessage))
    assert not result.is_error and result.result == "threadline ok"  # the run went on
    status = messages[-1]["mcpServers"]
    assert [s["status"] for s in status] == ["failed", "failed", "connected"]
    assert status[0]["error"] and status[1]["error"]
    assert {t["name"] for t in status[2]["tools"]} == {"echo", "add", "fail"}

    # the official SDK on the same fake server, same configs
    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient

    dirs = {n: tmp_path / f"official-{n}" for n in ("config", "home", "tmp")}
    for d in dirs.values():
        d.mkdir()
    env = cli_env(server=fake, config_dir=dirs["config"], home=dirs["home"], tmpdir=dirs["tmp"])
    official: dict[str, Any] = {}
    async with ClaudeSDKClient(
        ClaudeAgentOptions(cwd=str(project), env=env, mcp_servers=_servers(port))
    ) as client:
        await client.query("hi")
        async for message in client.receive_response():
            if type(message).__name__ == "SystemMessage" and message.subtype == "init":
                official = message.data
        official_status = await client.get_mcp_status()
    assert official["mcp_servers"] == ours
    assert sorted(t for t in official["tools"] if t.startswith("mcp__")) == our_tools
    assert [s["status"] for s in official_status["mcpServers"]] == [
        s["status"] for s in status
    ]
    assert [s["transport"] for s in official_status["mcpServers"]] == [
        s["transport"] for s in status
    ]


async def test_unknown_tool_names_warn(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "ok"}])
    options = AgentOptions(
        cwd=str(project),
        tools=["Read", "Bash", "Frobnicate"],
        allowed_tools=["Bash(git status:*)", "Monitor", "mcp__nope__x"],
        disallowed_tools=["WebFetch", "KillShell"],
    )
    with pytest.warns(UserWarning) as caught:
        messages = await _threadline_run(options, "hi")
    texts = [str(w.message) for w in caught]
    assert any("'Frobnicate' is not a tool threadline knows" in t for t in texts)
    assert any("'Monitor' is a Claude Code tool that threadline does not provide" in t
               for t in texts)
    assert any("'mcp__nope__x'" in t and "not configured" in t for t in texts)
    assert len(texts) == 3  # Bash(...), WebFetch and the KillShell alias are fine
    init = next(m for m in messages if isinstance(m, SystemMessage) and m.subtype == "init")
    assert init.data["tools"] == ["Read", "Bash"]


async def test_default_tool_set(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "ok"}])
    messages = await _threadline_run(AgentOptions(cwd=str(project)), "hi")
    init = next(m for m in messages if isinstance(m, SystemMessage) and m.subtype == "init")
    assert init.data["tools"] == [
        "Read", "Write", "Edit", "Glob", "Grep", "Bash", "NotebookEdit", "WebFetch",
        "TaskCreate", "TaskGet", "TaskList", "TaskUpdate", "TaskStop",
    ]
    sent = [t["name"] for t in fake.message_requests()[-1]["tools"]]
    assert sent == init.data["tools"]


async def test_sandboxed_bash_in_a_run(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    if probe_bubblewrap() is not None:
        import os

        if os.environ.get("CI"):
            pytest.fail(f"bubblewrap must work in CI: {probe_bubblewrap()}", pytrace=False)
        pytest.skip(str(probe_bubblewrap()))
    outside = tmp_path / "escaped"
    fake.script(
        [
            {"tool_use": {"name": "Bash", "input": {"command": f"echo x > {outside}"}}},
            {"tool_use": {"name": "Bash", "input": {"command": "echo in > inside.txt"}}},
            {"text": "done"},
        ]
    )
    # default permission mode, no allowed_tools: sandboxed Bash is auto-allowed
    options = AgentOptions(cwd=str(project), sandbox={"enabled": True})
    messages = await _threadline_run(options, "go")
    results = [
        b for m in messages if isinstance(m, UserMessage) and isinstance(m.content, list)
        for b in m.content
    ]
    assert results[0].is_error and "Read-only file system" in str(results[0].content)
    assert not results[1].is_error
    assert not outside.exists()
    assert (project / "inside.txt").read_text() == "in\n"


async def test_sandbox_unavailable_raises_at_connect(
    fake: FakeAnthropicServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threadline.tools._sandbox as sandbox_module
    from threadline import UserError

    monkeypatch.setattr(sandbox_module, "probe_bubblewrap", lambda weaker=False: "no bwrap")
    with pytest.raises(UserError, match="install bubblewrap"):
        async with AgentClient(AgentOptions(cwd=str(project), sandbox={"enabled": True})):
            pass
    assert fake.message_requests() == []  # nothing was sent


async def test_background_shell_notifies_the_agent(
    fake: FakeAnthropicServer, project: Path
) -> None:
    fake.script(
        [
            {"tool_use": {"name": "Bash", "input": {
                "command": "echo hello; sleep 0.3", "run_in_background": True,
                "description": "greet"}}},
            {"text": "started"},
            {"text": "noted", "match": {"last_user_contains": "task-notification"}},
        ]
    )
    options = AgentOptions(cwd=str(project), allowed_tools=["Bash"])
    seen: list[Any] = []
    async with AgentClient(options) as client:
        await client.query("go")
        with anyio.fail_after(30):
            async for message in client.drain():
                seen.append(message)
    results = [m for m in seen if isinstance(m, ResultMessage)]
    assert [r.result for r in results] == ["started", "noted"]
    note = [m for m in seen if isinstance(m, SystemMessage) and m.subtype == "task_notification"]
    assert note and note[0].data["status"] == "completed"
    last = fake.message_requests()[-1]["messages"][-1]
    text = str(last["content"])
    assert "<status>completed</status>" in text and 'Background command "greet"' in text


async def test_claude_code_preset_prompt(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "ok"}])
    options = AgentOptions(
        cwd=str(project),
        system_prompt={"type": "preset", "preset": "claude_code", "append": "Be brief."},
    )
    await _threadline_run(options, "hi")
    system = fake.message_requests()[-1]["system"]
    text = "".join(b["text"] for b in system) if isinstance(system, list) else system
    assert text.startswith("You are a Claude agent, built on Anthropic's Claude Agent SDK")
    for part in ("# Doing tasks", "# Using the tools", "# Safety", "# Style",
                 f"- Working directory: {project}", "- Is a git repository: no"):
        assert part in text
    assert text.endswith("\n\nBe brief.")
    assert 3000 < len(text) < 8000


async def test_tool_names_in_init_like_the_official(
    fake: FakeAnthropicServer, tmp_path: Path, project: Path
) -> None:
    """The same ``tools`` list gives the same init ``tools`` and the same tools sent."""
    names = ["Bash", "Read", "Edit", "Glob", "NotebookEdit", "WebFetch", "WebSearch",
             "TaskCreate", "TaskGet", "TaskList", "TaskUpdate", "TaskStop", "Skill"]
    fake.script([{"text": "ok"}, {"text": "ok"}])
    messages = await _threadline_run(AgentOptions(cwd=str(project), tools=names), "hi")
    init = next(m for m in messages if isinstance(m, SystemMessage) and m.subtype == "init")
    ours_sent = {t["name"] for t in fake.message_requests()[-1]["tools"]}

    from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient

    dirs = {n: tmp_path / f"official-{n}" for n in ("config", "home", "tmp")}
    for d in dirs.values():
        d.mkdir()
    env = cli_env(server=fake, config_dir=dirs["config"], home=dirs["home"], tmpdir=dirs["tmp"])
    official: dict[str, Any] = {}
    async with ClaudeSDKClient(ClaudeAgentOptions(cwd=str(project), env=env, tools=names)) as c:
        await c.query("hi")
        async for message in c.receive_response():
            if type(message).__name__ == "SystemMessage" and message.subtype == "init":
                official = message.data
    assert sorted(init.data["tools"]) == sorted(official["tools"]) == sorted(names)
    # the CLI defers some of them behind ToolSearch; threadline sends them all up front
    official_sent = {t["name"] for t in fake.message_requests()[-1]["tools"]}
    assert ours_sent == set(names)
    assert official_sent - {"ToolSearch", "DeferredToolPlaceholder"} <= ours_sent


async def test_permissions_of_the_new_tools(fake: FakeAnthropicServer, project: Path) -> None:
    """Task tools need no permission (as in the CLI); WebFetch asks (denied without a
    can_use_tool); a sandboxed Bash is still denied in plan mode."""
    fake.script(
        [
            {"tool_use": [
                {"name": "TaskCreate", "input": {"subject": "s", "description": "d"}},
                {"name": "WebFetch", "input": {"url": "https://example.com", "prompt": "p"}},
            ]},
            {"text": "done"},
        ]
    )
    messages = await _threadline_run(AgentOptions(cwd=str(project)), "go")
    results = [
        b for m in messages if isinstance(m, UserMessage) and isinstance(m.content, list)
        for b in m.content
    ]
    assert not results[0].is_error and "Task #1 created" in str(results[0].content)
    assert results[1].is_error and "WebFetch" in str(results[1].content)
    result = next(m for m in messages if isinstance(m, ResultMessage))
    assert [d["tool_name"] for d in result.permission_denials] == ["WebFetch"]

    if probe_bubblewrap() is None:
        fake.script([{"tool_use": {"name": "Bash", "input": {"command": "touch x"}}},
                     {"text": "done"}])
        options = AgentOptions(cwd=str(project), sandbox={"enabled": True},
                               permission_mode="plan")
        messages = await _threadline_run(options, "go")
        results = [
            b for m in messages if isinstance(m, UserMessage) and isinstance(m.content, list)
            for b in m.content
        ]
        assert results[0].is_error and not (project / "x").exists()
