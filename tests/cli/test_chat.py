"""``threadline chat`` under a real pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline import get_session_info, get_session_messages, list_sessions
from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import invoke

pexpect = pytest.importorskip("pexpect")

PROMPT = "> "


def _spawn(project: Path, *args: str) -> Any:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "threadline.cli", "chat", *args],
        cwd=str(project),
        env={**os.environ, "TERM": "dumb", "COLUMNS": "120"},
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 120),
    )
    child.expect_exact(PROMPT)
    return child


def _session_id() -> str:
    (info,) = list_sessions()
    return info.session_id


def test_chat_streams_interrupts_renames_and_exits(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    slow = "one two three four five six seven eight nine ten eleven twelve " * 2
    fake.script(
        [
            {"text": "Hello from the fake model", "match": {"last_user_contains": "hello"}},
            {"text": slow, "delay_between_events_s": 1.0, "match": {"last_user_contains": "slow"}},
        ]
    )
    child = _spawn(project)
    child.sendline("hello there")
    child.expect_exact("Hello from the fake model")
    child.expect_exact(PROMPT)
    child.sendline("/compact")
    child.expect(r"Compacted|not available|✗")  # compaction of a 1-turn session may refuse
    child.expect_exact(PROMPT)

    child.sendline("tell me something slow")
    child.expect_exact("one two")  # the first chunk has streamed...
    child.sendintr()  # ...Ctrl-C stops the turn, not the program
    child.expect_exact("interrupted")
    child.expect_exact(PROMPT)
    assert child.isalive()

    child.sendline("/rename Chat title")
    child.expect_exact("Renamed to Chat title")
    child.expect_exact(PROMPT)
    child.sendline("/tag demo")
    child.expect_exact("Tagged demo")
    child.sendline("/rewind")
    child.expect_exact("usage: /rewind MESSAGE_UUID")
    child.expect_exact("tell me something slow")
    child.sendline("/help")
    child.expect_exact("/rewind")
    child.sendline("/sessions")
    child.expect_exact("Chat title")
    child.sendline("/nope")
    child.expect_exact("unknown command")
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    sid = _session_id()
    info = get_session_info(sid)
    assert info is not None and info.custom_title == "Chat title" and info.tag == "demo"
    texts = [str(m.message.get("content")) for m in get_session_messages(sid)]
    assert any("slow" in t for t in texts)
    (transcript,) = config_dir.glob(f"projects/*/{sid}.jsonl")
    assert "hello there" in transcript.read_text()
    assert "[Request interrupted by user]" in transcript.read_text()
    assert (config_dir / "threadline" / "chat_history").read_text().count("hello there") == 1


def test_chat_continue_fork_and_ctrl_d(fake: FakeAnthropicServer, project: Path) -> None:
    assert invoke("run", "first turn").exit_code == 0
    sid = _session_id()
    child = _spawn(project, "-c")
    child.sendline("/session")
    child.expect_exact(sid)
    child.sendline("/fork Side quest")
    child.expect(r"now in ([0-9a-f-]{36})")
    fork_id = child.match.group(1)
    child.expect_exact(PROMPT)
    child.sendline("second turn")
    child.expect_exact("echo: second turn")
    child.expect_exact(PROMPT)
    child.sendintr()  # Ctrl-C at the prompt: just a new line
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert [str(m.message.get("content")) for m in get_session_messages(sid)][-1] != "second turn"
    fork_texts = [m.message.get("content") for m in get_session_messages(fork_id)]
    assert fork_texts[0] == "first turn" and fork_texts[-2] == "second turn"
    assert get_session_info(fork_id).custom_title == "Side quest"  # type: ignore[union-attr]


def test_chat_bad_resume_exits_with_code(project: Path, fake: FakeAnthropicServer) -> None:
    result = invoke("chat", "-r", "11111111-1111-1111-1111-111111111111")
    assert result.exit_code == 3 and "not found" in result.stderr
