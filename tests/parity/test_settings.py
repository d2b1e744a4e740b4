"""Settings side by side: ``CLAUDE.md`` memory and settings files, official SDK and threadline.

Both run one program over one fake server, project and config dir (``duo``); the CLI's
git-attribution reminder is switched off in the user settings (as the resume-fidelity
oracle does), so the first user message holds only what the settings put there.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import claude_agent_sdk as official
import pytest

import threadline

from .conftest import Duo

pytestmark = [pytest.mark.oracle, pytest.mark.anyio]

NO_ATTRIBUTION = {"includeCoAuthoredBy": False, "attribution": {"commit": "", "pr": ""}}


async def _run(sdk: Any, prompt: str, options: Any) -> list[Any]:
    messages: list[Any] = []
    try:
        async for m in sdk.query(prompt=prompt, options=options):
            messages.append(m)
    except Exception:  # an error result: the requests are what is compared
        pass
    return messages


def _user_settings(duo: Duo, extra: dict[str, Any] | None = None) -> None:
    duo.config_dir.mkdir(parents=True, exist_ok=True)
    data = {**NO_ATTRIBUTION, **(extra or {})}
    (duo.config_dir / "settings.json").write_text(json.dumps(data))


def _memory_layout(duo: Duo) -> None:
    project = duo.project
    (duo.config_dir / "CLAUDE.md").write_text("USER MEMORY @user-extra.md\n")
    (duo.config_dir / "user-extra.md").write_text("user import\n")
    (project / "CLAUDE.md").write_text(
        "\n  Project rules.\nSee @docs/style.md and `@not-code.md`\n@../outside.md\n\n"
    )
    (project / "docs").mkdir()
    (project / "docs" / "style.md").write_text("STYLE @deeper.md\n")
    (project / "docs" / "deeper.md").write_text("DEEPER\n")
    (project / "not-code.md").write_text("never imported\n")
    (project.parent / "outside.md").write_text("outside the project: never imported\n")
    (project / ".claude").mkdir()
    (project / ".claude" / "CLAUDE.md").write_text("dot-claude memory\n")
    (project / ".claude" / "rules").mkdir()
    (project / ".claude" / "rules" / "always.md").write_text("RULE always\n")
    (project / ".claude" / "rules" / "py.md").write_text("---\npaths: '**/*.py'\n---\nPY RULE\n")
    (project / "CLAUDE.local.md").write_text("local memory\n")
    (project / "sub").mkdir()
    (project / "sub" / "CLAUDE.md").write_text("nested: loaded only on demand\n")


def _first_user(fake: Any) -> Any:
    """The first user message, without cache breakpoints (the CLI marks the ``role:
    "system"`` reminders it sends after it; threadline, which sends none, the prompt)."""
    message = fake.message_requests()[0]["messages"][0]
    content = message["content"]
    if isinstance(content, list):
        content = [{k: v for k, v in b.items() if k != "cache_control"} for b in content]
        if len(content) == 1 and set(content[0]) == {"type", "text"}:
            content = content[0]["text"]  # a breakpoint needs a block: same message
    return {**message, "content": content}


@pytest.mark.parametrize(
    "sources", [None, ["project"], ["user"], ["local"], ["user", "project", "local"], []]
)
async def test_claude_md_first_message_is_the_clis(duo: Duo, sources: list[str] | None) -> None:
    duo.config_dir.mkdir(parents=True, exist_ok=True)
    _memory_layout(duo)
    flag = json.dumps(NO_ATTRIBUTION)  # the --settings flag: read whatever the sources
    duo.script([{"text": "ok"}])
    duo.fake.clear_requests()
    await _run(official, "hello", duo.official(setting_sources=sources, settings=flag))
    theirs = _first_user(duo.fake)
    duo.script([{"text": "ok"}])
    duo.fake.clear_requests()
    await _run(threadline, "hello", duo.ours(setting_sources=sources, settings=flag))
    ours = _first_user(duo.fake)
    assert ours == theirs
    text = json.dumps(ours)
    assert ("Project rules." in text) == (sources is None or "project" in sources)
    assert ("USER MEMORY" in text) == (sources is None or "user" in sources)
    assert ("local memory" in text) == (sources is None or "local" in sources)
    assert "never imported" not in text and "PY RULE" not in text and "nested:" not in text


def _conversation(body: dict[str, Any]) -> list[Any]:
    """The messages without the CLI's ``role: "system"`` reminders and cache breakpoints."""
    out = []
    for message in body["messages"]:
        if message["role"] == "system":
            continue
        content = message["content"]
        if isinstance(content, list):
            content = [{k: v for k, v in b.items() if k != "cache_control"} for b in content]
            if len(content) == 1 and set(content[0]) == {"type", "text"}:
                content = content[0]["text"]
        out.append({"role": message["role"], "content": content})
    return out


