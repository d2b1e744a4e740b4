"""Acceptance: every complete example of the seed document runs on threadline with only
its import line changed, against the fake Messages API."""

from __future__ import annotations

import ast
import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest

import threadline
from threadline._client import AgentClient
from threadline._exceptions import InvalidSessionIdError, SessionNotFoundError
from threadline._messages import AssistantMessage, ResultMessage, TextBlock
from threadline._query import query
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_anthropic import FakeAnthropicServer


def _seeds() -> Path:
    """``shared/reference/seeds`` beside the repository (CI's layout), or beside a folder
    above it (a git worktree kept in a subfolder of the workplace)."""
    here = Path(__file__).resolve()
    for folder in here.parents[3:]:
        candidate = folder / "shared" / "reference" / "seeds"
        if candidate.is_dir():
            return candidate
    return here.parents[3] / "shared" / "reference" / "seeds"


SEEDS = _seeds()
SEED = SEEDS / "agent-sdk-sessions.md"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
_EXPORTS = {
    "query": query,
    "ClaudeAgentOptions": AgentOptions,
    "ClaudeSDKClient": AgentClient,
    "AssistantMessage": AssistantMessage,
    "TextBlock": TextBlock,
    "ResultMessage": ResultMessage,
}


def _examples() -> list[str]:
    if not SEED.exists():
        return []
    return [b for b in _BLOCK.findall(SEED.read_text()) if "from claude_agent_sdk import" in b]


EXAMPLES = _examples()


def test_runtime_names_are_exported() -> None:
    for name, value in _EXPORTS.items():
        assert getattr(threadline, name) is value


def _run_example(source: str) -> dict[str, Any]:
    ported = source.replace("from claude_agent_sdk import", "from threadline import")
    assert ported.count("from threadline import") == 1
    code = compile(ported, "<seed>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {"__name__": "__seed__"}
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return namespace


def test_seed_document_is_present() -> None:
    if not SEED.exists():
        if os.environ.get("CI"):
            pytest.fail(f"seed document missing in CI: {SEED}")
        pytest.skip("shared/reference/seeds is not beside the repository")
    assert len(EXAMPLES) == 5


@pytest.mark.parametrize("index", range(5))
def test_seed_example(
    index: int, fake: FakeAnthropicServer, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if index >= len(EXAMPLES):
        pytest.skip("seed document not available")
    source = EXAMPLES[index]
    if 'resume="session-xyz"' in source:
        with pytest.raises((SessionNotFoundError, InvalidSessionIdError)) as info:
            _run_example(source)
        assert isinstance(info.value, SessionNotFoundError)
        assert "session-xyz" in str(info.value) and "UUID" in str(info.value)
        assert fake.message_requests() == []
        return
    namespace = _run_example(source)
    out = capsys.readouterr().out
    requests = fake.message_requests()
    assert requests, "the example never reached the model"
    if "Session started with ID" in source:
        sid = re.search(r"Session started with ID: (\S+)", out)
        assert sid and sid.group(1) == namespace["session_id"]
        assert requests[-1]["messages"][0]["content"] == "Help me build a web application"
    if "forked_id" in source:
        assert namespace["forked_id"] not in (None, namespace["session_id"])
        texts = [
            m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
            for m in requests[-1]["messages"]
        ]
        assert texts == [
            "Help me design a REST API",
            "echo: Help me design a REST API",
            "Add authentication to the REST API",
        ]
    if "multi_turn_analysis" in source:
        assert out.count("complete:") == 3
        assert len(requests[-1]["messages"]) == 5
    if "ClaudeSDKClient" in source:
        assert "Claude: echo: What's the capital of France?" in out
        assert len(requests[-1]["messages"]) == 3
