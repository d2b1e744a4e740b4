"""Once a fork's lines are all written, its writing thread gives the read buffer's pages back
(``_mutations._pages_freer``: ``madvise``, the GIL released), so the caller does not wait
for it; nothing is given back before, nor when the general transform forks the file."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from threadline.sessions import _mutations

from .test_fork_break_search import _both
from .test_fork_in_place import _line

pytestmark = pytest.mark.skipif(
    _mutations._libc_search() is None or _mutations._libc_madvise is None,
    reason="libc's madvise cannot be called here",
)


@pytest.fixture
def frees(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, bool]]:
    """(the thread, madvise's result, whether the buffer then reads as zeros) for each
    buffer given back."""
    done: list[tuple[str, Any, bool]] = []
    original = _mutations._pages_freer

    def freer(buffer: Any) -> Any:
        free = original(buffer)
        assert free is not None

        def counted() -> object:
            result = free()
            done.append((threading.current_thread().name, result, not any(buffer[:4096])))
            return result

        return counted

    monkeypatch.setattr(_mutations, "_pages_freer", freer)
    return done


def _writers_done() -> None:
    for thread in threading.enumerate():
        if thread.name == "threadline-fork-write":
            thread.join(10)


def test_the_writing_thread_gives_the_pages_back(
    config_dir: Path, tmp_path: Path, frees: list[tuple[str, Any, bool]]
) -> None:
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), _line(2, 1), _line(3, 2))
    assert ours == theirs
    _writers_done()
    assert len(frees) == 1
    thread, result, zeros = frees[0]
    assert (thread, result) == ("threadline-fork-write", 0)
    if sys.platform.startswith("linux"):  # (private anonymous pages read as zeros after)
        assert zeros


def test_no_pages_given_back_when_the_general_transform_forks(
    config_dir: Path, tmp_path: Path, frees: list[tuple[str, Any, bool]]
) -> None:
    text = json.dumps("x \u2028 y", ensure_ascii=False)  # the official fork splits there
    line = _line(2, 1, **{'"content":"m2"': f'"content":{text}'})
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), line, _line(3, 2))
    assert ours == theirs
    _writers_done()
    assert frees == []
