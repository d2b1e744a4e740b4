"""The group statement's binary arrays (sessions/_pgarrays) read back as psycopg's own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from threadline.sessions import _pgarrays as pg

pytestmark = pytest.mark.postgres

CASES: list[tuple[str, Any, list[Any]]] = [
    ("text[]", pg.texts, ["a", "", "é ☃ 𝄞", None, "x" * 5000, "quote\"back\\slash{,}"]),
    ("text[]", pg.texts, [None, None]),
    ("text[]", pg.texts, []),
    ("jsonb[]", pg.texts, ['{"a": 1}', None, "[]"]),
    ("bytea[]", pg.byteas, [b"\x00\xff\n", b"", None, bytes(range(256)) * 10]),
    ("bigint[]", pg.int8s, [0, 1, -1, 2**63 - 1, -(2**63)]),
    ("bigint[]", pg.int8s, []),
    ("integer[]", pg.int4s, [0, 7, -5, 2**31 - 1]),
    ("boolean[]", pg.bools, [True, False, True]),
]


@pytest.mark.parametrize(("sql_type", "pack", "values"), CASES)
def test_packed_arrays_read_back_as_sent(
    pg_dsn: str, sql_type: str, pack: Any, values: list[Any]
) -> None:
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        pg.register(conn.adapters)
        got = conn.execute(f"SELECT %b::{sql_type}", (pack(values),)).fetchone()
        assert got is not None
        expected = values
        if sql_type == "jsonb[]":
            expected = [None if v is None else json.loads(v) for v in values]
        assert got[0] == expected
        # and unnest sees the elements in order (what the group statement does with them)
        count = conn.execute(f"SELECT count(*) FROM unnest(%b::{sql_type})", (pack(values),))
        assert count.fetchone() == (len(values),)
