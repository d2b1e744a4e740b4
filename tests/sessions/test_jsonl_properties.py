"""Property tests: the line parser never crashes and agrees with Python's json on objects."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st

from threadline.transcript._chain import build_conversation_chain, chain_entries
from threadline.transcript._jsonl import dumps_line, iter_objects, loads_line

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    for obj in iter_objects(data):
        assert isinstance(obj, dict)
    result = loads_line(data)
    assert result is None or isinstance(result, dict)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_round_trip(obj: dict[str, Any]) -> None:
    line = dumps_line(obj)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert list(iter_objects(line)) == [obj]
    assert json.loads(line) == obj


@given(st.lists(st.dictionaries(st.text(max_size=5), json_values, max_size=4), max_size=5), st.integers(0, 400))
def test_truncation_only_drops_the_torn_line(objs: list[dict[str, Any]], cut: int) -> None:
    data = b"".join(dumps_line(o) for o in objs)
    torn = data[: max(0, len(data) - cut)]
    parsed = list(iter_objects(torn))
    complete = torn.count(b"\n")
    assert parsed[:complete] == objs[:complete]


@settings(max_examples=50)
@given(st.lists(st.tuples(st.integers(0, 15), st.integers(-1, 15), st.sampled_from(["user", "assistant", "system"])), max_size=30))
def test_chain_is_total_on_random_graphs(edges: list[tuple[int, int, str]]) -> None:
    """Random parentUuid graphs (cycles, dangling parents, duplicates) always yield a chain."""
    entries = [
        {"type": t, "uuid": f"u{u}", "parentUuid": (f"u{p}" if p >= 0 else None), "message": {"content": "x"}}
        for u, p, t in edges
    ]
    chain = build_conversation_chain(chain_entries(entries))
    assert len({e["uuid"] for e in chain}) == len(chain)
