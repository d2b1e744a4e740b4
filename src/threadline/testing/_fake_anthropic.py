"""A scriptable fake of the Anthropic Messages API, served over real HTTP on 127.0.0.1.

Stdlib only (``http.server.ThreadingHTTPServer`` in a daemon thread), so it serves sync and
async tests alike, and subprocesses such as the real ``claude`` CLI.

A script is a list of entries; the FIRST entry whose ``match`` matches a request answers it and
is consumed (after ``times`` uses; never with ``repeat: true``). Entry keys:

- answer: ``text`` (str), ``tool_use`` (``{"name", "input", "id"?}`` or a list of them for
  parallel calls), ``thinking`` (str, emitted with a ``signature``), ``content`` (raw block
  list, used as is), ``echo: true`` (echo the last user text), ``error``
  (``{"status", "type", "message"}``) with optional ``headers``.
- options: ``match`` (``last_user_contains``, ``any_contains``, ``system_contains``,
  ``model_contains``, ``has_tools``, ``tool_available``, ``kind`` = ``"compact"``, ``"main"``
  or ``"subagent"``), all of which must hold,
  ``usage`` (override dict), ``stop_reason``, ``times``, ``repeat``, ``delay_s``,
  ``wait_for_requests`` (hold the answer until the server has received that many model
  requests, at most ``wait_timeout_s`` = 10 s; on timeout the answer is the text
  ``"wait_for_requests timed out"``: proves requests overlapped without timing them).
- faults: ``drop_after_events`` (close the socket after N SSE events), ``malformed_sse``
  (garbage in an SSE data line), ``delay_between_events_s`` (slow streaming).

When nothing matches: the ``default`` entry if set, else a compaction summary for compaction
requests, else ``"echo: <last user text>"``.

Run standalone: ``python -m threadline.testing._fake_anthropic --port 0 --script FILE``.
"""

from __future__ import annotations

import copy
import json
import secrets
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from ._fake_http import (
    FakeHandler,
    ScriptedServer,
    matches_common,
    messages as _messages,
    new_id,
    serve_cli,
)

__all__ = ["FakeAnthropicServer", "is_compact_request", "last_user_text", "request_kind"]

# Phrases found in the compaction prompt of Claude Code (``/compact`` and auto-compaction).
_COMPACT_MARKERS = (
    "create a detailed summary of the conversation",
    "your task is to create a detailed summary",
    "summary of the conversation so far",
    "respond with text only. do not call any tools",
)

# The system prompt of Claude Code's built-in subagents (not the main agent's).
_SUBAGENT_MARKER = "You are an agent for Claude Code"

_MODELS = [
    {
        "type": "model",
        "id": "claude-opus-5-5",
        "display_name": "Claude Opus (fake)",
        "created_at": "2025-01-01T00:00:00Z",
    },
    {
        "type": "model",
        "id": "claude-sonnet-4-5",
        "display_name": "Claude Sonnet (fake)",
        "created_at": "2025-01-01T00:00:00Z",
    },
]


_GARBAGE_EVENT = b"event: content_block_delta\ndata: {not json\x00\xff\n\n"