@pytest.mark.parametrize("change", ["edit", "none"])
async def test_resumed_cli_session_sends_changed_instructions_as_the_cli(
    duo: Duo, tmp_path: Path, change: str
) -> None:
    """A CLI session that recorded CLAUDE.md, resumed after the files changed: both send the
    recorded copy in front of the first prompt and the CLI's "re-read" reminder before the
    new one (only what changed; an import no longer named is "no longer present")."""
    import shutil

    duo.config_dir.mkdir(parents=True, exist_ok=True)
    _memory_layout(duo)
    flag = json.dumps(NO_ATTRIBUTION)
    duo.script([{"text": "first reply"}])
    kw: dict[str, Any] = {"settings": flag, "setting_sources": ["project", "local"]}
    first = await _run(official, "first", duo.official(**kw))
    session_id = first[-1].session_id
    mine = tmp_path / "config-copy"
    shutil.copytree(duo.config_dir, mine)
    if change == "edit":
        (duo.project / "CLAUDE.md").write_text("Project rules, edited.\n")
        (duo.project / "CLAUDE.local.md").unlink()
    duo.script([{"text": "second reply"}])
    duo.fake.clear_requests()
    await _run(official, "second", duo.official(**kw, resume=session_id))
    theirs = _conversation(duo.fake.message_requests()[0])
    duo.script([{"text": "second reply"}])
    duo.fake.clear_requests()
    env = {"CLAUDE_CONFIG_DIR": str(mine)}
    await _run(threadline, "second", duo.ours(**kw, resume=session_id, env=env))
    ours = _conversation(duo.fake.message_requests()[0])
    assert ours == theirs
    assert ("Instruction files were re-read" in json.dumps(ours)) == (change == "edit")


def _tool_results(fake: Any) -> list[dict[str, Any]]:
    out = []
    for body in fake.message_requests()[-1:]:
        for message in body["messages"]:
            if message["role"] == "user" and isinstance(message["content"], list):
                out += [b for b in message["content"] if b.get("type") == "tool_result"]
    return out


