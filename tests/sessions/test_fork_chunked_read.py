"""fork_session reads the file in a thread, in chunks, while its pass works on the lines
already in (``_mutations._Reading``), and another thread writes the finished lines
(``_mutations._Writer``). With chunks of a few hundred bytes, so that lines,
line breaks the official fork splits at, a torn last line and the title's head and tail
(the last ``LITE_READ_BUF_SIZE`` bytes wait for the end of the file) fall across chunk
boundaries, the fork must still be the official one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from threadline.sessions import _mutations

from ._forkpair import fork_pair

pytestmark = pytest.mark.usefixtures("fork_engine")

SID = "2c6a3f10-7d43-4b7e-9d1e-5a8f4e2b9c01"
LINES = 160  # ~1 KB each: past the held-back tail (64 KiB) and many chunks


class _SlowFile:
    """A file whose reads take a while: the pass catches up with the thread each time."""

    def __init__(self, path: Any, mode: str, buffering: int) -> None:
        self._file = open(path, mode, buffering=buffering)  # noqa: SIM115

    def fileno(self) -> int:
        return self._file.fileno()

    def readinto(self, buffer: Any) -> int:
        time.sleep(0.001)
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()


@pytest.fixture(autouse=True, params=["thread", "pass"])
def _break_search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The line breaks looked for by the reading thread (where libc can be called), or by
    the pass, in each stretch."""
    if request.param == "pass":
        monkeypatch.setattr(_mutations, "_USE_LIBC", False)


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_mutations, "_READ_FIRST", 100, raising=False)
    monkeypatch.setattr(_mutations, "_READ_STEP", 3001, raising=False)
    monkeypatch.setattr(_mutations, "open", _SlowFile, raising=False)
    monkeypatch.setattr(_mutations, "_HAND_OVER", 5, raising=False)  # written as it goes


