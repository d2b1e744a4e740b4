"""The wire client's direct path (``httpcore2`` alone) against ``httpx2``'s client: the same
bytes on the wire, the same replies, errors and log lines; ``httpx2`` used when a proxy can
come from the environment or the URL or headers need its own rules; a reply it treats
specially (redirect, cookie, content encoding) handed over to it.

Each comparison runs the same exchange twice against a raw socket server that records every
request's bytes: once as the client runs by default, once with the direct path turned off
(``_proxy_possible`` answering True: the ``httpx2`` client the wire client always used)."""

from __future__ import annotations

import gzip
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from httpx2._client import ACCEPT_ENCODING

from threadline.providers import _anthropic_wire as wire
from threadline.providers._anthropic_wire import ConnectionFailed, StatusError, WireClient

pytestmark = pytest.mark.anyio

_SSE = b'event: message_start\ndata: {"type":"message_start","message":{}}\n\n'


def _answer(status: int, headers: list[tuple[str, str]], body: bytes) -> bytes:
    reason = {200: "OK", 307: "Temporary Redirect", 404: "Not Found"}.get(status, "X")
    head = [f"HTTP/1.1 {status} {reason}", f"content-length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Raw:
    """Records each request's bytes (head and body) and answers with the next canned reply."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buf = rest[length:]
                answer = self.answers.pop(0)
                if answer == b"hang":
                    threading.Event().wait(5)
                    return
                conn.sendall(answer)
                if answer.endswith(b"<cut>"):
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def servers() -> Iterator[list[_Raw]]:
    made: list[_Raw] = []
    yield made
    for server in made:
        server.close()


async def _exchange(
    server: _Raw, base: str, *, direct: bool, calls: int = 1, payload: bytes = b"", **kw: Any
) -> tuple[list[Any], bool]:
    """``calls`` requests through a fresh client: what each returned or raised, and whether
    the client ended on the direct path."""
    monkey = pytest.MonkeyPatch()
    if not direct:
        monkey.setattr(wire, "_proxy_possible", lambda: True)
    timeout_s = kw.pop("timeout_s", 5.0)
    kw.setdefault("default_headers", None)
    client = WireClient(api_key="k", base_url=base, timeout_s=timeout_s, **kw)
    out: list[Any] = []
    try:
        for i in range(calls):
            try:
                sent = payload or b'{"n":%d}' % i
                stream = await client.stream(sent, {"anthropic-beta": "b1"})
                async with stream:
                    body = await stream.response.aread()
                    headers = dict(stream.response.headers)
                out.append((stream.response.status_code, headers, body))
            except (StatusError, ConnectionFailed, httpx2.HTTPError) as exc:
                cause = exc.__cause__
                out.append((type(exc).__name__, str(exc), type(cause).__name__, str(cause)))
        return out, client._full is None
    finally:
        await client.aclose()
        monkey.undo()


async def _both(
    servers: list[_Raw], answers: list[bytes], path: str = "", **kw: Any
) -> tuple[list[bytes], list[Any], bool]:
    """The same exchange by default and through httpx2: the recorded requests and the
    results must be the same; returns them and whether the default stayed direct."""
    direct_server, full_server = _Raw(answers), _Raw(answers)
    servers += [direct_server, full_server]
    ours, stayed = await _exchange(direct_server, direct_server.url + path, direct=True, **kw)
    theirs, _ = await _exchange(full_server, full_server.url + path, direct=False, **kw)
    mine = [r.replace(str(direct_server.port).encode(), b"PORT") for r in direct_server.requests]
    other = [r.replace(str(full_server.port).encode(), b"PORT") for r in full_server.requests]
    assert mine == other
    assert _ports_out(ours, direct_server) == _ports_out(theirs, full_server)
    return mine, ours, stayed


def _ports_out(results: list[Any], server: _Raw) -> str:
    return repr(results).replace(str(server.port), "PORT")


# -- the same bytes --------------------------------------------------------------------------


async def test_direct_requests_are_byte_identical(servers: list[_Raw]) -> None:
    answers = [_answer(200, [("content-type", "text/event-stream")], _SSE)] * 2
    sent, results, stayed = await _both(servers, answers, "/gateway/", calls=2)
    assert stayed and len(sent) == 2
    head = sent[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"POST /gateway/v1/messages HTTP/1.1"
    assert head[1:5] == [
        b"Host: 127.0.0.1:PORT",
        b"Accept-Encoding: " + ACCEPT_ENCODING.encode(),  # for the decoders installed here
        b"Connection: keep-alive",
        b"accept: application/json",
    ]
    assert results[0][2] == _SSE


async def test_a_large_body_goes_out_in_pieces_with_the_same_bytes(
    servers: list[_Raw], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body larger than :data:`wire._BODY_CHUNK` is handed to ``httpcore2`` piece by piece
    (as one ``bytes``, ``asyncio`` copied what the socket did not take at once into new
    memory): the same request on the wire as ``httpx2`` sends."""
    pieces: list[int] = []
    real = wire._Chunks._pieces

    async def counted(self: Any) -> Any:
        async for piece in real(self):
            pieces.append(len(piece))
            yield piece

    monkeypatch.setattr(wire._Chunks, "_pieces", counted)
    body = b'{"text":"' + "é→x".encode() * 700_000 + b'"}'
    answers = [_answer(200, [("content-type", "text/event-stream")], _SSE)] * 2
    sent, results, stayed = await _both(servers, answers, calls=2, payload=body)
    assert stayed and len(sent) == 2 and results[1][2] == _SSE
    assert all(request.endswith(b"\r\n\r\n" + body) for request in sent)
    assert b"Content-Length: %d\r\n" % len(body) in sent[0]
    one = [wire._BODY_CHUNK] * 4 + [len(body) % wire._BODY_CHUNK]
    assert pieces == one * 2  # (each request; httpx2's path sends it whole)


def test_a_body_is_cut_only_when_framed_by_its_own_length() -> None:
    body = b"x" * (wire._BODY_CHUNK + 1)
    length = str(len(body)).encode()
    host = (b"Host", b"h")
    assert isinstance(wire._body_stream(body, [host, (b"Content-Length", length)]), wire._Chunks)
    for framing in (
        [(b"Transfer-Encoding", b"chunked")],  # each piece would be a chunk of its own
        [(b"content-length", b"5")],  # h11 refuses the body: as it always did, whole
        [(b"Content-Length", length), (b"transfer-encoding", b"chunked")],
        [(b"Content-Length", length), (b"content-length", b"7")],
    ):
        assert wire._body_stream(body, [host, *framing]) is body
    small = b"x" * wire._BODY_CHUNK
    assert wire._body_stream(small, [(b"Content-Length", str(len(small)).encode())]) is small


async def test_headers_given_again_in_another_case_are_sent_as_httpx2_sends_them(
    servers: list[_Raw],
) -> None:
    answers = [_answer(200, [], _SSE)]
    extra = {"User-Agent": "mine/1", "Accept-Encoding": "identity", "X-Custom": "v"}
    sent, _, stayed = await _both(servers, answers, default_headers=extra)
    assert stayed
    assert b"User-Agent: mine/1" not in sent[0]  # (lower-cased by the client: its own rule)
    assert b"user-agent: mine/1" in sent[0] and b"accept-encoding: identity" in sent[0]


async def test_non_ascii_headers_go_through_httpx2(servers: list[_Raw]) -> None:
    # httpx2 refuses a non-ASCII header value: the same error either way (not sent)
    server = _Raw([])
    servers.append(server)
    client = WireClient(api_key="k", base_url=server.url, timeout_s=5, default_headers=None)
    try:
        with pytest.raises(UnicodeEncodeError):
            await client.stream(b"{}", {"x-name": "é"})
        assert client._full is not None
    finally:
        await client.aclose()


# -- what httpx2 treats specially: handed over --------------------------------------------------


async def test_a_cookie_is_kept_and_sent_back_as_httpx2_does(servers: list[_Raw]) -> None:
    answers = [
        _answer(200, [("set-cookie", "_cfuvid=abc; Path=/; HttpOnly")], _SSE),
        _answer(200, [], _SSE),
    ]
    sent, _, stayed = await _both(servers, answers, calls=2)
    assert not stayed  # httpx2's client (and its jar) from then on
    assert b"Cookie: _cfuvid=abc" in sent[1]


async def test_an_encoded_reply_is_decoded_by_httpx2(servers: list[_Raw]) -> None:
    answers = [_answer(200, [("content-encoding", "gzip")], gzip.compress(_SSE))]
    _, results, stayed = await _both(servers, answers)
    assert not stayed and results[0][2] == _SSE


async def test_a_redirect_is_followed_as_httpx2_follows_it(
    servers: list[_Raw], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "_is_loopback", lambda host: False)  # a remote server's rules
    answers = [_answer(307, [("location", "/moved/v1/messages")], b""), _answer(200, [], _SSE)]
    sent, results, stayed = await _both(servers, answers)
    assert not stayed and len(sent) == 2
    assert sent[1].startswith(b"POST /moved/v1/messages HTTP/1.1") and sent[1].endswith(b'{"n":0}')
    assert results[0][0] == 200


async def test_a_local_redirect_is_not_followed(servers: list[_Raw]) -> None:
    answers = [_answer(307, [("location", "/moved/v1/messages")], b"")]
    sent, results, _ = await _both(servers, answers)
    assert len(sent) == 1 and results[0][0] == "StatusError"


async def test_status_errors_are_the_same(servers: list[_Raw]) -> None:
    answers = [_answer(404, [("x-a", "1"), ("X-A", "2")], b'{"error": {"message": "no"}}')]
    _, results, stayed = await _both(servers, answers)
    assert stayed and results[0][:2] == ("StatusError", "Error code: 404 - {'error': {'message': 'no'}}")


# -- errors: httpx2's exceptions ---------------------------------------------------------------


async def test_a_cut_stream_raises_httpx2s_exception(servers: list[_Raw]) -> None:
    answers = [_answer(200, [], _SSE * 4)[:-40] + b"<cut>"]
    _, results, _ = await _both(servers, answers)
    assert results[0][0] == "RemoteProtocolError"


async def test_a_timeout_is_httpx2s_timeout(servers: list[_Raw]) -> None:
    _, results, stayed = await _both(servers, [b"hang"], timeout_s=0.3)
    assert results[0][:3] == ("ConnectionFailed", "Request timed out.", "ReadTimeout")
    assert stayed  # a failed request leaves the later ones on the direct path


async def test_connection_refused_is_httpx2s_connect_error() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    probe.close()
    ours, stayed = await _exchange(_Raw.__new__(_Raw), url, direct=True)
    theirs, _ = await _exchange(_Raw.__new__(_Raw), url, direct=False)
    assert ours == theirs and ours[0][:3] == ("ConnectionFailed", "Connection error.", "ConnectError")
    assert stayed


async def test_the_log_line_is_httpx2s(
    servers: list[_Raw], caplog: pytest.LogCaptureFixture
) -> None:
    lines: list[list[str]] = []
    for direct in (True, False):
        server = _Raw([_answer(200, [], _SSE)])
        servers.append(server)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="httpx2"):
            await _exchange(server, server.url, direct=direct)
        lines.append([r.getMessage().replace(str(server.port), "PORT") for r in caplog.records])
    assert lines[0] == lines[1] == [
        'HTTP Request: POST http://127.0.0.1:PORT/v1/messages "HTTP/1.1 200 OK"'
    ]


