"""Side by side with the real CLI: the same tool calls, the same permission outcome.

The bundled ``claude`` CLI (2.1.330) and threadline each get one model reply holding the same
batch of tool calls, in the same kind of project, with no permission callback: a call runs
only if the rules, the mode and the working directories allow it unasked. Both must run the
same calls and refuse the same calls, each refusal announced by a ``permission_denied``
system message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline._messages import SystemMessage, UserMessage
from threadline._query import query
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options

pytestmark = [pytest.mark.oracle, pytest.mark.slow, pytest.mark.anyio]

try:
    from threadline.testing._claude_cli import claude_cli_path, run_claude

    claude_cli_path()
except Exception as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"bundled claude CLI unavailable: {exc}", allow_module_level=True)

BASH = [
    "echo hi", "pwd", "ls -la", "cat a.txt", "cat a.txt | grep hel | wc -l", "git status",
    "find . -name '*.txt'", "sed -n 1p a.txt", "sort a.txt", "timeout 5 ls", "echo $HOME",
    "[[ -f a.txt ]] && echo y", "cat /etc/hostname", "ls /", "cat ../outside/o.txt",
    "cd .. && ls", "echo hi > x.txt", "echo hi && touch t1", "ls $(touch t2)", "touch t3",
    "mkdir d1", "touch ../t4", "find . -delete", "sort -o s a.txt", "FOO=1 ls", "env",
    "nohup ls", "ls &", "awk '{print}' a.txt", "command -v ls", "git branch newb",
]  # fmt: skip
FILES: list[tuple[str, dict[str, Any]]] = [
    ("Read", {"file_path": "a.txt"}),
    ("Read", {"file_path": "../outside/o.txt"}),
    ("Write", {"file_path": "w.txt", "content": "x"}),
    ("Write", {"file_path": "../outside/w.txt", "content": "x"}),
    ("Glob", {"pattern": "*.txt"}),
    ("Grep", {"pattern": "out", "path": "../outside"}),
]
CALLS = [("Bash", {"command": c}) for c in BASH] + FILES


def _layout(root: Path) -> Path:
    project = root / "project"
    project.mkdir(parents=True)
    (project / "a.txt").write_text("hello\n")
    (root / "outside").mkdir()
    (root / "outside" / "o.txt").write_text("out\n")
    return project


def _script(fake: FakeAnthropicServer) -> None:
    uses = [{"name": n, "input": i, "id": f"toolu_{k:04d}"} for k, (n, i) in enumerate(CALLS)]
    fake.script([{"tool_use": uses}, {"text": "done"}])


def _cli_outcome(
    fake: FakeAnthropicServer, root: Path, mode: str, extra: list[str]
) -> tuple[dict[str, bool], set[str]]:
    project = _layout(root)
    _script(fake)
    run = run_claude(
        [
            "-p",
            "go",
            "--permission-mode",
            mode,
            "--tools",
            "Bash,Read,Glob,Grep,Write,Edit",
            *extra,
        ],
        server=fake,
        config_dir=root / "cfg",
        cwd=project,
        home=root / "home",
        tmpdir=root / "tmp",
    )
    ran: dict[str, bool] = {}
    notices: set[str] = set()
    for m in run.messages:
        if m.get("type") == "system" and m.get("subtype") == "permission_denied":
            notices.add(m["tool_use_id"])
        if m.get("type") == "user":
            for b in m["message"]["content"]:
                if isinstance(b, dict) and b.get("type") == "tool_result":
                    ran[b["tool_use_id"]] = b["tool_use_id"] not in notices
    return ran, notices


async def _threadline_outcome(
    fake: FakeAnthropicServer, root: Path, mode: str, allowed: list[str]
) -> tuple[dict[str, bool], set[str]]:
    project = _layout(root)
    _script(fake)
    ran: dict[str, bool] = {}
    notices: set[str] = set()
    opts = options(cwd=project, permission_mode=mode, allowed_tools=allowed,
                   tools=["Bash", "Read", "Glob", "Grep", "Write", "Edit"])  # fmt: skip
    async for m in query(prompt="go", options=opts):
        if isinstance(m, SystemMessage) and m.subtype == "permission_denied":
            notices.add(m.data["tool_use_id"])
        if isinstance(m, UserMessage) and isinstance(m.content, list):
            for b in m.content:
                ran[b.tool_use_id] = b.tool_use_id not in notices
    return ran, notices


def _named(outcome: dict[str, bool]) -> dict[str, bool]:
    return {json.dumps(CALLS[int(k.split("_")[1])]): v for k, v in outcome.items()}


@pytest.mark.parametrize(
    ("mode", "allowed"),
    [
        ("default", []),
        ("plan", []),
        ("acceptEdits", []),
        ("dontAsk", []),
        ("default", ["Bash(git branch:*)", "Edit(w.txt)"]),
    ],
)
async def test_same_calls_run_and_same_calls_are_refused(
    fake: FakeAnthropicServer, tmp_path: Path, mode: str, allowed: list[str]
) -> None:
    extra = ["--allowedTools", ",".join(allowed)] if allowed else []
    cli, cli_notices = _cli_outcome(fake, tmp_path / "cli", mode, extra)
    ours, our_notices = await _threadline_outcome(fake, tmp_path / "tl", mode, allowed)
    assert len(cli) == len(CALLS)
    assert _named(ours) == _named(cli)
    assert our_notices == cli_notices
