"""Bad command-line input: a usage error (exit 2) before anything runs or is removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import invoke


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--cwd", "no-such-dir", "hi"], "does not exist"),
        (["chat", "--cwd", "no-such-dir"], "does not exist"),
        (["sessions", "list", "-n", "-1"], "-1 is not in the range"),
        (["sessions", "search", "x", "-n", "0"], "0 is not in the range"),
        (["sessions", "cleanup", "--older-than", "-5", "--dry-run"], "not in the range"),
        (["sessions", "cleanup", "--grace-days", "-1", "--dry-run"], "not in the range"),
        (
            ["sessions", "export", "--all", "-o", "no-such-dir/out.tlbundle"],
            "does not exist",
        ),
    ],
)
def test_usage_errors(
    fake: FakeAnthropicServer, project: Path, args: list[str], words: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert fake.message_requests() == []


def test_negative_age_does_not_trash_sessions(fake: FakeAnthropicServer, project: Path) -> None:
    assert invoke("run", "hi").exit_code == 0
    result = invoke("sessions", "cleanup", "--older-than", "-1", "-y")
    assert result.exit_code == 2
    listed = invoke("sessions", "list", "--json")
    assert listed.exit_code == 0 and '"session_id"' in listed.stdout
