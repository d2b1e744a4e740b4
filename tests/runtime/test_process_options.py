"""The options that configured the official SDK's CLI process, in-process: stderr, user,
extra_args, session_store_flush, resume_drops_turn (and what raises at construction)."""

from __future__ import annotations

import getpass
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline import AgentClient, ProcessError, UserError
from threadline._messages import ResultMessage
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import collect, options, transcript

pytestmark = pytest.mark.anyio

SERVER = Path(__file__).parents[1] / "tools" / "mcp_echo_server.py"


async def test_stderr_receives_warnings_and_mcp_server_stderr(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    pytest.importorskip("mcp")
    lines: list[str] = []
    script = f"echo server-says-hi >&2; exec {sys.executable} {SERVER}"
    servers = {"echo": {"type": "stdio", "command": "sh", "args": ["-c", script]}}
    fake.script([{"text": "ok"}])
    async with AgentClient(options(stderr=lines.append, mcp_servers=servers)) as client:
        logging.getLogger("threadline.tools").warning("a warning for the callback")
        logging.getLogger("threadline.tools").debug("debug stays out")
        await client.query("go")
        async for _ in client.receive_response():
            pass
    logging.getLogger("threadline.tools").warning("after close: not delivered")
    assert "WARNING threadline.tools: a warning for the callback" in lines
    assert "server-says-hi" in lines
    assert not any("debug stays out" in x or "after close" in x for x in lines)


async def test_debug_to_stderr_sends_debug_records(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    lines: list[str] = []
    fake.script([{"text": "ok"}])
    opts = options(stderr=lines.append, extra_args={"debug-to-stderr": None})
    async with AgentClient(opts):
        logging.getLogger("threadline.hooks").debug("now visible")
    assert "DEBUG threadline.hooks: now visible" in lines


def test_user_must_be_the_process_user() -> None:
    AgentOptions(user=getpass.getuser())  # the user this process runs as: nothing to switch
    with pytest.raises(UserError, match="cannot switch user"):
        AgentOptions(user="somebody-else-entirely")


def test_extra_args_without_an_in_process_meaning_raise() -> None:
    AgentOptions(extra_args={"replay-user-messages": None, "debug-to-stderr": None})
    with pytest.raises(UserError, match="'verbose'"):
        AgentOptions(extra_args={"verbose": None})


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"session_store_flush": "lazy"}, "session_store_flush"),
        ({"stderr": "not callable"}, "stderr"),
        ({"verbatim_prompts": "yes"}, "verbatim_prompts"),
        ({"forward_subagent_text": 1}, "forward_subagent_text"),
        ({"max_buffer_size": 0}, "max_buffer_size"),
        ({"resume_drops_turn": "x"}, "needs resume_session_at"),
    ],
)
def test_process_values_are_checked(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(UserError, match=match):
        AgentOptions(**kw)


def test_session_store_flush_values_are_accepted() -> None:
    for mode in ("batched", "eager"):
        AgentOptions(session_store_flush=mode)  # type: ignore[arg-type]


async def _session(fake: FakeAnthropicServer, prompts: list[str]) -> str:
    sid = None
    for prompt in prompts:
        fake.script([{"text": f"answer to {prompt}"}])
        msgs = await collect(prompt, options(resume=sid) if sid else options())
        assert isinstance(msgs[-1], ResultMessage)
        sid = msgs[-1].session_id
    assert sid is not None
    return sid


async def test_resume_drops_turn_accepts_dropping_exactly_that_turn(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid = await _session(fake, ["one", "two"])
    entries = transcript(config_dir, sid)
    users = [e for e in entries if e["type"] == "user"]
    replies = [e for e in entries if e["type"] == "assistant"]
    fake.script([{"text": "redone"}])
    msgs = await collect(
        "two again",
        options(
            resume=sid, resume_session_at=replies[0]["uuid"], resume_drops_turn=users[1]["uuid"]
        ),
    )
    assert msgs[-1].result == "redone"


async def test_resume_drops_turn_refuses_a_range_with_another_prompt(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid = await _session(fake, ["one", "two", "three"])
    entries = transcript(config_dir, sid)
    users = [e for e in entries if e["type"] == "user"]
    replies = [e for e in entries if e["type"] == "assistant"]
    opts = options(
        resume=sid, resume_session_at=replies[0]["uuid"], resume_drops_turn=users[1]["uuid"]
    )
    with pytest.raises(ProcessError, match=r"^Resume rejected by --resume-drops-turn: "):
        await collect("again", opts)
    wrong = options(
        resume=sid, resume_session_at=replies[1]["uuid"], resume_drops_turn=users[1]["uuid"]
    )
    with pytest.raises(ProcessError, match="Resume rejected by --resume-drops-turn"):
        await collect("again", wrong)
