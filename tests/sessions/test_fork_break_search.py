"""Where libc's ``memchr``/``memmem`` can be called, the line breaks the official fork also
splits at (``\\r``, U+0085, U+2028, U+2029) are looked for by the reading thread, with the
GIL released, once the file is read (``_mutations._BreakScanner``), not by the pass: the
pass may then have worked on lines that hold one, so it asks before it keeps its result,
also when it failed, and it must not overwrite a break in place before the thread looked.
The search is held back here until the pass is over (the order that tests all of that)."""

from __future__ import annotations

import json
import mmap
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from threadline.sessions import _mutations

from ._forkpair import fork_pair
from .test_fork_in_place import SID, _line, _normalized

pytestmark = pytest.mark.skipif(
    _mutations._libc_search() is None, reason="libc's memchr/memmem cannot be called here"
)


@pytest.fixture
def search_after_the_pass(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The thread's search waits until the pass has returned or raised; what it found."""
    over = threading.Event()
    found: list[bool] = []
    original_pass, original_scanner = _mutations._stream_fork, _mutations._break_scanner

    def the_pass(*args: Any) -> Any:
        try:
            return original_pass(*args)
        finally:
            over.set()

    def scanner(buffer: Any) -> Any:
        scan = original_scanner(buffer)
        assert scan is not None

        def later(start: int, end: int) -> bool:
            assert over.wait(10)
            found.append(scan(start, end))
            return found[-1]

        return later

    monkeypatch.setattr(_mutations, "_stream_fork", the_pass)
    monkeypatch.setattr(_mutations, "_break_scanner", scanner)
    return found


def _both(config_dir: Path, tmp_path: Path, *lines: bytes) -> tuple[Any, Any]:
    data = b"".join(x + b"\n" for x in lines)
    return fork_pair(config_dir, tmp_path, SID, data, _normalized)


@pytest.mark.parametrize("text", ["\u2028", "\u2029", "\x85", "\r"])
def test_a_break_found_after_the_pass(
    config_dir: Path, tmp_path: Path, search_after_the_pass: list[bool], text: str
) -> None:
    if text == "\r":
        line = _line(2, 1, **{',"type"': ',\r"type"'})
    else:
        line = _line(2, 1, **{'"content":"m2"': f'"content":"a{text}b"'})
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), line, _line(3, 2))
    assert ours == theirs
    assert search_after_the_pass == [True]


def test_a_break_in_a_session_id_overwritten_in_place(
    config_dir: Path, tmp_path: Path, search_after_the_pass: list[bool]
) -> None:
    # another session's id, 36 bytes with U+2028 in them: the pass would overwrite them in
    # place with the fork's id before the thread looked (fails without _other_session)
    other = "9d0b8c7a-6e5f-4a3b-8c2d-1e0f9a8b7\u2028"
    line = _line(2, 1, **{SID: other})
    assert line.count(other.encode()) == 1 and len(other.encode()) == 36
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), line, _line(3, 2))
    assert ours == theirs
    assert search_after_the_pass == [True]


def test_a_pass_that_failed_on_a_file_with_a_break(
    config_dir: Path, tmp_path: Path, search_after_the_pass: list[bool]
) -> None:
    # two entries joined by U+2028 on one line: not JSON for the pass (nothing to fork),
    # two entries for the official fork, which splits there
    joined = _line(1, None) + "\u2028".encode() + _line(2, 1)
    theirs, ours = _both(config_dir, tmp_path, joined)
    assert isinstance(theirs, list) and len(theirs) == 3  # two entries and the title
    assert ours == theirs
    assert search_after_the_pass == [True]


def test_no_break(config_dir: Path, tmp_path: Path, search_after_the_pass: list[bool]) -> None:
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), _line(2, 1), _line(3, 2))
    assert ours == theirs
    assert search_after_the_pass == [False]


def test_the_pass_does_not_search_when_the_thread_does(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = _mutations._breaks_in

    def counting(*args: Any) -> bool:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(_mutations, "_breaks_in", counting)
    text = json.dumps("x \u2028 y")
    line = _line(2, 1, **{'"content":"m2"': f'"content":{text}'})
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), line, _line(3, 2))
    assert ours == theirs
    assert calls == []
    monkeypatch.setattr(_mutations, "_USE_LIBC", False)  # the pass searches
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), line, _line(3, 2))
    assert ours == theirs
    assert calls


_PIECES = [b"x", b"x", b"x", b"\x00", b"\xe2", b"\x80", b"\xa8", b"\xa9", b"\xc2", b"\x85"]
_PIECES += [b"\r", b"\n", b"\xe2\x80\xa8", b"\xe2\x80\xa9", b"\xc2\x85", "é".encode()]


@pytest.mark.parametrize("steps", [0, 1, 2, 4, 64])
def test_the_thread_finds_what_the_pass_finds(
    monkeypatch: pytest.MonkeyPatch, steps: int
) -> None:
    # the thread's search (memchr for the first and the last byte of each break, then
    # memmem) against the regular expression and finds of the pass, on random bytes rich
    # in the breaks' own bytes, in random stretches, after 0-64 places of a last byte
    monkeypatch.setattr(_mutations, "_MEMCHR_STEPS", steps)
    rng = random.Random(steps)
    for _ in range(1500):
        data = b"".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 60)))
        buffer = mmap.mmap(-1, max(1, len(data)))
        buffer[: len(data)] = data
        scan = _mutations._break_scanner(buffer)
        assert scan is not None
        start = rng.randint(0, len(data))
        end = rng.randint(start, len(data))
        assert scan(start, end) == _mutations._breaks_in(buffer, start, end), (data, start, end)
        del scan
        buffer.close()


def test_a_break_after_many_places_of_its_last_byte(config_dir: Path, tmp_path: Path) -> None:
    # "é" ends with the last byte of U+2029: many of them before it, on other lines
    lines = [_line(n, n - 1 or None, **{f'"content":"m{n}"': f'"content":"m{n} {"é" * 9}"'})
             for n in range(1, 6)]
    text = json.dumps("x \u2029 y", ensure_ascii=False)
    lines.append(_line(6, 5, **{'"content":"m6"': f'"content":{text}'}))
    theirs, ours = _both(config_dir, tmp_path, *lines)
    assert ours == theirs
