"""Transcripts written directly (Claude Code's shape), for CLI tests that need odd ones."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import orjson

from threadline.sessions._paths import project_key_for_directory


def new_id() -> str:
    return str(uuid.uuid4())


def entry(
    kind: str, sid: str, parent: str | None, content: Any, *, cwd: str, msg_id: str | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": kind, "content": content}
    if kind == "assistant":
        message.update(id=msg_id or f"msg_{new_id()}", model="claude-fake", type="message")
    return {
        "type": kind,
        "uuid": new_id(),
        "parentUuid": parent,
        "sessionId": sid,
        "cwd": cwd,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "isSidechain": False,
        "message": message,
    }


def write_session(config_dir: Path, cwd: str, entries: list[dict[str, Any]], sid: str) -> Path:
    folder = config_dir / "projects" / project_key_for_directory(cwd)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{sid}.jsonl"
    with open(path, "wb") as f:
        for e in entries:
            f.write(orjson.dumps(e) + b"\n")
    os.chmod(path, 0o600)
    return path


def conversation(sid: str, cwd: str, turns: int, *, parallel: bool = False) -> list[dict[str, Any]]:
    """``turns`` prompt/answer turns; with ``parallel``, each turn makes two parallel tool
    calls, stored as Claude Code does (each result hangs off its own tool_use entry)."""
    out: list[dict[str, Any]] = []
    parent: str | None = None
    for i in range(turns):
        prompt = entry("user", sid, parent, f"prompt {i}", cwd=cwd)
        out.append(prompt)
        parent = prompt["uuid"]
        if parallel:
            mid = f"msg_tools_{i}"
            calls = []
            for j in (1, 2):
                block = {
                    "type": "tool_use",
                    "id": f"toolu_{i}_{j}",
                    "name": "Read",
                    "input": {"file_path": f"/x/{j}"},
                }
                call = entry("assistant", sid, parent, [block], cwd=cwd, msg_id=mid)
                out.append(call)
                calls.append(call)
                parent = call["uuid"]
            for j, call in enumerate(calls, 1):
                result = {
                    "type": "tool_result",
                    "tool_use_id": f"toolu_{i}_{j}",
                    "content": f"r{j}",
                }
                res = entry("user", sid, call["uuid"], [result], cwd=cwd)
                out.append(res)
                parent = res["uuid"]
        answer = entry("assistant", sid, parent, [{"type": "text", "text": f"answer {i}"}], cwd=cwd)
        out.append(answer)
        parent = answer["uuid"]
    return out
