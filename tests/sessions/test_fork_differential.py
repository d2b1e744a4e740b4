"""The fork's in-place pass (``_mutations._stream_fork``) writes, byte for byte, what it wrote
before its fourth pass (``_fork_reference``, a frozen copy of the pass at aa46f9a), on random
transcripts of Claude Code's shape with crafted lines mixed in (escaped, duplicate and
nested keys, keys in strings, whitespace, invalid lines, lone surrogates, big numbers,
other session ids, tool results with a ``sourceToolAssistantUUID``): each shortcut of the
pass (a check left out, a member found in the wrong place) changes some line's bytes here.
The new uuids are drawn from the same deterministic supply for both."""

from __future__ import annotations

import itertools
import json
import mmap
import random
from typing import Any

import orjson
import pytest

from threadline.sessions import _mutations

from . import _fork_reference
from .test_fork_in_place import CASES, SID, _line, _u

pytest.importorskip("simdjson", reason="the [speedups] extra is not installed")

FORKED = "11111111-2222-4333-8444-555555555555"
NOW = "2026-12-06T00:00:00.000Z"
OTHER = "9d0b8c7a-6e5f-4a3b-8c2d-1e0f9a8b7c6d"


class _Read:
    """The whole file at once, as :class:`_mutations._Reading` hands it over (the pass
    rewrites the buffer in place: each run gets its own)."""

    def __init__(self, data: bytes, step: int) -> None:
        self.buffer = mmap.mmap(-1, max(1, len(data)))
        self.buffer[: len(data)] = data
        self._size = len(data)
        self._step = step

    def more_lines(self, limit: int) -> int:
        if limit >= self._size:
            return limit
        end = self.buffer.rfind(b"\n", 0, min(self._size, limit + self._step)) + 1
        return self._size if end <= limit else end


def _fork(stream_fork: Any, data: bytes, up_to: str | None, step: int) -> Any:
    """What a pass returns: the fork's bytes and content replacements, None (the general
    transform forks the file) or the exception's class name."""
    counter = itertools.count()

    def uuids(n: int) -> list[bytes]:
        return [f"{next(counter):08x}-aaaa-4bbb-8ccc-dddddddddddd".encode() for _ in range(n)]

    original = _mutations._new_uuids
    _mutations._new_uuids = uuids
    try:
        found = stream_fork(_Read(data, step), SID, up_to, FORKED, NOW, lambda c, e: None)
    except Exception as exc:
        return type(exc).__name__
    finally:
        _mutations._new_uuids = original
    if found is None:
        return None
    chunks, replacements = found
    return b"".join(bytes(piece) for piece in chunks), replacements


def _claude_line(rng: random.Random, n: int, parent: int | None, kind: str) -> bytes:
    """A line as Claude Code writes it (its members in its order), in one of its layouts."""
    entry: dict[str, Any] = {
        "parentUuid": None if parent is None else _u(parent),
        "isSidechain": False,
    }
    text = rng.choice(["plain", 'quote " brace } "uuid":"x"', "é 日本 \u00e9 🚀", "back\\slash"])
    if kind == "progress":
        entry |= {"data": {"type": "hook_progress"}, "parentToolUseID": "t", "toolUseID": "t"}
    elif kind == "system":
        entry |= {"subtype": "info", "content": text, "level": "info", "isMeta": False}
    elif kind == "attachment":
        entry |= {"attachment": {"type": "x", "uuid": _u(900)}, "renderedRole": "system"}
    else:
        entry["message"] = {"role": kind, "content": [{"type": "text", "text": text}]}
        if kind == "user" and rng.random() < 0.5:  # a tool result
            entry["toolUseResult"] = {"stdout": "}", "sessionId": SID, "uuid": _u(901)}
            entry["sourceToolAssistantUUID"] = _u(max(1, n - 1))
        elif kind == "assistant":
            entry |= {"requestId": f"req_{n}", "apiBlockIndex": n % 3}
    entry |= {
        "type": kind,
        "uuid": _u(n),
        "timestamp": f"2026-01-01T00:00:{n % 60:02d}.000Z",
        "userType": "external",
        "cwd": "/w",
        "sessionId": SID if rng.random() < 0.9 else rng.choice([OTHER, "s\u00e9" * 12]),
        "version": "2.1.330",
    }
    if rng.random() < 0.1:
        entry["gitBranch"] = rng.choice(["main", "x}y", 'a\\"b'])
    return json.dumps(entry, ensure_ascii=rng.random() < 0.2, separators=(",", ":")).encode()


