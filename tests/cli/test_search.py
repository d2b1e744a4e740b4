"""Full-text search: ``search_sessions`` and ``threadline sessions search``; incremental index."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from threadline.sessions import rename_session
from threadline.sessions._search import SearchIndex, search_sessions

from .conftest import invoke

SID1 = "aaaaaaaa-0000-4000-8000-000000000001"
SID2 = "bbbbbbbb-0000-4000-8000-000000000002"


def _entry(kind: str, uuid: str, text: str, parent: str | None = None) -> str:
    message = (
        {"role": "user", "content": text}
        if kind == "user"
        else {"role": "assistant", "content": [{"type": "text", "text": text}]}
    )
    return (
        json.dumps(
            {
                "type": kind,
                "uuid": uuid,
                "parentUuid": parent,
                "sessionId": "x",
                "timestamp": "2025-01-01T00:00:00Z",
                "message": message,
            }
        )
        + "\n"
    )


def _u(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
def transcripts(config_dir: Path) -> tuple[Path, Path]:
    a = config_dir / "projects" / "-proj-a"
    b = config_dir / "projects" / "-proj-b"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    f1 = a / f"{SID1}.jsonl"
    f1.write_text(
        _entry("user", _u(1), "How do I configure the rate limiter?")
        + _entry("assistant", _u(2), "Use a token bucket with burst capacity.", _u(1))
    )
    f2 = b / f"{SID2}.jsonl"
    f2.write_text(
        _entry("user", _u(3), "Write a haiku about autumn leaves")
        + _entry("assistant", _u(4), "Crimson leaves descend", _u(3))
    )
    return f1, f2


def test_search_function(transcripts: tuple[Path, Path]) -> None:
    hits = search_sessions("token bucket")
    assert [(h.session_id, h.message_uuid, h.role) for h in hits] == [(SID1, _u(2), "assistant")]
    assert "[token] [bucket]" in hits[0].snippet and hits[0].project_key == "-proj-a"
    assert {h.session_id for h in search_sessions("leave*")} == {SID2}
    assert search_sessions("nothing matches this") == []
    assert len(search_sessions("a", limit=1)) <= 1


def test_search_filters_by_directory(transcripts: tuple[Path, Path]) -> None:
    assert search_sessions("haiku", directory="/proj/a") == []
    assert [h.session_id for h in search_sessions("haiku", directory="/proj/b")] == [SID2]


def test_index_is_incremental(transcripts: tuple[Path, Path], config_dir: Path) -> None:
    f1, f2 = transcripts
    with SearchIndex() as index:
        first = index.update()
        assert (first.files, first.indexed) == (2, 2)
        assert index.update().indexed == 0  # nothing changed: nothing read
        before = f1.stat().st_size
        with open(f1, "a") as f:
            f.write(_entry("user", _u(5), "and what about quotas?", _u(2)))
            f.write('{"type":"user","uuid":"partial')  # a line still being written
        stats = index.update()
        assert stats.indexed == 1 and stats.new_bytes < f1.stat().st_size - before + 1
        assert stats.new_bytes == len(_entry("user", _u(5), "and what about quotas?", _u(2)))
        assert [h.message_uuid for h in index.search("quotas")] == [_u(5)]
        assert [h.message_uuid for h in index.search("rate limiter")] == [_u(1)]  # kept
        rename_session(SID1, "Limiter design")
        index.update()
        assert [(h.role, h.session_id) for h in index.search("limiter design")] == [("title", SID1)]
        # rewritten file (not an append): re-indexed from scratch, old text gone
        f2.write_text(_entry("user", _u(6), "completely different words"))
        index.update()
        assert index.search("haiku") == [] and len(index.search("different")) == 1
        os.unlink(f2)
        assert index.update().removed == 1 and index.search("different") == []


def test_index_survives_a_corrupt_line(config_dir: Path) -> None:
    pdir = config_dir / "projects" / "-p"
    pdir.mkdir(parents=True)
    (pdir / f"{SID1}.jsonl").write_text("not json\n" + _entry("user", _u(1), "still found"))
    assert len(search_sessions("still found")) == 1


def test_cli_search(transcripts: tuple[Path, Path], project: Path) -> None:
    result = invoke("sessions", "search", "token", "bucket")
    assert result.exit_code == 0 and SID1 in result.stdout and "token" in result.stdout
    data = json.loads(invoke("sessions", "search", "autumn", "--json").stdout)
    assert [d["session_id"] for d in data] == [SID2]
    assert "No matches" in invoke("sessions", "search", "zzzz").stdout
    assert json.loads(invoke("sessions", "search", "--raw", "haiku OR bucket", "--json").stdout)
    assert invoke("sessions", "search", "--raw", 'bad "quote').exit_code == 2
    assert json.loads(invoke("sessions", "search", "haiku", "--project", "--json").stdout) == []


def test_progress_bar_when_forced(
    transcripts: tuple[Path, Path], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_PROGRESS", "1")
    result = invoke("sessions", "search", "haiku")
    assert result.exit_code == 0 and "Indexing sessions" in result.stderr and "2/2" in result.stderr