# -- when the direct path applies -----------------------------------------------------------


def test_accept_encoding_is_httpx2s() -> None:
    assert wire._accept_encoding() == ACCEPT_ENCODING.encode()


@pytest.mark.parametrize(
    "url",
    [
        "https://api.anthropic.com/v1/messages",
        "https://api.anthropic.com:443/v1/messages",
        "http://gw.example:8080/a/b_c~d-e.f/v1/messages",
        "http://127.0.0.1:0080/v1/messages",
        "https://10.0.0.1/v1/messages",
        "https://a-b.example/v1/messages",
    ],
)
def test_a_plain_url_is_what_httpx2_parses(url: str) -> None:
    target = wire._plain_target(url)
    parsed = httpx2.URL(url)
    assert target is not None
    assert (target.scheme, target.host, target.port, target.path, target.text) == (
        parsed.raw_scheme,
        parsed.raw_host,
        parsed.port,
        parsed.raw_path,
        str(parsed),
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://API.anthropic.com/v1/messages",  # httpx2 lower-cases
        "https://user:pw@api.example/v1/messages",  # basic auth from the URL
        "https://api.example/v1/messages?beta=1",
        "https://api.example/a/../v1/messages",  # dot segments removed
        "https://api.example/a%20b/v1/messages",
        "https://api.example//v1/messages",
        "https://bücher.example/v1/messages",  # IDNA
        "https://[::1]:8443/v1/messages",
        "https://999.1.1.1/v1/messages",  # invalid IPv4: httpx2 raises
        "https://api.example:99999/v1/messages",
        "HTTPS://api.example/v1/messages",
        "ftp://api.example/v1/messages",
    ],
)
def test_other_urls_go_through_httpx2(url: str) -> None:
    assert wire._plain_target(url) is None


