"""Escape sequences in stored or streamed text never reach the terminal (issue 15, item 4).

Each attack string is put where a transcript, a bundle or the model can put it, then every
command that shows it runs, piped (CliRunner) and under a pseudo-terminal (pexpect).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._transcripts import entry, new_id, write_session
from .conftest import invoke

pexpect = pytest.importorskip("pexpect")

ATTACKS = {
    "osc52": "\x1b]52;c;cm0gLXJmIH4=\x07",  # write the clipboard
    "osc8": "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",  # hidden link
    "osc0": "\x1b]0;pwned title\x07",  # window title
    "csi2j": "\x1b[2J\x1b[H",  # clear the screen
    "c1": "\x9b2J\x9d0;c1 title\x9c",  # the same in one-byte C1 controls
    "bidi": "\u202eevil\u202c",  # reorders what is shown
}
EVIL = "".join(ATTACKS.values())
FORBIDDEN = ("\x1b]", "\x1b[2J", "\x1b[H", "\x07", "\x9b", "\x9d", "\x9c", "\u202e")


def _clean(text: str, where: object) -> None:
    for bad in FORBIDDEN:
        assert bad not in text, (where, bad, text[:2000])


def _crafted_session(config_dir: Path, cwd: str) -> str:
    sid = new_id()
    prompt = entry("user", sid, None, f"hello {EVIL} needle", cwd=cwd)
    tool = {"type": "tool_use", "id": "toolu_1", "name": f"Bash{EVIL}", "input": {"command": EVIL}}
    think = {"type": "thinking", "thinking": EVIL, "signature": "s"}
    call = entry("assistant", sid, prompt["uuid"], [think, tool], cwd=cwd)
    result = entry(
        "user",
        sid,
        call["uuid"],
        [{"type": "tool_result", "tool_use_id": "toolu_1", "content": EVIL}],
        cwd=cwd,
    )
    answer = entry(
        "assistant",
        sid,
        result["uuid"],
        [{"type": "text", "text": f"answer {EVIL} needle"}],
        cwd=cwd,
    )
    title = {"type": "custom-title", "customTitle": f"title {EVIL}", "sessionId": sid}
    tag = {"type": "tag", "tag": f"tag{EVIL}", "sessionId": sid}
    write_session(config_dir, cwd, [prompt, call, result, answer, title, tag], sid)
    return sid


def test_every_command_piped(project: Path, config_dir: Path, tmp_path: Path) -> None:
    sid = _crafted_session(config_dir, str(project))
    bundle = tmp_path / "b.tlbundle"
    commands = [
        ["sessions", "list"],
        ["sessions", "list", "-a"],
        ["sessions", "list", "--json"],
        ["sessions", "show", sid],
        ["sessions", "show", sid, "--json"],
        ["sessions", "show", sid, "--tree"],
        ["sessions", "show", sid, "--tree", "--json"],
        ["sessions", "search", "needle"],
        ["sessions", "search", "needle", "--json"],
        ["sessions", "stats"],
        ["sessions", "stats", sid],
        ["sessions", "stats", sid, "--json"],
        ["sessions", "export", sid, "-o", str(bundle)],
        ["sessions", "rename", sid, f"renamed {EVIL}"],
        ["sessions", "tag", sid, f"t{EVIL}"],
        ["sessions", "import", "--check", str(bundle)],
        ["sessions", "import", "--to-directory", str(tmp_path), "--force", str(bundle)],
        ["sessions", "show", f"{sid[:8]}{ATTACKS['osc52']}"],
        ["sessions", "list", "--store", f"mysql://{ATTACKS['osc0']}"],
    ]
    for args in commands:
        result = invoke(*args)
        _clean(result.stdout, args)
        _clean(result.stderr, args)
    shown = invoke("sessions", "show", sid).stdout
    assert "\\x1b]52;c;" in shown and "\\u009b2J" in shown  # made visible, not dropped
    hits = json.loads(invoke("sessions", "search", "needle", "--json").stdout)
    assert hits and "\x1b" in hits[0]["snippet"]  # JSON keeps the value (escaped in the text)


def test_model_stream_in_run_and_errors(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [
            {
                "text": f"streamed {EVIL}",
                "tool_use": {"name": "Bash", "input": {"command": f"echo {EVIL}"}},
            },
            {"text": f"done {EVIL}"},
        ]
    )
    result = invoke("run", "--allowed-tools", "Bash", "go")
    assert result.exit_code == 0, result.stderr
    _clean(result.stdout, "run")
    _clean(result.stderr, "run")
    assert "streamed \\x1b]52" in result.stdout
    for fmt in ("json", "stream-json"):
        fake.script([{"text": f"x {EVIL}"}])
        out = invoke("run", "-o", fmt, "--verbose", "go")
        _clean(out.stdout, fmt)
    fake.script(
        [{"error": {"status": 400, "type": "invalid_request_error", "message": f"bad {EVIL}"}}]
    )
    failed = invoke("run", "go")
    assert failed.exit_code == 5
    _clean(failed.stderr, "error")


def _pty(project: Path, *args: str) -> str:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "threadline.cli", *args],
        cwd=str(project),
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"},
        encoding="utf-8",
        codec_errors="replace",
        timeout=30,
        dimensions=(50, 200),
    )
    child.expect(pexpect.EOF)
    child.close()
    return str(child.before)


def test_through_a_pseudo_terminal(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid = _crafted_session(config_dir, str(project))
    for args in (
        ["sessions", "show", sid],
        ["sessions", "show", sid, "--tree"],
        ["sessions", "list"],
        ["sessions", "search", "needle"],
        ["sessions", "stats", sid],
    ):
        _clean(_pty(project, *args), args)
    fake.script([{"text": f"streamed {EVIL}"}])
    out = _pty(project, "run", "go")
    assert "streamed" in out
    _clean(out, "run")


def test_chat_under_a_pty(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [
            {
                "text": f"chat {EVIL}",
                "tool_use": {"name": "Bash", "input": {"command": f"echo '{EVIL}'"}},
            },
            {"text": f"after {EVIL} end"},
        ]
    )
    child = pexpect.spawn(
        sys.executable,
        ["-m", "threadline.cli", "chat", "--allowed-tools", "Bash"],
        cwd=str(project),
        env={**os.environ, "TERM": "xterm-256color", "THREADLINE_CHAT_HISTORY": "off"},
        encoding="utf-8",
        codec_errors="replace",
        timeout=30,
    )
    child.expect_exact("> ")
    child.sendline("go")
    child.expect_exact("end")
    seen = str(child.before)
    child.expect_exact("> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    _clean(seen + str(child.before), "chat")