def _block_texts(content: Any, *, include_tool_results: bool) -> list[str]:
    """Texts of a message ``content`` (string or block list)."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if not isinstance(content, list):
        return out
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            out.append(block["text"])
        elif kind == "tool_result" and include_tool_results:
            out.extend(_block_texts(block.get("content"), include_tool_results=True))
    return out


def _last_user_message(body: dict[str, Any]) -> dict[str, Any] | None:
    found: dict[str, Any] | None = None
    for msg in _messages(body):
        if msg.get("role") == "user":
            found = msg
    return found


def last_user_text(body: dict[str, Any]) -> str:
    """The newest real user text of a request (``<system-reminder>`` blocks skipped)."""
    for msg in reversed(_messages(body)):
        if msg.get("role") != "user":
            continue
        texts = [
            t
            for t in _block_texts(msg.get("content"), include_tool_results=False)
            if not t.lstrip().startswith("<system-reminder>")
        ]
        if texts:
            return texts[-1]
    return ""


def _user_prompts(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for msg in _messages(body):
        if msg.get("role") != "user":
            continue
        for t in _block_texts(msg.get("content"), include_tool_results=False):
            if t.strip() and not t.lstrip().startswith("<system-reminder>"):
                out.append(t.strip())
    return out


def _system_text(body: dict[str, Any]) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    return "\n".join(_block_texts(system, include_tool_results=False))


def _tool_names(body: dict[str, Any]) -> list[str]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [str(t.get("name")) for t in tools if isinstance(t, dict) and "name" in t]


def is_compact_request(body: dict[str, Any]) -> bool:
    """Whether a request asks for a conversation summary (Claude Code's compaction prompt)."""
    msg = _last_user_message(body)
    if msg is None:
        return False
    text = "\n".join(_block_texts(msg.get("content"), include_tool_results=False)).lower()
    return any(marker in text for marker in _COMPACT_MARKERS)


def _matches(match: dict[str, Any] | None, body: dict[str, Any]) -> bool:
    if not match:
        return True
    if "last_user_contains" in match:
        msg = _last_user_message(body)
        text = (
            ""
            if msg is None
            else "\n".join(_block_texts(msg.get("content"), include_tool_results=True))
        )
        if str(match["last_user_contains"]) not in text:
            return False
    if not matches_common(match, body, system_text=_system_text, tool_names=_tool_names):
        return False
    return "kind" not in match or str(match["kind"]) == request_kind(body)


def request_kind(body: dict[str, Any]) -> str:
    """``"compact"`` (summary request), ``"subagent"`` (a CLI subagent) or ``"main"``."""
    if is_compact_request(body):
        return "compact"
    if _SUBAGENT_MARKER in _system_text(body):
        return "subagent"
    return "main"


def _tool_calls(entry: dict[str, Any]) -> list[dict[str, Any]]:
    raw = entry.get("tool_use")
    if raw is None:
        return []
    calls = raw if isinstance(raw, list) else [raw]
    return [c for c in calls if isinstance(c, dict)]


def _build_content(entry: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(entry.get("content"), list):
        content: list[dict[str, Any]] = copy.deepcopy(entry["content"])
        for block in content:
            if block.get("type") == "tool_use" and not block.get("id"):
                block["id"] = new_id("toolu_")
        return content
    content = []
    if isinstance(entry.get("thinking"), str):
        content.append(
            {
                "type": "thinking",
                "thinking": entry["thinking"],
                "signature": "sig_" + secrets.token_hex(24),
            }
        )
    if entry.get("echo"):
        content.append({"type": "text", "text": f"echo: {last_user_text(body)}"})
    if isinstance(entry.get("text"), str):
        content.append({"type": "text", "text": entry["text"]})
    for call in _tool_calls(entry):
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or new_id("toolu_")),
                "name": str(call.get("name", "")),
                "input": call.get("input", {}),
            }
        )
    if not content:
        content.append({"type": "text", "text": ""})
    return content


def _fallback_entry(body: dict[str, Any]) -> dict[str, Any]:
    if is_compact_request(body):
        prompts = [p for p in _user_prompts(body)[:-1] if len(p) < 500]
        listed = "; ".join(prompts) or "(nothing)"
        return {
            "text": (
                "<analysis>Fake analysis.</analysis>\n<summary>\n"
                f"Summary of the conversation so far. The user said: {listed}\n</summary>"
            )
        }
    return {"echo": True}


def _estimate_output_tokens(content: list[dict[str, Any]]) -> int:
    return max(1, len(json.dumps(content)) // 8)


class FakeAnthropicServer(ScriptedServer):
    """Fake Anthropic Messages API on ``127.0.0.1:<ephemeral port>``; see the module docstring."""

    _thread_name = "fake-anthropic"

    def _matches(self, match: dict[str, Any] | None, body: dict[str, Any]) -> bool:
        return _matches(match, body)

    def _fallback(self, body: dict[str, Any]) -> dict[str, Any]:
        return _fallback_entry(body)

    def _is_model_path(self, path: str) -> bool:
        return path == "/v1/messages"

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def message_requests(self) -> list[dict[str, Any]]:
        """Bodies of the ``/v1/messages`` requests (not count_tokens), oldest first."""
        with self._lock:
            return [r["body"] for r in self.requests if r["path"] == "/v1/messages"]


def _await_requests(server: FakeAnthropicServer, entry: dict[str, Any]) -> dict[str, Any]:
    """Hold ``entry`` until ``wait_for_requests`` model requests have arrived (see above)."""
    wanted = entry.get("wait_for_requests")
    if not wanted:
        return entry
    deadline = time.monotonic() + float(entry.get("wait_timeout_s") or 10)
    while len(server.message_requests()) < int(wanted):
        if time.monotonic() >= deadline:
            return {"text": "wait_for_requests timed out"}
        time.sleep(0.01)
    return entry


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _chunks(text: str, n: int = 3) -> list[str]:
    if not text:
        return [""]
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


_Event = tuple[str, dict[str, Any]]


def _block_start(index: int, block: dict[str, Any]) -> _Event:
    return "content_block_start", {
        "type": "content_block_start",
        "index": index,
        "content_block": block,
    }


def _block_delta(index: int, delta: dict[str, Any]) -> _Event:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _block_events(index: int, block: dict[str, Any]) -> Iterator[_Event]:
    kind = block.get("type")
    if kind == "text":
        yield _block_start(index, {"type": "text", "text": ""})
        for piece in _chunks(block.get("text", "")):
            yield _block_delta(index, {"type": "text_delta", "text": piece})
    elif kind == "thinking":
        yield _block_start(index, {"type": "thinking", "thinking": "", "signature": ""})
        for piece in _chunks(block.get("thinking", "")):
            yield _block_delta(index, {"type": "thinking_delta", "thinking": piece})
        signature = block.get("signature", "")
        yield _block_delta(index, {"type": "signature_delta", "signature": signature})
    elif kind in ("tool_use", "server_tool_use"):
        start = {"type": kind, "id": block["id"], "name": block["name"], "input": {}}
        yield _block_start(index, start)
        for piece in _chunks(json.dumps(block.get("input", {}))):
            yield _block_delta(index, {"type": "input_json_delta", "partial_json": piece})
    else:
        yield _block_start(index, block)
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def _stream_events(message: dict[str, Any], usage: dict[str, Any]) -> Iterator[_Event]:
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = dict(usage, output_tokens=1)
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block)
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    yield "message_delta", {"type": "message_delta", "delta": delta, "usage": usage}
    yield "message_stop", {"type": "message_stop"}


