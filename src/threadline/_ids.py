"""Session id validation.

Every id that becomes a path component or a store key goes through
:func:`validate_session_id`: only canonical UUIDs pass, which also rules out
``..``, separators and NUL bytes.
"""

from __future__ import annotations

import re
import uuid

from ._exceptions import InvalidSessionIdError

__all__ = ["is_uuid", "new_uuid", "validate_session_id"]

_UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)


def is_uuid(value: object) -> bool:
    """True if ``value`` is a string in the canonical 8-4-4-4-12 hex form."""
    return isinstance(value, str) and _UUID_RE.match(value) is not None


def validate_session_id(value: object, what: str = "session_id") -> str:
    """Return ``value`` if it is a canonical UUID, else raise :class:`InvalidSessionIdError`."""
    if not is_uuid(value):
        raise InvalidSessionIdError(value, what)
    assert isinstance(value, str)
    return value


def new_uuid() -> str:
    """A fresh random UUID4 string."""
    return str(uuid.uuid4())