def _u(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _line(n: int, text: str = "") -> bytes:
    parent = "null" if n == 1 else f'"{_u(n - 1)}"'
    kind = "user" if n % 2 else "assistant"
    body = json.dumps(f"m{n} {'x' * 900}{text}", ensure_ascii=False)
    return (
        f'{{"parentUuid":{parent},"isSidechain":false,"message":{{"role":"{kind}",'
        f'"content":{body}}},"type":"{kind}","uuid":"{_u(n)}",'
        f'"timestamp":"2026-01-01T00:00:00.000Z","cwd":"/w","sessionId":"{SID}",'
        f'"version":"2.1.330"}}'
    ).encode()


def _title(value: str, key: str = "customTitle") -> bytes:
    return json.dumps({"type": "custom-title", key: value, "sessionId": SID}).encode()


def _normalized(path: Path) -> list[Any]:
    entries = [json.loads(raw) for raw in path.read_bytes().split(b"\n") if raw.strip()]
    names: dict[str, str] = {}
    for e in entries:
        if isinstance(e.get("uuid"), str):
            names.setdefault(e["uuid"], f"U{len(names)}")
    for e in entries:
        for k in ("uuid", "parentUuid", "logicalParentUuid"):
            if isinstance(e.get(k), str):
                e[k] = names.get(e[k], "<outside>")
        e.pop("sessionId", None)
    chain = [e for e in entries if e.get("type") not in ("custom-title", "content-replacement")]
    for e in [*chain[-1:], *entries[-2:]]:  # "now": the last chain entry and the trailer
        e.pop("timestamp", None)
    return entries


def _replacement(type_: str, n: int) -> bytes:
    return (
        f'{{"type":"{type_}","sessionId":"{SID}","replacements":[{{"n":{n}}}],'
        f'"note":"{"z" * 300}"}}'
    ).encode()


def _file(case: str) -> bytes:
    lines = [_line(n) for n in range(1, LINES + 1)]
    tail = b"\n"
    if case == "torn-last-line":
        tail = b"\n" + _line(LINES + 1)[:500]
    elif case == "torn-title-last-line":
        tail = b"\n" + _title("torn title")[:-20]
    elif case == "whole-last-line-without-a-line-break":
        tail = b"\n" + _line(LINES + 1)
    elif case == "long-torn-last-line":  # longer than the title's tail
        tail = b"\n" + _line(LINES + 1, "y" * 70_000)[:-10]
    elif case == "U+2028-early":
        lines[3] = _line(4, "\u2028")
    elif case == "U+2029-in-the-held-back-tail":
        lines[-3] = _line(LINES - 2, "\u2029")
    elif case == "CR-between-members":
        lines[80] = lines[80].replace(b',"type"', b',\r"type"')
    elif case == "U+0085-in-the-last-line":
        lines[-1] = _line(LINES, "\x85")
    elif case == "titles-in-head-and-tail":
        lines.insert(2, _title("head title"))
        lines.insert(LINES - 5, _title("tail title"))
    elif case == "title-in-the-head-only":
        lines.insert(2, _title("head title"))
    elif case == "ai-title-in-the-middle-only":  # neither head nor tail: the first prompt
        lines.insert(80, _title("ai", key="aiTitle"))
    elif case == "replacements-past-the-cut":  # (the type spelled plainly or with escapes)
        lines.insert(120, _replacement("content-replacement", 1))
        lines.insert(130, _line(500, "\\u0063 \u0063"))  # (a false hit: an entry)
        lines.insert(140, _replacement("conte\\u006et-replace\\u006Dent", 2))
        lines.insert(150, _replacement("content\\u002dreplacement", 3))
        lines[-1] = _replacement("\\u0063ontent-replacement", 4)
        tail = b""  # (a last line without a line break)
    return b"\n".join(lines) + tail


CASES = [
    "clean",
    "torn-last-line",
    "torn-title-last-line",
    "whole-last-line-without-a-line-break",
    "long-torn-last-line",
    "U+2028-early",
    "U+2029-in-the-held-back-tail",
    "CR-between-members",
    "U+0085-in-the-last-line",
    "titles-in-head-and-tail",
    "title-in-the-head-only",
    "ai-title-in-the-middle-only",
    "replacements-past-the-cut",
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("cut", [None, 100])
def test_chunked_read_forks_as_the_official(
    config_dir: Path, tmp_path: Path, case: str, cut: int | None
) -> None:
    kw = {} if cut is None else {"up_to_message_id": _u(cut)}
    theirs, ours = fork_pair(config_dir, tmp_path, SID, _file(case), _normalized, **kw)
    assert isinstance(theirs, list)
    assert ours == theirs


def test_the_pass_gets_the_file_in_stretches(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cases above go through many stretches of lines, the last after the end of the
    file (with the title's tail)."""
    ends: list[int] = []
    original = _mutations._Reading.more_lines

    def counting(self: Any, limit: int) -> int:
        end = original(self, limit)
        ends.append(end)
        return end

    monkeypatch.setattr(_mutations._Reading, "more_lines", counting)
    data = _file("clean")
    theirs, ours = fork_pair(config_dir, tmp_path, SID, data, _normalized)
    assert ours == theirs
    assert len(ends) > 20  # (~55 chunks)
    assert ends[-2] == ends[-1] == len(data)
    assert ends[-3] < len(data) - _mutations.LITE_READ_BUF_SIZE


def test_a_failed_write_leaves_no_file(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write error (in the writing thread, or after the pass without simdjson, where
    nothing is handed over) ends the fork, and nothing is left (no fork, no temp file)."""
    calls: list[int] = []
    original = _mutations._write_all

    def failing(fd: int, chunks: Any) -> None:
        calls.append(len(chunks))
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        original(fd, chunks)

    monkeypatch.setattr(_mutations, "_write_all", failing)
    theirs, ours = fork_pair(config_dir, tmp_path, SID, _file("clean"), _normalized)
    assert isinstance(theirs, list)
    assert ours == "OSError"
    assert len(calls) == 1  # nothing written after the error
    folder = next((config_dir / "projects").iterdir())
    assert [p.name for p in folder.iterdir()] == [f"{SID}.jsonl"]
