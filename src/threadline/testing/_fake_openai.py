"""A scriptable fake of an OpenAI-compatible chat-completions API, over real HTTP on 127.0.0.1.

The sibling of :mod:`threadline.testing._fake_anthropic`: stdlib only
(``http.server.ThreadingHTTPServer`` in a daemon thread), real SSE, so the real ``openai``
client is exercised. ``base_url`` includes ``/v1``, as ``OPENAI_BASE_URL`` does.

A script is a list of entries; the FIRST entry whose ``match`` matches a request answers it and
is consumed (after ``times`` uses; never with ``repeat: true``). Entry keys:

- answer: ``text`` (str), ``tool_calls`` (``{"name", "arguments", "id"?}`` or a list of them
  for parallel calls; ``arguments`` is a dict or a raw JSON string), ``reasoning`` (str,
  streamed as ``delta.reasoning_content`` before the text), ``echo: true`` (echo the last
  user text), ``error`` (``{"status", "type", "message", "code"?}``) with optional
  ``headers``, ``stream_error`` (``{"message", "type"?, "code"?}``: an ``error`` object
  inside a 200 stream, after the first chunk).
- options: ``match`` (``last_user_contains``, ``any_contains``, ``system_contains``,
  ``model_contains``, ``has_tools``, ``tool_available``), all of which must hold,
  ``usage`` (override of ``prompt_tokens`` / ``completion_tokens`` / ``cached_tokens``),
  ``finish_reason``, ``times``, ``repeat``, ``delay_s``.
- faults: ``drop_after_chunks`` (close the socket after N SSE chunks), ``malformed_sse``
  (garbage in an SSE data line), ``no_finish`` (end the stream cleanly, without a
  ``finish_reason`` or ``[DONE]``), ``delay_between_chunks_s`` (slow streaming).

Usage is streamed (as a last chunk with empty ``choices``) only when the request asks for
it with ``stream_options.include_usage``, as OpenAI does. When nothing matches: the
``default`` entry if set, else ``"echo: <last user text>"``.

Run standalone: ``python -m threadline.testing._fake_openai --port 0 --script FILE``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from ._fake_http import (
    FakeHandler,
    QuietHTTPServer,
    ScriptedServer,
    matches_common,
    messages as _messages,
    new_id,
    serve_cli,
)

__all__ = ["FakeOpenAIServer", "last_user_text"]

_MODELS = [
    {"id": "fake-gpt", "object": "model", "created": 1_700_000_000, "owned_by": "threadline"},
    {"id": "llama3.2", "object": "model", "created": 1_700_000_000, "owned_by": "threadline"},
]
_GARBAGE = b"data: {not json\x00\xff\n\n"


def _content_texts(content: Any) -> list[str]:
    """Texts of a chat message ``content`` (string or parts list)."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        str(p["text"])
        for p in content
        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
    ]


def last_user_text(body: dict[str, Any]) -> str:
    """The newest ``user`` text of a request."""
    for msg in reversed(_messages(body)):
        if msg.get("role") == "user":
            texts = [t for t in _content_texts(msg.get("content")) if t]
            if texts:
                return texts[-1]
    return ""


def _trailing_turn_text(body: dict[str, Any]) -> str:
    """Text of the trailing run of ``user`` / ``tool`` messages (tool results included)."""
    texts: list[str] = []
    for msg in reversed(_messages(body)):
        if msg.get("role") not in ("user", "tool"):
            break
        texts = _content_texts(msg.get("content")) + texts
    return "\n".join(texts)


def _system_text(body: dict[str, Any]) -> str:
    return "\n".join(
        t
        for m in _messages(body)
        if m.get("role") in ("system", "developer")
        for t in _content_texts(m.get("content"))
    )


def _tool_names(body: dict[str, Any]) -> list[str]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    names: list[str] = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and "name" in function:
            names.append(str(function["name"]))
    return names


def _matches(match: dict[str, Any] | None, body: dict[str, Any]) -> bool:
    if not match:
        return True
    if "last_user_contains" in match and str(match["last_user_contains"]) not in (
        _trailing_turn_text(body)
    ):
        return False
    return matches_common(match, body, system_text=_system_text, tool_names=_tool_names)


