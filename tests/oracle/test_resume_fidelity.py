"""Resume sends exactly what Claude Code sends, both ways (issue 16).

For every shape of session the real ``claude`` CLI writes offline (see ``fidelity.py``),
threadline's first request after resuming it must equal the CLI's own next request in
its conversation part: every message and content block, byte for byte (string or list
content, ``"\\n"`` at merge seams, the order of blocks and keys, the cache breakpoint).
What differs by design is left out: the system prompt, the tool list and the CLI's
``role: "system"`` reminder messages. And the other way: the CLI resuming a session
threadline wrote sends what threadline sends when it resumes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .fidelity import (
    CLI_SCENARIOS,
    NEXT,
    TL_SCENARIOS,
    Lab,
    Session,
    cli_session,
    conversation_part,
    diff,
    dumps,
    lab_at,
    tl_session,
)

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

try:
    from threadline.testing._claude_cli import claude_cli_path

    claude_cli_path()
except Exception as exc:  # pragma: no cover - depends on the environment
    pytest.skip(f"bundled claude CLI unavailable: {exc}", allow_module_level=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with lab_at(tmp_path_factory.mktemp("fidelity")) as lab:
        yield lab


def _same_next_request(lab: Lab, session: Session) -> None:
    theirs = conversation_part(lab.cli_next(session))
    ours = conversation_part(lab.tl_next(session))
    assert dumps(ours) == dumps(theirs), diff(theirs, ours, session.name)
    last = ours[-1]["content"][-1]
    assert last == {"type": "text", "text": NEXT, "cache_control": {"type": "ephemeral"}}


@pytest.mark.parametrize("name", sorted(CLI_SCENARIOS))
def test_a_cli_session_resumes_in_threadline_as_in_the_cli(lab: Lab, name: str) -> None:
    _same_next_request(lab, cli_session(lab, name))


@pytest.mark.parametrize("name", sorted(TL_SCENARIOS))
def test_a_threadline_session_resumes_in_the_cli_as_in_threadline(lab: Lab, name: str) -> None:
    session, live = tl_session(lab, name)
    _same_next_request(lab, session)
    # and what threadline sent before keeps its bytes when it resumes (its prompt cache)
    resumed = conversation_part(lab.tl_next(session))
    before = conversation_part(live)[:-1]
    assert dumps(resumed[: len(before)]) == dumps(before), diff(before, resumed, name)


def test_the_scenarios_cover_what_the_issue_lists(tmp_path: Path) -> None:
    wanted = {
        "single",
        "multi_turn",
        "tools",
        "parallel_tools_thinking",
        "thinking",
        "api_error",
        "compact_manual",
        "compact_auto",
        "subagent_foreground",
        "subagent_background",
        "interrupted",
        "permission_denial",
        "slash_commands",
        "image",
    }
    assert wanted <= set(CLI_SCENARIOS)
