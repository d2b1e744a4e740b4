"""Helpers shared by the runtime tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from threadline._exceptions import ResultError
from threadline._messages import ResultMessage
from threadline._query import query
from threadline.providers import RetryPolicy
from threadline.runtime._options import AgentOptions

FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.0, max_delay_s=0.0)


def options(**kwargs: Any) -> AgentOptions:
    """AgentOptions with instant retries (tests never sleep)."""
    kwargs.setdefault("retry_policy", FAST_RETRY)
    return AgentOptions(**kwargs)


def transcript(config_dir: Path, session_id: str) -> list[dict[str, Any]]:
    """Every entry of a session file under ``config_dir`` (found in any project)."""
    files = list((config_dir / "projects").glob(f"*/{session_id}.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


def sent_roles(body: dict[str, Any]) -> list[str]:
    return [m["role"] for m in body["messages"]]


def sent_texts(body: dict[str, Any]) -> list[str]:
    """Every text block of every message the server received, in order."""
    out: list[str] = []
    for m in body["messages"]:
        content = m["content"]
        if isinstance(content, str):
            out.append(content)
            continue
        for b in content:
            if b.get("type") == "text":
                out.append(b["text"])
    return out


async def collect(prompt: str, opts: AgentOptions) -> list[Any]:
    """Every message of ``query()``; the ResultError it raises after an error result is checked.

    As the official ``query()``, threadline raises ``ResultError`` when (and only when) the
    last result of the run is an error; the messages before it are returned either way.
    """
    msgs: list[Any] = []
    try:
        async for m in query(prompt=prompt, options=opts):
            msgs.append(m)
    except ResultError as exc:
        last = msgs[-1] if msgs else None
        assert isinstance(last, ResultMessage) and last.is_error, (exc, last)
        assert exc.subtype == last.subtype and exc.session_id == last.session_id
        return msgs
    last = msgs[-1] if msgs else None
    assert not (isinstance(last, ResultMessage) and last.is_error), "error result, no ResultError"
    return msgs