def _tool_calls(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry's tool calls as ``{"id", "name", "arguments": str}``."""
    raw = entry.get("tool_calls")
    if raw is None:
        return []
    calls = raw if isinstance(raw, list) else [raw]
    out: list[dict[str, Any]] = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        args = call.get("arguments", {})
        out.append(
            {
                "id": str(call.get("id") or new_id("call_")),
                "name": str(call.get("name", "")),
                "arguments": args if isinstance(args, str) else json.dumps(args),
            }
        )
    return out


def _chunks(text: str, n: int = 3) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Reply:
    """What one request is answered with, in chat-completions terms."""

    def __init__(self, entry: dict[str, Any], body: dict[str, Any], raw: bytes) -> None:
        self.id = new_id("chatcmpl-")
        self.model = str(body.get("model") or "fake-gpt")
        reasoning = entry.get("reasoning")
        self.reasoning: str = reasoning if isinstance(reasoning, str) else ""
        text = f"echo: {last_user_text(body)}" if entry.get("echo") else ""
        if isinstance(entry.get("text"), str):
            text = f"{text}\n{entry['text']}" if text else entry["text"]
        self.text: str = text
        self.calls = _tool_calls(entry)
        self.finish_reason = str(
            entry.get("finish_reason") or ("tool_calls" if self.calls else "stop")
        )
        over = dict(entry.get("usage") or {})
        completion = max(1, (len(self.text) + len(json.dumps(self.calls))) // 8)
        self.prompt_tokens = int(over.get("prompt_tokens", max(1, len(raw) // 4)))
        self.completion_tokens = int(over.get("completion_tokens", completion))
        self.cached_tokens = int(over.get("cached_tokens", 0))

    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens},
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def chunks(self, *, include_usage: bool) -> Iterator[dict[str, Any]]:
        yield self._chunk({"role": "assistant", "content": ""})
        for piece in _chunks(self.reasoning):
            yield self._chunk({"reasoning_content": piece})
        for piece in _chunks(self.text):
            yield self._chunk({"content": piece})
        for index, call in enumerate(self.calls):
            head = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": ""},
            }
            yield self._chunk({"tool_calls": [head]})
            for piece in _chunks(call["arguments"]):
                yield self._chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                )
        yield self._chunk({}, self.finish_reason)
        if include_usage:
            yield {**self._chunk({}), "choices": [], "usage": self.usage()}

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in self.calls
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": self.usage(),
        }


class FakeOpenAIServer(ScriptedServer):
    """Fake chat-completions API on ``127.0.0.1:<ephemeral port>``; see the module docstring.

    ``base_url`` is ``http://127.0.0.1:<port>/v1`` once started.
    """

    _thread_name = "fake-openai"
    _url_suffix = "/v1"
    _server_class = QuietHTTPServer

    def _matches(self, match: dict[str, Any] | None, body: dict[str, Any]) -> bool:
        return _matches(match, body)

    def _is_model_path(self, path: str) -> bool:
        return path.endswith("/chat/completions")

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the ``/v1/chat/completions`` requests, oldest first."""
        with self._lock:
            return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]


def _sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def _error_payload(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "error": {
            "message": str(error.get("message", "fake error")),
            "type": str(error.get("type", "server_error")),
            "param": None,
            "code": error.get("code"),
        }
    }


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:  # noqa: C901 (Long: see the docstring)
    """Long: a test fake; the request handler class is nested to close over the server."""
    class Handler(FakeHandler):
        server_version = "FakeOpenAI/1.0"
        request_id_header = "x-request-id"
        fake = server

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if self._control_get(path):
                return
            if path.endswith("/models"):
                self._send_json(200, {"object": "list", "data": _MODELS})
            else:
                self._send_json(404, _error_payload({"message": "not found", "type": "not_found"}))

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            raw, body = self._read_body()
            if self._control_post(path, body):
                return
            if path.endswith("/chat/completions"):
                self._chat(path, raw, body)
            else:
                self._send_json(404, _error_payload({"message": "not found", "type": "not_found"}))

        def _chat(self, path: str, raw: bytes, body: Any) -> None:
            if not isinstance(body, dict):
                server._log(path, self._headers_cut(), body, "invalid")
                invalid = {"message": "invalid JSON", "type": "invalid_request_error"}
                self._send_json(400, _error_payload(invalid))
                return
            entry, answered_by = server._pick(body)
            server._log(path, self._headers_cut(), body, answered_by)
            delay = float(entry.get("delay_s") or 0)
            if delay > 0:
                time.sleep(delay)
            error = entry.get("error")
            if isinstance(error, dict):
                headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
                self._send_json(int(error.get("status", 500)), _error_payload(error), headers)
                return
            reply = _Reply(entry, body, raw)
            if body.get("stream"):
                options = body.get("stream_options")
                usage = isinstance(options, dict) and bool(options.get("include_usage"))
                self._stream(reply, entry, include_usage=usage)
            else:
                self._send_json(200, reply.completion())

        def _stream(self, reply: _Reply, entry: dict[str, Any], *, include_usage: bool) -> None:
            self._start_stream()
            drop_after = entry.get("drop_after_chunks")
            pause = float(entry.get("delay_between_chunks_s") or 0)
            malformed = bool(entry.get("malformed_sse"))
            stream_error = entry.get("stream_error")
            try:
                for count, chunk in enumerate(reply.chunks(include_usage=include_usage)):
                    if drop_after is not None and count >= int(drop_after):
                        self._abort()
                        return
                    if count == 1 and isinstance(stream_error, dict):
                        self._write_chunk(_sse(_error_payload(stream_error)))
                        self._write_chunk(b"")
                        return
                    if count == 1 and malformed:
                        self._write_chunk(_GARBAGE)
                    choices = chunk["choices"]
                    if entry.get("no_finish") and choices and choices[0]["finish_reason"]:
                        break
                    self._write_chunk(_sse(chunk))
                    if pause > 0:
                        time.sleep(pause)
                if not entry.get("no_finish"):
                    self._write_chunk(_sse("[DONE]"))
                self._write_chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def main(argv: list[str] | None = None) -> int:
    return serve_cli(FakeOpenAIServer, "Run the fake OpenAI chat-completions API.", argv)


if __name__ == "__main__":
    sys.exit(main())
