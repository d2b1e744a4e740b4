"""Compaction interop with the real ``claude`` CLI: both resume each other's compacted sessions
and send the model the same conversation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from threadline._client import AgentClient
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import options, run_turn

pytestmark = [pytest.mark.anyio, pytest.mark.oracle, pytest.mark.slow]

try:
    from threadline.testing._claude_cli import claude_cli_path, run_claude

    claude_cli_path()
except Exception as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"bundled claude CLI unavailable: {exc}", allow_module_level=True)


def _cli(fake: FakeAnthropicServer, project: Path, tmp: Path, config: Path, *args: str) -> Any:
    return run_claude(
        list(args),
        server=fake,
        config_dir=config,
        cwd=project,
        home=tmp / "home",
        tmpdir=tmp / "tmp",
    ).check()


def _dialogue(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) without the CLI's system messages and reminders; summaries shortened."""
    out: list[tuple[str, str]] = []
    for m in body["messages"]:
        if m["role"] == "system":
            continue
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for b in blocks:
            if b.get("type") != "text" or b["text"].lstrip().startswith("<system-reminder>"):
                continue
            text = b["text"].strip()
            out.append((m["role"], "SUMMARY" if text.startswith("This session is being") else text))
    return out


async def test_cli_resumes_a_threadline_compaction_like_threadline(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    client = AgentClient(options())
    await client.connect()
    for i in (1, 2, 3):
        await run_turn(client, f"prompt {i}")
    await client.compact()
    await run_turn(client, "prompt 4")
    sid = client.session_id
    await client.disconnect()
    assert sid is not None

    fake.clear_requests()
    _cli(fake, project, tmp_path, config_dir, "-p", "prompt 5", "--resume", sid)
    cli_sent = _dialogue(fake.message_requests()[-1])
    fake.clear_requests()
    async with AgentClient(options(resume=sid, resume_session_at=None)) as again:
        await run_turn(again, "prompt 5b")
    ours = _dialogue(fake.message_requests()[-1])
    expected = [
        ("user", "SUMMARY"),
        ("assistant", "echo: prompt 3"),
        ("user", "prompt 4"),
        ("assistant", "echo: prompt 4"),
    ]
    assert cli_sent == [*expected, ("user", "prompt 5")]
    # threadline resumes after the CLI's turn: same prefix, then the CLI's turn
    assert ours == [
        *expected,
        ("user", "prompt 5"),
        ("assistant", "echo: prompt 5"),
        ("user", "prompt 5b"),
    ]


async def test_threadline_resumes_a_cli_auto_compaction_like_the_cli(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    run = _cli(fake, project, tmp_path, config_dir, "-p", "auto prompt 1")
    sid = str(run.session_id)
    for i in (2, 3, 4):
        _cli(fake, project, tmp_path, config_dir, "-p", f"auto prompt {i}", "--resume", sid)
    fake.script([{"match": {"kind": "main"}, "echo": True, "usage": {"input_tokens": 95000}}])
    _cli(
        fake,
        project,
        tmp_path,
        config_dir,
        "-p",
        "auto prompt 5",
        "--resume",
        sid,
        "--autocompact",
        "100000",
    )
    fake.script([])
    _cli(
        fake,
        project,
        tmp_path,
        config_dir,
        "-p",
        "auto prompt 6",
        "--resume",
        sid,
        "--autocompact",
        "100000",
    )
    fake.clear_requests()
    _cli(fake, project, tmp_path, config_dir, "-p", "auto prompt 7", "--resume", sid)
    cli_sent = _dialogue(fake.message_requests()[-1])
    assert cli_sent[0] == ("user", "SUMMARY")

    fake.clear_requests()
    async with AgentClient(options(resume=sid)) as client:
        await run_turn(client, "auto prompt 8")
    ours = _dialogue(fake.message_requests()[-1])
    assert ours == [*cli_sent, ("assistant", "echo: auto prompt 7"), ("user", "auto prompt 8")]
