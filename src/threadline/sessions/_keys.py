"""Key validation shared by every store: ids are UUIDs, subpaths stay inside the session."""

from __future__ import annotations

import re
import time

from .._exceptions import InvalidSessionIdError, UserError
from .._ids import is_uuid
from ._protocol import SessionKey

__all__ = [
    "MsClock",
    "is_unicode",
    "key_string",
    "validate_key",
    "validate_project_key",
    "validate_subpath",
]

_SUBPATH_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def validate_subpath(subpath: str) -> str:
    """A ``/``-separated relative path of safe segments (no ``..``, no absolute, no NUL)."""
    if not isinstance(subpath, str) or not subpath:
        raise UserError(f"Invalid subpath: {subpath!r} (must be a non-empty relative path)")
    for segment in subpath.split("/"):
        if segment in ("", ".", "..") or not _SUBPATH_SEGMENT.match(segment):
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
    _check_unicode("project_key", project_key)
    return project_key


def validate_key(key: SessionKey, *, strict_ids: bool) -> SessionKey:
    """Check a key's shape. ``strict_ids`` (file-backed stores) demands UUID session ids.

    Project keys must be single path components in any case, and every part valid Unicode
    (a lone surrogate is refused by every store, on reads as on writes).
    """
    if not isinstance(key, dict):
        raise UserError(f"Invalid session key: {key!r}")
    validate_project_key(key.get("project_key"))
    session_id = key.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise InvalidSessionIdError(session_id)
    if strict_ids and not is_uuid(session_id):
        raise InvalidSessionIdError(session_id)
    _check_unicode("session_id", session_id)
    if "subpath" in key:
        validate_subpath(key["subpath"])
    return key


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