@pytest.mark.parametrize(
    ("name", "value", "proxied"),
    [
        ("HTTPS_PROXY", "http://proxy:3128", True),
        ("https_proxy", "http://proxy:3128", True),
        ("Http_Proxy", "proxy:3128", True),
        ("ALL_PROXY", "http://proxy:1080", True),
        ("HTTPS_PROXY", "", False),  # empty: unset for urllib
        ("NO_PROXY", "*", False),
        ("FTP_PROXY", "http://proxy:3128", False),  # httpx2 reads http, https, all only
    ],
)
def test_a_proxy_from_the_environment_means_httpx2(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, proxied: bool
) -> None:
    for key in list(__import__("os").environ):
        if key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)
    monkeypatch.setenv(name, value)
    client = WireClient(api_key="k", base_url=None, timeout_s=5, default_headers=None)
    assert (client._full is not None) is proxied
    assert (client._pool is None) is proxied


async def test_a_proxy_from_the_environment_is_used(
    servers: list[_Raw], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _Raw([_answer(200, [], _SSE)])
    servers.append(proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    results, stayed = await _exchange(proxy, "http://api.example.invalid", direct=True)
    assert not stayed and results[0][0] == 200
    assert proxy.requests[0].startswith(b"POST http://api.example.invalid/v1/messages HTTP/1.1")


def test_tls_settings_only_for_an_https_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """An http target's pool never negotiates TLS (a redirect elsewhere goes to httpx2's
    client, which gets the TLS settings it always had): no context, no CA bundle loaded."""
    for key in list(__import__("os").environ):
        if key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)
    plain = WireClient(api_key="k", base_url="http://gw.example:8080", timeout_s=5, default_headers=None)
    secure = WireClient(api_key="k", base_url=None, timeout_s=5, default_headers=None)
    assert plain._pool is not None and secure._pool is not None
    assert plain._pool._ssl_context is None
    assert secure._pool._ssl_context is wire._ssl_context()
    assert plain._full_client()._transport._pool._ssl_context is wire._ssl_context()  # type: ignore[attr-defined]
