"""Helpers shared by the long-lived session tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from threadline._client import AgentClient
from threadline._messages import Message, ResultMessage
from threadline.providers import RetryPolicy
from threadline.runtime._options import AgentOptions

FAST_RETRY = RetryPolicy(max_retries=3, base_delay_s=0.0, max_delay_s=0.0)

__all__ = ["conversation", "options", "run_turn", "transcript", "turns"]


def options(**kwargs: Any) -> AgentOptions:
    """AgentOptions with instant retries (tests never sleep)."""
    kwargs.setdefault("retry_policy", FAST_RETRY)
    return AgentOptions(**kwargs)


def transcript(config_dir: Path, session_id: str) -> list[dict[str, Any]]:
    """Every entry of a session file under ``config_dir`` (found in any project)."""
    files = list((config_dir / "projects").glob(f"*/{session_id}.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]


async def run_turn(client: AgentClient, prompt: str) -> list[Message]:
    await client.query(prompt)
    out = [m async for m in client.receive_response()]
    assert isinstance(out[-1], ResultMessage), out[-1]
    return out


async def turns(opts: AgentOptions, *prompts: str) -> tuple[str, list[list[Message]]]:
    """Run ``prompts`` as turns of one client; (session id, messages of each turn)."""
    results: list[list[Message]] = []
    async with AgentClient(opts) as client:
        for prompt in prompts:
            results.append(await run_turn(client, prompt))
        sid = client.session_id
    assert sid is not None
    return sid, results


def conversation(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) for every text block sent (summaries shortened to 'SUMMARY')."""
    out: list[tuple[str, str]] = []
    for m in body["messages"]:
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for b in blocks:
            if b.get("type") == "text":
                text = b["text"]
                if text.startswith("This session is being continued"):
                    text = "SUMMARY"
                out.append((m["role"], text))
            elif b.get("type") in ("tool_use", "tool_result"):
                out.append((m["role"], b["type"]))
    return out


def transcript_file(config_dir: Path, session_id: str) -> Path:
    """The one transcript file of ``session_id`` under ``config_dir``."""
    files = list((config_dir / "projects").glob(f"*/{session_id}.jsonl"))
    assert len(files) == 1, files
    return files[0]


async def resume_once(session_id: str, prompt: str = "again", **kwargs: Any) -> None:
    """One ``query()`` resuming ``session_id`` (``persist_session=False`` unless given)."""
    from threadline._query import query

    kwargs.setdefault("persist_session", False)
    async for _ in query(prompt=prompt, options=options(resume=session_id, **kwargs)):
        pass
