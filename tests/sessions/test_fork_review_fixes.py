"""Four faults of ``fork_session``'s fast path found by review; each test failed on 91c44c7.

- A content replacement past the cut whose type is spelled with an escape
  (``"content\\u002dreplacement"``) was skipped unread (the pass looked for the plain bytes).
- NaN, Infinity, -Infinity and numbers beyond a double (``1e400``) in a line the fork
  serialises again were written as ``null`` (orjson's way); the official fork (``json.loads``
  then ``json.dumps``) writes ``NaN``, ``Infinity``, ``-Infinity``.
- Every fork failed where ``os.writev`` does not exist (Windows).
- A caller interrupted (``KeyboardInterrupt``) while it waited for the writing thread closed
  the file's descriptor while the thread still wrote to it: the thread's writes then landed
  in whatever file was opened next with that number.
"""

from __future__ import annotations

import json
import mmap
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import threadline
from threadline import project_key_for_directory
from threadline.sessions import _mutations

from ._forkpair import fork_pair
from .test_fork_in_place import SID, _line, _normalized, _u

pytestmark = pytest.mark.usefixtures("fork_engine")


def _text(path: Path) -> str:
    """:func:`_normalized` (less "now": the last chain entry's and the trailer's timestamp)
    as JSON text, where NaN compares equal to NaN."""
    entries = _normalized(path)
    for e in entries[-3:]:
        e.pop("timestamp", None)
    return json.dumps(entries)


def _both(config_dir: Path, tmp_path: Path, data: bytes, **kw: Any) -> tuple[Any, Any]:
    return fork_pair(config_dir, tmp_path, SID, data, _text, **kw)


def _replacement(type_: str = "content-replacement", value: str = '"r"') -> bytes:
    return (
        f'{{"type":"{type_}","sessionId":"{SID}","replacements":[{{"kind":{value}}}]}}'
    ).encode()


@pytest.mark.parametrize(
    "type_",
    [
        "content\\u002dreplacement",
        "content\\u002Dreplacement",
        "\\u0063ontent-replacement",
        "content-replace\\u006Dent",
    ],
)
def test_an_escaped_content_replacement_after_the_cut_counts(
    config_dir: Path, tmp_path: Path, type_: str
) -> None:
    data = b"".join(
        x + b"\n" for x in (_line(1, None), _line(2, 1), _replacement(type_), _line(3, 2))
    )
    theirs, ours = _both(config_dir, tmp_path, data, up_to_message_id=_u(1))
    assert '"content-replacement"' in theirs
    assert ours == theirs


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
@pytest.mark.parametrize("way", ["pass", "general"])
def test_non_finite_numbers_are_written_as_the_official_fork_writes_them(
    config_dir: Path, tmp_path: Path, number: str, way: str
) -> None:
    lines = [
        _line(1, None),
        # a member of a line of Claude Code's shape (parsed: simdjson refuses the number)
        _line(2, 1, tail=f',"n":{number}'),
        # in the message (not copied unparsed: it is not valid JSON for the validator)
        _line(3, 2, **{'"content":"m3"': f'"content":[{number}]'}),
        # in a content replacement (the fork's own replacement entry is serialised)
        _replacement(value=number),
        # a parent that comes later (serialised again at the end)
        _line(4, 5, tail=f',"n":[{number}]'),
        _line(5, 3),
        # the last entry (its timestamp is "now": serialised again)
        _line(6, 4, tail=f',"n":{{"x":{number}}}'),
    ]
    if way == "general":  # a uuid twice: the general transform forks the file
        lines.append(_line(5, 3))
    theirs, ours = _both(config_dir, tmp_path, b"".join(x + b"\n" for x in lines))
    assert "NaN" in theirs or "Infinity" in theirs
    assert ours == theirs