def _make_handler(server: FakeAnthropicServer) -> type[BaseHTTPRequestHandler]:  # noqa: C901 (Long: see the docstring)
    """Long: a test fake; the request handler class is nested to close over the server."""
    class Handler(FakeHandler):
        server_version = "FakeAnthropic/1.0"
        fake = server

        def do_HEAD(self) -> None:
            self._send_json(200, {})

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if self._control_get(path):
                return
            if path == "/v1/models":
                self._send_json(
                    200,
                    {"data": _MODELS, "has_more": False, "first_id": "x", "last_id": "x"},
                )
            elif path.startswith("/v1/models/"):
                model_id = path.rsplit("/", 1)[1]
                self._send_json(200, dict(_MODELS[0], id=model_id))
            else:
                self._send_json(200, {})

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            raw, body = self._read_body()
            if self._control_post(path, body):
                return
            if path == "/v1/messages/count_tokens":
                server._log(path, self._headers_cut(), body, "count_tokens")
                self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
            elif path == "/v1/messages":
                self._messages(path, raw, body)
            else:
                self._send_json(200, {})

        def _messages(self, path: str, raw: bytes, body: Any) -> None:
            if not isinstance(body, dict):
                server._log(path, self._headers_cut(), body, "invalid")
                self._send_json(
                    400,
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": "invalid JSON"},
                    },
                )
                return
            entry, answered_by = server._pick(body)
            server._log(path, self._headers_cut(), body, answered_by)
            entry = _await_requests(server, entry)
            delay = float(entry.get("delay_s") or 0)
            if delay > 0:
                time.sleep(delay)
            error = entry.get("error")
            if isinstance(error, dict):
                self._send_json(
                    int(error.get("status", 500)),
                    {
                        "type": "error",
                        "error": {
                            "type": str(error.get("type", "api_error")),
                            "message": str(error.get("message", "fake error")),
                        },
                    },
                    {str(k): str(v) for k, v in (entry.get("headers") or {}).items()},
                )
                return
            content = _build_content(entry, body)
            has_tools = any(b.get("type") == "tool_use" for b in content)
            stop_reason = entry.get("stop_reason") or ("tool_use" if has_tools else "end_turn")
            usage: dict[str, Any] = {
                "input_tokens": max(1, len(raw) // 4),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": _estimate_output_tokens(content),
            }
            usage.update(entry.get("usage") or {})
            message: dict[str, Any] = {
                "id": new_id("msg_"),
                "type": "message",
                "role": "assistant",
                "model": str(body.get("model") or "claude-opus-5-5"),
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": usage,
            }
            if body.get("stream"):
                self._stream(message, usage, entry)
            else:
                self._send_json(200, message)

        def _stream(
            self, message: dict[str, Any], usage: dict[str, Any], entry: dict[str, Any]
        ) -> None:
            self._start_stream()
            drop_after = entry.get("drop_after_events")
            pause = float(entry.get("delay_between_events_s") or 0)
            malformed = bool(entry.get("malformed_sse"))
            try:
                for count, (event, data) in enumerate(_stream_events(message, usage)):
                    if drop_after is not None and count >= int(drop_after):
                        self._abort()
                        return
                    if malformed and event == "content_block_start":
                        self._write_chunk(_GARBAGE_EVENT)
                        malformed = False
                    self._write_chunk(_sse(event, data))
                    if pause > 0:
                        time.sleep(pause)
                self._write_chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def main(argv: list[str] | None = None) -> int:
    return serve_cli(FakeAnthropicServer, "Run the fake Anthropic Messages API.", argv)


if __name__ == "__main__":
    sys.exit(main())
