"""Helpers shared by the runtime tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
