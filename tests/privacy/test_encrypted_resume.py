"""Resuming an encrypted file session without its store is refused (security finding 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from threadline._messages import ResultMessage
from threadline._query import query
from threadline.privacy import EncryptedStore, generate_key
from threadline.providers import RetryPolicy
from threadline.runtime._options import AgentOptions
from threadline.sessions import FileStore
from threadline.testing._fake_anthropic import FakeAnthropicServer

pytestmark = pytest.mark.anyio


async def _run(prompt: str, **kw: Any) -> list[Any]:
    kw.setdefault("retry_policy", RetryPolicy(max_retries=3, base_delay_s=0.0, max_delay_s=0.0))
    return [m async for m in query(prompt=prompt, options=AgentOptions(**kw))]


async def test_resume_of_encrypted_file_session_without_store_is_refused(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    from threadline import SessionError, UserError

    store = EncryptedStore(FileStore(), key=generate_key())
    msgs = await _run("a private thought", session_store=store)
    result = msgs[-1]
    assert isinstance(result, ResultMessage) and not result.is_error
    files = list(config_dir.rglob(f"{result.session_id}.jsonl"))
    assert len(files) == 1
    before = files[0].read_bytes()
    assert b"a private thought" not in before
    fake.clear_requests()
    for kw in ({"resume": result.session_id}, {"resume": result.session_id, "fork_session": True},
               {"continue_conversation": True}):
        with pytest.raises((UserError, SessionError), match="encrypted"):
            await _run("and now in plaintext", **kw)
        assert files[0].read_bytes() == before  # nothing appended, nothing changed
    assert not fake.message_requests()  # refused before the model was asked
    # with its store, it resumes
    msgs = await _run("and now?", session_store=store, resume=result.session_id)
    assert isinstance(msgs[-1], ResultMessage) and not msgs[-1].is_error
