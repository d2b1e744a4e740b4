"""Side by side: the same program on the official SDK (its bundled CLI) and on threadline.

Both talk to one :class:`FakeAnthropicServer` (the ``fake`` fixture); the ``duo`` fixture
builds each SDK's options for one project directory and one isolated ``CLAUDE_CONFIG_DIR``,
and resets the script before each side runs, so each side sees the same replies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from threadline.providers import RetryPolicy
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_anthropic import FakeAnthropicServer

pytestmark = pytest.mark.oracle

FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.0, max_delay_s=0.0)


@dataclass
class Duo:
    """Options for both SDKs over one fake server, project and config dir."""

    fake: FakeAnthropicServer
    project: Path
    config_dir: Path
    env: dict[str, str]

    def script(self, entries: list[dict[str, Any]]) -> None:
        self.fake.script([dict(e) for e in entries])

    def official(self, **kw: Any) -> Any:
        from claude_agent_sdk import ClaudeAgentOptions

        env = {**self.env, **kw.pop("env", {})}
        return ClaudeAgentOptions(cwd=str(self.project), env=env, **kw)

    def ours(self, **kw: Any) -> AgentOptions:
        kw.setdefault("retry_policy", FAST_RETRY)
        return AgentOptions(cwd=str(self.project), **kw)


@pytest.fixture
def duo(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> Iterator[Duo]:
    try:
        from threadline.testing._claude_cli import claude_cli_path

        claude_cli_path()
    except Exception as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"bundled claude CLI unavailable: {exc}")
    tmp = tmp_path / "cli-tmp"
    tmp.mkdir()
    env = {
        "ANTHROPIC_BASE_URL": fake.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-fake-test",
        "CLAUDE_CONFIG_DIR": str(config_dir),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "HOME": os.environ["HOME"],
        "TMPDIR": str(tmp),
        "IS_SANDBOX": "1",
    }
    yield Duo(fake=fake, project=project, config_dir=config_dir, env=env)


def delegate(
    duo: Duo,
    sdk: Any,
    child: list[dict[str, Any]] | None = None,
    *,
    task: str = "SUB",
    **fields: Any,
) -> dict[str, Any]:
    """One subagent ``r`` (its prompt says RESEARCHER) built from ``fields`` for ``sdk``, and
    the script: the parent's "delegate" prompt calls it with ``task``, the child answers
    ``child`` (default: one text), then the parent says "done". Returns the ``agents``."""
    agents = {"r": sdk.AgentDefinition(description="d", prompt="You are RESEARCHER.", **fields)}
    call = {"description": "x", "prompt": task, "subagent_type": "r"}
    steps = child or [{"text": "sub done"}]
    duo.script(
        [
            {"match": {"last_user_contains": "delegate"}, "tool_use": {"name": "Agent", "input": call}},
            *({"match": {"system_contains": "RESEARCHER"}, **step} for step in steps),
            {"text": "done", "repeat": True},
        ]
    )  # fmt: skip
    duo.fake.clear_requests()
    return agents


def child_requests(duo: Duo) -> list[dict[str, Any]]:
    """The requests the subagent of :func:`delegate` made."""
    return [r for r in duo.fake.message_requests() if "RESEARCHER" in str(r.get("system"))]
