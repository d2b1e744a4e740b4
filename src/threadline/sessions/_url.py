"""Store URLs: one string names a session store (``--store URL``, ``THREADLINE_STORE``).

Parsing lives here, on the sessions floor, with the plain stores it can build; the
``encrypted+`` prefix is only *recognised* here (it needs :mod:`threadline.privacy`,
a floor above): :func:`threadline.privacy.store_from_url` wraps the store.

========================================  ==============================================
URL                                       store
========================================  ==============================================
``file:`` (or empty)                      :class:`FileStore` on ``$CLAUDE_CONFIG_DIR``
``file:///abs/dir``, ``file:rel/dir``,    :class:`FileStore` on that config directory
a bare directory path
``sqlite:///abs/file.db``,                :class:`SQLiteStore` on that file (created if
``sqlite:rel/file.db``                    missing); ``sqlite:////abs`` works too
``memory:``                               :class:`MemoryStore` (this process only)
``postgresql://...``, ``postgres://...``  :class:`PostgresStore` (extra ``postgres``); the
                                          DSN is passed to libpq as given
``redis://...``, ``rediss://...``,        :class:`RedisStore` (extra ``redis``)
``unix://...``
``encrypted+<any of the above>``          the same store inside ``EncryptedStore``
========================================  ==============================================

Query parameters: ``namespace=`` (PostgreSQL, Redis; default ``threadline``) and, with
``encrypted+``, ``key_env=`` (the variable holding the key, default
``THREADLINE_ENCRYPTION_KEY``). The key itself never goes into a URL. Anything else is an
error for ``file:``/``sqlite:``/``memory:``; for PostgreSQL and Redis other parameters
are left in the URL for the driver (``sslmode=``, ``db=``...).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from .._exceptions import UserError
from ._protocol import SessionStore

__all__ = ["StoreUrl", "display_url", "mask_credentials", "parse_store_url", "plain_store"]

StoreKind = Literal["file", "sqlite", "memory", "postgres", "redis"]

_ENCRYPTED = "encrypted+"
_SCHEMES: dict[str, StoreKind] = {
    "file": "file",
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "memory": "memory",
    "postgresql": "postgres",
    "postgres": "postgres",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_FORMS = (
    "file:, file:///CONFIG_DIR, sqlite:///PATH.db, memory:, postgresql://..., redis://..., "
    "each optionally prefixed with encrypted+"
)


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL."""

    kind: StoreKind
    target: str | None
    """The config dir (file), database path (sqlite) or driver URL (postgres, redis)."""
    namespace: str | None = None
    encrypted: bool = False
    key_env: str | None = None
    display: str = ""
    """The URL with any password masked (for messages)."""


_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:key|password|passwd|pwd|secret|token|auth|credential|sig)"
    r"[a-z0-9_.-]*)=)[^&#\s\"'<>]*"
)
_USERINFO = re.compile(
    r"(\b[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s:/?#@\"'<>]*:)([^\s@/?#\"'<>]+)(@)"
)


def display_url(url: str) -> str:
    """``url`` with the password and secret-named query values (``password=``, ``token=``,
    ``sslpassword=``, ``key=``...) replaced by ``***``."""
    url = _SECRET_PARAM.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<invalid URL>"
    if password is None:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def mask_credentials(text: str) -> str:
    """Every URL password in ``text`` (``scheme://user:PASSWORD@host``) and every
    secret-named query value replaced by ``***``: for messages, errors and logs."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(r"\1***\3", text)
    return _SECRET_PARAM.sub(r"\1***", text)


def _bad(url: str, why: str, *, forms: bool = False) -> UserError:
    hint = f" (expected {_FORMS})" if forms else ""
    return UserError(f"Invalid store URL {display_url(url)!r}: {why}{hint}")


def _split_params(url: str, parts_query: str, allowed: set[str]) -> tuple[dict[str, str], str]:
    """(threadline's own parameters, the remaining query string)."""
    ours: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts_query, keep_blank_values=True):
        if name in allowed:
            if not value:
                raise _bad(url, f"parameter {name}= is empty")
            ours[name] = value
        else:
            rest.append((name, value))
    return ours, urlencode(rest)