# more crafted lines of Claude Code's shape, each at the edge of one check of the pass
MORE: dict[str, bytes] = {
    # 35 characters and an escaped quote: 36 characters whose closing quote is at 37
    "uuid-35-and-an-escaped-quote": _line(2, 1, **{f'"{_u(2)}"': f'"{_u(2)[:-1]}\\""'}),
    "parent-35-and-an-escaped-quote": _line(2, 1, **{f'"{_u(1)}"': f'"{_u(1)[:-1]}\\""'}),
    "session-35-and-an-escaped-quote": _line(2, 1, **{f'"{SID}"': f'"{SID[:-1]}\\""'}),
    # a short value with a quote where a 36-byte one would end
    "short-parent-quote-at-51": _line(
        2, 1, head='"x":"1234567",', **{f'"parentUuid":"{_u(1)}"': '"parentUuid":"ab"'}
    ),
    "short-uuid-quote-at-36": _line(
        2, 1, **{f'"uuid":"{_u(2)}"': '"uuid":"ab","q":"' + "x" * 27 + '"'}
    ),
    "short-session-quote-at-36": _line(
        2, 1, tail=',"y":"1"', **{f'"sessionId":"{SID}"': '"sessionId":"ab","z":"' + "s" * 27 + '"'}
    ),
    # sourceToolAssistantUUID: not a string; before a nested object; twice spelled
    "source-tool-null": _line(2, 1, tail=',"sourceToolAssistantUUID":null'),
    "source-tool-before-a-nested-object": _line(
        2, 1, head=f'"sourceToolAssistantUUID":"{_u(1)}","toolUseResult":{{"a":1}},'
    ),
    "source-tool-key-nested-after-the-uuid": _line(
        2, 1, tail=f',"toolUseResult":{{"sourceToolAssistantUUID":"{_u(1)}"}}'
    ),
    "source-tool-after-the-uuid": _line(2, 1, tail=f',"sourceToolAssistantUUID":"{_u(1)}"'),
    "source-tool-in-the-head": _line(2, 1, head=f'"sourceToolAssistantUUID":"{_u(1)}",'),
    "source-tool-with-a-brace": _line(2, 1, tail=',"sourceToolAssistantUUID":"a}b"'),
    "other-session-non-ascii": _line(2, 1, **{SID: SID[:-2] + "\u00e9"}),
    "null-parent-spaced": _line(2, None, **{'"parentUuid":null': '"parentUuid": null'}),
}


# crafted lines the pass must leave to the parsed way (or rewrite as it did before)
_EXTRA = [
    b'{"parentUuid":null,"isSidechain":false,"type":"user","uuid":"' + _u(950).encode() + b'"',
    b'{"type":"content-replacement","sessionId":"' + SID.encode() + b'","replacements":[1]}',
    b'{"type":"summary","summary":"s","leafUuid":"' + _u(2).encode() + b'"}',
    b"not json at all",
    b"",
]


def _transcript(rng: random.Random) -> tuple[bytes, list[str]]:
    lines: list[bytes] = []
    uuids: list[str] = []
    cur: int | None = None
    for n in range(1, rng.randint(3, 40)):
        kind = rng.choice(
            ["user", "user", "assistant", "assistant", "progress", "system", "attachment"]
        )
        parent = cur
        if rng.random() < 0.1 and uuids:
            parent = rng.randint(1, n - 1)
        elif rng.random() < 0.05:
            parent = n + rng.randint(1, 3)  # later in the file
        line = _claude_line(rng, n, parent, kind)
        r = rng.random()
        if r < 0.15:  # a crafted line of the cases, renumbered
            case = rng.choice([*CASES.values(), *MORE.values()])
            line = case.replace(_u(2).encode(), _u(n).encode()).replace(
                _u(1).encode(), _u(parent or 1).encode()
            )
        elif r < 0.2:
            line = rng.choice(_EXTRA)
        elif r < 0.23 and lines:  # a duplicate uuid: the general transform
            line = _line(n, parent).replace(_u(n).encode(), _u(rng.randint(1, n)).encode())
        lines.append(line)
        uuids.append(_u(n))
        if kind != "progress" or rng.random() < 0.5:
            cur = n
    tail = b"\n" if rng.random() < 0.9 else b""  # a last line without a line break
    return b"\n".join(lines) + tail, uuids


