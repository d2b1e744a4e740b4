"""``threadline chat``: permission prompts (under a pty), the prompt history, SIGTERM/SIGHUP."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

pexpect = pytest.importorskip("pexpect")

PROMPT = "> "


def _spawn(project: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "threadline.cli", "chat", *args],
        cwd=str(project),
        env={**os.environ, "TERM": "dumb", **(env or {})},
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 160),
    )
    child.expect_exact(PROMPT)
    return child


def _bash(command: str, text: str = "") -> dict[str, Any]:
    return {"text": text, "tool_use": {"name": "Bash", "input": {"command": command}}}


def test_chat_asks_before_running_a_tool(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [
            _bash("echo first > one.txt"),
            {"text": "did one"},
            _bash("echo second > two.txt"),
            {"text": "did two"},
            _bash("echo third > three.txt"),
            {"text": "did three"},
            _bash("echo fourth > four.txt"),
            {"text": "did four"},
        ]
    )
    child = _spawn(project)
    child.sendline("make one")
    child.expect_exact('Allow Bash({"command":"echo first > one.txt"})?')
    child.expect_exact("[n] no: ")
    child.sendline("y")  # once
    child.expect_exact("did one")
    child.expect_exact(PROMPT)
    assert (project / "one.txt").read_text() == "first\n"

    child.sendline("make two")
    child.expect_exact("Allow Bash(")
    child.expect_exact("[n] no: ")
    child.sendline("n")  # denied: the model is told, nothing runs
    child.expect_exact("did two")
    child.expect_exact(PROMPT)
    assert not (project / "two.txt").exists()

    child.sendline("make three")
    child.expect_exact("Allow Bash(")
    child.expect_exact("[n] no: ")
    child.sendline("a")  # always, for the rest of the chat
    child.expect_exact("did three")
    child.expect_exact(PROMPT)
    child.sendline("make four")
    child.expect_exact("did four")  # not asked again
    assert "Allow" not in str(child.before)
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    assert (project / "three.txt").exists() and (project / "four.txt").exists()
    denied = fake.message_requests()[3]["messages"][-1]["content"][0]
    assert denied["type"] == "tool_result" and denied.get("is_error")


def test_ctrl_c_while_asked_interrupts_the_turn(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([_bash("touch never.txt"), {"text": "unreachable"}])
    child = _spawn(project)
    child.sendline("go")
    child.expect_exact("[n] no: ")
    child.sendintr()
    child.expect_exact("interrupted")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    assert not (project / "never.txt").exists()


def test_history_is_redacted_private_and_can_be_turned_off(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    secret = "sk-ant-api03-" + "A" * 40
    child = _spawn(project)
    child.sendline(f"my key is {secret}")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    history = config_dir / "threadline" / "chat_history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    text = history.read_text()
    assert secret not in text and "[REDACTED:anthropic-api-key]" in text

    history.chmod(0o644)  # written by an older version: made private on the next start
    child = _spawn(project, "--no-history")
    child.sendline("not kept")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    assert "not kept" not in history.read_text()
    child = _spawn(project, env={"THREADLINE_CHAT_HISTORY": "off"})
    child.sendline("not kept either")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    assert "not kept either" not in history.read_text()
    child = _spawn(project)
    child.sendeof()
    child.expect(pexpect.EOF)
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


@pytest.mark.parametrize("command", ["run", "chat"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_tools_and_are_recorded(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, command: str, sig: signal.Signals
) -> None:
    marker = project / "finished.txt"
    started = project / "started.txt"
    fake.script([_bash(f"touch {started}; sleep 8; touch {marker}"), {"text": "never"}])
    args = ["--allowed-tools", "Bash"]
    if command == "run":
        proc: Any = subprocess.Popen(
            [sys.executable, "-m", "threadline.cli", "run", *args, "go"],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    else:
        proc = _spawn(project, *args)
        proc.sendline("go")
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline, "the tool never started"
        time.sleep(0.05)
    proc.kill(sig) if command == "chat" else proc.send_signal(sig)
    if command == "run":
        proc.communicate(timeout=30)
        code = proc.returncode
    else:
        proc.expect(pexpect.EOF)
        proc.close()
        code = proc.exitstatus
    assert code == 128 + sig
    time.sleep(9)  # the command would have finished by now
    assert not marker.exists()
    (transcript,) = config_dir.glob("projects/*/*.jsonl")
    assert "[Request interrupted by user" in transcript.read_text()