@pytest.mark.parametrize("trusted", [False, True])
async def test_settings_permission_rules_decide_as_the_cli(duo: Duo, trusted: bool) -> None:
    """Project settings deny Write and allow ``Bash(touch:*)``, user settings allow Write:
    deny wins over allow across files (the tool is not even offered) and, as the CLI, the
    project's allow rule counts only once its folder is trusted (``.claude.json``)."""
    (duo.project / ".claude").mkdir()
    (duo.project / ".claude" / "settings.json").write_text(
        json.dumps({"permissions": {"deny": ["Write"], "allow": ["Bash(touch:*)"]}})
    )
    _user_settings(duo, {"permissions": {"allow": ["Write"]}})
    if trusted:
        state = {"projects": {str(duo.project): {"hasTrustDialogAccepted": True}}}
        (duo.config_dir / ".claude.json").write_text(json.dumps(state))
    outcomes = []
    for sdk, options in (
        (official, duo.official(tools=["Bash", "Write", "Read"])),
        (threadline, duo.ours(tools=["Bash", "Write", "Read"])),
    ):
        target, made = duo.project / "written.txt", duo.project / "made-by-bash"
        duo.script(
            [
                {
                    "tool_use": {
                        "name": "Write",
                        "input": {"file_path": str(target), "content": "x"},
                    }
                },
                {"tool_use": {"name": "Bash", "input": {"command": f"touch {made}"}}},
                {"text": "done"},
            ]
        )
        duo.fake.clear_requests()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await _run(sdk, "go", options)
        results = _tool_results(duo.fake)
        tools = [t["name"] for t in duo.fake.message_requests()[0]["tools"]]
        outcomes.append(
            (
                target.exists(),
                made.exists(),
                "Write" in tools,
                [bool(r.get("is_error")) for r in results],
                results[0]["content"],
            )
        )
        made.unlink(missing_ok=True)
        if sdk is threadline:
            ignored = [w for w in caught if "has not been trusted" in str(w.message)]
            assert len(ignored) == (0 if trusted else 1)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][:4] == (False, trusted, False, [True, not trusted])


def _claude_dir_layout(duo: Duo) -> None:
    claude = duo.project / ".claude"
    (claude / "commands" / "sub").mkdir(parents=True)
    (claude / "commands" / "greet.md").write_text(
        "---\ndescription: Greet people\nargument-hint: <names>\n---\n"
        "Say hello to $ARGUMENTS please. First: $0, second: $1, third: $2.\n"
    )
    (claude / "commands" / "plain.md").write_text("Plain command body.\n")
    (claude / "commands" / "sub" / "deep.md").write_text("Deep command body $ARGUMENTS\n")
    (duo.config_dir / "commands").mkdir(parents=True)
    (duo.config_dir / "commands" / "usercmd.md").write_text("User command body $ARGUMENTS\n")
    (claude / "skills" / "myskill").mkdir(parents=True)
    (claude / "skills" / "myskill" / "SKILL.md").write_text(
        "---\nname: myskill\ndescription: Does my skill thing\n---\nSkill body.\n"
    )
    (claude / "agents").mkdir()
    (claude / "agents" / "reviewer.md").write_text(
        "---\nname: reviewer\ndescription: Reviews code carefully\ntools: Read, Grep\n---\n"
        "You are a code reviewer.\n"
    )
    (duo.project / "CLAUDE.md").write_text("Memory next to commands.\n")


@pytest.mark.parametrize(
    "prompt",
    ["/greet Bob Alice", "/plain some args", "/sub:deep x y", "/usercmd", "/myskill an arg"],
)
async def test_slash_commands_expand_as_the_cli(duo: Duo, prompt: str) -> None:
    """A typed command of ``.claude/commands`` (or a skill) is sent as the CLI sends it:
    the ``<command-message>`` record, then the body with its arguments, the CLAUDE.md
    reminder in front of both; the init message names the commands, skills and agents."""
    duo.config_dir.mkdir(parents=True, exist_ok=True)
    _claude_dir_layout(duo)
    flag = json.dumps(NO_ATTRIBUTION)
    duo.script([{"text": "ok"}])
    duo.fake.clear_requests()
    their_msgs = await _run(official, prompt, duo.official(settings=flag))
    theirs = _first_user(duo.fake)
    duo.script([{"text": "ok"}])
    duo.fake.clear_requests()
    my_msgs = await _run(threadline, prompt, duo.ours(settings=flag))
    ours = _first_user(duo.fake)
    assert ours == theirs
    assert "<command-name>" in json.dumps(ours)
    their_init, my_init = their_msgs[0].data, my_msgs[0].data
    for key in ("slash_commands", "skills", "agents"):
        assert set(my_init[key]) <= set(their_init[key]), key
    assert {"greet", "plain", "sub:deep", "usercmd", "myskill"} <= set(my_init["slash_commands"])
    assert "reviewer" in my_init["agents"] and my_init["skills"] == ["myskill"]