@pytest.mark.parametrize("seed", range(300))
def test_the_pass_writes_what_it_wrote(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    data, uuids = _transcript(rng)
    up_to = rng.choice(uuids) if rng.random() < 0.2 else None
    step = rng.choice([1 << 30, 700])  # all at once, or in stretches of a few lines
    monkeypatch.setattr(_mutations, "_HAND_OVER", rng.choice([1024, 3]))
    theirs = _fork(_fork_reference._stream_fork, data, up_to, step)
    ours = _fork(_mutations._stream_fork, data, up_to, step)
    assert ours == theirs


@pytest.mark.parametrize("name", [*sorted(CASES), *MORE])
def test_each_crafted_line_forks_as_before(name: str) -> None:
    data = b"\n".join([_line(1, None), {**CASES, **MORE}[name], _line(3, 2)]) + b"\n"
    theirs = _fork(_fork_reference._stream_fork, data, None, 1 << 30)
    ours = _fork(_mutations._stream_fork, data, None, 1 << 30)
    assert ours == theirs


def test_most_random_lines_take_the_in_place_way() -> None:
    """The comparison above is of the in-place rewrite: most lines of the random
    transcripts are rewritten where they lie (views of the read buffer)."""
    views = lines = 0
    for seed in range(40):
        data, _ = _transcript(random.Random(seed))
        try:
            found = _mutations._stream_fork(
                _Read(data, 1 << 30), SID, None, FORKED, NOW, lambda c, e: None
            )
        except Exception:  # (as before: e.g. a type that is an object, also the official's)
            continue
        if found is None:
            continue
        views += sum(type(piece) is memoryview for piece in found[0])
        lines += len([x for x in data.split(b"\n") if x])
    assert views > lines // 2


def test_the_reference_is_the_old_pass() -> None:
    # (a check on the harness: the frozen copy still forks a plain file)
    data = b"\n".join([_line(1, None), _line(2, 1)]) + b"\n"
    found = _fork(_fork_reference._stream_fork, data, None, 1 << 30)
    assert isinstance(found, tuple)
    rows = [orjson.loads(x) for x in found[0].split(b"\n") if x]
    assert [r["forkedFrom"]["messageUuid"] for r in rows] == [_u(1), _u(2)]


# Lines in a row that test the proof of a line's key layout by a layout seen before (the
# type, the member count and the third key's first byte choose it; its keys, each found,
# prove it): each sequence forks as before only when that proof is whole.
SEQUENCES: dict[str, list[bytes]] = {
    # as many members as the layout before, one of its keys (cwd) missing, another twice
    "same-count-one-key-twice": [
        _line(1, None),
        _line(2, 1, **{'"cwd":"/w"': '"version":"0"'}),
        _line(3, 2),
    ],
    # a layout with a key holding a NUL character (simdjson's lookup of it stops at the
    # NUL: it would find "uuid"), then a line with the uuid twice and as many members
    # (the first one third, where the other layout has that key)
    "key-with-a-nul-then-uuid-twice": [
        _line(1, None, head='"uuid\\u0000x":1,'),
        _line(2, 1, head=f'"uuid":"{_u(7)}",'),
        _line(3, 2),
    ],
    # a type that is an object (then the type again): no view of the parser may outlive
    # the line, or the next line (an escape outside its message: the parsed way writes
    # it otherwise) fails to parse
    "type-an-object-then-a-line-in-place": [
        _line(1, None),
        _line(2, 1, **{'"type":"user"': '"type":{"x":1},"type":"user"'}),
        _line(3, 2, **{'"cwd":"/w"': '"cwd":"/w\\u00e9"'}),
        _line(4, 3),
    ],
    # the same layout again after another: the layouts of several types are kept
    "layouts-alternate": [
        _line(1, None),
        _line(2, 1, **{'"type":"user"': '"type":"assistant"'}, tail=',"requestId":"r"'),
        _line(3, 2),
        _line(4, 3, **{'"type":"user"': '"type":"assistant"'}, tail=',"requestId":"r"'),
        _line(5, 4, head='"promptId":"p",'),
        _line(6, 5),
    ],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_each_sequence_forks_as_before(name: str) -> None:
    data = b"\n".join(SEQUENCES[name]) + b"\n"
    theirs = _fork(_fork_reference._stream_fork, data, None, 1 << 30)
    ours = _fork(_mutations._stream_fork, data, None, 1 << 30)
    assert ours == theirs
