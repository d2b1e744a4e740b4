"""The rebuild's one-pass index (``_chain._Index``) and the in-place line parser give what
the passes they replace give.

A resume of a big transcript reads its entries once into the index; with unique uuids
the leaf search, the anchors and the off-chain scan read the index's lists instead of
the entries (``_Index.unique``). These tests run the same rebuild with that shortcut
switched off (the general path, over ``by_uuid``) on random CLI-shaped transcripts:
parallel calls written one entry per block, results hanging off their own call, strays,
sidechains, progress entries, duplicate lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings, strategies as st

from threadline.transcript import _chain
from threadline.transcript._chain import (
    build_conversation_chain_and_leaf,
    chain_and_leaf,
    chain_entries,
)
from threadline.transcript._jsonl import iter_objects, parse_objects

from ._lines import jsonl_lines

Raw = dict[str, Any]


@contextlib.contextmanager
def _general_path() -> Iterator[None]:
    """Every index says its uuids repeat: the steps read ``by_uuid`` as before."""
    original = _chain._Index.__init__

    def init(self: Any, objects: list[Raw], *, keep_all: bool) -> None:
        original(self, objects, keep_all=keep_all)
        self.unique = False

    _chain._Index.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        _chain._Index.__init__ = original  # type: ignore[method-assign]


def _ids(entries: list[Raw]) -> list[Any]:
    return [id(e) for e in entries]


def _both(objects: list[Raw]) -> tuple[Any, Any]:
    def run() -> Any:
        chain_all, chain, leaf = chain_and_leaf(objects)
        again, again_leaf = build_conversation_chain_and_leaf(chain_entries(objects))
        assert _ids(again) == _ids(chain) and again_leaf is leaf
        return _ids(chain_all), _ids(chain), id(leaf)

    fast = run()
    with _general_path():
        general = run()
    return fast, general


_step = st.tuples(
    st.sampled_from(["prompt", "calls", "results", "progress", "stray", "side", "dup", "meta"]),
    st.integers(1, 3),
    st.integers(0, 5),
)


def _transcript(steps: list[tuple[str, int, int]]) -> list[Raw]:
    """A CLI-shaped transcript from ``steps`` (kind, width, a choice)."""
    out: list[Raw] = [{"type": "queue-operation", "operation": "enqueue"}]
    last: str | None = None
    calls: list[tuple[str, str]] = []  # (call id, entry uuid) of the last reply
    n = 0

    def add(kind: str, parent: str | None, **extra: Any) -> Raw:
        nonlocal n
        n += 1
        entry = {"parentUuid": parent, "type": kind, "uuid": f"u{n}", "timestamp": f"t{n % 7}"}
        entry.update(extra)
        out.append(entry)
        return entry

    for kind, width, choice in steps:
        if kind == "prompt":
            last = add("user", last, message={"role": "user", "content": f"p{n}"})["uuid"]
        elif kind == "calls":
            mid = f"msg{n}"
            calls = []
            fan_from = last  # choice odd: every entry of the reply hangs off the prompt
            for i in range(width):
                block = {"type": "tool_use", "id": f"c{n}_{i}", "name": "Read", "input": {}}
                parent = fan_from if choice % 2 else last
                e = add(
                    "assistant",
                    parent,
                    message={"id": mid, "role": "assistant", "content": [block]},
                )
                calls.append((block["id"], e["uuid"]))
                last = e["uuid"]
        elif kind == "results" and calls:
            for call_id, owner in calls[: width + 1]:
                result = {"type": "tool_result", "tool_use_id": call_id, "content": "ok"}
                e = add(
                    "user",
                    owner,
                    message={"role": "user", "content": [result]},
                    sourceToolAssistantUUID=owner,
                )
                last = e["uuid"]
        elif kind == "progress":
            add("progress", out[-1].get("uuid") if choice % 2 else last)
        elif kind == "stray" and calls:
            call_id, _owner = calls[choice % len(calls)]
            result = {"type": "tool_result", "tool_use_id": call_id, "content": "late"}
            add("user", f"u{max(1, n - choice)}", message={"role": "user", "content": [result]})
        elif kind == "side":
            add("assistant", last, isSidechain=True, message={"id": f"side{n}", "content": []})
        elif kind == "dup" and n:
            out.append(dict(out[-1 - choice % len(out)]))
        elif kind == "meta":
            last = add("user", last, isMeta=True, message={"role": "user", "content": "m"})["uuid"]
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(_step, max_size=40))
def test_the_indexed_rebuild_equals_the_general_one(steps: list[tuple[str, int, int]]) -> None:
    fast, general = _both(_transcript(steps))
    assert fast == general


def test_a_transcript_without_duplicates_takes_the_indexed_path() -> None:
    entries = _transcript([("prompt", 1, 0), ("calls", 3, 0), ("results", 3, 0), ("prompt", 1, 0)])
    index = _chain._Index(entries, keep_all=False)
    assert index.unique
    assert [uid for uid, *_ in index.assistants] == ["u2", "u3", "u4"]
    fast, general = _both(entries)
    assert fast == general
    chain = chain_and_leaf(entries)[1]
    # the parallel results put back after the reply's last entry
    assert [e["uuid"] for e in chain] == ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"]


_line = jsonl_lines(keys=st.text(max_size=5), text_size=5)


@given(st.lists(_line, max_size=12), st.booleans())
def test_parse_objects_equals_iter_objects(lines: list[bytes], newline_at_end: bool) -> None:
    data = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    assert parse_objects(data) == list(iter_objects(data))


def test_a_result_under_a_repeated_uuid_is_recovered_for_the_entry_on_the_chain() -> None:
    """Two lines share the uuid ``a`` with different message ids: the chain ends at the
    first (m0), ``by_uuid`` holds the second (m1). The result answering a call of ``a``
    hangs off the chain and is put back after m0's response, as the recovery before the
    one-pass index did (a response is looked at when one of its entries, by uuid, has a
    result under it; found in review: the shortcut looked the uuid's message id up and
    missed m0)."""
    objects: list[Raw] = [
        {"type": "system", "uuid": "s", "parentUuid": None},
        {"type": "assistant", "uuid": "a", "parentUuid": "s",
         "message": {"id": "m0", "content": []}},
        {"type": "user", "uuid": "r", "parentUuid": "gone",
         "message": {"content": [{"type": "tool_result", "tool_use_id": "c1"}]}},
        {"type": "assistant", "uuid": "a", "parentUuid": None,
         "message": {"id": "m1", "content": [{"type": "tool_use", "id": "c1"}]}},
    ]
    chain, _leaf = build_conversation_chain_and_leaf(chain_entries(list(objects)))
    assert [(e["uuid"], e.get("message", {}).get("id")) for e in chain] == [
        ("s", None), ("a", "m0"), ("r", None)
    ]
    _entries, chain, _leaf = chain_and_leaf(list(objects))
    assert [e["uuid"] for e in chain] == ["s", "a", "r"]
