"""Settings files on threadline alone: merging, trust, env, directories, modes, command
hooks, ``CLAUDE.md`` records (the side-by-side cases are in ``tests/parity``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline import UserError
from threadline.runtime._memory import load_memory, render_instructions
from threadline.runtime._settings import load_settings
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import collect, options, transcript

pytestmark = pytest.mark.anyio


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def _results(fake: FakeAnthropicServer) -> list[dict[str, Any]]:
    body = fake.message_requests()[-1]
    return [
        b
        for m in body["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]


def test_files_merge_in_precedence_order(project: Path, config_dir: Path) -> None:
    _write(config_dir / "settings.json", {"model": "user-model", "permissions": {"deny": ["A"]}})
    _write(
        project / ".claude/settings.json",
        {"model": "project-model", "permissions": {"deny": ["B"]}},
    )
    _write(project / ".claude/settings.local.json", {"permissions": {"deny": ["A", "C"]}})
    loaded = load_settings(
        cwd=project,
        setting_sources=None,
        settings='{"env": {"X": "1"}}',
        config_dir=str(config_dir),
    )
    assert loaded.model == "project-model"
    assert loaded.deny == ["A", "B", "C"]
    assert loaded.env == {"X": "1"}
    assert loaded.sources == ("user", "project", "local")
    only_user = load_settings(cwd=project, setting_sources=["user"], config_dir=str(config_dir))
    assert only_user.deny == ["A"] and only_user.model == "user-model"
    none = load_settings(cwd=project, setting_sources=[], config_dir=str(config_dir))
    assert none.data == {} and not none.memory
    # the official SDK's rule: skills set, sources unset -> user and project
    assert load_settings(
        cwd=project, setting_sources=None, skills="all", config_dir=str(config_dir)
    ).sources == ("user", "project")


def test_bad_values_raise_or_warn(project: Path, config_dir: Path) -> None:
    with pytest.raises(UserError, match="unknown source 'team'"):
        load_settings(cwd=project, setting_sources=["team"], config_dir=str(config_dir))
    with pytest.raises(UserError, match="not valid JSON"):
        load_settings(cwd=project, setting_sources=[], settings="{nope}", config_dir=None)
    with pytest.raises(UserError, match="cannot read the settings file"):
        load_settings(cwd=project, setting_sources=[], settings="missing.json")
    _write(project / ".claude/settings.json", "{broken")
    with pytest.warns(UserWarning, match="not valid JSON"):
        loaded = load_settings(cwd=project, setting_sources=None, config_dir=str(config_dir))
    assert loaded.data == {}


def test_settings_path_is_relative_to_cwd(project: Path) -> None:
    _write(project / "conf/s.json", {"permissions": {"ask": ["Bash"]}})
    loaded = load_settings(cwd=project, setting_sources=[], settings="conf/s.json")
    assert loaded.ask == ["Bash"]


def test_memory_imports_depth_cycles_and_confinement(tmp_path: Path, project: Path) -> None:
    _write(project / "CLAUDE.md", "top @a.md @a.md @/etc/hostname @~/h.md\n")
    for i, name in enumerate("abcdef"):
        nxt = "abcdefg"[i + 1]
        _write(project / f"{name}.md", f"{name.upper()} @{nxt}.md @CLAUDE.md\n")
    _write(tmp_path / "home/h.md", "home import\n")
    (project / "link.md").symlink_to(tmp_path / "home/h.md")
    _write(project / ".claude/CLAUDE.md", "see @link.md\n")
    files = load_memory(project, ["project"], config_dir=tmp_path / "cfg", home=tmp_path / "home")
    names = [Path(f.path).name for f in files]
    # depth 0..4: CLAUDE.md, a, b, c, d; each file once; nothing outside cwd (the symlink
    # resolves outside it too)
    assert names == ["CLAUDE.md", "a.md", "b.md", "c.md", "d.md", "CLAUDE.md"]
    text = render_instructions(files)
    assert "home import" not in text and "E @f.md" not in text


def _bash_script(command: str) -> list[dict[str, Any]]:
    return [{"tool_use": {"name": "Bash", "input": {"command": command}}}, {"text": "done"}]


async def test_env_and_local_allow_reach_bash(fake: FakeAnthropicServer, project: Path) -> None:
    _write(
        project / ".claude/settings.local.json", {"permissions": {"allow": ["Bash(printenv:*)"]}}
    )
    _write(project / ".claude/settings.json", {"env": {"FROM_SETTINGS": "yes-it-is"}})
    fake.script(_bash_script("printenv FROM_SETTINGS"))
    await collect("go", options(cwd=str(project), env={"FROM_SETTINGS": "overridden"}))
    [result] = _results(fake)
    assert not result.get("is_error") and "yes-it-is" in json.dumps(result)


async def test_default_mode_and_additional_directories(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    _write(
        config_dir / "settings.json",
        {"permissions": {"defaultMode": "acceptEdits", "additionalDirectories": [str(extra)]}},
    )
    target = extra / "new.txt"
    fake.script(
        [
            {"tool_use": {"name": "Write", "input": {"file_path": str(target), "content": "x"}}},
            {"text": "ok"},
        ]
    )
    msgs = await collect("go", options(cwd=str(project)))
    assert target.read_text() == "x"
    init = msgs[0]
    assert init.data["permissionMode"] == "acceptEdits"
    # the option wins over defaultMode
    target.unlink()
    fake.script(
        [
            {"tool_use": {"name": "Write", "input": {"file_path": str(target), "content": "x"}}},
            {"text": "ok"},
        ]
    )
    await collect("go", options(cwd=str(project), permission_mode="default"))
    assert not target.exists()


def _hook_settings(
    project: Path,
    event: str,
    command: str,
    matcher: str | None = "Bash",
    timeout: int | None = None,
) -> None:
    spec: dict[str, Any] = {"type": "command", "command": command}
    if timeout is not None:
        spec["timeout"] = timeout
    group: dict[str, Any] = {"hooks": [spec]}
    if matcher is not None:
        group["matcher"] = matcher
    _write(project / ".claude/settings.json", {"hooks": {event: [group]}})


async def test_command_hook_exit_2_blocks_with_stderr(
    fake: FakeAnthropicServer, project: Path
) -> None:
    log = project / "hook-input.json"
    _hook_settings(project, "PreToolUse", f"cat > {log}; echo 'no rm here' >&2; exit 2")
    fake.script(_bash_script("echo hi"))
    await collect("go", options(cwd=str(project), permission_mode="bypassPermissions"))
    [result] = _results(fake)
    assert result.get("is_error") and "no rm here" in json.dumps(result)
    sent = json.loads(log.read_text())
    assert sent["hook_event_name"] == "PreToolUse" and sent["tool_name"] == "Bash"
    assert sent["tool_input"] == {"command": "echo hi"} and sent["cwd"] == str(project)


async def test_command_hook_json_output_and_matcher(
    fake: FakeAnthropicServer, project: Path
) -> None:
    out = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": "json says no",
        }
    }
    _hook_settings(project, "PreToolUse", f"echo '{json.dumps(out)}'", matcher="Write|Bash")
    fake.script(_bash_script("echo hi"))
    await collect("go", options(cwd=str(project), permission_mode="bypassPermissions"))
    [result] = _results(fake)
    assert result.get("is_error") and "json says no" in json.dumps(result)
    # a matcher for another tool does not run
    _hook_settings(project, "PreToolUse", "exit 2", matcher="Write")
    fake.script(_bash_script("echo ran-fine"))
    await collect("go", options(cwd=str(project), permission_mode="bypassPermissions"))
    [result] = _results(fake)
    assert not result.get("is_error") and "ran-fine" in json.dumps(result)


async def test_command_hook_failure_and_timeout_do_not_block(
    fake: FakeAnthropicServer, project: Path
) -> None:
    _hook_settings(project, "PreToolUse", "sleep 30; exit 2", timeout=1)
    fake.script(_bash_script("echo after-timeout"))
    await collect("go", options(cwd=str(project), permission_mode="bypassPermissions"))
    [result] = _results(fake)
    assert "after-timeout" in json.dumps(result)
    _hook_settings(project, "PreToolUse", "exit 1")
    fake.script(_bash_script("echo after-failure"))
    await collect("go", options(cwd=str(project), permission_mode="bypassPermissions"))
    assert "after-failure" in json.dumps(_results(fake))


async def test_prompt_hook_stdout_is_context(fake: FakeAnthropicServer, project: Path) -> None:
    _hook_settings(project, "UserPromptSubmit", "echo 'context from hook'", matcher=None)
    fake.script([{"text": "ok"}])
    await collect("go", options(cwd=str(project)))
    assert "context from hook" in json.dumps(fake.message_requests()[0]["messages"])


async def test_no_sources_no_hooks(fake: FakeAnthropicServer, project: Path) -> None:
    """``setting_sources=[]``: a cloned repository's settings run nothing."""
    _hook_settings(project, "PreToolUse", f"touch {project}/pwned")
    _write(project / "CLAUDE.md", "follow me")
    fake.script(_bash_script("echo hi"))
    await collect(
        "go", options(cwd=str(project), setting_sources=[], permission_mode="bypassPermissions")
    )
    assert not (project / "pwned").exists()
    assert "follow me" not in json.dumps(fake.message_requests()[0])


