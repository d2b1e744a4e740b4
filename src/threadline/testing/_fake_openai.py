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

import argparse
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FakeOpenAIServer", "last_user_text"]

_CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
_MODELS = [
    {"id": "fake-gpt", "object": "model", "created": 1_700_000_000, "owned_by": "threadline"},
    {"id": "llama3.2", "object": "model", "created": 1_700_000_000, "owned_by": "threadline"},
]
_GARBAGE = b"data: {not json\x00\xff\n\n"


def _is_credential(header: str) -> bool:
    name = header.lower()
    return name in _CREDENTIAL_HEADERS or any(w in name for w in ("key", "token", "secret"))


def _new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


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


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    msgs = body.get("messages")
    return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []


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
    if "any_contains" in match:
        blob = json.dumps(body.get("messages", []), ensure_ascii=False)
        if str(match["any_contains"]) not in blob:
            return False
    if "system_contains" in match and str(match["system_contains"]) not in _system_text(body):
        return False
    if "model_contains" in match and str(match["model_contains"]) not in str(body.get("model", "")):
        return False
    if "has_tools" in match and bool(match["has_tools"]) != bool(_tool_names(body)):
        return False
    return "tool_available" not in match or str(match["tool_available"]) in _tool_names(body)


class _Slot:
    """One scripted entry and how many more requests it may answer."""

    __slots__ = ("entry", "remaining")

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.remaining = max(1, int(entry.get("times", 1)))


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
                "id": str(call.get("id") or _new_id("call_")),
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
        self.id = _new_id("chatcmpl-")
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


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up on a stream resets its socket: not worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class FakeOpenAIServer:
    """Fake chat-completions API on ``127.0.0.1:<ephemeral port>``; see the module docstring."""

    def __init__(
        self,
        *,
        responses: list[dict[str, Any]] | None = None,
        default: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._default: dict[str, Any] | None = None
        self.requests: list[dict[str, Any]] = []
        self._host = host
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        """``http://127.0.0.1:<port>/v1`` once started."""
        self.script(list(responses or []), default)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _make_handler(self))
        self._httpd = httpd
        self.base_url = f"http://{self._host}:{httpd.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return 0 if self._httpd is None else int(self._httpd.server_address[1])

    # -- script --------------------------------------------------------------------------------

    def script(
        self, responses: list[dict[str, Any]], default: dict[str, Any] | None = None
    ) -> None:
        """Replace the script (and the default entry)."""
        with self._lock:
            self._slots = [_Slot(dict(r)) for r in responses]
            self._default = dict(default) if default is not None else None

    def add(self, *responses: dict[str, Any]) -> None:
        """Append entries to the script."""
        with self._lock:
            self._slots.extend(_Slot(dict(r)) for r in responses)

    def pending(self) -> list[dict[str, Any]]:
        """Script entries not yet consumed."""
        with self._lock:
            return [s.entry for s in self._slots]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the ``/v1/chat/completions`` requests, oldest first."""
        with self._lock:
            return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def _pick(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | str]:
        with self._lock:
            for i, slot in enumerate(self._slots):
                if not _matches(slot.entry.get("match"), body):
                    continue
                if not slot.entry.get("repeat"):
                    slot.remaining -= 1
                    if slot.remaining <= 0:
                        del self._slots[i]
                return slot.entry, slot.entry
            if self._default is not None:
                return self._default, "default"
        return {"echo": True}, "default"

    def _log(self, path: str, headers: dict[str, str], body: Any, answered_by: Any) -> None:
        with self._lock:
            self.requests.append(
                {"path": path, "headers": headers, "body": body, "answered_by": answered_by}
            )


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


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeOpenAI/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        # -- plumbing ----------------------------------------------------------------------

        def _read_body(self) -> tuple[bytes, Any]:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return raw, json.loads(raw) if raw else {}
            except ValueError:
                return raw, None

        def _headers_cut(self) -> dict[str, str]:
            return {
                k.lower(): ("<cut>" if _is_credential(k) else v) for k, v in self.headers.items()
            }

        def _send_json(
            self, status: int, payload: Any, headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-request-id", _new_id("req_"))
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.end_headers()
            self.wfile.write(data)

        def _write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _abort(self) -> None:
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        # -- verbs -------------------------------------------------------------------------

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.endswith("/models"):
                self._send_json(200, {"object": "list", "data": _MODELS})
            elif path == "/_control/requests":
                with server._lock:
                    payload = list(server.requests)
                self._send_json(200, payload)
            else:
                self._send_json(404, _error_payload({"message": "not found", "type": "not_found"}))

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            raw, body = self._read_body()
            data = body if isinstance(body, dict) else {}
            if path == "/_control/script":
                server.script(list(data.get("responses") or []), data.get("default"))
                self._send_json(200, {"ok": True})
            elif path == "/_control/add":
                server.add(*(data.get("responses") or []))
                self._send_json(200, {"ok": True})
            elif path == "/_control/clear":
                server.clear_requests()
                self._send_json(200, {"ok": True})
            elif path.endswith("/chat/completions"):
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
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.send_header("x-request-id", _new_id("req_"))
            self.end_headers()
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
    parser = argparse.ArgumentParser(description="Run the fake OpenAI chat-completions API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help='JSON file: {"responses": [...], "default": {...}}')
    args = parser.parse_args(argv)
    responses: list[dict[str, Any]] = []
    default: dict[str, Any] | None = None
    if args.script:
        with open(args.script, encoding="utf-8") as fh:
            loaded: Any = json.load(fh)
        if isinstance(loaded, list):
            responses = loaded
        else:
            responses = list(loaded.get("responses") or [])
            default = loaded.get("default")
    server = FakeOpenAIServer(responses=responses, default=default, host=args.host, port=args.port)
    server.start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
