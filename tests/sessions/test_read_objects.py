"""``read_objects`` (the full read of a resume, piece by piece into one buffer) gives what
``parse_objects(read_complete(path))`` gives: the same objects in the same order, the torn
last line decided the same way, lines longer than a piece and lines cut at a piece's end
included; and the objects with a key, as they are parsed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from threadline.sessions import _filelog
from threadline.sessions._filelog import read_complete, read_objects
from threadline.transcript._compaction import last_boundary
from threadline.transcript._jsonl import parse_objects
from transcript._lines import jsonl_lines  # tests/transcript (rootdir on sys.path)

_line = jsonl_lines(
    keys=st.sampled_from(["a", "subtype", "uuid", "x" * 40]),
    text_size=30,
    extra=(b'{"subtype":"compact_boundary","type":"system","uuid":"b"}', b'{"subtype":null}'),
)


def _reference(path: Path) -> list[dict[str, object]]:
    return parse_objects(read_complete(path))


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, max_size=14), st.booleans(), st.sampled_from([1, 2, 3, 7, 16, 64, 1 << 20]))
def test_read_objects_equals_the_whole_file_read(
    lines: list[bytes], newline_at_end: bool, chunk: int
) -> None:
    data = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.jsonl"
        path.write_bytes(data)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_filelog, "_READ_CHUNK", chunk)
            got, subtyped = read_objects(path, "subtype")
        want = _reference(path)
    assert got == want
    assert [id(o) for o in subtyped] == [id(o) for o in got if "subtype" in o]
    assert last_boundary(subtyped) == last_boundary(got)


def test_a_line_longer_than_the_buffer_and_a_torn_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_filelog, "_READ_CHUNK", 8)
    long = orjson.dumps({"text": "é" * 100, "n": 1})
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a":1}\n' + long + b"\n" + b'{"b":2}')  # the last line lost its newline
    got, none = read_objects(path)
    assert got == [{"a": 1}, orjson.loads(long), {"b": 2}] == _reference(path)
    assert none == []
    path.write_bytes(b'{"a":1}\n' + long + b'\n{"b":')  # torn: left out
    assert read_objects(path)[0] == [{"a": 1}, orjson.loads(long)] == _reference(path)


def test_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_objects(tmp_path / "none.jsonl")
