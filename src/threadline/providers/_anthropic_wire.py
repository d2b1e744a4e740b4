"""The Messages API over HTTP without the ``anthropic`` package: post, then decode the SSE.

Importing ``anthropic`` costs ~0.9 s on the development machine (its package ``__init__``
imports every type and resource module, pydantic models included, and importing any of its
submodules runs that ``__init__`` first), which a fresh process paid before its first model
request. This module posts the body with the HTTP client the ``anthropic`` package itself
uses, ``httpx2`` (same TLS trust store, proxies from the environment, connection limits and
TCP keep-alive as the SDK's default client), and decodes the ``text/event-stream`` reply
itself, as the SDK's ``AsyncStream`` does: ``ping`` events and events without a name are
skipped, an ``error`` event raises, every other event's ``data`` is one JSON object, passed
on as a dict.

**The direct path.** ``httpx2`` sends through ``httpcore2``; importing ``httpx2`` itself
(its models, and the ``email``, ``http.client``, ``urllib.request``, ``http.cookiejar``,
``idna`` and ``mimetypes`` modules they import) costs a fresh process ≈ 25-30 ms before its
first request. When that is provably what ``httpx2`` would do, the request goes to an
``httpcore2`` connection pool of the same settings, with the header list ``httpx2`` builds
(same names, values, order; ``tests/providers/test_wire_direct.py`` compares the bytes on
the wire). That is when:

- no proxy can come from the environment: on Linux and the other platforms where
  ``urllib.request.getproxies`` reads only environment variables (not macOS, not Windows),
  no ``HTTP_PROXY``, ``HTTPS_PROXY`` or ``ALL_PROXY`` (any case) is set and non-empty
  (``NO_PROXY`` alone changes nothing); ``httpx2`` reads no ``.netrc`` by itself, and the TLS
  context is the one it builds (``httpcore2.default_ssl_context``: ``SSL_CERT_FILE`` and
  ``SSL_CERT_DIR`` are honoured);
- ``httpx2`` would not rewrite the URL: ``http``/``https``, a lower-case ASCII host name or
  a valid IPv4 address, an optional port, a path of unreserved characters without ``.``,
  ``..`` or empty segments, no user, query or fragment;
- every header name and value is ASCII and ours set ``accept`` and ``user-agent`` (so
  ``httpx2``'s own ``User-Agent`` is never sent).

Otherwise the ``httpx2`` client is built and used, as before. A reply ``httpx2`` would treat
specially (a redirect location, a ``set-cookie``, a ``content-encoding``) is handed to it
(:func:`threadline.providers._wire_httpx2.adopt`: the response it would have returned, the
cookie in its jar, the redirect followed), and every later request goes through it; an
``httpcore2`` exception is raised as the ``httpx2`` one the transport raises. ``httpx2``'s
log line (``HTTP Request: ...`` on the ``httpx2`` logger) is written as it writes it.

Errors are plain values for :mod:`threadline.providers._errors`: :class:`StatusError` (a
non-2xx reply, or an ``error`` event inside a 200 stream), :class:`ConnectionFailed` (no
reply: refused, reset, timed out); a failure while the stream is read surfaces as the
``httpx2`` or decoding exception itself (a cut or corrupt stream).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import re
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import orjson

from .._version import __version__
from ._httpx2 import load

load(core_only=True)  # httpcore2 without importlib.metadata (see _httpx2)

import httpcore2  # noqa: E402  (after load(): already imported)

if TYPE_CHECKING:
    import httpx2

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

_logger = logging.getLogger("httpx2")  # httpx2's own: its "HTTP Request:" lines


class StatusError(Exception):
    """The server answered with an error: a non-2xx status, or an ``error`` event."""

    def __init__(self, status: int, body: object, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.message = message
        self.headers = headers


class ConnectionFailed(Exception):
    """No reply: the connection failed or the request timed out before one came."""


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~15 ms, far more than a turn.
    The context ``httpx2.create_ssl_context()`` returns (it calls this)."""
    return httpcore2.default_ssl_context(_trust_env=True)


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


# -- the direct path: when it is what httpx2 would send ------------------------------------------

_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


def _proxy_possible() -> bool:
    """Whether ``httpx2`` could route a request through a proxy it reads from the
    environment (``urllib.request.getproxies``: the system settings on macOS and Windows,
    the ``*_proxy`` variables elsewhere)."""
    if sys.platform == "darwin" or os.name == "nt":
        return True
    return any(value and name.lower() in _PROXY_VARIABLES for name, value in os.environ.items())