def test_a_fork_works_without_writev_as_on_windows(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``os.writev`` each batch is written with ``os.write``, a short write
    continued (several batches: the pass hands them over to the thread as it goes)."""
    monkeypatch.delattr(_mutations.os, "writev", raising=False)
    write = os.write
    writes: list[int] = []

    def short_write(fd: int, data: Any) -> int:
        if threading.current_thread().name != "threadline-fork-write":
            return write(fd, data)  # (the official fork's one write)
        writes.append(len(data))
        return write(fd, memoryview(data)[:1000])

    monkeypatch.setattr(_mutations.os, "write", short_write)
    data = b"".join(_line(n, n - 1 or None) + b"\n" for n in range(1, 1500))
    theirs, ours = _both(config_dir, tmp_path, data)
    assert ours == theirs
    assert len(writes) > 100  # (written in short pieces: ≈ 480 kB)


class _Interrupt(BaseException):
    """What the test's signal handler raises (as Python's raises KeyboardInterrupt)."""


def _waits_for_the_writer(thread_id: int) -> bool:
    """Whether that thread waits in :meth:`_Writer.join` or :meth:`_Writer.finish`."""
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        if frame.f_code.co_name in ("join", "finish") and isinstance(
            frame.f_locals.get("self"), _mutations._Writer
        ):
            return True
        frame = frame.f_back
    return False


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
@pytest.mark.parametrize(
    ("fork_engine", "waiting_in"),
    # (without simdjson nothing is handed over before the pass ends: no wait in join)
    [("simdjson", "finish"), ("simdjson", "join"), ("orjson", "finish")],
    indirect=["fork_engine"],
)
def test_an_interrupted_wait_leaves_no_write_to_a_reused_descriptor(
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    waiting_in: str,
    fork_engine: str,
) -> None:
    """The caller interrupted while the thread writes (a signal handler raising in the
    wait for it, as SIGINT's does): its descriptor is closed and the next file opened may
    get its number; the thread's writes must not land there."""
    assert threading.current_thread() is threading.main_thread()
    folder = config_dir / "projects" / project_key_for_directory(str(tmp_path))
    folder.mkdir(parents=True)
    # more pieces than one hand-over: the thread writes while the pass goes on
    data = b"".join(_line(n, n - 1 or None) + b"\n" for n in range(1, 1500))
    (folder / f"{SID}.jsonl").write_bytes(data)
    blocked, release = threading.Event(), threading.Event()
    descriptors: list[int] = []
    write_all = _mutations._write_all

    def slow_write(fd: int, chunks: Any) -> None:
        if not descriptors:
            descriptors.append(fd)
            blocked.set()
            release.wait(30)
        write_all(fd, chunks)

    monkeypatch.setattr(_mutations, "_write_all", slow_write)
    if waiting_in == "join":  # the pass fails: the caller joins the thread

        def failing(*a: Any, **k: Any) -> Any:
            raise ValueError("after the pass")

        monkeypatch.setattr(_mutations, "fork_trailer", failing)
    main = threading.get_ident()
    raised: list[bool] = []

    def interrupt() -> None:
        blocked.wait(30)
        deadline = time.monotonic() + 30
        # (again until it is raised: a signal that comes just before the wait blocks does
        # not end the wait)
        while not raised and time.monotonic() < deadline:
            if _waits_for_the_writer(main):
                signal.pthread_kill(main, signal.SIGUSR1)
            time.sleep(0.01)

    def handler(signum: int, frame: Any) -> None:
        if not raised:  # (once)
            raised.append(True)
            raise _Interrupt

    previous = signal.signal(signal.SIGUSR1, handler)
    interrupter = threading.Thread(target=interrupt)
    interrupter.start()
    try:
        with pytest.raises(_Interrupt):
            threadline.fork_session(SID, directory=str(tmp_path))
    finally:
        interrupter.join()
        signal.signal(signal.SIGUSR1, previous)
    opened: list[int] = []
    try:
        # other files opened meanwhile, until one gets the number the thread writes to
        while len(opened) < 64 and descriptors[0] not in opened:
            opened.append(os.open(tmp_path / f"other{len(opened)}", os.O_RDWR | os.O_CREAT))
        release.set()
        # (not Thread.join: on 3.11 a join interrupted by a signal handler's exception may
        # leave the thread marked stopped while it runs, and later joins return at once)
        deadline = time.monotonic() + 30
        while any(t.name == "threadline-fork-write" for t in threading.enumerate()):
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert [os.fstat(fd).st_size for fd in opened] == [0] * len(opened)
    finally:
        release.set()
        for fd in opened:
            os.close(fd)
    assert [p.name for p in folder.iterdir()] == [f"{SID}.jsonl"]  # no fork, no temp file


class _CountingMemory(mmap.mmap):
    """The pass's buffer, with the bytes each ``find`` looks through summed."""

    scanned = 0

    def find(self, sub: Any, start: Any = None, end: Any = None) -> int:
        found = super().find(sub, start, end)
        stop = len(self) if end is None else end
        _CountingMemory.scanned += max(0, (stop if found < 0 else found) - (start or 0))
        return found


def test_the_search_past_the_cut_reads_each_byte_once(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines past the cut that hold an escape like one of "content-replacement"'s letters
    (``\\u0061`` in a text) are false hits, parsed and passed over; each search resumes
    where the last one stopped. The search for the plain type started again at every false
    hit and ran to the next plain one (or the stretch's end): 7 700 such lines in the bench
    session took ≈ 23 s (40 ms without them)."""
    monkeypatch.setattr(
        _mutations, "_anonymous_memory", lambda size: _CountingMemory(-1, size)
    )
    _CountingMemory.scanned = 0
    lines = [_line(1, None)]
    for n in range(2, 2002):
        lines.append(_line(n, n - 1, **{f'"content":"m{n}"': f'"content":"\\\\u0061 m{n}"'}))
    lines.insert(1500, _replacement())  # a plain hit late in the file
    data = b"".join(x + b"\n" for x in lines)
    theirs, ours = _both(config_dir, tmp_path, data, up_to_message_id=_u(2))
    assert ours == theirs
    # linear: ≈ 1× and ≈ 6× the file's bytes by the two engines (the old search: 300–630×)
    assert 0 < _CountingMemory.scanned <= 10 * len(data), (_CountingMemory.scanned, len(data))


@pytest.mark.parametrize("tail", [',"n":NaN', ',"n":1e400', ',"x":"\\ud800"'])
def test_an_unterminated_last_line_orjson_refuses_is_forked(
    config_dir: Path, tmp_path: Path, tail: str
) -> None:
    """The general transform (here: a uuid on two lines) read the file with
    ``read_complete``, which drops a last line without a line break that ``orjson``
    refuses: a line with NaN, 1e400 or a lone surrogate's escape was not forked. The
    official fork reads every line (and the pass kept it)."""
    data = b"\n".join([_line(1, None), _line(1, None), _line(2, 1, tail=tail)])
    theirs, ours = _both(config_dir, tmp_path, data)
    assert '"m2"' in theirs
    assert ours == theirs


def test_an_interrupt_while_the_writer_starts_leaves_no_thread_or_descriptor(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork_engine: str
) -> None:
    """``Thread.start`` interrupted once the thread exists (its wait for the thread to run
    raised): the caller closed the descriptor the thread was to close and the thread waited
    for batches forever, the temp file held open. Now whoever comes first closes it: the
    thread ends, and neither a thread nor a descriptor nor a file is left."""
    folder = config_dir / "projects" / project_key_for_directory(str(tmp_path))
    folder.mkdir(parents=True)
    data = b"".join(_line(n, n - 1 or None) + b"\n" for n in range(1, 50))
    (folder / f"{SID}.jsonl").write_bytes(data)
    start = threading.Thread.start

    def interrupted_start(self: threading.Thread) -> None:
        start(self)
        if self.name == "threadline-fork-write":
            raise _Interrupt

    monkeypatch.setattr(threading.Thread, "start", interrupted_start)
    fds = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else None
    for _ in range(5):
        with pytest.raises(_Interrupt):
            threadline.fork_session(SID, directory=str(tmp_path))
    deadline = time.monotonic() + 30
    while any(t.name == "threadline-fork-write" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a writer thread was left waiting"
        time.sleep(0.001)
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds
    assert sorted(p.name for p in folder.iterdir()) == [f"{SID}.jsonl"]


def test_an_interrupt_while_the_writer_is_made_leaves_no_descriptor(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt while the writer's objects are made (here: its thread object): the
    descriptor the writer owns was duplicated first and left open, on the deleted temp
    file. It is now duplicated last."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc/self/fd to count descriptors")
    folder = config_dir / "projects" / project_key_for_directory(str(tmp_path))
    folder.mkdir(parents=True)
    data = b"".join(_line(n, n - 1 or None) + b"\n" for n in range(1, 50))
    (folder / f"{SID}.jsonl").write_bytes(data)
    init = threading.Thread.__init__

    def interrupted_init(self: threading.Thread, *a: Any, **k: Any) -> None:
        if k.get("name") == "threadline-fork-write":
            raise _Interrupt
        init(self, *a, **k)

    monkeypatch.setattr(threading.Thread, "__init__", interrupted_init)
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        with pytest.raises(_Interrupt):
            threadline.fork_session(SID, directory=str(tmp_path))
    assert len(os.listdir("/proc/self/fd")) == fds
    assert sorted(p.name for p in folder.iterdir()) == [f"{SID}.jsonl"]
