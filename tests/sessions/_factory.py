"""Build Claude Code–shaped transcripts for tests."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import orjson

from threadline.sessions._paths import project_key_for_directory


def uid() -> str:
    return str(uuid.uuid4())


class Transcript:
    """Accumulates entries the way the CLI writes them (one per content block)."""

    def __init__(self, cwd: str, session_id: str | None = None) -> None:
        self.cwd = cwd
        self.session_id = session_id or uid()
        self.entries: list[dict[str, Any]] = []
        self.last: str | None = None
        self._t = 0

    def _ts(self) -> str:
        self._t += 1
        return f"2026-03-01T10:{self._t // 60:02d}:{self._t % 60:02d}.000Z"

    def _base(self, kind: str, parent: str | None, **extra: Any) -> dict[str, Any]:
        e: dict[str, Any] = {
            "parentUuid": parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": "2.1.330",
            "gitBranch": "main",
            "type": kind,
        }
        e.update(extra)
        e.setdefault("uuid", uid())
        e.setdefault("timestamp", self._ts())
        return e

    def user(self, text: str | list[dict[str, Any]], parent: str | None = "last", **extra: Any) -> dict[str, Any]:
        p = self.last if parent == "last" else parent
        e = self._base("user", p, message={"role": "user", "content": text}, **extra)
        self.entries.append(e)
        self.last = e["uuid"]
        return e

    def assistant(self, blocks: list[dict[str, Any]], parent: str | None = "last", msg_id: str | None = None) -> list[dict[str, Any]]:
        mid = msg_id or f"msg_{uuid.uuid4().hex[:20]}"
        p = self.last if parent == "last" else parent
        out = []
        for block in blocks:
            e = self._base(
                "assistant",
                p,
                message={"id": mid, "type": "message", "role": "assistant", "model": "claude-x",
                         "content": [block], "stop_reason": None, "usage": {"input_tokens": 1, "output_tokens": 1}},
                requestId="req_1",
            )
            self.entries.append(e)
            p = e["uuid"]
            out.append(e)
        self.last = p
        return out

    def text(self, text: str) -> dict[str, Any]:
        return self.assistant([{"type": "text", "text": text}])[0]

    def tool_result(self, tool_use_entry: dict[str, Any], output: str) -> dict[str, Any]:
        block = tool_use_entry["message"]["content"][0]
        return self.user(
            [{"type": "tool_result", "tool_use_id": block["id"], "content": output}],
            parent=tool_use_entry["uuid"],
            toolUseResult={"stdout": output},
            sourceToolAssistantUUID=tool_use_entry["uuid"],
        )

    def meta(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)

    def write(self, config_dir: Path) -> Path:
        d = config_dir / "projects" / project_key_for_directory(self.cwd)
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"{self.session_id}.jsonl"
        p.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in self.entries))
        return p


def simple_session(cwd: str, turns: int = 2) -> Transcript:
    t = Transcript(cwd)
    for i in range(turns):
        t.user(f"prompt {i}")
        t.text(f"reply {i}")
    return t


def sessions_in_an_undecodable_folder(config_dir: Path, where: Path) -> tuple[Transcript, Transcript]:
    """Two sessions of projects under ``where``: one in its usual folder, the other moved
    into a project folder named with bytes that are not UTF-8 (as another program may)."""
    plain = simple_session(str(where / "p"))
    plain.write(config_dir)
    odd = simple_session(str(where / "q"), turns=1)
    folder = config_dir / "projects" / os.fsdecode(b"-caf\xe9")
    folder.mkdir(parents=True)
    odd.write(config_dir).rename(folder / f"{odd.session_id}.jsonl")
    return plain, odd
