"""``@`` mentions side by side: the official CLI and threadline send the same reminders."""

from __future__ import annotations

from typing import Any

import claude_agent_sdk as official
import pytest

import threadline

from .conftest import Duo

pytestmark = [pytest.mark.oracle, pytest.mark.anyio]

PROMPT = "look at @notes.txt and @sub/ and @missing.txt please"


def _mention_texts(body: dict[str, Any]) -> list[str]:
    """The Read/Bash reminders and the prompt, in order, across the user messages."""
    out: list[str] = []
    for m in body["messages"]:
        if m["role"] != "user":
            continue
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for b in blocks:
            text = str(b.get("text", "")).rstrip("\n")
            if "Read tool" in text or "Bash tool" in text or text == PROMPT:
                out.append(text)
    return out


async def _run(sdk: Any, options: Any) -> None:
    async for _ in sdk.query(prompt=PROMPT, options=options):
        pass


@pytest.mark.parametrize("verbatim", [False, True])
async def test_mentions_as_the_official(duo: Duo, verbatim: bool) -> None:
    (duo.project / "notes.txt").write_text("hello notes\nsecond line\n")
    (duo.project / "sub").mkdir()
    (duo.project / "sub" / "x.py").write_text("print(1)\n")
    duo.script([{"text": "ok"}])
    await _run(official, duo.official(setting_sources=[], verbatim_prompts=verbatim))
    theirs = _mention_texts(duo.fake.message_requests()[-1])
    duo.script([{"text": "ok"}])
    await _run(threadline, duo.ours(setting_sources=[], verbatim_prompts=verbatim))
    mine = _mention_texts(duo.fake.message_requests()[-1])
    assert mine == theirs
    assert len(mine) == (1 if verbatim else 5)
