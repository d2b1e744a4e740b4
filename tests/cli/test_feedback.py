"""What ``run`` tells while it works: retries as they happen, tool calls, denials, the id."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import invoke, run_tl


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_shows_retries_and_gives_up_in_time(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It used to be ~106 s of silence."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    url = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = invoke("run", "--base-url", url, "--retry-timeout", "3", "hi")
    took = time.monotonic() - started
    assert result.exit_code == 5, result.output
    retries = [line for line in result.stderr.splitlines() if line.startswith("⟳")]
    assert retries and "retry 1/8 in" in retries[0] and "Connect" in retries[0]
    assert took < 10
    assert result.stderr.splitlines()[-1].startswith("threadline: error: ")

    capped = invoke("run", "--base-url", url, "--max-retries", "2", "--retry-timeout", "30", "hi")
    assert capped.exit_code == 5
    assert [
        line.split(";")[-1].split(" in ")[0].strip()
        for line in capped.stderr.splitlines()
        if line.startswith("⟳")
    ] == ["retry 1/2", "retry 2/2"]


def test_retry_settings_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake")
    monkeypatch.setenv("THREADLINE_MAX_RETRIES", "0")
    result = invoke("run", "--base-url", f"http://127.0.0.1:{_closed_port()}", "hi")
    assert result.exit_code == 5 and "⟳" not in result.stderr


def test_text_output_shows_tools_denials_and_the_session(
    fake: FakeAnthropicServer, project: Path
) -> None:
    fake.script(
        [
            {"text": "Looking.", "tool_use": {"name": "Bash", "input": {"command": "echo hi"}}},
            {
                "text": "Writing.",
                "tool_use": {"name": "Write", "input": {"file_path": "x.txt", "content": "x"}},
            },
            {"text": "Done."},
        ]
    )
    result = invoke("run", "--allowed-tools", "Bash", "go")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Looking.\nWriting.\nDone.\n"  # stdout stays the answer
    err = result.stderr
    assert '⏺ Bash({"command":"echo hi"})' in err  # JSON, not a Python dict
    assert "✗ denied: Write(" in err and "--allowed-tools" in err
    assert err.splitlines()[-1].startswith("session ") and "threadline run -r" in err


def test_ctrl_c_in_run_is_recorded_as_in_chat(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    import signal
    import subprocess
    import sys

    fake.script([{"text": "one two three four five six " * 5, "delay_between_events_s": 0.5}])
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "threadline.cli",
            "run",
            "-o",
            "stream-json",
            "--include-partial-messages",
            "slow please",
        ],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if '"text_delta"' in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    (transcript,) = config_dir.glob("projects/*/*.jsonl")
    assert "[Request interrupted by user]" in transcript.read_text()
    assert run_tl("sessions", "list", cwd=project).returncode == 0