async def test_verbatim_or_unknown_commands_stay_as_typed(duo: Duo) -> None:
    duo.config_dir.mkdir(parents=True, exist_ok=True)
    _claude_dir_layout(duo)
    duo.script([{"text": "ok"}])
    duo.fake.clear_requests()
    await _run(threadline, "/greet Bob", duo.ours(verbatim_prompts=True, setting_sources=[]))
    assert json.dumps(_first_user(duo.fake)).endswith('"content": "/greet Bob"}')


async def test_nested_claude_md_follows_a_read_as_in_the_cli(duo: Duo) -> None:
    """Reading a file in a subfolder brings in that folder's CLAUDE.md (and imports) and a
    deeper CLAUDE.local.md, once, after the tool result: the same last request in both."""
    duo.config_dir.mkdir(parents=True, exist_ok=True)
    project = duo.project
    (project / "CLAUDE.md").write_text("TOP MEMO\n")
    (project / "sub" / "deeper").mkdir(parents=True)
    (project / "sub" / "CLAUDE.md").write_text("SUB MEMO @subimp.md\n")
    (project / "sub" / "subimp.md").write_text("SUB IMPORT\n")
    (project / "sub" / "deeper" / "CLAUDE.local.md").write_text("DEEPER LOCAL\n")
    target = project / "sub" / "deeper" / "file.txt"
    target.write_text("file content\n")
    other = project / "sub" / "other.txt"
    other.write_text("other\n")
    read = {"name": "Read", "input": {"file_path": str(target)}}
    again = {"name": "Read", "input": {"file_path": str(other)}}
    script = [{"tool_use": read}, {"tool_use": again}, {"text": "done"}]
    flag = json.dumps(NO_ATTRIBUTION)
    sent = []
    for sdk, options in (
        (official, duo.official(settings=flag)),
        (threadline, duo.ours(settings=flag)),
    ):
        duo.script(script)
        duo.fake.clear_requests()
        await _run(sdk, "read it", options)
        sent.append(_conversation(duo.fake.message_requests()[-1]))
    ours, theirs = sent[1], sent[0]
    # tool_use ids differ per run, and Read numbers lines its own way: compare the rest
    for conv in (ours, theirs):
        for message in conv:
            for block in message["content"] if isinstance(message["content"], list) else []:
                block.pop("id", None)
                block.pop("tool_use_id", None)
                if block.get("type") == "tool_result":
                    block.pop("content", None)
    assert ours == theirs
    text = json.dumps(ours)
    assert text.count("SUB MEMO") == 1 and "DEEPER LOCAL" in text and "SUB IMPORT" in text


async def test_command_hooks_exit_2_read_as_in_the_cli(duo: Duo, tmp_path: Path) -> None:
    """Settings command hooks: PreToolUse exiting 2 blocks the call, Stop exiting 2 once
    makes the model go on; the model reads the same text in both."""
    marker = tmp_path / "stopped-once"
    hooks = {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [{"type": "command", "command": "echo 'bash is blocked' >&2; exit 2"}],
            }
        ],
        "Stop": [
            {
                "hooks": [
                    {
                        "type": "command",
                        "command": f"[ -e {marker} ] && exit 0; touch {marker}; "
                        "echo 'not yet' >&2; exit 2",
                    }
                ]
            }
        ],
    }
    (duo.project / ".claude").mkdir()
    (duo.project / ".claude" / "settings.json").write_text(json.dumps({"hooks": hooks}))
    script = [
        {"tool_use": {"name": "Bash", "input": {"command": "echo hi"}}},
        {"text": "first end"},
        {"text": "bye"},
    ]
    flag = json.dumps(NO_ATTRIBUTION)
    sent = []
    for sdk, options in (
        (official, duo.official(settings=flag, permission_mode="bypassPermissions")),
        (threadline, duo.ours(settings=flag, permission_mode="bypassPermissions")),
    ):
        marker.unlink(missing_ok=True)
        duo.script(script)
        duo.fake.clear_requests()
        await _run(sdk, "go", options)
        conversation = _conversation(duo.fake.message_requests()[-1])
        for message in conversation:
            for block in message["content"] if isinstance(message["content"], list) else []:
                block.pop("id", None)
                block.pop("tool_use_id", None)
        sent.append(conversation)
    assert sent[1] == sent[0]
    assert "PreToolUse:Bash hook error: [echo" in json.dumps(sent[1])
    assert "Stop hook feedback:\\n[" in json.dumps(sent[1])


