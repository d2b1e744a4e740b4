"""Permission rules and directory confinement under attack (issue #15 items 1 and 3).

Each test is the attack itself: the (fake) model asks for a tool call that a rule or the
working-directory confinement must stop, and the test looks at the disk afterwards. They
go through ``query()`` only, so they ran unchanged against the prefix/fnmatch matcher they
were written to break.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from threadline._messages import SystemMessage, UserMessage
from threadline._query import query
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options

pytestmark = pytest.mark.anyio


async def _run(
    fake: FakeAnthropicServer, calls: list[tuple[str, dict[str, Any]]], **kw: Any
) -> list[Any]:
    fake.script(
        [
            {"tool_use": [{"name": n, "input": i} for n, i in calls]},
            {"text": "done"},
        ]
    )
    return [m async for m in query(prompt="go", options=options(**kw))]


def _results(msgs: list[Any]) -> list[Any]:
    return [
        b
        for m in msgs
        if isinstance(m, UserMessage) and isinstance(m.content, list)
        for b in m.content
        if getattr(b, "tool_use_id", None)
    ]


def _bash(*commands: str) -> list[tuple[str, dict[str, Any]]]:
    return [("Bash", {"command": c}) for c in commands]


# -- item 1: allow rules do not stretch over compound commands --------------------------------


async def test_prefix_rule_does_not_allow_a_second_command(
    fake: FakeAnthropicServer, project: Path
) -> None:
    """``Bash(git status:*)`` allowed ``git status; touch ../x``."""
    await _run(fake, _bash("git status; touch ../x1", "git status && touch x2"),
               allowed_tools=["Bash(git status:*)"])  # fmt: skip
    assert not (project.parent / "x1").exists()
    assert not (project / "x2").exists()


async def test_wildcard_rule_does_not_allow_a_chained_command(
    fake: FakeAnthropicServer, project: Path
) -> None:
    """``Bash(echo *)`` allowed ``echo hi && touch X``."""
    await _run(fake, _bash("echo hi && touch X", "echo hi | tee Y", "echo hi\ntouch Z"),
               allowed_tools=["Bash(echo *)"])  # fmt: skip
    assert not (project / "X").exists()
    assert not (project / "Y").exists()
    assert not (project / "Z").exists()


async def test_rule_does_not_allow_command_substitution(
    fake: FakeAnthropicServer, project: Path
) -> None:
    """``Bash(ls:*)`` allowed ``ls $(touch X)``."""
    await _run(fake, _bash("ls $(touch X1)", "ls `touch X2`", "ls <(touch X3)", 'ls "$(touch X4)"'),
               allowed_tools=["Bash(ls:*)"])  # fmt: skip
    for name in ("X1", "X2", "X3", "X4"):
        assert not (project / name).exists(), name


async def test_prefix_rule_needs_a_word_boundary(fake: FakeAnthropicServer, project: Path) -> None:
    (project / "tool.sh").write_text("touch pwned\n")
    await _run(fake, _bash("sh tool.sh"), allowed_tools=["Bash(s:*)", "Bash(sh tool:*)"])
    assert not (project / "pwned").exists()


# -- item 1: deny rules are not evaded --------------------------------------------------------


DENY_EVASIONS = [
    "true; touch D1",
    "/usr/bin/touch D2",
    "FOO=1 touch D3",
    "command touch D4",
    "env touch D5",
    "exec touch D6",
    "timeout 5 touch D7",
    "nohup touch D8",
    "nice touch D9",
    "\\touch D10",
    "'touch' D11",
    't"ouch" D12',
    "echo D13 | xargs touch",
    "(touch D14)",
    "{ touch D15; }",
    "if true; then touch D16; fi",
    "ls $(touch D17)",
    "bash -c 'touch D18'",
    "eval touch D19",
    "find . -maxdepth 0 -exec touch D20 \\;",
    "$'\\x74ouch' D21",
    "stdbuf -o0 touch D22",
]


async def test_deny_rule_holds_against_every_spelling(
    fake: FakeAnthropicServer, project: Path
) -> None:
    """Deny rules fell to ``true; rm X`` and ``/usr/bin/touch X``; bypass mode must not help."""
    msgs = await _run(fake, _bash(*DENY_EVASIONS), disallowed_tools=["Bash(touch:*)"],
                      permission_mode="bypassPermissions")  # fmt: skip
    created = sorted(p.name for p in project.iterdir())
    assert created == [], created
    assert all(b.is_error for b in _results(msgs))


async def test_deny_rule_beats_allow_rule(fake: FakeAnthropicServer, project: Path) -> None:
    await _run(fake, _bash("git status; rm -f keep.txt"), allowed_tools=["Bash"],
               disallowed_tools=["Bash(rm:*)"])  # fmt: skip
    assert not (project / "rm").exists()
    (project / "keep.txt").write_text("x")
    await _run(fake, _bash("git status; rm -f keep.txt"), allowed_tools=["Bash"],
               disallowed_tools=["Bash(rm:*)"])  # fmt: skip
    assert (project / "keep.txt").exists()


# -- item 1: file rules are anchored and normalised ------------------------------------------


async def test_write_rule_does_not_follow_dot_dot(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    """``Write(src/**)`` allowed ``src/../../outside/d``."""
    (project / "src").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    await _run(
        fake,
        [("Write", {"file_path": "src/../../outside/d", "content": "x"}),
         ("Write", {"file_path": "src/ok.txt", "content": "x"})],
        allowed_tools=["Write(src/**)"],
    )  # fmt: skip
    assert not (outside / "d").exists()
    assert (project / "src" / "ok.txt").exists()


async def test_edit_rule_covers_the_project_only(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    """``Edit(*.txt)`` allowed any ``.txt`` on the disk."""
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    (project / "mine.txt").write_text("original")
    await _run(
        fake,
        [("Edit", {"file_path": str(victim), "old_string": "original", "new_string": "owned"}),
         ("Edit", {"file_path": "mine.txt", "old_string": "original", "new_string": "edited"})],
        allowed_tools=["Edit(*.txt)", "Read"],
    )  # fmt: skip
    assert victim.read_text() == "original"
    assert (project / "mine.txt").read_text() == "edited"


async def test_edit_rule_does_not_follow_a_symlink_out(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (project / "src").mkdir()
    (project / "src" / "link").symlink_to(secret_dir)
    await _run(fake, [("Write", {"file_path": "src/link/planted.txt", "content": "x"})],
               allowed_tools=["Write(src/**)"], permission_mode="acceptEdits")  # fmt: skip
    assert not (secret_dir / "planted.txt").exists()


async def test_read_deny_rule_is_normalised(fake: FakeAnthropicServer, project: Path) -> None:
    (project / ".env").write_text("SECRET=1")
    (project / "sub").mkdir()
    msgs = await _run(
        fake,
        [("Read", {"file_path": ".env"}), ("Read", {"file_path": "sub/../.env"}),
         ("Read", {"file_path": str(project / ".env")}), ("Bash", {"command": "cat .env"}),
         ("Grep", {"pattern": "SECRET", "path": ".env"})],
        disallowed_tools=["Read(./.env)"],
    )  # fmt: skip
    for block in _results(msgs):
        assert block.is_error and "SECRET=1" not in str(block.content), block


# -- item 3 / #14 confinement: outside the working directories asks ---------------------------


@pytest.mark.parametrize("mode", ["default", "acceptEdits", "dontAsk", "plan", "auto"])
async def test_write_outside_cwd_is_refused_in_every_mode_but_bypass(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, mode: str
) -> None:
    """``acceptEdits`` approved Write/Edit anywhere on disk (absolute and ``../`` paths)."""
    target = tmp_path / "escaped.txt"
    msgs = await _run(
        fake,
        [("Write", {"file_path": str(target), "content": "x"}),
         ("Write", {"file_path": "../escaped2.txt", "content": "x"}),
         ("Bash", {"command": "touch ../escaped3.txt"})],
        permission_mode=mode,
    )  # fmt: skip
    assert not target.exists()
    assert not (tmp_path / "escaped2.txt").exists()
    assert not (tmp_path / "escaped3.txt").exists()
    notices = [m for m in msgs if isinstance(m, SystemMessage) and m.subtype == "permission_denied"]
    assert len(notices) == 3


async def test_write_outside_cwd_runs_under_bypass(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    target = tmp_path / "allowed.txt"
    await _run(fake, [("Write", {"file_path": str(target), "content": "x"})],
               permission_mode="bypassPermissions")  # fmt: skip
    assert target.read_text() == "x"


async def test_add_dirs_extend_the_confinement(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    await _run(fake, [("Write", {"file_path": str(extra / "in.txt"), "content": "x"})],
               permission_mode="acceptEdits", add_dirs=[extra])  # fmt: skip
    assert (extra / "in.txt").read_text() == "x"


async def test_accept_edits_inside_cwd_writes(fake: FakeAnthropicServer, project: Path) -> None:
    await _run(fake, [("Write", {"file_path": "in.txt", "content": "x"}),
                      ("Bash", {"command": "mkdir -p d && touch d/f"})],
               permission_mode="acceptEdits")  # fmt: skip
    assert (project / "in.txt").read_text() == "x"
    assert (project / "d" / "f").exists()


async def test_read_only_bash_runs_unasked_and_the_rest_asks(
    fake: FakeAnthropicServer, project: Path
) -> None:
    asked: list[str] = []

    async def decide(name: str, data: dict[str, Any], ctx: Any) -> Any:
        from threadline import PermissionResultDeny

        asked.append(data["command"])
        return PermissionResultDeny(message="no")

    (project / "a.txt").write_text("hello\n")
    msgs = await _run(
        fake,
        _bash("echo hi", "cat a.txt | grep hell", "ls -la && pwd", "git status",
              "touch new", "cat /etc/hostname", "echo x > out.txt"),
        can_use_tool=decide,
    )  # fmt: skip
    assert asked == ["touch new", "cat /etc/hostname", "echo x > out.txt"]
    results = _results(msgs)
    assert "hi" in str(results[0].content) and "hello" in str(results[1].content)


async def test_dont_ask_allows_reads_in_cwd_and_denies_the_rest(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    (project / "a.txt").write_text("hello\n")
    (tmp_path / "o.txt").write_text("outside\n")
    msgs = await _run(
        fake,
        [("Read", {"file_path": "a.txt"}), ("Read", {"file_path": str(tmp_path / "o.txt")}),
         ("Bash", {"command": "cat a.txt"}), ("Bash", {"command": "touch t"}),
         ("Write", {"file_path": "w.txt", "content": "x"})],
        permission_mode="dontAsk",
    )  # fmt: skip
    ok = [not b.is_error for b in _results(msgs)]
    assert ok == [True, False, True, False, False]
    notices = [
        m.data for m in msgs if isinstance(m, SystemMessage) and m.subtype == "permission_denied"
    ]
    assert [n["tool_use_id"] for n in notices] == [
        b.tool_use_id for b in _results(msgs) if b.is_error
    ]
    assert all(n["decision_reason_type"] == "mode" for n in notices)
