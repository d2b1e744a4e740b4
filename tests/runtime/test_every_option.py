"""Acceptance for issue 14: every field of the official ``ClaudeAgentOptions`` does something.

The walk takes the fields of the installed ``claude_agent_sdk.ClaudeAgentOptions`` and needs
a proof for each, in one of four kinds:

- ``Effect``: a run with the field set differs, observably, from the same run without it
  (the requests the fake server received, the messages, the files written, an exception);
- ``Refuses``: the values threadline can honour change nothing observable (they are what it
  does anyway) and any other value raises ``UserError`` at construction;
- ``MEANINGLESS``: the short list of fields that only configured the CLI subprocess
  (``docs/porting.md``, "No meaning in-process");
- ``PENDING``: fields another helper is delivering (named), allowed only until it lands.

A field added to the official dataclass fails :func:`test_every_official_field_has_a_proof`;
a field threadline stops reading fails its ``Effect`` proof.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import claude_agent_sdk
import pytest

from threadline import (
    AgentDefinition,
    HookMatcher,
    InMemorySessionStore,
    PermissionResultAllow,
    UserError,
)
from threadline._query import query
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.tools import create_sdk_mcp_server, tool

from ._helpers import options, transcript

pytestmark = pytest.mark.anyio

MEANINGLESS = {
    "cli_path": "the path of the CLI executable: threadline runs no CLI",
    "max_buffer_size": "the buffer for the CLI's stdout: there is no stdout to read",
    "debug_stderr": "deprecated officially, read by nothing; use stderr",
    "session_store_flush": "when mirrored entries reach the store: threadline appends "
    "every entry as it happens, which is 'eager' or stricter for both values",
}
PENDING: dict[str, str] = {}

TOUCH = [{"tool_use": {"name": "Bash", "input": {"command": "touch made.txt"}}}, {"text": "ok"}]
TEXT = [{"text": "ok"}]


@tool("add", "Adds", {"a": int, "b": int})
async def _add(args: dict[str, Any]) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": str(args["a"] + args["b"])}]}


@tool("approve", "Answers prompts", {"tool_name": str, "input": dict, "tool_use_id": str})
async def _approve(args: dict[str, Any]) -> dict[str, Any]:
    answer = {"behavior": "allow", "updatedInput": args["input"]}
    return {"content": [{"type": "text", "text": json.dumps(answer)}]}


async def _allow(name: str, input: dict[str, Any], ctx: Any) -> PermissionResultAllow:
    return PermissionResultAllow()


async def _context_hook(data: dict[str, Any], tool_use_id: Any, ctx: Any) -> dict[str, Any]:
    logging.getLogger("threadline.hooks").warning("hook ran")
    return {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": "X"}}


@dataclass
class Effect:
    """``changed`` against ``base`` (both option kwargs) on ``script``; ``prepare`` runs
    before both and may return extra kwargs for the changed run (paths, session ids)."""

    changed: dict[str, Any]
    script: list[dict[str, Any]] = field(default_factory=lambda: list(TEXT))
    base: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[Env], Awaitable[dict[str, Any]]] | None = None
    prompt: str = "go"


@dataclass
class Refuses:
    honoured: list[Any]
    refused: Any


@dataclass
class Env:
    fake: FakeAnthropicServer
    project: Path
    config_dir: Path


_IDS = re.compile(
    r"(toolu_|msg_|req_|call_)[0-9A-Za-z]+|\ba[0-9a-f]{16}\b|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
    r"[0-9a-f]{12}|\"(duration_ms|duration_api_ms|total_duration_ms|totalDurationMs|timestamp)"
    r"\": ?[0-9.\"TZ:-]+"
)


FIXED_ID = "6b1f3b0e-3f7c-4a55-9d1e-0a0a0a0a0a0a"
"""The session id the ``session_id`` proof asks for: kept, every other id is masked."""


def _norm(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return _IDS.sub(lambda m: m.group(0) if m.group(0) == FIXED_ID else "<id>", text)


async def _observe(
    env: Env, kw: dict[str, Any], script: list[dict[str, Any]], prompt: str = "go"
) -> str:
    env.fake.script([dict(e) for e in script])
    seen = len(env.fake.requests)
    before = {p.name for p in env.project.iterdir()}
    transcripts = set(env.config_dir.glob("projects/*/*.jsonl"))
    lines: list[str] = kw.pop("_lines", [])
    messages: list[Any] = []
    error = None
    try:
        async for m in query(prompt=prompt, options=options(**kw)):
            messages.append(
                {
                    k: v
                    for k, v in dataclasses.asdict(m).items()
                    if k not in ("duration_ms", "duration_api_ms", "total_cost_usd", "usage")
                    and k != "model_usage"
                }
            )
    except Exception as exc:
        error = f"{type(exc).__name__}"
    requests = [
        {
            "body": {k: v for k, v in r["body"].items() if k != "metadata"},
            "beta": r["headers"].get("anthropic-beta"),
            "app": r["headers"].get("x-client-app"),
        }
        for r in env.fake.requests[seen:]
        if r["path"] == "/v1/messages"
    ]
    files = sorted({p.name for p in env.project.iterdir()} - before)
    for name in files:  # the next observation starts from the same project
        (env.project / name).unlink()
    local = sorted(p.name for p in env.config_dir.glob("*") if p.is_dir())
    written = set(env.config_dir.glob("projects/*/*.jsonl")) - transcripts
    kinds = sorted(
        {json.loads(line).get("type", "") for f in written for line in f.read_text().splitlines()}
    )
    return _norm(
        {
            "requests": requests,
            "messages": messages,
            "error": error,
            "files": files,
            "config": local,
            "new_transcripts": len(written),
            "entry_types": kinds,
            "stderr": lines,
        }
    )


async def _session(env: Env, prompts: list[str] = ["one", "two"]) -> str:  # noqa: B006
    sid: str | None = None
    for prompt in prompts:
        env.fake.script([{"text": f"re {prompt}"}])
        msgs = [m async for m in query(prompt=prompt, options=options(resume=sid))]
        sid = msgs[-1].session_id
    assert sid is not None
    return sid


async def _resume(env: Env) -> dict[str, Any]:
    return {"resume": await _session(env)}


async def _fork(env: Env) -> dict[str, Any]:
    sid = await _session(env)
    return {"resume": sid, "_base": {"resume": sid}}


async def _at(env: Env) -> dict[str, Any]:
    sid = await _session(env)
    replies = [e for e in transcript(env.config_dir, sid) if e["type"] == "assistant"]
    return {"resume": sid, "resume_session_at": replies[0]["uuid"], "_base": {"resume": sid}}


async def _drops(env: Env) -> dict[str, Any]:
    sid = await _session(env, ["one", "two", "three"])
    entries = transcript(env.config_dir, sid)
    replies = [e for e in entries if e["type"] == "assistant"]
    users = [e for e in entries if e["type"] == "user"]
    at = {"resume": sid, "resume_session_at": replies[0]["uuid"]}
    return {**at, "resume_drops_turn": users[1]["uuid"], "_base": at}


class _SlowStore(InMemorySessionStore):
    slow = False

    async def load_since_compaction(self, key: Any) -> Any:
        if self.slow:
            import anyio

            await anyio.sleep(1)
        return await super().load_since_compaction(key)


async def _slow_store(env: Env) -> dict[str, Any]:
    store = _SlowStore()
    env.fake.script(TEXT)
    msgs = [m async for m in query(prompt="one", options=options(session_store=store))]
    store.slow = True
    common = {"session_store": store, "resume": msgs[-1].session_id}
    return {**common, "_base": common}


async def _outside(env: Env) -> dict[str, Any]:
    outside = env.project.parent / "outside"
    outside.mkdir(exist_ok=True)
    env.fake.script([])
    return {"add_dirs": [str(outside)], "_script_path": str(outside / "w.txt")}


async def _elsewhere(env: Env) -> dict[str, Any]:
    other = env.project.parent / "elsewhere"
    other.mkdir(exist_ok=True)
    return {"cwd": str(other)}


async def _stderr(env: Env) -> dict[str, Any]:
    lines: list[str] = []
    hooks = {"UserPromptSubmit": [HookMatcher(hooks=[_context_hook])]}
    return {"stderr": lines.append, "_lines": lines, "_base": {"hooks": hooks}, "hooks": hooks}


async def _sandboxed(env: Env) -> dict[str, Any]:
    return {"sandbox": {"enabled": True}, "_base": {"permission_mode": "bypassPermissions"}}


async def _memory(env: Env) -> dict[str, Any]:
    (env.project / "CLAUDE.md").write_text("Always answer in French.\n")
    return {}


async def _command(env: Env) -> dict[str, Any]:
    commands = env.project / ".claude" / "commands"
    commands.mkdir(parents=True, exist_ok=True)
    (commands / "hello.md").write_text("Say hello to $ARGUMENTS.\n")
    return {}


async def _skill(env: Env) -> dict[str, Any]:
    folder = env.project / ".claude" / "skills" / "greet"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text("---\nname: greet\ndescription: Greets.\n---\nSay hi.\n")
    return {}


async def _plugin(env: Env) -> dict[str, Any]:
    root = env.project / "plug"
    (root / ".claude-plugin").mkdir(parents=True, exist_ok=True)
    (root / ".claude-plugin" / "plugin.json").write_text(json.dumps({"name": "plug"}))
    (root / "commands").mkdir(exist_ok=True)
    (root / "commands" / "wave.md").write_text("Wave.\n")
    servers = {"mcpServers": {"srv": {"command": "false-threadline-no-such-command"}}}
    (root / ".mcp.json").write_text(json.dumps(servers))
    return {"plugins": [{"type": "local", "path": str(root)}]}


async def _plugin_strict(env: Env) -> dict[str, Any]:
    extra = await _plugin(env)
    return {**extra, "_base": dict(extra)}


OVERLOADED = {"error": {"status": 529, "type": "overloaded_error", "message": "Overloaded"}}

PROOFS: dict[str, Effect | Refuses] = {
    "tools": Effect({"tools": ["Read"]}),
    "allowed_tools": Effect({"allowed_tools": ["Bash"]}, TOUCH),
    "system_prompt": Effect({"system_prompt": "Be terse."}),
    "mcp_servers": Effect({"mcp_servers": {"calc": create_sdk_mcp_server("calc", tools=[_add])}}),
    "permission_mode": Effect({"permission_mode": "bypassPermissions"}, TOUCH),
    "continue_conversation": Effect({"continue_conversation": True}, prepare=_resume),
    "resume": Effect({}, prepare=_resume),
    "session_id": Effect({"session_id": FIXED_ID}),
    "max_turns": Effect({"max_turns": 1}, TOUCH, base={"allowed_tools": ["Bash"]}),
    "max_budget_usd": Effect({"max_budget_usd": 1e-7}),
    "disallowed_tools": Effect({"disallowed_tools": ["Bash"]}),
    "model": Effect({"model": "claude-sonnet-4-5"}),
    "fallback_model": Effect(
        {"fallback_model": "claude-sonnet-4-5"},
        [{**OVERLOADED, "match": {"model_contains": "opus"}, "repeat": True}, *TEXT],
    ),
    "betas": Effect({"betas": ["context-1m-2025-08-07"]}),
    "permission_prompt_tool_name": Effect(
        {"permission_prompt_tool_name": "mcp__perm__approve"},
        TOUCH,
        base={"mcp_servers": {"perm": create_sdk_mcp_server("perm", tools=[_approve])}},
    ),
    "cwd": Effect({}, prepare=_elsewhere),
    "add_dirs": Effect({}, base={"permission_mode": "acceptEdits"}, prepare=_outside),
    "env": Effect(
        {"env": {"PROBE": "value-from-env"}},
        [{"tool_use": {"name": "Bash", "input": {"command": "echo $PROBE"}}}, *TEXT],
        base={"allowed_tools": ["Bash"]},
    ),
    "extra_args": Effect({"extra_args": {"replay-user-messages": None}}),
    "stderr": Effect({}, prepare=_stderr),
    "can_use_tool": Effect({"can_use_tool": _allow}, TOUCH),
    "hooks": Effect(
        {"hooks": {"UserPromptSubmit": [HookMatcher(hooks=[_context_hook])]}},
    ),
    "user": Refuses(honoured=[getpass.getuser()], refused="nobody-threadline-test"),
    "include_partial_messages": Effect({"include_partial_messages": True}),
    "forward_subagent_text": Effect(
        {"forward_subagent_text": True},
        [
            {
                "tool_use": {
                    "name": "Agent",
                    "input": {"description": "d", "prompt": "p", "subagent_type": "w"},
                }
            },
            {"text": "child text"},
            *TEXT,
        ],
        base={"agents": {"w": AgentDefinition(description="w", prompt="You work.")}},
    ),
    "fork_session": Effect({"fork_session": True}, prepare=_fork),
    "resume_session_at": Effect({}, prepare=_at),
    "resume_drops_turn": Effect({}, prepare=_drops),
    "agents": Effect({"agents": {"w": AgentDefinition(description="w", prompt="p")}}),
    "sandbox": Effect(
        {},
        [{"tool_use": {"name": "Bash", "input": {"command": "touch /etc/tl-sbx || true"}}}],
        prepare=_sandboxed,
    ),
    "max_thinking_tokens": Effect({"max_thinking_tokens": 2048}),
    "thinking": Effect({"thinking": {"type": "enabled", "budget_tokens": 2048}}),
    "effort": Effect({"effort": "high"}),
    "output_format": Effect(
        {"output_format": {"type": "json_schema", "schema": {"type": "object"}}}
    ),
    "enable_file_checkpointing": Effect(
        {"enable_file_checkpointing": True},
        [{"tool_use": {"name": "Write", "input": {"file_path": "f.txt", "content": "x"}}}, *TEXT],
        base={"permission_mode": "acceptEdits"},
    ),
    "session_store": Effect({"session_store": InMemorySessionStore()}),
    "load_timeout_ms": Effect({"load_timeout_ms": 50}, prepare=_slow_store),
    "task_budget": Effect({"task_budget": {"total": 1000}}),
    "client_app": Effect({"client_app": "probe/1.0"}),
    "verbatim_prompts": Effect({"verbatim_prompts": True}, prepare=_command, prompt="/hello Ada"),
    "skills": Effect({"skills": []}, prepare=_skill),
    "plugins": Effect({}, prepare=_plugin),
    "strict_mcp_config": Effect({"strict_mcp_config": True}, prepare=_plugin_strict),
    "settings": Effect({"settings": json.dumps({"permissions": {"allow": ["Bash"]}})}, TOUCH),
    "include_hook_events": Effect(
        {"include_hook_events": True},
        TOUCH,
        base={
            "settings": json.dumps(
                {
                    "permissions": {"allow": ["Bash"]},
                    "hooks": {
                        "PreToolUse": [
                            {"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}
                        ]
                    },
                }
            )
        },
    ),
    "setting_sources": Effect(
        {"setting_sources": ["project"]}, base={"setting_sources": []}, prepare=_memory
    ),
}


def test_every_official_field_has_a_proof() -> None:
    official = {f.name for f in dataclasses.fields(claude_agent_sdk.ClaudeAgentOptions)}
    proven = set(PROOFS) | set(MEANINGLESS) | set(PENDING)
    assert official - proven == set(), "official fields without a proof"
    assert proven - official == set(), "proofs of fields the official SDK does not have"
    assert not set(PROOFS) & (set(MEANINGLESS) | set(PENDING))
    ours = {f.name for f in dataclasses.fields(AgentOptions)}
    assert official <= ours


def test_the_meaningless_fields_are_accepted_and_documented() -> None:
    AgentOptions(cli_path="/usr/bin/claude", max_buffer_size=1 << 20, debug_stderr=None)
    AgentOptions(session_store_flush="eager")
    porting = (Path(__file__).parents[2] / "docs" / "porting.md").read_text()
    for name in MEANINGLESS:
        assert f"`{name}`" in porting


@pytest.mark.parametrize("name", sorted(k for k, v in PROOFS.items() if isinstance(v, Refuses)))
def test_refused_values_raise(name: str) -> None:
    proof = PROOFS[name]
    assert isinstance(proof, Refuses)
    for value in proof.honoured:
        AgentOptions(**{name: value})
    with pytest.raises(UserError):
        AgentOptions(**{name: proof.refused})


@pytest.mark.parametrize("name", sorted(k for k, v in PROOFS.items() if isinstance(v, Effect)))
async def test_field_has_an_effect(
    name: str, fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    proof = PROOFS[name]
    assert isinstance(proof, Effect)
    env = Env(fake=fake, project=project, config_dir=config_dir)
    extra = await proof.prepare(env) if proof.prepare is not None else {}
    base = {**proof.base, **extra.pop("_base", {})}
    script = list(proof.script)
    if "_script_path" in extra:  # a Write to a path the preparation made
        path = extra.pop("_script_path")
        script = [
            {"tool_use": {"name": "Write", "input": {"file_path": path, "content": "x"}}},
            *TEXT,
        ]
    lines = extra.pop("_lines", None)
    changed = {**base, **proof.changed, **extra}
    if name == "sandbox" and shutil.which("bwrap") is None:
        # no sandbox to be had: connect must refuse (never run unsandboxed)
        with pytest.raises(UserError):
            [m async for m in query(prompt="go", options=options(**changed))]
        return
    without = await _observe(env, dict(base), script, proof.prompt)
    if proof.prepare is None:  # the observation is deterministic: a difference is the field's
        assert await _observe(env, dict(base), script, proof.prompt) == without
    with_field = await _observe(
        env, {**changed, **({"_lines": lines} if lines is not None else {})}, script, proof.prompt
    )
    assert without != with_field, f"{name} changed nothing observable"


def test_pending_fields_are_still_unread() -> None:
    """A pending field stays pending only until its helper lands it: once threadline reads
    it, this fails until its proof replaces the PENDING entry."""
    src = Path(__file__).parents[2] / "src" / "threadline"
    for name in PENDING:
        readers = [
            p.relative_to(src)
            for p in src.rglob("*.py")
            if p.name != "_options.py" and re.search(rf"\.{name}\b", p.read_text())
        ]
        assert not readers, f"{name} is read in {readers}: give it an Effect proof"
