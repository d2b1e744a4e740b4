"""One-dimensional PostgreSQL arrays packed in the binary wire format, for the group
statement of :class:`~threadline.sessions.PostgresStore`.

psycopg dumps a Python list by inspecting it for its element type and dumping every
element through its own dumper, in Python: about 9 µs per member of a group of appends
(14 arrays), as much as the rest of the member's client work together. The columns of a
group have fixed types, so they are packed here in one pass each (about 2 µs per member)
and handed to psycopg as they are: each packed array is a ``bytes`` subclass whose dumper
(registered on every connection of the store by :func:`register`) returns it unchanged
with the array's type oid.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["bools", "byteas", "int4s", "int8s", "register", "texts"]

_HEADER = struct.Struct("!iiiii")  # ndim, has nulls, element oid, length, lower bound
_EMPTY = struct.Struct("!iii")  # ndim 0, no nulls, element oid
_LENGTH = struct.Struct("!i")
_INT4 = struct.Struct("!ii")  # element length 4, value
_INT8 = struct.Struct("!iq")  # element length 8, value
_NULL = b"\xff\xff\xff\xff"  # element length -1
_TRUE, _FALSE = b"\x00\x00\x00\x01\x01", b"\x00\x00\x00\x01\x00"

class Packed(bytes):
    """An array in the binary wire format; the subclass says its type (``pg_type`` oids)."""

    array_oid = 0


class _Bools(Packed):
    array_oid = 1000


class _Byteas(Packed):
    array_oid = 1001


class _Int4s(Packed):
    array_oid = 1007


class _Texts(Packed):
    array_oid = 1009


class _Int8s(Packed):
    array_oid = 1016


def _pack(elem_oid: int, body: list[bytes], count: int, nulls: bool) -> bytes:
    if count == 0:
        return _EMPTY.pack(0, 0, elem_oid)
    return _HEADER.pack(1, int(nulls), elem_oid, count, 1) + b"".join(body)


def _varlena(
    cls: type[Packed], elem_oid: int, items: Sequence[Any], encode: Callable[[Any], bytes]
) -> Packed:
    body: list[bytes] = []
    nulls = False
    for item in items:
        if item is None:
            body.append(_NULL)
            nulls = True
        else:
            data = encode(item)
            body += (_LENGTH.pack(len(data)), data)
    return cls(_pack(elem_oid, body, len(items), nulls))


def texts(items: Sequence[str | None]) -> Packed:
    """A ``text[]`` (``None``: NULL)."""
    return _varlena(_Texts, 25, items, str.encode)


def byteas(items: Sequence[bytes | None]) -> Packed:
    """A ``bytea[]`` (``None``: NULL)."""
    return _varlena(_Byteas, 17, items, bytes)


def int8s(items: Sequence[int]) -> Packed:
    """A ``bigint[]`` without NULLs."""
    return _Int8s(_pack(20, [_INT8.pack(8, i) for i in items], len(items), False))


def int4s(items: Sequence[int]) -> Packed:
    """An ``integer[]`` without NULLs."""
    return _Int4s(_pack(23, [_INT4.pack(4, i) for i in items], len(items), False))


def bools(items: Sequence[bool]) -> Packed:
    """A ``boolean[]`` without NULLs."""
    return _Bools(_pack(16, [_TRUE if b else _FALSE for b in items], len(items), False))


def register(adapters: Any) -> None:
    """Make psycopg send the packed arrays as they are (on a connection's ``adapters``)."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    for cls in (_Bools, _Byteas, _Int4s, _Texts, _Int8s):

        class _Dumper(Dumper):
            format = Format.BINARY
            oid = cls.array_oid

            def dump(self, obj: Any) -> Any:
                return obj

        adapters.register_dumper(cls, _Dumper)
