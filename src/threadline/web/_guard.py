"""The app's outer layer: security headers, Host check, access token, CSRF.

Every response gets a strict Content-Security-Policy (scripts, styles, images and fetches
from this origin only; no inline script, no framing, no plugins) and the usual
hardening headers. Transcripts are untrusted, so the page never turns their text into
markup (it builds DOM nodes with ``textContent``); the policy is the second wall.

- **Host check** (against DNS rebinding): when bound to a loopback address only requests
  whose ``Host`` is that address, ``localhost`` or ``127.0.0.1``/``[::1]`` at the bound
  port are served; anything else gets 421.
- **Access token**: bound to any other address, the app requires the random token printed
  in its URL. ``?token=...`` on a page sets an ``HttpOnly``, ``SameSite=Strict`` cookie and
  redirects to the same URL without it; scripts may send ``Authorization: Bearer <token>``.
- **Writes** (``POST``) are refused unless the app was started with writes allowed, and
  need the per-process CSRF token (``X-Threadline-CSRF``, which only a same-origin page can
  read from ``/api/info``), a JSON body, and no cross-site ``Origin``/``Sec-Fetch-Site``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from ..sessions._url import mask_credentials

__all__ = ["CSP", "Guard", "GuardConfig", "is_loopback", "loopback_hosts"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; object-src 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
]
COOKIE = "threadline_token"
CSRF_HEADER = "x-threadline-csrf"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_hosts(host: str, port: int) -> set[str]:
    """The ``Host`` header values a loopback-bound server answers to."""
    names = {host, "localhost", "127.0.0.1", "[::1]"}
    if ":" in host and not host.startswith("["):
        names.add(f"[{host}]")
    return {f"{n}:{port}".lower() for n in names} | ({n.lower() for n in names} if port == 80 else set())


@dataclass
class GuardConfig:
    token: str | None = None
    """Required on every request when set (non-loopback binds)."""
    allowed_hosts: set[str] | None = None
    """``Host`` values served (lower-case ``host:port``); ``None``: any."""
    allow_writes: bool = False
    csrf: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return bytes(v).decode("latin-1")
    return None


class Guard:
    """ASGI middleware enforcing :class:`GuardConfig` and adding the security headers."""

    def __init__(self, app: ASGIApp, config: GuardConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = [(k, v) for k, v in message.get("headers", ())]
                # a response may narrow the policy (an image: "default-src 'none'; sandbox")
                own_csp = [(k, v) for k, v in own if k.lower() == b"content-security-policy"]
                headers = [(k, v) for k, v in own if k.lower() not in dict(_HEADERS)]
                headers.extend(h for h in _HEADERS if not (own_csp and h[0] == b"content-security-policy"))
                headers.extend(own_csp[:1])
                if scope["path"].startswith("/api/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        problem = self._check(scope)
        if problem is not None:
            status, text, extra = problem
            await _respond(scope, send_secure, status, text, extra)
            return
        await self.app(scope, receive, send_secure)

    def _check(self, scope: Scope) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        cfg = self.config
        host = (_header(scope, b"host") or "").lower()
        if cfg.allowed_hosts is not None and host not in cfg.allowed_hosts:
            return 421, f"this server does not answer to Host {host!r}", []
        if cfg.token is not None:
            query = scope.get("query_string", b"").decode("latin-1")
            params = parse_qsl(query, keep_blank_values=True)
            given = next((v for k, v in params if k == "token"), None)
            if given is not None and scope["method"] == "GET" and not scope["path"].startswith("/api/"):
                if not hmac.compare_digest(given.encode(), cfg.token.encode()):
                    return 401, "wrong access token", []
                rest = urlencode([(k, v) for k, v in params if k != "token"])
                location = scope["path"] + ("?" + rest if rest else "")
                cookie = f"{COOKIE}={cfg.token}; Path=/; HttpOnly; SameSite=Strict"
                return 303, "", [(b"location", location.encode()), (b"set-cookie", cookie.encode())]
            if not self._authorized(scope):
                return 401, "this server needs its access token: open the URL it printed", []
        if scope["method"] not in ("GET", "HEAD"):
            return self._check_write(scope)
        return None

    def _authorized(self, scope: Scope) -> bool:
        token = self.config.token
        assert token is not None
        auth = _header(scope, b"authorization") or ""
        if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip().encode(), token.encode()):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(_header(scope, b"cookie") or "")
        except Exception:
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), token.encode())

    def _check_write(self, scope: Scope) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        cfg = self.config
        if scope["method"] != "POST":
            return 405, "method not allowed", []
        if not cfg.allow_writes:
            return 403, "writes are disabled: start the server with --allow-writes", []
        site = _header(scope, b"sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return 403, f"cross-site request refused (Sec-Fetch-Site: {site})", []
        origin = _header(scope, b"origin")
        if origin is not None:
            host = (_header(scope, b"host") or "").lower()
            if origin == "null" or urlsplit(origin).netloc.lower() != host:
                return 403, f"cross-origin request refused (Origin: {origin})", []
        given = _header(scope, CSRF_HEADER.encode()) or ""
        if not cfg.csrf or not hmac.compare_digest(given.encode(), cfg.csrf.encode()):
            return 403, f"missing or wrong {CSRF_HEADER} header (read it from /api/info)", []
        ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return 415, "writes take a JSON body (Content-Type: application/json)", []
        return None


async def _respond(
    scope: Scope, send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]]
) -> None:
    text = mask_credentials(text)  # an error may quote a store URL: never its password
    if scope["path"].startswith("/api/") or status == 303:
        body = orjson.dumps({"error": text, "status": status}) if text else b""
        ctype = b"application/json"
    else:
        body = text.encode()
        ctype = b"text/plain; charset=utf-8"
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