def _local_path(url: str, body: str, what: str) -> str:
    """The path of a ``file:`` / ``sqlite:`` URL, ``body`` being what follows the scheme."""
    if body.startswith("//"):
        parts = urlsplit(body)
        if parts.netloc not in ("", "localhost"):
            raise _bad(url, f"a {what}: URL names no host (use three slashes: {what}:///path)")
        path = parts.path
    else:
        path = body
    path = os.path.expanduser(unquote(path))
    return "/" + path.lstrip("/") if path.startswith("//") else path


def _parse_local(url: str, kind: StoreKind, body: str) -> StoreUrl:
    split = urlsplit(body)
    if split.query or split.fragment:
        raise _bad(url, f"{kind}: URLs take no parameters")
    path = _local_path(url, body.split("?", 1)[0].split("#", 1)[0], kind)
    if kind == "memory":
        if path:
            raise _bad(url, "memory: takes no path")
        return StoreUrl(kind="memory", target=None, display=display_url(url))
    if kind == "sqlite" and not path:
        raise _bad(url, "sqlite: needs a database file path")
    return StoreUrl(kind=kind, target=path or None, display=display_url(url))


def parse_store_url(url: str) -> StoreUrl:
    """Parse a store URL (see the module docstring); :class:`UserError` when it is not one."""
    raw = url.strip()
    encrypted = raw.lower().startswith(_ENCRYPTED)
    if encrypted:
        raw = raw[len(_ENCRYPTED) :]
    match = _SCHEME_RE.match(raw)
    if match is None or len(match.group(1)) == 1:  # no scheme, or a Windows drive letter
        if not raw and not encrypted:
            return StoreUrl(kind="file", target=None, display="file:")
        scheme, body = "file", raw
    else:
        scheme, body = match.group(1).lower(), raw[match.end() :]
    kind = _SCHEMES.get(scheme)
    if kind is None:
        raise _bad(url, f"unknown scheme {scheme!r}", forms=True)
    key_env: str | None = None
    if encrypted:
        body, key_env = _take_key_env(url, body)
    if kind in ("file", "sqlite", "memory"):
        parsed = _parse_local(url, kind, body)
        return StoreUrl(
            kind=parsed.kind,
            target=parsed.target,
            encrypted=encrypted,
            key_env=key_env,
            display=display_url(url),
        )
    parts = urlsplit(f"{scheme}:{body}")
    ours, rest = _split_params(url, parts.query, {"namespace"})
    if kind == "postgres" and scheme == "postgres":
        parts = parts._replace(scheme="postgresql")
    target = urlunsplit(parts._replace(query=rest))
    return StoreUrl(
        kind=kind,
        target=target,
        namespace=ours.get("namespace"),
        encrypted=encrypted,
        key_env=key_env,
        display=display_url(url),
    )


def _take_key_env(url: str, body: str) -> tuple[str, str | None]:
    """Remove ``key_env=`` from ``body``'s query; return (body, key_env)."""
    head, sep, query = body.partition("?")
    if not sep:
        return body, None
    fragment = ""
    if "#" in query:
        query, fragment = query.split("#", 1)
        fragment = "#" + fragment
    if "key" in dict(parse_qsl(query)):
        raise _bad(url, "the key never goes into a URL: set $THREADLINE_ENCRYPTION_KEY")
    ours, rest = _split_params(url, query, {"key_env"})
    return head + (f"?{rest}" if rest else "") + fragment, ours.get("key_env")


def plain_store(spec: StoreUrl) -> SessionStore:
    """The store ``spec`` names, without encryption (``ImportError`` naming a missing extra)."""
    if spec.kind == "file":
        from .file import FileStore

        return FileStore(Path(spec.target) if spec.target else None)
    if spec.kind == "sqlite":
        from .sqlite import SQLiteStore

        assert spec.target is not None
        path = Path(spec.target)
        if not path.parent.is_dir():
            raise UserError(f"Store {spec.display}: directory {str(path.parent)!r} does not exist")
        return SQLiteStore(path)
    if spec.kind == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    assert spec.target is not None
    if spec.kind == "postgres":
        from .postgres import PostgresStore

        return PostgresStore(spec.target, namespace=spec.namespace or "threadline")
    from .redis import RedisStore

    return RedisStore(spec.target, namespace=spec.namespace or "threadline")
