"""The HTTP plumbing shared by the scriptable fake model APIs (:mod:`._fake_anthropic`,
:mod:`._fake_openai`): the server thread, the script and its matching, the request log
(with ``received_at``), the ``/_control/*`` endpoints and the standalone command line.

Each fake supplies what differs: how a script ``match`` reads a request, the answer when
nothing matches, which path is the model call, and the handler that answers it.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, TypeVar

__all__ = [
    "DaemonHTTPServer",
    "FakeHandler",
    "QuietHTTPServer",
    "ScriptedServer",
    "matches_common",
    "messages",
    "new_id",
    "serve_cli",
]

_CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})

_RECEIVED = threading.local()
"""Per handler thread: when the current request's body was fully read (time.time())."""

_S = TypeVar("_S", bound="ScriptedServer")


def _is_credential(header: str) -> bool:
    name = header.lower()
    return name in _CREDENTIAL_HEADERS or any(w in name for w in ("key", "token", "secret"))


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


def messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's ``messages`` that are objects."""
    msgs = body.get("messages")
    return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []


def matches_common(
    match: dict[str, Any],
    body: dict[str, Any],
    *,
    system_text: Callable[[dict[str, Any]], str],
    tool_names: Callable[[dict[str, Any]], list[str]],
) -> bool:
    """The ``match`` keys both fakes read alike: ``any_contains``, ``system_contains``,
    ``model_contains``, ``has_tools`` and ``tool_available``."""
    if "any_contains" in match:
        blob = json.dumps(body.get("messages", []), ensure_ascii=False)
        if str(match["any_contains"]) not in blob:
            return False
    if "system_contains" in match and str(match["system_contains"]) not in system_text(body):
        return False
    if "model_contains" in match and str(match["model_contains"]) not in str(body.get("model", "")):
        return False
    if "has_tools" in match and bool(match["has_tools"]) != bool(tool_names(body)):
        return False
    return "tool_available" not in match or str(match["tool_available"]) in tool_names(body)


class _Slot:
    """One scripted entry and how many more requests it may answer."""

    __slots__ = ("entry", "remaining")

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.remaining = max(1, int(entry.get("times", 1)))


class DaemonHTTPServer(ThreadingHTTPServer):
    daemon_threads = True


class QuietHTTPServer(DaemonHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up on a stream resets its socket: not worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class ScriptedServer:
    """A fake API on ``127.0.0.1:<ephemeral port>`` answering from a script."""

    _thread_name: ClassVar[str] = "fake-api"
    _url_suffix: ClassVar[str] = ""
    _server_class: ClassVar[type[ThreadingHTTPServer]] = DaemonHTTPServer

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
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.script(list(responses or []), default)

    # -- what each fake says -------------------------------------------------------------------

    def _matches(self, match: dict[str, Any] | None, body: dict[str, Any]) -> bool:
        raise NotImplementedError

    def _fallback(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer when neither a script entry nor the default matches."""
        return {"echo": True}

    def _is_model_path(self, path: str) -> bool:
        raise NotImplementedError

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self: _S) -> _S:
        if self._httpd is not None:
            return self
        httpd = self._server_class((self._host, self._port), self._make_handler())
        self._httpd = httpd
        self.base_url = f"http://{self._host}:{httpd.server_address[1]}{self._url_suffix}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name=self._thread_name, daemon=True
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

    def __enter__(self: _S) -> _S:
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

    def _pick(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | str]:
        """The entry answering ``body`` and what to log as ``answered_by``."""
        with self._lock:
            for i, slot in enumerate(self._slots):
                if not self._matches(slot.entry.get("match"), body):
                    continue
                if not slot.entry.get("repeat"):
                    slot.remaining -= 1
                    if slot.remaining <= 0:
                        del self._slots[i]
                return slot.entry, slot.entry
            if self._default is not None:
                return self._default, "default"
        return self._fallback(body), "default"

    def _log(self, path: str, headers: dict[str, str], body: Any, answered_by: Any) -> None:
        with self._lock:
            self.requests.append(
                {
                    "path": path,
                    "headers": headers,
                    "body": body,
                    "answered_by": answered_by,
                    "received_at": getattr(_RECEIVED, "at", None),
                }
            )


class FakeHandler(BaseHTTPRequestHandler):
    """Request plumbing; a fake's handler sets ``fake`` and answers the model calls."""

    protocol_version = "HTTP/1.1"
    fake: ClassVar[ScriptedServer]
    request_id_header: ClassVar[str] = "request-id"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        _RECEIVED.at = time.time()
        try:
            return raw, json.loads(raw) if raw else {}
        except ValueError:
            return raw, None

    def _headers_cut(self) -> dict[str, str]:
        return {k.lower(): ("<cut>" if _is_credential(k) else v) for k, v in self.headers.items()}

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header(self.request_id_header, new_id("req_"))
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _start_stream(self) -> None:
        """The head of a chunked ``text/event-stream`` reply."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header(self.request_id_header, new_id("req_"))
        self.end_headers()

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

    def _control_get(self, path: str) -> bool:
        """Answers ``GET /_control/requests`` and ``/_control/arrivals``; False for others."""
        fake = self.fake
        if path == "/_control/requests":
            with fake._lock:
                payload = list(fake.requests)
            self._send_json(200, payload)
        elif path == "/_control/arrivals":
            # Wall-clock times (time.time()) at which each model call's body was fully
            # received: lets a benchmark in another process time "call -> request".
            with fake._lock:
                arrivals = [
                    r.get("received_at") for r in fake.requests if fake._is_model_path(r["path"])
                ]
            self._send_json(200, arrivals)
        else:
            return False
        return True

    def _control_post(self, path: str, body: Any) -> bool:
        """Answers ``POST /_control/script``, ``/add`` and ``/clear``; False for others."""
        data = body if isinstance(body, dict) else {}
        if path == "/_control/script":
            self.fake.script(list(data.get("responses") or []), data.get("default"))
        elif path == "/_control/add":
            self.fake.add(*(data.get("responses") or []))
        elif path == "/_control/clear":
            self.fake.clear_requests()
        else:
            return False
        self._send_json(200, {"ok": True})
        return True


def serve_cli(
    make_server: Callable[..., ScriptedServer], description: str, argv: list[str] | None
) -> int:
    """``python -m threadline.testing._fake_*``: serve until interrupted."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help='JSON file: {"responses": [...], "default": {...}}')
    parser.add_argument("--log", help="append every request as a JSON line to this file")
    args = parser.parse_args(argv)
    responses: list[dict[str, Any]] = []
    default: dict[str, Any] | None = None
    if args.script:
        with open(args.script, encoding="utf-8") as fh:
            data: Any = json.load(fh)
        if isinstance(data, list):
            responses = data
        else:
            responses = list(data.get("responses") or [])
            default = data.get("default")
    server = make_server(responses=responses, default=default, host=args.host, port=args.port)
    server.start()
    print(server.base_url, flush=True)
    logged = 0
    try:
        while True:
            time.sleep(0.2)
            if args.log:
                with server._lock:
                    fresh = server.requests[logged:]
                    logged = len(server.requests)
                if fresh:
                    with open(args.log, "a", encoding="utf-8") as fh:
                        for record in fresh:
                            fh.write(json.dumps(record, default=str) + "\n")
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
