"""The Messages API over HTTP without the ``anthropic`` package: post, then decode the SSE.

Importing ``anthropic`` costs ~0.9 s on the development machine (its package ``__init__``
imports every type and resource module, pydantic models included, and importing any of its
submodules runs that ``__init__`` first), which a fresh process paid before its first model
request. This module posts the body with ``httpx2`` (the HTTP client the ``anthropic``
package itself uses: same TLS trust store, proxies from the environment, connection limits
and TCP keep-alive as the SDK's default client), ~20-40 ms to import, and decodes the
``text/event-stream`` reply itself, as the SDK's ``AsyncStream`` does: ``ping`` events and
events without a name are skipped, an ``error`` event raises, every other event's ``data``
is one JSON object, passed on as a dict.

Errors are plain values for :mod:`threadline.providers._errors`: :class:`StatusError` (a
non-2xx reply, or an ``error`` event inside a 200 stream), :class:`ConnectionFailed` (no
reply: refused, reset, timed out); a failure while the stream is read surfaces as the
``httpx2`` or decoding exception itself (a cut or corrupt stream).
"""

from __future__ import annotations

import functools
import os
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from .._version import __version__
from ._httpx2 import load

load()  # httpx2 and httpcore2 without importlib.metadata (see _httpx2)

import httpx2  # noqa: E402  (after load(): already imported)

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "ConnectionFailed",
    "SSEDecoder",
    "StatusError",
    "WireClient",
    "WireStream",
]

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"

_MAX_LINE = 64 * 1024 * 1024
"""An SSE line longer than this is a corrupt stream (the API's deltas are small)."""


class StatusError(Exception):
    """The server answered with an error: a non-2xx status, or an ``error`` event."""

    def __init__(
        self, status: int, body: object, message: str, headers: Mapping[str, str]
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.message = message
        self.headers = headers


class ConnectionFailed(Exception):
    """No reply: the connection failed or the request timed out before one came."""


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~15 ms, far more than a turn."""
    return httpx2.create_ssl_context()


def _socket_options() -> list[tuple[int, int, int]]:
    """TCP keep-alive as the ``anthropic`` SDK's default client sets it (long, quiet streams)."""
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (("TCP_KEEPINTVL", 60), ("TCP_KEEPCNT", 5), ("TCP_KEEPIDLE", 60)):
        opt = getattr(socket, name, None)
        if opt is not None:
            options.append((socket.IPPROTO_TCP, opt, value))
    return options


def _is_loopback(host: str) -> bool:
    import ipaddress  # a plain-HTTP base URL is rare: not loaded otherwise

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _http_client(base_url: str, timeout_s: float) -> httpx2.AsyncClient:
    """The SDK's default client settings. A plain-HTTP server on this machine (a local
    gateway, a test server) has no certificate to check: the CA bundle is not loaded."""
    from httpx2._utils import get_environment_proxies

    parts = urlsplit(base_url)
    local = parts.scheme == "http" and _is_loopback(parts.hostname or "")
    verify: ssl.SSLContext | bool = False if local else _ssl_context()
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
    options = _socket_options()
    mounts: dict[str, httpx2.AsyncBaseTransport | None] = {
        key: None
        if proxy is None
        else httpx2.AsyncHTTPTransport(
            proxy=proxy, verify=verify, limits=limits, socket_options=options
        )
        for key, proxy in get_environment_proxies().items()
    }
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(timeout_s),
        limits=limits,
        follow_redirects=not local,
        mounts=mounts,
        transport=httpx2.AsyncHTTPTransport(verify=verify, limits=limits, socket_options=options),
    )


class SSEDecoder:
    """Server-sent events from bytes: ``(event name or None, data)`` for each event.

    Lines end with ``\\n``, ``\\r\\n`` or ``\\r``; ``data`` lines of one event are joined with
    ``\\n``; comments and other fields are ignored; an unterminated last event is dropped.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._event: bytes | None = None
        self._data: list[bytes] = []
        self._has_data = False

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        buf = self._pending + chunk if self._pending else chunk
        if b"\r" in buf:
            keep_cr = buf.endswith(b"\r")  # may be the first half of "\r\n"
            if keep_cr:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if keep_cr:
                buf += b"\r"
        lines = buf.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > _MAX_LINE:
            raise ValueError("server-sent event line too long")
        out: list[tuple[str | None, bytes]] = []
        for line in lines:
            if not line:
                if self._event is not None or self._has_data:
                    name = None if self._event is None else self._event.decode()
                    out.append((name, b"\n".join(self._data)))
                self._event, self._data, self._has_data = None, [], False
                continue
            field, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if field == b"event":
                self._event = value
            elif field == b"data":
                self._data.append(value)
                self._has_data = True
        return out


class WireStream:
    """One streamed reply: ``response`` (status, headers), then its events as dicts."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response

    async def __aenter__(self) -> WireStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.response.aclose()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        decoder = SSEDecoder()
        async for chunk in self.response.aiter_bytes():
            for name, data in decoder.feed(chunk):
                if name is None or name == "ping":
                    continue
                if name == "error":
                    raise _event_error(data, self.response)
                if not data:
                    continue
                event = orjson.loads(data)
                if not isinstance(event, dict):
                    raise ValueError(f"server-sent event {name!r} is not a JSON object")
                yield event


def _event_error(data: bytes, response: httpx2.Response) -> StatusError:
    try:
        body: object = orjson.loads(data)
        message = f"{body}"
    except orjson.JSONDecodeError:
        body = data.decode(errors="replace")
        message = str(body) or f"Error code: {response.status_code}"
    return StatusError(response.status_code, body, message, response.headers)


class WireClient:
    """Posts Messages API requests; one connection pool per client."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout_s: float,
        default_headers: Mapping[str, str] | None,
    ) -> None:
        base = base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
        self._url = base.rstrip("/") + "/v1/messages"
        headers = {
            "accept": "application/json",
            "content-type": "application/json",
            "anthropic-version": API_VERSION,
            "user-agent": f"threadline/{__version__}",
        }
        if api_key:
            headers["x-api-key"] = api_key
        headers.update({k.lower(): v for k, v in (default_headers or {}).items()})
        self._headers = headers
        self._client = _http_client(base, timeout_s)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def stream(self, body: bytes, headers: Mapping[str, str]) -> WireStream:
        """The reply to ``body`` once its status is 2xx (its events not read yet)."""
        request = self._client.build_request(
            "POST", self._url, content=body, headers={**self._headers, **headers}
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx2.TimeoutException as exc:
            raise ConnectionFailed("Request timed out.") from exc
        except httpx2.TransportError as exc:
            raise ConnectionFailed("Connection error.") from exc
        if response.status_code >= 300:
            try:
                raw = await response.aread()
            except httpx2.HTTPError:
                raw = b""
            finally:
                await response.aclose()
            try:
                body_out: object = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body_out = raw.decode(errors="replace")
            message = f"Error code: {response.status_code} - {body_out}"
            raise StatusError(response.status_code, body_out, message, response.headers)
        return WireStream(response)
