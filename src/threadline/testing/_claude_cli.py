"""Run the real ``claude`` CLI bundled with ``claude-agent-sdk`` offline, against the fake API.

Test-only helpers: the oracle tests use them to produce genuine Claude Code transcripts.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._fake_anthropic import FakeAnthropicServer

__all__ = ["CliRun", "claude_cli_path", "cli_env", "run_claude"]

_STRIP_PREFIXES = ("ANTHROPIC_", "CLAUDE", "OTEL_")


class ClaudeCliNotFound(RuntimeError):
    """The bundled CLI is not installed (``claude-agent-sdk`` missing)."""


def claude_cli_path() -> Path:
    """Path of the ``claude`` executable bundled in the installed ``claude_agent_sdk``."""
    import importlib.util

    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or not spec.submodule_search_locations:
        raise ClaudeCliNotFound("claude_agent_sdk is not installed")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "_bundled" / "claude"
        if candidate.is_file():
            return candidate
    raise ClaudeCliNotFound("claude_agent_sdk has no bundled claude CLI")


@dataclass
class CliRun:
    """The outcome of one ``claude -p`` run."""

    args: list[str]
    returncode: int
    messages: list[dict[str, Any]]
    stderr: str
    session_id: str | None
    raw_stdout: str = field(default="", repr=False)

    @property
    def stdout(self) -> list[dict[str, Any]]:
        """The stream-json messages (alias of ``messages``)."""
        return self.messages

    @property
    def results(self) -> list[dict[str, Any]]:
        """The ``result`` messages (a background subagent makes a second one)."""
        return [m for m in self.messages if m.get("type") == "result"]

    @property
    def result(self) -> dict[str, Any] | None:
        found = self.results
        return found[-1] if found else None

    def check(self) -> CliRun:
        """Raise if the CLI exited non-zero."""
        if self.returncode != 0:
            raise RuntimeError(
                f"claude {self.args!r} exited {self.returncode}\n"
                f"stderr: {self.stderr[-2000:]}\nstdout: {self.raw_stdout[-2000:]}"
            )
        return self


def cli_env(
    *, server: FakeAnthropicServer, config_dir: Path, home: Path, tmpdir: Path
) -> dict[str, str]:
    """The environment for an offline CLI run (inherited ANTHROPIC_/CLAUDE/OTEL_ vars stripped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP_PREFIXES)}
    env.update(
        {
            "ANTHROPIC_BASE_URL": server.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-fake",
            "CLAUDE_CONFIG_DIR": str(config_dir),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "HOME": str(home),
            "TMPDIR": str(tmpdir),
        }
    )
    return env


def run_claude(
    args: list[str],
    *,
    server: FakeAnthropicServer,
    config_dir: Path,
    cwd: Path,
    home: Path,
    tmpdir: Path,
    timeout: float = 120,
    prompt: str | None = None,
) -> CliRun:
    """Run ``claude [-p PROMPT] --output-format stream-json --verbose *args``.

    ``args`` should contain ``-p PROMPT`` (or pass ``prompt=``); the output flags are added.

    Long: a test helper that builds the real CLI's environment and arguments in one place.
    """
    for path in (config_dir, cwd, home, tmpdir):
        path.mkdir(parents=True, exist_ok=True)
    argv = [str(claude_cli_path())]
    if prompt is not None:
        argv += ["-p", prompt]
    elif "-p" not in args and "--print" not in args:
        raise ValueError("run_claude needs -p PROMPT in args or prompt=")
    argv += list(args)
    if "--output-format" not in args:
        argv += ["--output-format", "stream-json"]
    if "--verbose" not in args:
        argv.append("--verbose")
    proc = subprocess.run(
        argv,
        cwd=str(cwd),
        env=cli_env(server=server, config_dir=config_dir, home=home, tmpdir=tmpdir),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    messages: list[dict[str, Any]] = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            messages.append(parsed)
    session_id: str | None = None
    for msg in messages:
        if msg.get("type") == "system" and msg.get("subtype") == "init":
            sid = msg.get("session_id")
            session_id = sid if isinstance(sid, str) else None
            break
    if session_id is None:
        for msg in messages:
            sid = msg.get("session_id")
            if isinstance(sid, str):
                session_id = sid
                break
    return CliRun(
        args=argv[1:],
        returncode=proc.returncode,
        messages=messages,
        stderr=proc.stderr,
        session_id=session_id,
        raw_stdout=proc.stdout,
    )