async def test_subagent_gets_claude_md_as_in_the_cli(duo: Duo) -> None:
    """A ``.claude/agents`` subagent's first message carries the CLAUDE.md reminder too."""
    duo.config_dir.mkdir(parents=True, exist_ok=True)
    (duo.project / "CLAUDE.md").write_text("MEMO FOR ALL\n")
    agents = duo.project / ".claude" / "agents"
    agents.mkdir(parents=True)
    (agents / "reviewer.md").write_text(
        "---\nname: reviewer\ndescription: Reviews code\ntools: Read\n---\nYou are REVIEWER.\n"
    )
    call = {
        "description": "review",
        "prompt": "review it",
        "subagent_type": "reviewer",
        "run_in_background": False,
    }
    script = [
        {
            "tool_use": {"name": "Agent", "input": call},
            "match": {"system_contains": "Claude Agent SDK"},
        },
        {"text": "child done", "match": {"system_contains": "REVIEWER"}},
        {"text": "parent done"},
    ]
    flag = json.dumps(NO_ATTRIBUTION)
    firsts = []
    for sdk, options in (
        (official, duo.official(settings=flag, permission_mode="bypassPermissions")),
        (threadline, duo.ours(settings=flag, permission_mode="bypassPermissions")),
    ):
        duo.script(script)
        duo.fake.clear_requests()
        await _run(sdk, "go", options)
        child = [
            b for b in duo.fake.message_requests() if "REVIEWER" in json.dumps(b.get("system"))
        ]
        assert child
        firsts.append(_conversation(child[0])[0])
    assert firsts[1] == firsts[0]
    assert "MEMO FOR ALL" in json.dumps(firsts[1])


async def test_conditional_rule_follows_a_matching_read_as_in_the_cli(duo: Duo) -> None:
    """A ``.claude/rules`` file with ``paths:`` arrives once a matching file is read (its
    text after the front matter), and not before; a rule for other files never does."""
    duo.config_dir.mkdir(parents=True, exist_ok=True)
    rules = duo.project / ".claude" / "rules"
    rules.mkdir(parents=True)
    (rules / "py.md").write_text("---\npaths: src/**/*.py\n---\nPY RULE BODY\n")
    (rules / "md.md").write_text("---\npaths:\n  - '**/*.md'\n---\nMD RULE\n")
    (duo.project / "src").mkdir()
    (duo.project / "src" / "a.py").write_text("print(1)\n")
    read = {"name": "Read", "input": {"file_path": str(duo.project / "src" / "a.py")}}
    script = [{"tool_use": read}, {"text": "done"}]
    flag = json.dumps(NO_ATTRIBUTION)
    sent = []
    for sdk, options in (
        (official, duo.official(settings=flag)),
        (threadline, duo.ours(settings=flag)),
    ):
        duo.script(script)
        duo.fake.clear_requests()
        await _run(sdk, "go", options)
        conversation = _conversation(duo.fake.message_requests()[-1])
        for message in conversation:
            for block in message["content"] if isinstance(message["content"], list) else []:
                block.pop("id", None)
                block.pop("tool_use_id", None)
                if block.get("type") == "tool_result":
                    block.pop("content", None)
        sent.append(conversation)
    assert sent[1] == sent[0]
    text = json.dumps(sent[1])
    assert "PY RULE BODY" in text and "MD RULE" not in text


