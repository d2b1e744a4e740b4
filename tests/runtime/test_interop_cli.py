"""Interop with the real ``claude`` CLI bundled in claude-agent-sdk, both directions.

The fake server must see the full prior conversation in the next request, whoever wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from threadline._messages import ResultMessage
from threadline._query import query
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options, transcript

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

try:
    from threadline.testing._claude_cli import claude_cli_path, run_claude

    claude_cli_path()
except Exception as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"bundled claude CLI unavailable: {exc}", allow_module_level=True)


def _cli(
    server: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path, *args: str
) -> Any:
    run = run_claude(
        list(args),
        server=server,
        config_dir=config_dir,
        cwd=project,
        home=tmp_path / "home",
        tmpdir=tmp_path / "tmp",
    )
    return run.check()


def _conversation(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of the user/assistant text and tool blocks, without CLI reminders."""
    out: list[tuple[str, str]] = []
    for m in body["messages"]:
        if m["role"] == "system":
            continue
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for b in blocks:
            if b.get("type") == "text" and not b["text"].startswith("<system-reminder>"):
                out.append((m["role"], b["text"].strip()))
            elif b.get("type") in ("tool_use", "tool_result"):
                out.append((m["role"], b["type"]))
    return out


async def _tl(prompt: str, **kw: Any) -> list[Any]:
    return [m async for m in query(prompt=prompt, options=options(**kw))]


@pytest.mark.anyio
async def test_threadline_session_resumes_in_the_cli(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    (project / "notes.txt").write_text("remember: 42\n")
    fake.script(
        [
            {
                "text": "Let me look.",
                "tool_use": {"name": "Read", "input": {"file_path": str(project / "notes.txt")}},
            },
            {"text": "The number is 42."},
        ]
    )
    msgs = await _tl("what is in notes.txt?")
    result = msgs[-1]
    assert isinstance(result, ResultMessage) and not result.is_error
    fake.script([])
    fake.clear_requests()
    run = _cli(
        fake, project, tmp_path, config_dir, "-p", "and doubled?", "--resume", result.session_id
    )
    assert run.session_id == result.session_id
    assert _conversation(fake.message_requests()[-1]) == [
        ("user", "what is in notes.txt?"),
        ("assistant", "Let me look."),
        ("assistant", "tool_use"),
        ("user", "tool_result"),
        ("assistant", "The number is 42."),
        ("user", "and doubled?"),
    ]
    last = [e for e in transcript(config_dir, result.session_id) if e.get("type") == "assistant"][
        -1
    ]
    assert last["message"]["content"][0]["text"] == "echo: and doubled?"


@pytest.mark.anyio
async def test_cli_session_resumes_in_threadline(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    (project / "a.txt").write_text("alpha\n")
    fake.script(
        [
            {
                "thinking": "two tools at once",
                "text": "Reading.",
                "tool_use": [
                    {"name": "Read", "input": {"file_path": str(project / "a.txt")}},
                    {"name": "Bash", "input": {"command": "echo bravo"}},
                ],
            },
            {"text": "alpha and bravo"},
        ]
    )
    run = _cli(
        fake,
        project,
        tmp_path,
        config_dir,
        "-p",
        "read a.txt and echo",
        "--allowedTools",
        "Read,Bash",
    )
    sid = run.session_id
    assert sid
    cli_first = fake.message_requests()[1]
    fake.script([])
    fake.clear_requests()
    msgs = await _tl("summarise", resume=sid)
    assert msgs[-1].session_id == sid and not msgs[-1].is_error
    body = fake.message_requests()[-1]
    assert _conversation(body) == [
        ("user", "read a.txt and echo"),
        ("assistant", "Reading."),
        ("assistant", "tool_use"),
        ("assistant", "tool_use"),
        ("user", "tool_result"),
        ("user", "tool_result"),
        ("assistant", "alpha and bravo"),
        ("user", "summarise"),
    ]
    # thinking signatures and tool ids survive exactly as the CLI sent them
    cli_assistant = next(m for m in cli_first["messages"] if m["role"] == "assistant")
    ours = next(m for m in body["messages"] if m["role"] == "assistant")
    assert [b for b in ours["content"] if b["type"] == "thinking"] == [
        {k: v for k, v in b.items() if k != "cache_control"}
        for b in cli_assistant["content"]
        if b["type"] == "thinking"
    ]


@pytest.mark.anyio
async def test_cli_api_error_session_resumes_in_threadline(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    fake.script(
        [
            {
                "error": {
                    "status": 400,
                    "type": "invalid_request_error",
                    "message": "fake bad request",
                },
                "times": 20,
            }
        ]
    )
    run = run_claude(
        ["-p", "first prompt"],
        server=fake,
        config_dir=config_dir,
        cwd=project,
        home=tmp_path / "home",
        tmpdir=tmp_path / "tmp",
    )
    assert run.returncode != 0 and run.session_id
    fake.script([])
    fake.clear_requests()
    msgs = await _tl("second prompt", resume=run.session_id)
    assert not msgs[-1].is_error
    assert _conversation(fake.message_requests()[-1]) == [
        ("user", "first prompt"),
        ("user", "second prompt"),
    ]


@pytest.mark.anyio
async def test_threadline_fork_resumes_in_the_cli(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    first = await _tl("original")
    forked = await _tl("forked turn", resume=first[-1].session_id, fork_session=True)
    fake.clear_requests()
    _cli(fake, project, tmp_path, config_dir, "-p", "in the cli", "--resume", forked[-1].session_id)
    assert _conversation(fake.message_requests()[-1]) == [
        ("user", "original"),
        ("assistant", "echo: original"),
        ("user", "forked turn"),
        ("assistant", "echo: forked turn"),
        ("user", "in the cli"),
    ]
