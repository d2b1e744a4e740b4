"""The agent runtime stores redacted text, while the running turn still sees the original."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline._messages import ResultMessage
from threadline._query import query
from threadline.privacy import EncryptedStore, RedactingStore, generate_key
from threadline.providers import RetryPolicy
from threadline.runtime._options import AgentOptions
from threadline.sessions import MemoryStore
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._fixtures import fake_credentials, strings_in

pytestmark = pytest.mark.anyio

CREDS = fake_credentials(seed=5)


async def _run(prompt: str, **kw: Any) -> list[Any]:
    kw.setdefault("retry_policy", RetryPolicy(max_retries=3, base_delay_s=0.0, max_delay_s=0.0))
    return [m async for m in query(prompt=prompt, options=AgentOptions(**kw))]


async def test_query_stores_redacted_text(fake: FakeAnthropicServer, project: Path) -> None:
    inner = MemoryStore()
    store = RedactingStore(EncryptedStore(inner, key=generate_key()))
    secret = CREDS["anthropic"]
    msgs = await _run(f"remember my key {secret} please", session_store=store)
    result = msgs[-1]
    assert isinstance(result, ResultMessage) and not result.is_error
    # the running turn sent the original text to the model
    assert secret in json.dumps(fake.message_requests()[0])
    # what is stored is redacted (and encrypted)
    blob = "\n".join(strings_in(inner))
    assert secret not in blob and "remember my key" not in blob
    key = await store.find_session(result.session_id)
    assert key is not None
    stored = await store.load(key)
    assert stored is not None
    texts = "\n".join(strings_in(stored))
    assert secret not in texts and "remember my key [REDACTED:anthropic-api-key] please" in texts
    # so a resume sends the redacted text
    fake.clear_requests()
    await _run("and now?", session_store=store, resume=result.session_id)
    sent = json.dumps(fake.message_requests()[0])
    assert secret not in sent and "[REDACTED:anthropic-api-key]" in sent
