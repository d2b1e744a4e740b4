"""JSONL line codec: fast (orjson) with a tolerant fallback, never crashing on bad lines.

Readers skip blank, malformed, truncated and non-object lines. orjson is
tried first; lines it refuses but Python's ``json`` accepts (NaN, huge
integers, lone surrogates, invalid UTF-8 after replacement) are still read so
we accept everything the official readers accept.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator
from typing import Any

import orjson

__all__ = [
    "dumps_line",
    "gc_paused",
    "promote_young",
    "iter_objects",
    "loads_line",
    "parse_lines",
    "parse_objects",
    "parse_chain_entries",
    "parse_chain_entries_with_spans",
]

_CHAIN_TYPES = frozenset({"user", "assistant", "progress", "system", "attachment"})


@contextlib.contextmanager
def gc_paused(promote: bool = False) -> Iterator[None]:
    """Pause the cyclic GC while building many dicts (they hold no cycles; 2-4x faster).

    What was built is kept (a transcript's entries, a resumed history), so on the way out
    it joins the oldest generation (:func:`promote_young`) instead of being traversed by
    the next young collection: for a 20 000-entry transcript that collection took 40 ms,
    right before the first model request, and freed nothing. That is when the region left
    :data:`PROMOTE_AFTER` young objects, or always with ``promote`` (a caller that knows it
    built a large structure: the net count also falls by what was freed meanwhile, e.g.
    the previous resume's history, which left a 3-6 ms young collection in a warm process's
    first model request)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if promote or gc.get_count()[0] >= PROMOTE_AFTER:
                promote_young()
            gc.enable()


PROMOTE_AFTER = 20_000
"""Young objects (net tracked allocations since the last collection) from which a paused
region's end promotes them: a transcript's worth (20 000 entries make ≈ 100 000), not
the few hundred a small read leaves, so the program's own young garbage cycles are only
rarely moved past the young collections that would free them."""


def promote_young() -> None:
    """Move every object the GC tracks into its oldest generation, where only full
    collections (rare, paced by the long-lived count) look at it. Garbage is still freed:
    by reference counting at once, cycles at the next full collection. Left alone when
    the program uses :func:`gc.freeze` (unfreezing would undo it)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def _chain_object(line: bytes) -> dict[str, Any] | None:
    """A line's object if it is a chain entry (chain type, string uuid), else ``None``.

    Lines without a ``"uuid"`` key cannot be chain entries and are not parsed.
    """
    if b'"uuid"' not in line:
        return None
    try:
        obj = orjson.loads(line)
    except _JSONDecodeError:
        obj = loads_line(line)
    except RecursionError:
        return None
    if type(obj) is dict and obj.get("type") in _CHAIN_TYPES and type(obj.get("uuid")) is str:
        return obj
    return None


def parse_chain_entries(data: bytes) -> list[dict[str, Any]]:
    """Chain entries (chain type with a string uuid) of a JSONL buffer, in file order.

    Lines without a ``"uuid"`` key cannot be chain entries and are not parsed.
    """
    out: list[dict[str, Any]] = []
    append = out.append
    with gc_paused():
        for line in data.split(b"\n"):
            obj = _chain_object(line)
            if obj is not None:
                append(obj)
    return out


_JSONDecodeError = orjson.JSONDecodeError
_APPEND_NEWLINE = orjson.OPT_APPEND_NEWLINE


def loads_line(line: bytes | str) -> dict[str, Any] | None:
    """Parse one line; ``None`` if it is blank, malformed or not a JSON object."""
    try:
        value = orjson.loads(line)
    except _JSONDecodeError:
        try:
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
            text = text.strip()
            if not text:
                return None
            value = json.loads(text)
        except (ValueError, RecursionError):
            return None
    except RecursionError:
        return None
    return value if isinstance(value, dict) else None


def iter_objects(data: bytes) -> Iterator[dict[str, Any]]:
    """Every JSON object line of a JSONL buffer, in order; bad lines are skipped."""
    loads = orjson.loads
    for line in data.split(b"\n"):
        if not line or line.isspace():
            continue
        try:
            value = loads(line)
        except _JSONDecodeError:
            obj = loads_line(line)
            if obj is not None:
                yield obj
            continue
        except RecursionError:
            continue
        if type(value) is dict:
            yield value


def parse_objects(data: bytes) -> list[dict[str, Any]]:
    """``list(iter_objects(data))``, without copying each line out of ``data`` first: every
    line is parsed in place (a ``memoryview`` slice), which saves a copy of the whole
    buffer (for a 35 MiB transcript, ≈ 15 % of reading it)."""
    out: list[dict[str, Any]] = []
    parse_lines(memoryview(data), len(data), out, None, [])
    return out


def parse_lines(
    view: memoryview,
    end: int,
    out: list[dict[str, Any]],
    key: str | None,
    having: list[dict[str, Any]],
) -> None:
    """Append the objects of the lines of ``view[:end]`` to ``out``, as :func:`iter_objects`
    reads them (a last line without its newline included); with ``key``, those of them
    that have that key also to ``having`` (looked up while the object is fresh in the
    cache: a later pass over a transcript's entries for one key costs ≈ 10 ms)."""
    append = out.append
    loads = orjson.loads
    data = view.obj
    assert isinstance(data, (bytes, bytearray))
    find = data.find
    pos = 0
    while pos < end:
        nl = find(b"\n", pos, end)
        if nl < 0:
            nl = end
        if nl > pos:
            try:
                value = loads(view[pos:nl])
            except _JSONDecodeError:
                value = loads_line(bytes(view[pos:nl]))  # blank, malformed: as iter_objects
            except RecursionError:
                value = None
            if type(value) is dict:
                append(value)
                if key is not None and key in value:
                    having.append(value)
        pos = nl + 1


def dumps_value(value: Any) -> bytes:
    """Compact JSON for a value that may hold lone surrogates (text cut inside a surrogate
    pair, which JavaScript writes as a ``\\udXXX`` escape): orjson, or plain json
    ASCII-escaped where orjson refuses. :func:`loads_value` reads either back."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()


def loads_value(data: bytes | str) -> Any:
    """Parse JSON that :func:`dumps_value` wrote (orjson refuses lone surrogate escapes)."""
    try:
        return orjson.loads(data)
    except _JSONDecodeError:
        return json.loads(data)


def dumps_line(entry: Any) -> bytes:
    """Compact JSON for one entry plus ``\\n``; key order is kept as given."""
    try:
        return orjson.dumps(entry, option=_APPEND_NEWLINE)
    except (TypeError, orjson.JSONEncodeError):
        # Lone surrogates or values orjson refuses: plain json, ASCII-escaped.
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=True).encode() + b"\n"


def parse_chain_entries_with_spans(
    data: bytes,
) -> tuple[list[dict[str, Any]], dict[int, tuple[int, int]]]:
    """:func:`parse_chain_entries` plus each entry's byte span, keyed by ``id(entry)``."""
    out: list[dict[str, Any]] = []
    spans: dict[int, tuple[int, int]] = {}
    pos = 0
    with gc_paused():
        for line in data.split(b"\n"):
            start = pos
            pos += len(line) + 1
            obj = _chain_object(line)
            if obj is not None:
                out.append(obj)
                spans[id(obj)] = (start, start + len(line))
    return out, spans
