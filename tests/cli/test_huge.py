"""Huge messages (issue 15, item 10): ``show`` and ``search`` stay linear and bounded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ._transcripts import entry, new_id, write_session
from .conftest import invoke

MB = 1 << 20


def _session(config_dir: Path, cwd: str, text: str) -> str:
    sid = new_id()
    prompt = entry("user", sid, None, "look at this", cwd=cwd)
    answer = entry("assistant", sid, prompt["uuid"], [{"type": "text", "text": text}], cwd=cwd)
    write_session(config_dir, cwd, [prompt, answer], sid)
    return sid


@pytest.mark.timeout(120)
def test_show_of_a_16_mb_message_is_cut_with_a_marker(project: Path, config_dir: Path) -> None:
    words = "lorem ipsum dolor sit amet consectetur "
    text = words * (16 * MB // len(words))
    sid = _session(config_dir, str(project), text)
    started = time.monotonic()
    result = invoke("sessions", "show", sid)
    took = time.monotonic() - started
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout) < 64 * 1024
    assert f"[{len(text) - 20_000:,} more characters]" in result.stdout
    full = invoke("sessions", "show", sid, "--full")
    assert full.stdout.count("lorem") == text.count("lorem")
    assert took < 30  # it took 59 s (word wrapping of the whole text)


@pytest.mark.timeout(120)
def test_search_in_a_message_repeating_the_word(project: Path, config_dir: Path) -> None:
    """FTS5's snippet() is quadratic in the matches: 20 s for 1 MB, 86 s for 2 MB."""
    text = "lorem ipsum dolor sit amet " * (4 * MB // 27)
    sid = _session(config_dir, str(project), text)
    result = invoke("sessions", "search", "dolor", "--json")
    assert result.exit_code == 0, result.stderr
    (hit,) = json.loads(result.stdout)
    assert hit["session_id"] == sid and "[dolor]" in hit["snippet"]
    assert len(hit["snippet"]) < 400
    table = invoke("sessions", "search", "dolor")
    assert sid in table.stdout and len(table.stdout) < 4000
