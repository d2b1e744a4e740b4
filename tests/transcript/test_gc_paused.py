"""``gc_paused``: what is built while the GC is paused joins the oldest generation, so the
next young collection does not traverse it (a first resume's 20 000 entries cost a 40 ms
collection right before the first model request)."""

from __future__ import annotations

import gc

import pytest

from threadline.transcript import _jsonl
from threadline.transcript._jsonl import PROMOTE_AFTER, gc_paused


def _generation_of(obj: object) -> int | None:
    for generation in (0, 1, 2):
        if any(o is obj for o in gc.get_objects(generation=generation)):
            return generation
    return None


def test_what_was_built_while_paused_is_in_the_oldest_generation() -> None:
    assert gc.isenabled()
    with gc_paused():
        built = [
            {"message": {"content": [{"type": "text", "text": str(i)}]}}
            for i in range(PROMOTE_AFTER)
        ]
        assert not gc.isenabled()
    assert gc.isenabled()
    assert _generation_of(built) == 2
    assert _generation_of(built[0]["message"]["content"]) == 2


def test_a_small_read_leaves_the_young_generation_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    promoted: list[int] = []
    monkeypatch.setattr(_jsonl, "promote_young", lambda: promoted.append(1))
    gc.collect()
    with gc_paused():
        small = [[] for _ in range(50)]
    assert small
    assert promoted == []  # young garbage stays where young collections look
    with gc_paused():
        big = [[] for _ in range(PROMOTE_AFTER)]
    assert big
    assert promoted == [1]


def test_a_nested_pause_leaves_the_outer_one_in_charge() -> None:
    with gc_paused():
        with gc_paused():
            pass
        assert not gc.isenabled()  # the inner exit neither re-enables nor promotes
    assert gc.isenabled()


def test_objects_the_program_froze_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with gc_paused():
            built = [[] for _ in range(PROMOTE_AFTER)]  # enough to be promoted
        # never unfrozen behind the program's back (an unfreeze empties the permanent
        # generation); frozen objects freed meanwhile by reference counting (other threads of
        # the test process) leave it, so the count may drop by a few
        assert gc.get_freeze_count() >= frozen * 0.9
        assert built
    finally:
        gc.unfreeze()


def test_a_large_resumed_history_is_promoted_whatever_was_freed_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The net young count falls by what was freed while paused (in a warm process, the
    previous resume's history): a large rebuild promotes what it built anyway, so no young
    collection traverses it right before the first model request."""
    from threadline.runtime import _resume

    promoted: list[int] = []
    monkeypatch.setattr(_jsonl, "promote_young", lambda: promoted.append(1))
    entries: list[dict[str, object]] = []
    parent = None
    for i in range(_resume._THREAD_THRESHOLD + 1):
        entry = {"type": "user", "uuid": f"u{i}", "parentUuid": parent, "message": {"content": "q"}}
        entries.append(entry)
        parent = entry["uuid"]
    gc.collect()
    rebuilt = _resume._rebuild(entries, None)
    assert gc.get_count()[0] < PROMOTE_AFTER  # what the count rule alone would not promote
    assert rebuilt.messages
    assert promoted == [1]
    with gc_paused(promote=True):
        pass
    assert promoted == [1, 1]