async def test_instructions_recorded_and_resent_once(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    _write(project / "CLAUDE.md", "version one")
    fake.script([{"text": "a"}, {"text": "b"}, {"text": "c"}])
    msgs = await collect("first", options(cwd=str(project)))
    sid = msgs[-1].session_id
    entries = transcript(config_dir, sid)
    [att] = [e for e in entries if e["type"] == "attachment"]
    assert att["attachment"]["files"][0]["content"] == "version one"
    assert att["parentUuid"] == entries[0]["uuid"] and att["renderedRole"] == "user"
    _write(project / "CLAUDE.md", "version two")
    await collect("second", options(cwd=str(project), resume=sid))
    await collect("third", options(cwd=str(project), resume=sid))
    last = json.dumps(fake.message_requests()[-1]["messages"])
    assert last.count("version one") == 1 and last.count("version two") == 1
    assert last.count("Instruction files were re-read") == 1
    assert sys.platform != "win32"


async def test_project_agents_reach_the_agent_tool(
    fake: FakeAnthropicServer, project: Path
) -> None:
    _write(
        project / ".claude/agents/reviewer.md",
        "---\nname: reviewer\ndescription: Reviews code carefully\ntools: Read, Grep\nmodel: inherit\n---\nYou are REVIEWER-PROMPT.\n",
    )
    fake.script(
        [
            {
                "tool_use": {
                    "name": "Agent",
                    "input": {
                        "description": "review",
                        "prompt": "review it",
                        "subagent_type": "reviewer",
                        "run_in_background": False,
                    },
                },
                "match": {"system_contains": "Claude Agent SDK"},
            },
            {"text": "child done", "match": {"system_contains": "REVIEWER-PROMPT"}},
            {"text": "parent done"},
        ]
    )
    msgs = await collect("go", options(cwd=str(project), permission_mode="bypassPermissions"))
    assert "reviewer" in msgs[0].data["agents"]
    child = [b for b in fake.message_requests() if "REVIEWER-PROMPT" in json.dumps(b.get("system"))]
    assert child, "the subagent ran with the file's prompt"
    assert sorted(t["name"] for t in child[0]["tools"]) == ["Grep", "Read"]
    parent_tools = {t["name"]: t for t in fake.message_requests()[0]["tools"]}
    assert "reviewer" in parent_tools["Agent"]["description"]


async def test_skills_option_filters_the_skill_tool(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    _write(
        project / ".claude/skills/alpha/SKILL.md",
        "---\nname: alpha\ndescription: A skill\n---\nALPHA BODY\n",
    )
    _write(
        config_dir / "skills/beta/SKILL.md",
        "---\nname: beta\ndescription: B skill\n---\nBETA BODY\n",
    )
    fake.script([{"tool_use": {"name": "Skill", "input": {"skill": "beta"}}}, {"text": "ok"}])
    msgs = await collect("go", options(cwd=str(project), skills=["alpha"]))
    assert msgs[0].data["skills"] == ["alpha"]
    skill_tool = next(t for t in fake.message_requests()[0]["tools"] if t["name"] == "Skill")
    assert "alpha" in skill_tool["description"] and "beta" not in skill_tool["description"]
    [result] = _results(fake)
    assert result.get("is_error") and "Unknown skill: beta" in json.dumps(result)
    fake.script([{"tool_use": {"name": "Skill", "input": {"skill": "beta"}}}, {"text": "ok"}])
    msgs = await collect("go", options(cwd=str(project)))
    assert sorted(msgs[0].data["skills"]) == ["alpha", "beta"]
    assert "BETA BODY" in json.dumps(_results(fake))


def _plugin(root: Path) -> Path:
    _write(root / ".claude-plugin/plugin.json", {"name": "myplug", "version": "1.2.0"})
    _write(root / "commands/hello.md", "Hello from plugin $ARGUMENTS\n")
    _write(
        root / "agents/helper.md", "---\nname: helper\ndescription: plugin helper\n---\nYou help.\n"
    )
    _write(
        root / "skills/pskill/SKILL.md",
        "---\nname: pskill\ndescription: plugin skill\n---\nPSKILL\n",
    )
    _write(
        root / "hooks/hooks.json",
        {
            "hooks": {
                "UserPromptSubmit": [
                    {"hooks": [{"type": "command", "command": "echo root=${CLAUDE_PLUGIN_ROOT}"}]}
                ]
            }
        },
    )
    server = Path(__file__).parent.parent / "tools" / "mcp_echo_server.py"
    _write(
        root / ".mcp.json",
        {"mcpServers": {"psrv": {"command": sys.executable, "args": [str(server)]}}},
    )
    return root


async def test_local_plugin_brings_commands_agents_skills_hooks(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    plugin = _plugin(tmp_path / "plug")
    fake.script([{"text": "ok"}])
    opts = options(
        cwd=str(project), plugins=[{"type": "local", "path": str(plugin)}], strict_mcp_config=True
    )
    msgs = await collect("/myplug:hello world", opts)
    init = msgs[0].data
    assert "myplug:hello" in init["slash_commands"] and "myplug:pskill" in init["skills"]
    assert "myplug:helper" in init["agents"]
    assert init["plugins"] == [
        {
            "name": "myplug",
            "path": str(plugin.resolve()),
            "source": "myplug@inline",
            "version": "1.2.0",
        }
    ]
    sent = json.dumps(fake.message_requests()[0]["messages"])
    assert "Hello from plugin world" in sent and f"root={plugin.resolve()}" in sent
    fake.script(
        [
            {"tool_use": {"name": "mcp__plugin_myplug_psrv__echo", "input": {"text": "hi"}}},
            {"text": "ok"},
        ]
    )
    from threadline import AgentClient

    mcp_opts = options(
        cwd=str(project),
        plugins=[{"type": "local", "path": str(plugin)}],
        permission_mode="bypassPermissions",
    )
    async with AgentClient(mcp_opts) as client:  # a stdio server: the client owns it
        await client.query("go")
        msgs = [m async for m in client.receive_response()]
    assert {"name": "plugin:myplug:psrv", "status": "connected"}.items() <= msgs[0].data[
        "mcp_servers"
    ][0].items()
    assert "echo: hi" in json.dumps(_results(fake))
    with pytest.raises(UserError, match="only"):
        await collect(
            "x", options(cwd=str(project), plugins=[{"type": "marketplace", "name": "x"}])
        )


async def test_instructions_come_back_after_a_compaction(
    fake: FakeAnthropicServer, project: Path
) -> None:
    """As the CLI: the prompt after a compaction carries the full CLAUDE.md reminder again
    (the one before the boundary is summarised away), in front of the prompt."""
    from threadline import AgentClient

    _write(project / "CLAUDE.md", "MEMO FOR COMPACT")
    fake.script([{"text": "one"}, {"text": "<summary>sum</summary>"}, {"text": "two"}])
    async with AgentClient(options(cwd=str(project))) as client:
        await client.query("first")
        [m async for m in client.receive_response()]
        await client.compact()
        await client.query("after")
        [m async for m in client.receive_response()]
    last = fake.message_requests()[-1]["messages"]
    text = json.dumps(last)
    assert text.count("MEMO FOR COMPACT") == 1
    assert last[-1]["content"][0]["text"].startswith("<system-reminder>\nCodebase and user")
    assert last[-1]["content"][-1]["text"] == "after"


@pytest.mark.parametrize("bad", ["alpha", ["*"], ["/alpha"], [" alpha"], ["a,b"], [3]])
async def test_bad_skills_values_raise_at_connect(project: Path, bad: Any) -> None:
    with pytest.raises(UserError, match="skill"):
        await collect("x", options(cwd=str(project), skills=bad))


async def test_sandbox_from_settings(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    """``sandbox`` in settings turns the Bash sandbox on, as in the CLI (the option wins)."""
    outside = tmp_path / "outside.txt"
    _write(project / ".claude/settings.json", {"sandbox": {"enabled": True}})
    fake.script(_bash_script(f"echo pwned > {outside}"))
    await collect("go", options(cwd=str(project), permission_mode="bypassPermissions"))
    assert not outside.exists()
    fake.script(_bash_script(f"echo fine > {outside}"))
    await collect(
        "go",
        options(cwd=str(project), permission_mode="bypassPermissions", sandbox={"enabled": False}),
    )
    assert outside.read_text() == "fine\n"


@pytest.mark.parametrize("case", ["loaded", "strict", "disabled", "no-project-source"])
async def test_project_mcp_json_servers(
    fake: FakeAnthropicServer, project: Path, case: str
) -> None:
    """``<cwd>/.mcp.json`` servers start as the SDK's CLI starts them (project source,
    unless strict_mcp_config or disabledMcpjsonServers)."""
    from threadline import AgentClient

    server = Path(__file__).parent.parent / "tools" / "mcp_echo_server.py"
    _write(
        project / ".mcp.json",
        {"mcpServers": {"proj": {"command": sys.executable, "args": [str(server)]}}},
    )
    if case == "disabled":
        _write(project / ".claude/settings.local.json", {"disabledMcpjsonServers": ["proj"]})
    kw: dict[str, Any] = {"strict_mcp_config": True} if case == "strict" else {}
    if case == "no-project-source":
        kw["setting_sources"] = ["user", "local"]
    fake.script([{"text": "ok"}])
    async with AgentClient(options(cwd=str(project), **kw)) as client:
        await client.query("go")
        msgs = [m async for m in client.receive_response()]
    names = [s["name"] for s in msgs[0].data["mcp_servers"]]
    tools = [t["name"] for t in fake.message_requests()[0]["tools"]]
    assert (names == ["proj"]) == (case == "loaded")
    assert ("mcp__proj__echo" in tools) == (case == "loaded")
