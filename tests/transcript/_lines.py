"""Hypothesis strategies for transcript lines: well-formed objects and everything a reader
must survive (blank and ``\\r`` lines, non-objects, torn and non-UTF-8 lines, ``NaN``)."""

from __future__ import annotations

import orjson
from hypothesis import strategies as st


def jsonl_lines(
    *, keys: st.SearchStrategy[str], text_size: int, extra: tuple[bytes, ...] = ()
) -> st.SearchStrategy[bytes]:
    """One line (no newline): a fixed odd case, random bytes, or an object of up to three
    members named by ``keys``, with integer or text values (text up to ``text_size``)."""
    fixed = (
        b"",
        b"   ",
        b"\r",
        b'{"a":1}\r',
        b'{"a": NaN}',
        b"[1,2]",
        b'{"torn":',
        b'{"x":"\xff"}',
        *extra,
    )
    return st.one_of(
        *(st.just(line) for line in fixed),
        st.binary(max_size=20),
        st.dictionaries(keys, st.integers() | st.text(max_size=text_size), max_size=3).map(
            orjson.dumps
        ),
    )
