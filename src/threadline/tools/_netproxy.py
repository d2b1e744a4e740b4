"""The filtering network proxies of the Bash sandbox (host side).

A sandboxed command lives in its own network namespace with nothing but a loopback
interface; its only way out is an HTTP proxy (``CONNECT`` and absolute-URI requests) and a
SOCKS5 proxy, both listening on Unix sockets that the in-sandbox bridge
(:mod:`threadline.tools._sandbox_bridge`) forwards to. Here each request's destination
*host name* is checked against the allow-list before any connection is made, as Claude
Code's sandbox-runtime does:

* ``allowedDomains``: ``example.com`` matches that host only; ``*.example.com`` matches
  its subdomains (not ``example.com`` itself). IP literals (``127.0.0.1``, ``::1``) and
  ``localhost`` are hosts like any other: a loopback port is reachable only if its host
  is allowed.
* Non-public addresses (loopback, ``0.0.0.0``, private ranges, link-local with the cloud
  metadata endpoint 169.254.169.254, IPv4-mapped forms of those) are reached only when
  the allow-list names that address itself, or ``localhost`` for loopback; never through
  a domain that resolves to one nor through a wildcard (``*``).
* ``deniedDomains`` win over ``allowedDomains``.
* Nothing allowed means no network at all.

The proxies are threaded servers, independent of any event loop: they serve every
command of the session, background ones included, until :meth:`FilteringProxies.close`.
With ``httpProxyPort``/``socksProxyPort`` (bring your own proxy) the Unix socket is
forwarded to that loopback port as is, and the filtering is that proxy's business.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import select
import socket
import socketserver
import struct
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DomainFilter", "FilteringProxies"]

_MAX_HEAD = 64 * 1024
_CONNECT_TIMEOUT_S = 15.0
_BLOCKED_BODY = b"Connection blocked by network allowlist\n"


def _normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    return host


class DomainFilter:
    """``allowedDomains`` / ``deniedDomains`` matching (see the module docstring)."""

    def __init__(self, allowed: Sequence[str], denied: Sequence[str] = ()) -> None:
        self.allowed = [_normalise_host(d) for d in allowed if d and d.strip()]
        self.denied = [_normalise_host(d) for d in denied if d and d.strip()]

    @staticmethod
    def _match(host: str, pattern: str) -> bool:
        if pattern == "*":
            return True
        if pattern.startswith("*."):
            return host.endswith(pattern[1:]) and host != pattern[2:]
        return host == pattern

    def allows(self, host: str) -> bool:
        name = _normalise_host(host)
        if not name or any(self._match(name, p) for p in self.denied):
            return False
        return any(self._match(name, p) for p in self.allowed)

    def names(self, host: str) -> bool:
        """True if the allow-list names ``host`` itself (no wildcard) and does not deny it."""
        name = _normalise_host(host)
        if not name or any(self._match(name, p) for p in self.denied):
            return False
        return name in self.allowed


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both directions are closed."""
    open_dirs = {a: b, b: a}
    try:
        while open_dirs:
            readable, _, _ = select.select(list(open_dirs), [], [], 300)
            if not readable:
                return  # idle for 5 minutes
            for src in readable:
                dst = open_dirs[src]
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    del open_dirs[src]
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    continue
                dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()


def _connect(host: str, port: int) -> socket.socket:
    return socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S)


def _is_loopback_name(host: str) -> bool:
    name = _normalise_host(host)
    return name == "localhost" or name.endswith(".localhost")


def _plain_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address with its zone dropped and an IPv4-mapped IPv6 one as the IPv4 it is."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address: not loopback, unspecified (0.0.0.0 reaches this host),
    private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16 with the cloud
    metadata endpoint, fe80::/10), shared (100.64/10), multicast or reserved."""
    return address.is_global and not address.is_multicast


def _connect_checked(
    host: str, port: int, domains: DomainFilter | None = None
) -> socket.socket:
    """Connect to an allowed host, refusing every non-public address it resolves to unless
    the allow-list names that address itself (``10.0.0.5``, ``127.0.0.1``) or the host is
    a loopback name it names (``localhost``) resolving to loopback.

    A wildcard (``*``, ``*.example.com``) never opens a non-public address: an allowed
    domain whose DNS points at 127.0.0.1, 0.0.0.0, 169.254.169.254 or 10.0.0.1 is refused,
    and so is an IPv4-mapped IPv6 literal (``::ffff:127.0.0.1``) of one.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    named = domains.names(host) if domains is not None else False
    for info in infos:
        address = _plain_address(str(info[4][0]))
        if _is_public(address):
            continue
        if domains is not None and domains.names(str(address)):
            continue  # the allow-list lists this very address
        if named and _is_loopback_name(host) and address.is_loopback:
            continue  # "localhost" allowed by name
        raise PermissionError(f"{host} resolves to a non-public address ({address})")
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(_CONNECT_TIMEOUT_S)
        try:
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"cannot connect to {host}:{port}")