_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_PLAIN_URL = re.compile(
    rf"(?P<scheme>https?)://(?P<host>{_LABEL}(?:\.{_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?"
    r"(?P<path>(?:/[A-Za-z0-9_~.-]+)*/?)"
)
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Target(NamedTuple):
    """A URL as ``httpx2.URL`` would parse it: what ``httpcore2`` gets and what is logged."""

    scheme: bytes
    host: bytes
    port: int | None
    path: bytes
    text: str  # str(httpx2.URL(url))


def _plain_target(url: str) -> _Target | None:
    """``url`` when ``httpx2`` would take it as it is (see the module docstring), else None."""
    found = _PLAIN_URL.fullmatch(url) if len(url) <= 65_536 else None  # httpx2's longest
    if found is None:
        return None
    scheme, host, path = found["scheme"], found["host"], found["path"]
    if any(part in (".", "..") for part in path.split("/")):
        return None
    if _IPV4_STYLE.fullmatch(host):
        import ipaddress

        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return None
    port: int | None = int(found["port"]) if found["port"] else None
    if port is not None and port > 65_535:
        return None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return _Target(
        scheme.encode(), host.encode(), port, path.encode(), f"{scheme}://{netloc}{path}"
    )


@functools.cache
def _accept_encoding() -> bytes:
    """``httpx2``'s ``Accept-Encoding`` (``_client.ACCEPT_ENCODING``): what its decoders
    support here (``br`` with ``brotli`` or ``brotlicffi``, ``zstd`` with the standard
    library's or ``backports.zstd``), found the way ``httpx2._decoders`` finds them."""
    names = ["gzip", "deflate"]
    if _importable("brotli") or _importable("brotlicffi"):
        names.append("br")
    zstd = "compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd"
    if _importable(zstd, "ZstdDecompressor", "ZstdError"):
        names.append("zstd")
    return ", ".join(names).encode("ascii")


def _importable(module: str, *names: str) -> bool:
    """Whether ``from module import *names`` succeeds (``import module`` without names)."""
    try:
        imported = importlib.import_module(module)
        for name in names:
            getattr(imported, name)
    except ImportError:
        return False
    except AttributeError:  # `from m import n` raises ImportError for a missing n
        return False
    return True


def _header_list(
    target: _Target, headers: Mapping[str, str], length: int
) -> list[tuple[bytes, bytes]] | None:
    """The headers ``AsyncClient.build_request("POST", url, content=<length bytes>,
    headers=headers)`` sends, in its order (its defaults, then ``Headers.update``: a name
    given again moves to the end; ``Content-Length`` unless a framing header is given;
    ``Host`` first), or None when ``httpx2`` would need its own rules (non-ASCII text, no
    ``accept`` or ``user-agent`` of ours)."""
    given: list[tuple[bytes, bytes]] = []
    for name, value in headers.items():
        if not (isinstance(name, str) and isinstance(value, str)):
            return None
        if not (name.isascii() and value.isascii()):
            return None
        given.append((name.encode("ascii"), value.encode("ascii")))
    lowered = {name.lower() for name, _ in given}
    if not {b"accept", b"user-agent"} <= lowered:
        return None
    defaults = [(b"Accept-Encoding", _accept_encoding()), (b"Connection", b"keep-alive")]
    out = [item for item in defaults if item[0].lower() not in lowered] + given
    if b"content-length" not in lowered and b"transfer-encoding" not in lowered:
        out.append((b"Content-Length", str(length).encode("ascii")))
    if b"host" not in lowered:
        netloc = target.host if target.port is None else b"%s:%d" % (target.host, target.port)
        out.insert(0, (b"Host", netloc))
    return out


_BODY_CHUNK = 1 << 20