async def test_stdio_mcp_server_environment(duo: Duo, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stdio MCP server sees what the CLI gives it: the process environment, then
    ``env=``, then the settings' ``env``, then its own config's ``env`` (later wins)."""
    import sys

    server = Path(__file__).parent.parent / "tools" / "mcp_env_server.py"
    monkeypatch.setenv("TL_OS", "os")
    monkeypatch.setenv("TL_OVER", "os")
    names = "TL_OS,TL_OPT,TL_SET,TL_CFG,TL_OVER"
    flag = json.dumps({**NO_ATTRIBUTION, "env": {"TL_SET": "settings", "TL_OVER": "settings"}})
    servers = {
        "env": {"command": sys.executable, "args": [str(server)], "env": {"TL_CFG": "config"}}
    }
    seen = {}
    for sdk in (official, threadline):
        duo.script(
            [
                {"tool_use": {"name": "mcp__env__getenv", "input": {"names": names}}},
                {"text": "done"},
            ]
        )
        duo.fake.clear_requests()
        kw: dict[str, Any] = {
            "settings": flag,
            "mcp_servers": servers,
            "env": {"TL_OPT": "option", "TL_OVER": "option"},
            "allowed_tools": ["mcp__env__getenv"],
        }
        opts = duo.official(**kw) if sdk is official else duo.ours(**kw)
        messages = await _run(sdk, "go", opts)
        assert messages and messages[-1].result == "done", sdk.__name__
        last = duo.fake.message_requests()[-1]["messages"][-1]["content"]
        [result] = [b for b in last if b.get("type") == "tool_result"]
        content = result["content"]
        seen[sdk] = content if isinstance(content, str) else content[0]["text"]
    assert seen[threadline] == seen[official]
    expected = "TL_OS=os,TL_OPT=option,TL_SET=settings,TL_CFG=config,TL_OVER=settings"
    assert seen[threadline] == json.dumps({"result": expected}, separators=(",", ":"))


async def test_command_front_matter_model_and_allowed_tools(duo: Duo) -> None:
    """A command's ``model`` and ``allowed-tools`` hold for the turn it starts, as in the CLI:
    its requests use that model and its Bash call runs without asking; the next prompt is
    back on the session's model and the same call is denied."""
    commands = duo.project / ".claude" / "commands"
    commands.mkdir(parents=True)
    (commands / "fast.md").write_text(
        "---\nmodel: haiku\nallowed-tools: Bash(touch:*), Read\ndescription: fast\n---\n"
        "Run touch $ARGUMENTS\n"
    )
    duo.config_dir.mkdir(parents=True, exist_ok=True)
    flag = json.dumps(NO_ATTRIBUTION)
    seen = {}
    for sdk in (official, threadline):
        touch = {"tool_use": {"name": "Bash", "input": {"command": f"touch a-{sdk.__name__}"}}}
        duo.script([touch, {"text": "done"}])
        duo.fake.clear_requests()
        opts = duo.official(settings=flag) if sdk is official else duo.ours(settings=flag)
        async with sdk.ClaudeSDKClient(opts) as client:
            await client.query("/fast made")
            [m async for m in client.receive_response()]
            again = {"tool_use": {"name": "Bash", "input": {"command": f"touch b-{sdk.__name__}"}}}
            duo.script([again, {"text": "second"}])
            await client.query("plain")
            [m async for m in client.receive_response()]
        requests = duo.fake.message_requests()
        seen[sdk] = [r["model"] for r in requests]
        assert (duo.project / f"a-{sdk.__name__}").exists(), sdk.__name__
        assert not (duo.project / f"b-{sdk.__name__}").exists(), sdk.__name__
    assert seen[threadline] == seen[official]
    assert seen[threadline][:2] == ["claude-haiku-5-5"] * 2
    assert seen[threadline][2] != "claude-haiku-5-5"
