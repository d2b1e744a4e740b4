"""Sessions in every shape the real ``claude`` CLI writes offline, and threadline's own.

For the resume-fidelity oracle (``test_resume_fidelity.py``): each scenario leaves one
session; :class:`Lab` then captures the first request each program sends when it resumes
that session with the same prompt (the CLI's through the fake server, with
``--no-session-persistence`` so nothing is added; threadline's with
``persist_session=False``).

The CLI runs with attribution switched off (``settings.json``): its git-attribution
``<system-reminder>`` is the only reminder it places inside user messages; the rest of
its reminders are ``role: "system"`` messages (environment, date, tool and agent
listings), which :func:`conversation_part` drops. What is left is the conversation.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from threadline.testing._claude_cli import CliRun, claude_cli_path, cli_env, run_claude
from threadline.testing._fake_anthropic import FakeAnthropicServer, request_kind

Raw = dict[str, Any]
NEXT = "NEXT PROMPT after the resume"

# a 1x1 PNG
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def conversation_part(body: Raw) -> list[Raw]:
    """The conversation of a request: its messages without the CLI's ``role: "system"``
    reminders; nothing else is left out (blocks, their order and bytes, string or list
    content, cache breakpoints all count). A breakpoint the CLI put on a reminder it
    sent last moves to the last block before it: it marks the same conversation prefix
    (the prefix that threadline, which sends no reminders, marks there)."""
    out: list[Raw] = []
    for message in body["messages"]:
        if message.get("role") != "system":
            out.append(message)
            continue
        content = message.get("content")
        marked = isinstance(content, list) and any("cache_control" in b for b in content)
        if marked and out and message is body["messages"][-1]:
            last = out[-1]
            blocks = last["content"]
            if isinstance(blocks, str):
                blocks = [{"type": "text", "text": blocks}]
            marker = next(b["cache_control"] for b in content if "cache_control" in b)
            out[-1] = {**last, "content": [*blocks[:-1], {**blocks[-1], "cache_control": marker}]}
    return out


def dumps(messages: list[Raw]) -> str:
    """Key order kept: equal strings mean equal messages, byte for byte."""
    return json.dumps(messages, ensure_ascii=False, indent=1)


def diff(theirs: list[Raw], ours: list[Raw], name: str) -> str:
    """A readable unified diff (the CLI's side first) for an assertion message."""
    import difflib

    lines = difflib.unified_diff(
        dumps(theirs).splitlines(), dumps(ours).splitlines(), "claude", "threadline", lineterm=""
    )
    return f"{name}:\n" + "\n".join(lines)


@dataclass
class Session:
    """One scenario's session."""

    name: str
    session_id: str
    config_dir: Path
    cwd: Path
    notes: dict[str, Any] = field(default_factory=dict)

    def transcript(self) -> list[Raw]:
        [path] = list((self.config_dir / "projects").glob(f"*/{self.session_id}.jsonl"))
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Lab:
    """A fake server, and per scenario a config dir, a project dir, HOME and TMPDIR."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = FakeAnthropicServer().start()

    def close(self) -> None:
        self.server.stop()

    # -- places ----------------------------------------------------------------------------

    def dirs(self, name: str) -> tuple[Path, Path]:
        base = self.root / name
        config, project = base / "config", base / "project"
        for path in (config, project, base / "home", base / "tmp"):
            path.mkdir(parents=True, exist_ok=True)
        (config / "settings.json").write_text(
            json.dumps({"includeCoAuthoredBy": False, "attribution": {"commit": "", "pr": ""}})
        )
        return config, project

    def env(self, config: Path) -> dict[str, str]:
        base = config.parent
        return cli_env(
            server=self.server, config_dir=config, home=base / "home", tmpdir=base / "tmp"
        )

    # -- the CLI ---------------------------------------------------------------------------

    def cli(
        self,
        config: Path,
        project: Path,
        prompt: str,
        *args: str,
        script: list[Raw] | None = None,
        check: bool = True,
    ) -> CliRun:
        self.server.script(script or [])
        base = config.parent
        run = run_claude(
            ["-p", prompt, *args],
            server=self.server,
            config_dir=config,
            cwd=project,
            home=base / "home",
            tmpdir=base / "tmp",
        )
        if check:
            run.check()
        assert run.session_id, run
        return run

    def cli_killed(
        self, config: Path, project: Path, prompt: str, *args: str, script: list[Raw], when: str
    ) -> str:
        """Start ``claude -p``, kill it (SIGKILL) once ``when`` happened ("tool_use": a
        tool call arrived, the tool now runs; "prompt": the request is being answered)."""
        self.server.script(script)
        argv = [str(claude_cli_path()), "-p", prompt, *args, "--output-format", "stream-json"]
        proc = subprocess.Popen(
            [*argv, "--verbose"],
            cwd=project,
            env=self.env(config),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        session_id = ""
        try:
            for line in proc.stdout:
                message = json.loads(line)
                session_id = session_id or str(message.get("session_id") or "")
                if when == "prompt" and session_id and self.server.message_requests():
                    break
                content = (message.get("message") or {}).get("content") or []
                if when == "tool_use" and any(b.get("type") == "tool_use" for b in content):
                    time.sleep(1.0)  # the tool is running and its call is written
                    break
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
        assert session_id
        return session_id

    def sdk_options(self, config: Path, project: Path, **kw: Any) -> Any:
        from claude_agent_sdk import ClaudeAgentOptions

        return ClaudeAgentOptions(cwd=str(project), env=self.env(config), **kw)

    def cli_next(self, session: Session, prompt: str = NEXT) -> Raw:
        """The CLI's first main request when it resumes ``session`` (nothing written)."""
        self.server.script([])
        self.server.clear_requests()
        self.cli(
            session.config_dir,
            session.cwd,
            prompt,
            "--resume",
            session.session_id,
            "--no-session-persistence",
        )
        return next(b for b in self.server.message_requests() if request_kind(b) == "main")

    # -- threadline ------------------------------------------------------------------------

    def tl_options(self, config: Path, project: Path, **kw: Any) -> Any:
        from threadline.providers import RetryPolicy
        from threadline.runtime._options import AgentOptions

        env = {
            "ANTHROPIC_BASE_URL": self.server.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-fake",
            "CLAUDE_CONFIG_DIR": str(config),
        }
        kw.setdefault("retry_policy", RetryPolicy(max_retries=2, base_delay_s=0, max_delay_s=0))
        return AgentOptions(cwd=str(project), env=env, **kw)

    def tl(self, config: Path, project: Path, prompt: Any, **kw: Any) -> list[Any]:
        """A ``query()`` run's messages (an error result ends it, as ResultError says)."""
        from threadline import ResultError
        from threadline._query import query

        async def go() -> list[Any]:
            got: list[Any] = []
            options = self.tl_options(config, project, **kw)
            try:
                async for m in query(prompt=prompt, options=options):
                    got.append(m)
            except ResultError:
                pass
            return got

        return anyio.run(go)

    def tl_next(self, session: Session, prompt: str = NEXT) -> Raw:
        """threadline's first request when it resumes ``session`` (nothing written)."""
        self.server.script([])
        self.server.clear_requests()
        self.tl(
            session.config_dir,
            session.cwd,
            prompt,
            resume=session.session_id,
            persist_session=False,
        )
        return self.server.message_requests()[0]


# -- sessions the CLI writes ----------------------------------------------------------------

CliScenario = Callable[[Lab, Path, Path], str]


def _single(lab: Lab, config: Path, project: Path) -> str:
    return str(lab.cli(config, project, "hello single turn").session_id)


def _multi_turn(lab: Lab, config: Path, project: Path) -> str:
    sid = str(lab.cli(config, project, "turn one").session_id)
    lab.cli(config, project, "turn two", "--resume", sid)
    lab.cli(config, project, "turn three", "--resume", sid)
    return sid


def _tools(lab: Lab, config: Path, project: Path) -> str:
    (project / "notes.txt").write_text("remember: 42\n")
    script = [
        {
            "match": {"last_user_contains": "read the notes"},
            "text": "Let me look.",
            "tool_use": {"name": "Read", "input": {"file_path": str(project / "notes.txt")}},
        },
        {"match": {"last_user_contains": "remember"}, "text": "It says 42."},
    ]
    run = lab.cli(config, project, "read the notes", "--allowedTools", "Read", script=script)
    return str(run.session_id)


def _parallel_tools_thinking(lab: Lab, config: Path, project: Path) -> str:
    script = [
        {
            "match": {"last_user_contains": "run two echos"},
            "thinking": "two at once",
            "text": "Running both.",
            "tool_use": [
                {"name": "Bash", "input": {"command": "echo alpha", "description": "alpha"}},
                {"name": "Bash", "input": {"command": "echo beta", "description": "beta"}},
            ],
        },
        {"match": {"last_user_contains": "alpha"}, "thinking": "both done", "text": "Both echoed."},
    ]
    run = lab.cli(config, project, "run two echos", "--allowedTools", "Bash", script=script)
    return str(run.session_id)


def _thinking(lab: Lab, config: Path, project: Path) -> str:
    sid = str(
        lab.cli(
            config, project, "think about it", script=[{"thinking": "deeply", "text": "thought"}]
        ).session_id
    )
    lab.cli(
        config,
        project,
        "think again",
        "--resume",
        sid,
        script=[{"thinking": "once more", "text": "again"}],
    )
    return sid


_ERROR = {
    "match": {"last_user_contains": "trigger error"},
    "error": {"status": 400, "type": "invalid_request_error", "message": "fake bad request"},
    "times": 20,
}


def _api_error(lab: Lab, config: Path, project: Path) -> str:
    sid = str(
        lab.cli(config, project, "trigger error please", script=[_ERROR], check=False).session_id
    )
    lab.cli(config, project, "after the error", "--resume", sid)
    return sid


def _api_error_tail(lab: Lab, config: Path, project: Path) -> str:
    sid = str(lab.cli(config, project, "first fine turn").session_id)
    lab.cli(config, project, "trigger error now", "--resume", sid, script=[_ERROR], check=False)
    return sid


def _compact_manual(lab: Lab, config: Path, project: Path) -> str:
    sid = str(lab.cli(config, project, "compact turn one").session_id)
    lab.cli(config, project, "compact turn two", "--resume", sid)
    lab.cli(config, project, "compact turn three", "--resume", sid)
    lab.cli(config, project, "/compact", "--resume", sid)
    lab.cli(config, project, "after compact turn", "--resume", sid)
    return sid


def _compact_tail(lab: Lab, config: Path, project: Path) -> str:
    sid = str(lab.cli(config, project, "tail turn one").session_id)
    lab.cli(config, project, "tail turn two", "--resume", sid)
    lab.cli(config, project, "/compact", "--resume", sid)
    return sid


def _compact_auto(lab: Lab, config: Path, project: Path) -> str:
    sid = str(lab.cli(config, project, "auto turn 1").session_id)
    for i in range(2, 5):
        lab.cli(config, project, f"auto turn {i}", "--resume", sid)
    big = {
        "match": {"last_user_contains": "auto turn 5", "kind": "main"},
        "text": "reply five",
        "usage": {"input_tokens": 95_000, "output_tokens": 10},
    }
    lab.cli(
        config, project, "auto turn 5", "--resume", sid, "--autocompact", "100000", script=[big]
    )
    run = lab.cli(config, project, "auto turn 6", "--resume", sid, "--autocompact", "100000")
    assert any(m.get("subtype") == "compact_boundary" for m in run.messages), run.messages
    return sid


def _subagent(background: bool) -> CliScenario:
    marker = "SUBTASK-BG" if background else "SUBTASK-FG"

    def scenario(lab: Lab, config: Path, project: Path) -> str:
        script = [
            {
                "match": {"last_user_contains": "delegate it", "kind": "main"},
                "tool_use": {
                    "name": "Agent",
                    "input": {
                        "description": "a task",
                        "prompt": f"{marker} please work",
                        "subagent_type": "general-purpose",
                        "run_in_background": background,
                    },
                },
            },
            {"match": {"last_user_contains": marker}, "text": "subagent done"},
        ]
        run = lab.cli(config, project, "delegate it", "--allowedTools", "Agent", script=script)
        if background:
            assert len(run.results) == 2, run.messages  # the notification turn ran
        return str(run.session_id)

    return scenario


def _interrupted(lab: Lab, config: Path, project: Path) -> str:
    """Interrupted twice through the SDK: mid-stream, then while a tool runs."""
    from claude_agent_sdk import AssistantMessage, ClaudeSDKClient, ResultMessage

    lab.server.script(
        [
            {
                "match": {"last_user_contains": "slow one"},
                "text": "a long slow answer " * 20,
                "delay_between_events_s": 0.3,
            },
            {
                "match": {"last_user_contains": "sleepy"},
                "tool_use": {
                    "name": "Bash",
                    "input": {
                        "command": 'python3 -c "import time; time.sleep(20)"',
                        "description": "w",
                    },
                },
            },
        ]
    )

    async def go() -> str:
        sid = ""
        options = lab.sdk_options(config, project, allowed_tools=["Bash"])
        async with ClaudeSDKClient(options) as client:
            await client.query("slow one please")
            seen = 0
            async for m in client.receive_messages():
                seen += 1
                if seen == 2:
                    await client.interrupt()
                if isinstance(m, ResultMessage):
                    sid = m.session_id
                    break
            await client.query("sleepy tool")
            async for m in client.receive_messages():
                if isinstance(m, AssistantMessage) and any(
                    getattr(b, "name", None) == "Bash" for b in m.content
                ):
                    await anyio.sleep(1)
                    await client.interrupt()
                if isinstance(m, ResultMessage):
                    break
        return sid

    return anyio.run(go)


def _crash_mid_tool(lab: Lab, config: Path, project: Path) -> str:
    script = [
        {
            "match": {"last_user_contains": "crashy"},
            "text": "running it",
            "tool_use": {
                "name": "Bash",
                "input": {
                    "command": 'python3 -c "import time; time.sleep(30)"',
                    "description": "w",
                },
            },
        }
    ]
    return lab.cli_killed(
        config, project, "crashy tool", "--allowedTools", "Bash", script=script, when="tool_use"
    )


def _unanswered_prompt(lab: Lab, config: Path, project: Path) -> str:
    sid = str(lab.cli(config, project, "first fine turn").session_id)
    hang = {
        "match": {"last_user_contains": "this hangs"},
        "text": "late",
        "delay_s": 20,
        "times": 5,
    }
    lab.cli_killed(config, project, "this hangs", "--resume", sid, script=[hang], when="prompt")
    time.sleep(0.5)
    return sid


def _permission_denial(lab: Lab, config: Path, project: Path) -> str:
    script = [
        {
            "match": {"last_user_contains": "write a file"},
            "tool_use": {
                "name": "Write",
                "input": {"file_path": str(project / "x.txt"), "content": "hi"},
            },
        },
        {"match": {"last_user_contains": "permission"}, "text": "denied, fine"},
    ]
    return str(lab.cli(config, project, "write a file", script=script).session_id)


def _slash_commands(lab: Lab, config: Path, project: Path) -> str:
    sid = str(lab.cli(config, project, "slash turn one").session_id)
    for command in ("/context", "/cost", "/status", "/rename Slash Session"):
        lab.cli(config, project, command, "--resume", sid, check=False)
    lab.cli(config, project, "after the commands", "--resume", sid)
    lab.cli(config, project, "/cost", "--resume", sid, check=False)  # ends with a command
    return sid


def _image(lab: Lab, config: Path, project: Path) -> str:
    from claude_agent_sdk import ClaudeSDKClient, ResultMessage

    async def go() -> str:
        async def prompt() -> Any:
            yield {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is in this image"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": "",
            }

        lab.server.script([])
        async with ClaudeSDKClient(lab.sdk_options(config, project)) as client:
            await client.query(prompt())
            async for m in client.receive_response():
                if isinstance(m, ResultMessage):
                    return m.session_id
        raise AssertionError("no result")

    return anyio.run(go)


def _max_turns(lab: Lab, config: Path, project: Path) -> str:
    script = [{"tool_use": {"name": "Bash", "input": {"command": "echo loop"}}, "repeat": True}]
    run = lab.cli(
        config,
        project,
        "loop forever",
        "--allowedTools",
        "Bash",
        "--max-turns",
        "2",
        script=script,
        check=False,
    )
    return str(run.session_id)


CLI_SCENARIOS: dict[str, CliScenario] = {
    "single": _single,
    "multi_turn": _multi_turn,
    "tools": _tools,
    "parallel_tools_thinking": _parallel_tools_thinking,
    "thinking": _thinking,
    "api_error": _api_error,
    "api_error_tail": _api_error_tail,
    "compact_manual": _compact_manual,
    "compact_tail": _compact_tail,
    "compact_auto": _compact_auto,
    "subagent_foreground": _subagent(background=False),
    "subagent_background": _subagent(background=True),
    "interrupted": _interrupted,
    "crash_mid_tool": _crash_mid_tool,
    "unanswered_prompt": _unanswered_prompt,
    "permission_denial": _permission_denial,
    "slash_commands": _slash_commands,
    "image": _image,
    "max_turns": _max_turns,
}


def cli_session(lab: Lab, name: str) -> Session:
    config, project = lab.dirs(f"cli-{name}")
    lab.server.script([])
    sid = CLI_SCENARIOS[name](lab, config, project)
    return Session(name=name, session_id=sid, config_dir=config, cwd=project)


@contextmanager
def lab_at(root: Path) -> Iterator[Lab]:
    lab = Lab(root)
    try:
        yield lab
    finally:
        lab.close()
        if os.environ.get("THREADLINE_KEEP_ORACLE") is None:
            shutil.rmtree(root, ignore_errors=True)


# -- sessions threadline writes ------------------------------------------------------------

TlScenario = Callable[[Lab, Path, Path], str]
"""Writes a session with threadline; returns its id. ``Lab.last_live`` is then the last
request threadline sent while writing it (the resume must keep its messages)."""


def _tl_client(
    lab: Lab, config: Path, project: Path, turns: Callable[[Any], Any], **kw: Any
) -> str:
    from threadline._client import AgentClient

    async def go() -> str:
        async with AgentClient(lab.tl_options(config, project, **kw)) as client:
            await turns(client)
            sid = client.session_id
        assert sid
        return sid

    return anyio.run(go)


async def _drain(client: Any, prompt: Any) -> list[Any]:
    await client.query(prompt)
    return [m async for m in client.receive_response()]


def _tl_multi_turn(lab: Lab, config: Path, project: Path) -> str:
    async def turns(client: Any) -> None:
        await _drain(client, "first question")
        await _drain(client, "second question")

    return _tl_client(lab, config, project, turns)


def _tl_tools(lab: Lab, config: Path, project: Path) -> str:
    (project / "a.txt").write_text("alpha\n")
    lab.server.script(
        [
            {
                "thinking": "two tools at once",
                "text": "Reading.",
                "tool_use": [
                    {"name": "Read", "input": {"file_path": str(project / "a.txt")}},
                    {"name": "Bash", "input": {"command": "echo bravo"}},
                ],
            },
            {"thinking": "got both", "text": "alpha and bravo"},
        ]
    )
    return str(
        lab.tl(config, project, "read a.txt and echo", allowed_tools=["Read", "Bash"])[
            -1
        ].session_id
    )


def _tl_api_error(lab: Lab, config: Path, project: Path) -> str:
    lab.server.script(
        [{"error": {"status": 500, "type": "api_error", "message": "boom"}, "times": 10}]
    )
    sid = str(lab.tl(config, project, "first fine turn? no, an error")[-1].session_id)
    return sid


def _tl_interrupted(lab: Lab, config: Path, project: Path) -> str:
    """Interrupted mid-stream, then mid-tool."""
    from threadline._messages import AssistantMessage, StreamEvent

    lab.server.script(
        [
            {
                "match": {"last_user_contains": "talk slowly"},
                "text": "slow " * 30,
                "delay_between_events_s": 0.2,
            },
            {
                "match": {"last_user_contains": "wait for it"},
                "tool_use": {"name": "Bash", "input": {"command": "sleep 20"}},
            },
        ]
    )

    async def turns(client: Any) -> None:
        await client.query("talk slowly")
        async for m in client.receive_response():
            if isinstance(m, StreamEvent) and m.event["type"] == "content_block_delta":
                await client.interrupt()
        await client.query("wait for it")
        async for m in client.receive_response():
            if isinstance(m, AssistantMessage):
                await anyio.sleep(0.5)
                await client.interrupt()

    return _tl_client(
        lab, config, project, turns, include_partial_messages=True, allowed_tools=["Bash"]
    )


def _tl_subagents(lab: Lab, config: Path, project: Path) -> str:
    from threadline import AgentDefinition

    agents = {"helper": AgentDefinition(description="Helps", prompt="You are HELPER.", tools=[])}

    def delegate(marker: str, background: bool) -> Raw:
        return {
            "name": "Agent",
            "input": {
                "description": marker,
                "prompt": f"{marker} please",
                "subagent_type": "helper",
                "run_in_background": background,
            },
        }

    lab.server.script(
        [
            {
                "match": {"last_user_contains": "delegate both"},
                "tool_use": [delegate("SUB-FG", False), delegate("SUB-BG", True)],
            },
            {
                "match": {"last_user_contains": "SUB-FG", "system_contains": "HELPER"},
                "text": "fg found",
            },
            {
                "match": {"last_user_contains": "SUB-BG", "system_contains": "HELPER"},
                "text": "bg found",
                "delay_s": 0.3,
            },
            {"match": {"last_user_contains": "fg found"}, "text": "waiting for the other"},
            {"match": {"any_contains": "bg found"}, "text": "got the report"},
        ]
    )
    return str(lab.tl(config, project, "delegate both", agents=agents)[-1].session_id)


def _tl_compacted(lab: Lab, config: Path, project: Path) -> str:
    async def turns(client: Any) -> None:
        for prompt in ("one", "two", "three"):
            await _drain(client, f"compaction turn {prompt}")
        await client.compact()
        await _drain(client, "after the compaction")

    return _tl_client(lab, config, project, turns)


def _tl_denied(lab: Lab, config: Path, project: Path) -> str:
    lab.server.script(
        [
            {
                "match": {"last_user_contains": "write it"},
                "tool_use": {
                    "name": "Write",
                    "input": {"file_path": str(project / "x.txt"), "content": "x"},
                },
            },
            {"text": "not allowed, fine"},
        ]
    )
    return str(lab.tl(config, project, "write it")[-1].session_id)


def _tl_max_turns(lab: Lab, config: Path, project: Path) -> str:
    lab.server.script(
        [{"tool_use": {"name": "Bash", "input": {"command": "echo loop"}}, "repeat": True}]
    )
    msgs = lab.tl(config, project, "loop forever", allowed_tools=["Bash"], max_turns=2)
    return str(msgs[-1].session_id)


def _tl_image(lab: Lab, config: Path, project: Path) -> str:
    async def prompt() -> Any:
        yield {
            "type": "user",
            "message": {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in this image"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                ],
            },
        }

    lab.server.script([])
    return str(lab.tl(config, project, prompt())[-1].session_id)


def _tl_resumed_after_an_interrupt(lab: Lab, config: Path, project: Path) -> str:
    """Interrupted, then resumed by threadline (which closes it as the CLI does)."""
    sid = _tl_interrupted(lab, config, project)
    lab.server.script([])
    lab.tl(config, project, "and now?", resume=sid)
    return sid


TL_SCENARIOS: dict[str, TlScenario] = {
    "multi_turn": _tl_multi_turn,
    "tools_thinking_parallel": _tl_tools,
    "api_error": _tl_api_error,
    "interrupted": _tl_interrupted,
    "subagents": _tl_subagents,
    "compacted": _tl_compacted,
    "permission_denial": _tl_denied,
    "max_turns": _tl_max_turns,
    "image": _tl_image,
    "resumed_after_an_interrupt": _tl_resumed_after_an_interrupt,
}


def tl_session(lab: Lab, name: str) -> tuple[Session, Raw]:
    """The session a threadline scenario wrote, and the last request it sent doing so."""
    config, project = lab.dirs(f"tl-{name}")
    lab.server.script([])
    lab.server.clear_requests()
    sid = TL_SCENARIOS[name](lab, config, project)
    main = [b for b in lab.server.message_requests() if request_kind(b) == "main"]
    return Session(name=name, session_id=sid, config_dir=config, cwd=project), main[-1]