class _Chunks:
    """A large body handed to ``httpcore2`` in :data:`_BODY_CHUNK` pieces (each ``async for``
    starts again from the first byte). Given as one ``bytes``, the socket takes only what
    fits in its buffer (a few MiB on loopback) and ``asyncio``'s transport copies the rest
    into its own buffer, new memory, before the server reads any of it: for a resume's
    19.6 MiB body that copy was ≈ 30 ms of the ≈ 45 ms the send took in a new process.
    Piece by piece, each waits until the previous one drained. The bytes on the wire are
    the same: the body is framed by its ``Content-Length``, which does not depend on how
    ``h11`` is handed the data."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[bytes]:
        body = self._body
        for start in range(0, len(body), _BODY_CHUNK):
            yield body[start : start + _BODY_CHUNK]


def _body_stream(body: bytes, listed: list[tuple[bytes, bytes]]) -> bytes | _Chunks:
    """``body`` as it is, or in pieces (:class:`_Chunks`) when it is larger than one and
    framed by the ``Content-Length`` of its own length (a ``Transfer-Encoding`` header would
    make each piece a chunk of its own on the wire)."""
    if len(body) <= _BODY_CHUNK:
        return body
    length = str(len(body)).encode("ascii")
    framing = [(name.lower(), value) for name, value in listed]
    if (b"content-length", length) not in framing or any(
        name == b"transfer-encoding" or (name == b"content-length" and value != length)
        for name, value in framing
    ):
        return body
    return _Chunks(body)


def _needs_httpx2(reply: httpcore2.Response) -> bool:
    """A reply ``httpx2`` treats specially: a redirect location (followed, or kept as
    ``next_request``), a cookie (kept in the client's jar), a content encoding (decoded)."""
    for name, _ in reply.headers:
        lowered = name.lower()
        if lowered in (b"set-cookie", b"content-encoding"):
            return True
        if lowered == b"location" and reply.status in (301, 302, 303, 307, 308):
            return True
    return False


class _Headers(Mapping[str, str]):
    """Reply headers as ``httpx2.Headers`` reads them: case-insensitive, repeated names
    joined with ", ", text decoded as ASCII, else UTF-8, else ISO-8859-1."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        encoding = "iso-8859-1"
        for candidate in ("ascii", "utf-8"):
            try:
                for name, value in raw:
                    name.decode(candidate)
                    value.decode(candidate)
            except UnicodeDecodeError:
                continue
            encoding = candidate
            break
        joined: dict[str, str] = {}
        for name, value in raw:
            key, text = name.decode(encoding).lower(), value.decode(encoding)
            joined[key] = f"{joined[key]}, {text}" if key in joined else text
        self._joined = joined

    def __getitem__(self, key: str) -> str:
        return self._joined[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._joined)

    def __len__(self) -> int:
        return len(self._joined)


class _Reply(Protocol):
    """What the wire client reads of a reply (``httpx2.Response`` has it too)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aread(self) -> bytes: ...

    async def aclose(self) -> None: ...


class _DirectReply:
    """An ``httpcore2`` reply read as ``httpx2.Response`` reads an unencoded one: its chunks
    as they come (empty ones skipped), closed at the end of the stream; an ``httpcore2``
    exception raised as ``httpx2``'s."""

    def __init__(self, reply: httpcore2.Response, client: WireClient, sent: _Sent) -> None:
        self._reply = reply
        self._client = client
        self._sent = sent
        self.status_code = reply.status
        self.headers: Mapping[str, str] = _Headers(reply.headers)
        self._closed = False

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        stream: Any = self._reply.stream
        try:
            async for chunk in stream:
                if chunk:
                    yield chunk
        except httpcore2_errors() as exc:
            raise self._client.translate(exc, self._sent)  # noqa: B904  (its own cause)
        await self.aclose()

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                await self._reply.aclose()
            except httpcore2_errors() as exc:
                raise self._client.translate(exc, self._sent)  # noqa: B904  (its own cause)


@functools.cache
def httpcore2_errors() -> tuple[type[Exception], ...]:
    """The ``httpcore2`` exceptions ``httpx2``'s transport maps to its own."""
    return (
        httpcore2.TimeoutException,
        httpcore2.NetworkError,
        httpcore2.ProxyError,
        httpcore2.UnsupportedProtocol,
        httpcore2.ProtocolError,
    )


class _Sent(NamedTuple):
    """One request of the direct path (what a take-over by ``httpx2`` rebuilds it from)."""

    url: str
    body: bytes
    headers: Mapping[str, str]


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

    def __init__(self, response: _Reply) -> None:
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


def _event_error(data: bytes, response: _Reply) -> StatusError:
    try:
        body: object = orjson.loads(data)
        message = f"{body}"
    except orjson.JSONDecodeError:
        body = data.decode(errors="replace")
        message = str(body) or f"Error code: {response.status_code}"
    return StatusError(response.status_code, body, message, response.headers)


class WireClient:
    """Posts Messages API requests; one connection pool per client (see the module
    docstring for the direct path and when ``httpx2``'s client takes over)."""

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
        self._timeout_s = timeout_s
        self._target = None if _proxy_possible() else _plain_target(self._url)
        # A plain-HTTP server on this machine (a local gateway, a test server) has no
        # certificate to check: the CA bundle is not loaded, and redirects are not followed.
        parts = urlsplit(base)
        self._local = parts.scheme == "http" and _is_loopback(parts.hostname or "")
        self._full: httpx2.AsyncClient | None = None
        self._pool: httpcore2.AsyncConnectionPool | None = None
        if self._target is None:
            self._full = self._full_client()
        else:
            # The pool only ever connects to the target's origin (a request for another one,
            # as a redirect, goes to httpx2's client): TLS settings only for an https target.
            https = self._target.scheme == b"https"
            self._pool = httpcore2.AsyncConnectionPool(
                ssl_context=_ssl_context() if https else None,  # (https: never local)
                max_connections=1000,
                max_keepalive_connections=100,
                keepalive_expiry=5.0,
                http1=True,
                http2=False,
                retries=0,
                socket_options=_socket_options(),
            )

    def _full_client(self) -> httpx2.AsyncClient:
        from ._wire_httpx2 import http_client

        return http_client(
            timeout_s=self._timeout_s,
            verify=False if self._local else _ssl_context(),
            follow_redirects=not self._local,
            socket_options=_socket_options(),
        )

    def _httpx2(self) -> httpx2.AsyncClient:
        """The ``httpx2`` client (built now if the direct path ran so far)."""
        if self._full is None:
            self._full = self._full_client()
        return self._full

    def translate(self, exc: BaseException, sent: _Sent) -> BaseException:
        """``httpx2``'s exception for ``httpcore2``'s ``exc`` (see ``_wire_httpx2``). The
        client it takes only builds the request the exception carries: a failed request does
        not send the later ones through ``httpx2`` (a reply ``httpx2`` must handle does)."""
        from ._wire_httpx2 import translate

        client = self._full if self._full is not None else self._full_client()
        return translate(exc, client, sent.url, sent.body, sent.headers)

    async def aclose(self) -> None:
        try:
            if self._pool is not None:
                await self._pool.aclose()
        finally:
            if self._full is not None:
                await self._full.aclose()

    async def stream(self, body: bytes, headers: Mapping[str, str]) -> WireStream:
        """The reply to ``body`` once its status is 2xx (its events not read yet)."""
        merged = {**self._headers, **headers}
        response: _Reply
        try:
            response = await self._send(body, merged)
        except Exception as exc:
            httpx2 = sys.modules.get("httpx2")  # (an httpx2 exception: it is imported)
            if httpx2 is not None and isinstance(exc, httpx2.TimeoutException):
                raise ConnectionFailed("Request timed out.") from exc
            if httpx2 is not None and isinstance(exc, httpx2.TransportError):
                raise ConnectionFailed("Connection error.") from exc
            raise
        if response.status_code >= 300:
            await _raise_status(response)
        return WireStream(response)

    async def _send(self, body: bytes, merged: dict[str, str]) -> _Reply:
        """The reply, by the direct path when it applies, else by ``httpx2``'s client."""
        target, pool = self._target, self._pool
        listed = None if target is None else _header_list(target, merged, len(body))
        if target is None or pool is None or listed is None or self._full is not None:
            client = self._httpx2()
            request = client.build_request("POST", self._url, content=body, headers=merged)
            return await client.send(request, stream=True)
        sent = _Sent(self._url, body, merged)
        timeout = {"connect": self._timeout_s, "read": self._timeout_s}
        timeout.update(write=self._timeout_s, pool=self._timeout_s)
        start = time.perf_counter()
        try:
            reply = await pool.handle_async_request(
                httpcore2.Request(
                    b"POST",
                    httpcore2.URL(
                        scheme=target.scheme, host=target.host, port=target.port, target=target.path
                    ),
                    headers=listed,
                    content=_body_stream(body, listed),
                    extensions={"timeout": timeout},
                )
            )
        except httpcore2_errors() as exc:
            raise self.translate(exc, sent)  # noqa: B904  (its own cause)
        _log(target, reply)
        if not _needs_httpx2(reply):
            return _DirectReply(reply, self, sent)
        from ._wire_httpx2 import adopt

        return await adopt(self._httpx2(), self._url, body, merged, reply, start)


async def _raise_status(response: _Reply) -> None:
    """A non-2xx reply as :class:`StatusError` (its body read, the reply closed)."""
    try:
        raw = await response.aread()
    except Exception as exc:
        httpx2 = sys.modules.get("httpx2")
        if httpx2 is None or not isinstance(exc, httpx2.HTTPError):
            raise
        raw = b""
    finally:
        await response.aclose()
    try:
        body_out: object = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body_out = raw.decode(errors="replace")
    message = f"Error code: {response.status_code} - {body_out}"
    raise StatusError(response.status_code, body_out, message, response.headers)


def _log(target: _Target, reply: httpcore2.Response) -> None:
    """``httpx2``'s line for each reply (``AsyncClient._send_single_request``)."""
    if not _logger.isEnabledFor(logging.INFO):
        return
    version = reply.extensions.get("http_version", b"HTTP/1.1")
    reason = reply.extensions.get("reason_phrase")
    if reason is None:
        from httpx2 import codes  # (httpcore2 always sets it for HTTP/1.1)

        phrase = codes.get_reason_phrase(reply.status)
    else:
        phrase = reason.decode("ascii", errors="ignore")
    _logger.info(
        'HTTP Request: %s %s "%s %d %s"',
        "POST",
        target.text,
        version.decode("ascii", errors="ignore"),
        reply.status,
        phrase,
    )
