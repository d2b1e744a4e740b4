"""Helpers shared by the provider tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from threadline._exceptions import ResultError
from threadline._messages import ToolResultBlock, UserMessage
from threadline._query import query
from threadline.providers import RetryPolicy
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_openai import FakeOpenAIServer

FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.0, max_delay_s=0.0)
MODEL = "fake-gpt"


def options(**kwargs: Any) -> AgentOptions:
    """AgentOptions with instant retries (tests never sleep)."""
    kwargs.setdefault("retry_policy", FAST_RETRY)
    return AgentOptions(**kwargs)


def openai_options(server: FakeOpenAIServer, **kwargs: Any) -> AgentOptions:
    """Options that run on the fake OpenAI-compatible server."""
    kwargs.setdefault("model", MODEL)
    return options(provider="openai", base_url=server.base_url, **kwargs)


async def run(prompt: str, opts: AgentOptions) -> list[Any]:
    """Every message of ``query()`` (the ResultError after an error result is checked)."""
    msgs: list[Any] = []
    try:
        async for m in query(prompt=prompt, options=opts):
            msgs.append(m)
    except ResultError as exc:
        assert msgs and msgs[-1].is_error and exc.subtype == msgs[-1].subtype, exc
    return msgs


def transcript(config_dir: Path, session_id: str) -> list[dict[str, Any]]:
    """Every entry of a session file under ``config_dir`` (found in any project)."""
    files = list((config_dir / "projects").glob(f"*/{session_id}.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def tool_results(msgs: list[Any]) -> list[ToolResultBlock]:
    return [
        b
        for m in msgs
        if isinstance(m, UserMessage)
        for b in m.content
        if isinstance(b, ToolResultBlock)
    ]
