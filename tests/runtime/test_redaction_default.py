"""Redaction is on by default: a pasted key reaches the model but never the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

import threadline
from threadline import ResultMessage
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options

pytestmark = pytest.mark.anyio

FAKE_KEY = "sk-ant-api03-" + "Zx9" * 30 + "AA"


async def _run(prompt: str, **kw: object) -> str:
    sid = ""
    async for m in threadline.query(prompt=prompt, options=options(**kw)):
        if isinstance(m, ResultMessage):
            sid = m.session_id
    return sid


async def test_default_store_redacts(fake: FakeAnthropicServer, project: Path, config_dir: Path) -> None:
    sid = await _run(f"my key is {FAKE_KEY} please remember")
    assert FAKE_KEY in str(fake.message_requests()[-1]["messages"])  # the running turn has it
    stored = b"".join(p.read_bytes() for p in config_dir.rglob("*") if p.is_file())
    assert FAKE_KEY.encode() not in stored
    assert b"[REDACTED:" in stored
    await _run("and now?", resume=sid)
    assert FAKE_KEY not in str(fake.message_requests()[-1]["messages"])  # a resume sends the stored text


async def test_redaction_can_be_turned_off(fake: FakeAnthropicServer, project: Path, config_dir: Path) -> None:
    await _run(f"key {FAKE_KEY}", redact=False)
    stored = b"".join(p.read_bytes() for p in config_dir.rglob("*.jsonl"))
    assert FAKE_KEY.encode() in stored
