"""Key validation shared by every store: ids are UUIDs, subpaths stay inside the session."""

from __future__ import annotations

import re
import time
from typing import Any

from .._exceptions import InvalidSessionIdError, UserError
from .._ids import is_uuid
from ._protocol import SessionKey, SessionListSubkeysKey

__all__ = [
    "MsClock",
    "is_unicode",
    "key_string",
    "validate_key",
    "validate_main_key",
    "validate_project_key",
    "validate_subpath",
]

# "/"-separated segments, each starting with a letter or digit: no empty segment (absolute
# path, "//", trailing "/"), no "." or "..", no backslash, control character or NUL.
_SUBPATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*\Z")


def validate_subpath(subpath: str) -> str:
    """A ``/``-separated relative path of safe segments (no ``..``, no absolute, no NUL)."""
    if not isinstance(subpath, str) or not subpath:
        raise UserError(f"Invalid subpath: {subpath!r} (must be a non-empty relative path)")
    if _SUBPATH.match(subpath) is None:
        raise UserError(
            f"Invalid subpath: {subpath!r} (segments must be plain names; no '..', "
            "absolute paths, backslashes or control characters)"
        )
    return subpath


def is_unicode(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8: no lone surrogate (half of a pair, as in text
    cut inside one), which no file name, database column or Redis key can hold."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_unicode(part: str, value: str) -> None:
    if not is_unicode(value):
        raise UserError(f"Invalid {part}: {value!r} (a lone surrogate: not valid Unicode)")


def validate_project_key(project_key: str) -> str:
    """A project key: one non-empty path component (no ``/``, ``\\``, NUL, ``.``, ``..``) of
    valid Unicode. The listings (``list_sessions(project_key)``...) check theirs with it."""
    if not isinstance(project_key, str) or not project_key or project_key in (".", ".."):
        raise UserError(f"Invalid project_key: {project_key!r}")
    if "/" in project_key or "\\" in project_key or "\x00" in project_key:
        raise UserError(f"Invalid project_key: {project_key!r} (must be one path component)")
    if not project_key.isascii():
        _check_unicode("project_key", project_key)
    return project_key


def is_project_key(name: str) -> bool:
    """Whether ``name`` (a folder's, say) can be a project key (:func:`validate_project_key`)."""
    try:
        validate_project_key(name)
    except UserError:
        return False
    return True


def validate_key(key: SessionKey, *, strict_ids: bool) -> SessionKey:
    """Check a key's shape. ``strict_ids`` (file-backed stores) demands UUID session ids.

    Project keys must be single path components in any case, session ids must not contain
    ``/`` (a subpath's separator: ``a/b`` would name the subkey ``b`` of session ``a``) or
    NUL, and every part must be valid Unicode (a lone surrogate). Every store refuses such
    a key alike, on reads as on writes. (Runs on every store call: the common case, ASCII
    parts, is a few ``str`` method calls.)
    """
    if not isinstance(key, dict):
        raise UserError(f"Invalid session key: {key!r}")
    validate_project_key(key.get("project_key"))
    session_id = key.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise InvalidSessionIdError(session_id)
    if strict_ids and not is_uuid(session_id):
        raise InvalidSessionIdError(session_id)
    if "/" in session_id or "\x00" in session_id:
        raise UserError(f"Invalid session_id: {session_id!r} (must not contain '/' or NUL)")
    if not session_id.isascii():
        _check_unicode("session_id", session_id)
    if "subpath" in key:
        validate_subpath(key["subpath"])
    return key


def validate_main_key(key: SessionListSubkeysKey) -> SessionKey:
    """``list_subkeys``' key, checked as a main session's key (a ``subpath`` in it, which the
    method does not use, is not looked at): a new dict of its two parts."""
    if not isinstance(key, dict):
        raise UserError(f"Invalid session key: {key!r}")
    main: Any = {"project_key": key.get("project_key"), "session_id": key.get("session_id")}
    return validate_key(main, strict_ids=False)


def key_string(key: SessionKey) -> str:
    base = f"{key['project_key']}/{key['session_id']}"
    sub = key.get("subpath")
    return f"{base}/{sub}" if sub else base


class MsClock:
    """A strictly increasing epoch-millisecond clock (two writes never share an mtime)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        now = int(time.time() * 1000)
        self._last = max(now, self._last + 1)
        return self._last
