"""Session id validation.

Every id that becomes a path component or a store key goes through
:func:`validate_session_id`: only canonical UUIDs pass, which also rules out
``..``, separators and NUL bytes.
"""

from __future__ import annotations

import os
import re

from ._exceptions import InvalidSessionIdError

__all__ = ["is_uuid", "new_uuid", "new_uuids", "validate_session_id"]

_UUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.IGNORECASE
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
    """A fresh random UUID4 string (``uuid.uuid4()``'s form; the ``uuid`` module is not
    imported: it loads ``platform``)."""
    return new_uuids(1)[0]


def new_uuids(n: int) -> list[str]:
    """``n`` fresh UUID4 strings from one ``os.urandom`` call (bulk: forks of long sessions)."""
    raw = bytearray(os.urandom(16 * n))
    for i in range(6, 16 * n, 16):
        raw[i] = (raw[i] & 0x0F) | 0x40  # version 4
        raw[i + 2] = (raw[i + 2] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return [
        f"{h[j : j + 8]}-{h[j + 8 : j + 12]}-{h[j + 12 : j + 16]}-{h[j + 16 : j + 20]}-{h[j + 20 : j + 32]}"
        for j in range(0, 32 * n, 32)
    ]
