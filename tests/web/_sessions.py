"""Generated transcripts for the web tests and the web benchmark.

Real CLI transcripts come from ``tests/oracle/corpus.py``; these add what the CLI does not
write offline: a hostile session (markup, script, ``javascript:`` URLs, terminal escapes),
images, thinking, file checkpoints, and sessions of any size.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

PROJECT = "-tmp-web-generated"
# 1x1 red PNG
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108020000009077"
        "53de0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
    )
).decode()

XSS = (
    "<script>window.__pwned = 1; document.title = 'pwned'</script>"
    "<img src=x onerror=\"window.__pwned = 2\">"
    "<a href=\"javascript:window.__pwned = 3\">click me</a>"
    "\x1b[31mRED\x1b[0m \x1b]0;title\x07 \u202eevil\u202c"
)


def _ts(i: int) -> str:
    return f"2026-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"


class Writer:
    """Builds one transcript line by line (a linear chain unless ``parent=`` says otherwise)."""

    def __init__(self, session_id: str | None = None, cwd: str = "/tmp/web-generated") -> None:
        self.sid = session_id or str(uuid.uuid4())
        self.cwd = cwd
        self.lines: list[dict[str, Any]] = []
        self.last: str | None = None
        self.n = 0

    def _base(self, kind: str, parent: str | None) -> dict[str, Any]:
        self.n += 1
        uid = str(uuid.uuid4())
        return {
            "parentUuid": parent,
            "isSidechain": False,
            "type": kind,
            "uuid": uid,
            "timestamp": _ts(self.n),
            "cwd": self.cwd,
            "sessionId": self.sid,
            "version": "2.1.330",
            "gitBranch": "main",
        }

    def add(self, entry: dict[str, Any]) -> str:
        self.lines.append(entry)
        if isinstance(entry.get("uuid"), str) and entry.get("type") in ("user", "assistant", "system"):
            self.last = entry["uuid"]
        return str(entry.get("uuid", ""))

    def user(self, content: Any, *, parent: str | None = "", **extra: Any) -> str:
        e = self._base("user", self.last if parent == "" else parent)
        e["message"] = {"role": "user", "content": content}
        e.update(extra)
        return self.add(e)

    def assistant(
        self, blocks: list[dict[str, Any]], *, parent: str | None = "", mid: str | None = None,
        usage: dict[str, int] | None = None,
    ) -> str:
        e = self._base("assistant", self.last if parent == "" else parent)
        e["message"] = {
            "id": mid or f"msg_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": blocks,
            "stop_reason": "end_turn",
            "usage": usage
            or {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 1000,
                "cache_creation_input_tokens": 50},
        }
        return self.add(e)

    def text(self, text: str) -> str:
        return self.assistant([{"type": "text", "text": text}])

    def tool(self, name: str, inp: dict[str, Any], result: Any, *, is_error: bool = False) -> str:
        call = f"toolu_{uuid.uuid4().hex[:20]}"
        self.assistant([{"type": "tool_use", "id": call, "name": name, "input": inp}])
        return self.user(
            [{"type": "tool_result", "tool_use_id": call, "content": result, "is_error": is_error}],
            toolUseResult={"stdout": "x"},
        )

    def meta(self, entry: dict[str, Any]) -> None:
        self.lines.append({**entry, "sessionId": self.sid})

    def write(self, config: Path, project: str = PROJECT) -> Path:
        pdir = config / "projects" / project
        pdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = pdir / f"{self.sid}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for line in self.lines:
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
        os.chmod(path, 0o600)
        return path


def hostile(config: Path) -> str:
    """A session whose every text field tries to become markup or a terminal command."""
    w = Writer()
    w.meta({"type": "custom-title", "customTitle": "hostile " + XSS})
    w.user(XSS)
    w.assistant([{"type": "thinking", "thinking": "thinking " + XSS, "signature": "s"}, {"type": "text", "text": XSS}])
    w.tool("Bash", {"command": XSS}, XSS)
    w.write(config)
    return w.sid


def rich(config: Path) -> str:
    """Thinking, an image, a file checkpoint, an error result, an unknown block, a system note."""
    w = Writer()
    first = w.user("show me the picture")
    w.meta(
        {"type": "file-history-snapshot", "messageId": first, "isSnapshotUpdate": False,
         "snapshot": {"messageId": first, "timestamp": _ts(1),
                      "trackedFileBackups": {"src/app.py": {"backupFileName": "abc@v1", "version": 1,
                                                             "backupTime": _ts(1)}}}}
    )
    w.assistant([{"type": "thinking", "thinking": "let me look closely", "signature": "s"}])
    w.tool("Read", {"file_path": "pic.png"}, [{"type": "text", "text": "here it is"},
                                              {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}])
    w.tool("Bash", {"command": "false"}, "exit 1", is_error=True)
    w.user([{"type": "text", "text": "and this one"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/svg+xml", "data": base64.b64encode(b"<svg onload='alert(1)'/>").decode()}}])
    w.assistant([{"type": "text", "text": "a red pixel"}, {"type": "mystery_block", "x": 1}])
    w.add({**w._base("system", w.last), "subtype": "informational", "content": "a system note", "level": "info"})
    w.write(config)
    return w.sid


def big(config: Path, entries: int = 20_000, *, project: str = PROJECT) -> str:
    """A linear session of ``entries`` entries: prompts, replies, tool calls and results."""
    w = Writer()
    i = 0
    while len(w.lines) < entries:
        w.user(f"prompt number {i}: please look at file_{i}.py and explain what it does " + "x" * 200)
        if i % 3 == 0:
            w.tool("Read", {"file_path": f"/src/file_{i}.py"}, f"def f_{i}():\n    return {i}\n" * 10)
        w.text(f"reply number {i}: the file defines f_{i} which returns {i}. " + "y" * 300)
        i += 1
    w.lines = w.lines[:entries]
    w.write(config, project)
    return w.sid


def many(config: Path, count: int, *, projects: int = 20) -> None:
    """``count`` small sessions spread over ``projects`` projects (listing benchmarks)."""
    for n in range(count):
        w = Writer()
        w.user(f"session {n} asks about topic {n % 97}")
        w.text(f"answer {n}")
        if n % 10 == 0:
            w.meta({"type": "tag", "tag": f"t{n % 3}"})
        w.write(config, f"-bench-project-{n % projects}")