def _read_head(conn: socket.socket) -> tuple[bytes, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > _MAX_HEAD:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _split_host_port(authority: str, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif authority.count(":") == 1:
        host, _, port = authority.partition(":")
    else:
        host, port = authority, ""
    return host, int(port) if port else default_port


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False
    filter: DomainFilter
    upstream_port: int | None


class _HttpHandler(socketserver.BaseRequestHandler):
    server: _Server

    def _refuse(self, status: bytes = b"403 Forbidden") -> None:
        self.request.sendall(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\n"
            b"X-Proxy-Error: blocked-by-allowlist\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(_BLOCKED_BODY)).encode() + b"\r\n\r\n" + _BLOCKED_BODY
        )

    def handle(self) -> None:
        """Serve one proxied request.

        Long: one HTTP CONNECT/forward exchange read in order from the socket (request line,
        headers, policy check, relay).
        """
        conn: socket.socket = self.request
        if self.server.upstream_port is not None:
            _relay(conn, _connect("127.0.0.1", self.server.upstream_port))
            return
        got = _read_head(conn)
        if got is None:
            return
        head, rest = got
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self._refuse(b"400 Bad Request")
            return
        if method.upper() == "CONNECT":
            host, port = _split_host_port(target, 443)
            if not self.server.filter.allows(host):
                self._refuse()
                return
            try:
                upstream = _connect_checked(host, port, self.server.filter)
            except PermissionError:
                self._refuse()
                return
            except OSError:
                self._refuse(b"502 Bad Gateway")
                return
            conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            _relay(conn, upstream)
            return
        scheme, sep, remainder = target.partition("://")
        if not sep or scheme.lower() != "http":
            self._refuse(b"400 Bad Request")
            return
        authority, slash, path = remainder.partition("/")
        host, port = _split_host_port(authority, 80)
        if not self.server.filter.allows(host):
            self._refuse()
            return
        try:
            upstream = _connect_checked(host, port, self.server.filter)
        except PermissionError:
            self._refuse()
            return
        except OSError:
            self._refuse(b"502 Bad Gateway")
            return
        headers = [
            h
            for h in lines[1:]
            if h.split(":", 1)[0].strip().lower()
            not in ("proxy-connection", "proxy-authorization", "connection")
        ]
        new_head = "\r\n".join(
            [f"{method} /{path if slash else ''} {version}", *headers, "Connection: close"]
        )
        upstream.sendall(new_head.encode("latin-1") + b"\r\n\r\n" + rest)
        _relay(conn, upstream)


class _SocksHandler(socketserver.BaseRequestHandler):
    server: _Server

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise ConnectionError("short read")
            data += chunk
        return data

    def handle(self) -> None:
        conn: socket.socket = self.request
        if self.server.upstream_port is not None:
            _relay(conn, _connect("127.0.0.1", self.server.upstream_port))
            return
        try:
            version, count = self._recv(2)
            self._recv(count)
            if version != 5:
                return
            conn.sendall(b"\x05\x00")
            _, command, _, kind = self._recv(4)
            if kind == 1:
                host = socket.inet_ntop(socket.AF_INET, self._recv(4))
            elif kind == 4:
                host = socket.inet_ntop(socket.AF_INET6, self._recv(16))
            elif kind == 3:
                host = self._recv(self._recv(1)[0]).decode("idna")
            else:
                conn.sendall(b"\x05\x08\x00\x01" + bytes(6))
                return
            (port,) = struct.unpack("!H", self._recv(2))
        except (ConnectionError, OSError, UnicodeError):
            return
        if command != 1:  # CONNECT only
            conn.sendall(b"\x05\x07\x00\x01" + bytes(6))
            return
        if not self.server.filter.allows(host):
            conn.sendall(b"\x05\x02\x00\x01" + bytes(6))  # not allowed by ruleset
            return
        try:
            upstream = _connect_checked(host, port, self.server.filter)
        except PermissionError:
            conn.sendall(b"\x05\x02\x00\x01" + bytes(6))  # not allowed by ruleset
            return
        except OSError:
            conn.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
        _relay(conn, upstream)


class FilteringProxies:
    """The HTTP and SOCKS5 proxies of one sandbox, on Unix sockets in a private directory."""

    def __init__(
        self,
        domains: DomainFilter,
        *,
        http_upstream_port: int | None = None,
        socks_upstream_port: int | None = None,
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="tl-sbx-"))
        os.chmod(self.directory, 0o700)
        self.http_socket = self.directory / "http.sock"
        self.socks_socket = self.directory / "socks.sock"
        self._servers: list[_Server] = []
        for path, handler, upstream in (
            (self.http_socket, _HttpHandler, http_upstream_port),
            (self.socks_socket, _SocksHandler, socks_upstream_port),
        ):
            server = _Server(str(path), handler)
            server.filter = domains
            server.upstream_port = upstream
            self._servers.append(server)
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.5},
                name=f"threadline-sandbox-proxy-{path.stem}",
                daemon=True,
            ).start()

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for path in (self.http_socket, self.socks_socket):
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            self.directory.rmdir()
