"""``threadline run``: output formats, session flags, errors and exit codes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import invoke, run_tl


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _texts(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for m in body["messages"]:
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        out.extend(b["text"] for b in blocks if b.get("type") == "text")
    return out


def test_text_streams_the_answer(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "Hello there, friend"}])
    result = invoke("run", "hi")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello there, friend\n"


def test_stream_json_has_the_cli_shape(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [
            {"text": "Let me look.", "tool_use": {"name": "Bash", "input": {"command": "echo hi"}}},
            {"text": "done"},
        ]
    )
    result = invoke("run", "-o", "stream-json", "--allowed-tools", "Bash", "go")
    assert result.exit_code == 0, result.output
    lines = _lines(result.stdout)
    assert [m["type"] for m in lines] == [
        "system",
        "assistant",
        "assistant",
        "user",
        "assistant",
        "result",
    ]
    init, result_msg = lines[0], lines[-1]
    assert init["subtype"] == "init" and init["session_id"] == result_msg["session_id"]
    assert {"cwd", "model", "tools", "permissionMode"} <= init.keys()
    assert lines[2]["message"]["content"][0]["type"] == "tool_use"
    assert lines[3]["message"]["content"][0]["type"] == "tool_result"
    assert lines[3]["message"]["content"][0]["content"].strip() == "hi"
    assert result_msg["subtype"] == "success" and result_msg["result"] == "done"
    assert result_msg["is_error"] is False and result_msg["num_turns"] == 2
    assert {
        "total_cost_usd",
        "usage",
        "duration_ms",
        "modelUsage",
        "permission_denials",
    } <= result_msg.keys()


def test_stream_json_partial_messages(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"text": "abcdefghi"}])
    result = invoke("run", "-o", "stream-json", "--include-partial-messages", "x")
    kinds = [m["type"] for m in _lines(result.stdout)]
    assert "stream_event" in kinds and kinds[-1] == "result"
    deltas = [
        m["event"]["delta"]["text"]
        for m in _lines(result.stdout)
        if m["type"] == "stream_event" and m["event"]["type"] == "content_block_delta"
    ]
    assert "".join(deltas) == "abcdefghi"


def test_json_prints_the_result(fake: FakeAnthropicServer, project: Path) -> None:
    out = json.loads(invoke("run", "-o", "json", "hi").stdout)
    assert out["type"] == "result" and out["result"] == "echo: hi"
    verbose = json.loads(invoke("run", "-o", "json", "--verbose", "hi").stdout)
    assert [m["type"] for m in verbose] == ["system", "assistant", "result"]


def test_prompt_from_stdin(fake: FakeAnthropicServer, project: Path) -> None:
    result = invoke("run", "-", input="from stdin\n")
    assert result.stdout == "echo: from stdin\n"


def test_resume_continue_and_fork(fake: FakeAnthropicServer, project: Path) -> None:
    first = json.loads(invoke("run", "-o", "json", "one").stdout)
    sid = first["session_id"]
    second = json.loads(invoke("run", "-o", "json", "--resume", sid[:8], "two").stdout)
    assert second["session_id"] == sid
    assert _texts(fake.message_requests()[-1]) == ["one", "echo: one", "two"]
    third = json.loads(invoke("run", "-o", "json", "-c", "three").stdout)
    assert third["session_id"] == sid
    forked = json.loads(invoke("run", "-o", "json", "-r", sid, "--fork", "four").stdout)
    assert forked["session_id"] != sid
    assert _texts(fake.message_requests()[-1])[-2:] == ["echo: three", "four"]


def test_model_base_url_and_permission_mode(
    fake: FakeAnthropicServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    result = invoke(
        "run",
        "--base-url",
        fake.base_url,
        "--model",
        "claude-sonnet-4-5",
        "--permission-mode",
        "plan",
        "-o",
        "stream-json",
        "hi",
    )
    assert result.exit_code == 0, result.output
    init = _lines(result.stdout)[0]
    assert init["model"] == "claude-sonnet-4-5" and init["permissionMode"] == "plan"
    assert fake.message_requests()[-1]["model"] == "claude-sonnet-4-5"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "-r", "../etc", "x"], 4, "Invalid session id"),
        (["run", "-r", "11111111-1111-1111-1111-111111111111", "x"], 3, "not found"),
        (["run", "-r", "abcdef12", "x"], 3, "not found"),
        (["run", "--fork", "x"], 2, "--fork needs"),
        (["run", "-r", "abcdef12", "-c", "x"], 2, "not both"),
        (["run", "--provider", "nope", "x"], 2, "Invalid value"),
        (["run", ""], 2, "empty"),
    ],
)
def test_errors_have_distinct_exit_codes(
    fake: FakeAnthropicServer, project: Path, args: list[str], code: int, message: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    if "Usage:" not in result.stderr:  # click's usage errors also print the usage line
        assert result.stderr.startswith("threadline: error: ")
        assert result.stderr.count("\n") == 1


def test_provider_error_exits_5(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script(
        [{"error": {"status": 400, "type": "invalid_request_error", "message": "bad things"}}]
    )
    result = invoke("run", "hi")
    assert result.exit_code == 5
    assert "bad things" in result.stderr and result.stderr.count("\n") == 1


def test_missing_api_key_is_a_usage_error(project: Path) -> None:
    result = invoke("run", "hi")
    assert result.exit_code == 2 and "API key" in result.stderr


def test_openai_provider(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline.testing._fake_openai import FakeOpenAIServer

    with FakeOpenAIServer() as server:
        server.script([{"text": "from openai"}])
        monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
        result = invoke(
            "run", "--provider", "openai", "--base-url", server.base_url, "-m", "gpt-fake", "hi"
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == "from openai\n"
        assert server.chat_requests()[-1]["model"] == "gpt-fake"


def test_subprocess_module_and_console_script(fake: FakeAnthropicServer, project: Path) -> None:
    proc = run_tl("run", "-o", "stream-json", "via subprocess", cwd=project)
    assert proc.returncode == 0, proc.stderr
    lines = _lines(proc.stdout)
    assert lines[0]["type"] == "system" and lines[-1]["result"] == "echo: via subprocess"
    script = Path(sys.executable).parent / "threadline"
    if not script.exists():
        script_path = shutil.which("threadline")
        if script_path is None:
            pytest.skip("console script not installed (pip install -e .)")
        script = Path(script_path)
    import subprocess

    proc = subprocess.run(
        [str(script), "run", "hi"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "echo: hi\n"
    bad = run_tl("run", "-r", "11111111-1111-1111-1111-111111111111", "x", cwd=project)
    assert bad.returncode == 3 and bad.stderr.startswith("threadline: error: ")


@pytest.mark.oracle
@pytest.mark.slow
def test_stream_json_keys_match_the_real_cli(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    try:
        from threadline.testing._claude_cli import claude_cli_path, run_claude

        claude_cli_path()
    except Exception as exc:
        pytest.skip(f"bundled claude CLI unavailable: {exc}")
    real = run_claude(
        ["-p", "hi"],
        server=fake,
        config_dir=tmp_path / "cli-config",
        cwd=project,
        home=tmp_path / "home",
        tmpdir=tmp_path / "tmp",
    ).check()
    ours = _lines(invoke("run", "-o", "stream-json", "hi").stdout)
    assert [m["type"] for m in ours] == [m["type"] for m in real.messages]
    for mine, theirs in zip(ours, real.messages):
        shared = {
            "type",
            "subtype",
            "session_id",
            "uuid",
            "message",
            "result",
            "is_error",
            "usage",
            "total_cost_usd",
            "num_turns",
            "parent_tool_use_id",
        }
        assert shared & theirs.keys() <= mine.keys(), (
            mine["type"],
            shared & theirs.keys() - mine.keys(),
        )
    assert ours[1]["message"]["content"] == real.messages[1]["message"]["content"]
