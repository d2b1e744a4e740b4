"""Test helpers shipped with threadline.

- :func:`run_session_store_conformance`: the official SDK's 14 store contracts, under
  the official name and signature (``claude_agent_sdk.testing``).
- :func:`check_session_store`: the conformance kit every store must pass
  (the official contracts plus failure modes: retried batches, concurrent
  appenders (tasks and processes), conditional-append races, unicode, large
  entries, long sessions and listing thousands of sessions).
- :class:`FakeAnthropicServer`: a real HTTP + SSE fake of the Messages API
  for tests that must not need an API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._conformance import run_session_store_conformance as run_session_store_conformance
from ._store_kit import StoreRecipe as StoreRecipe, check_session_store as check_session_store

if TYPE_CHECKING:
    from ._fake_anthropic import FakeAnthropicServer as FakeAnthropicServer
    from ._fake_openai import FakeOpenAIServer as FakeOpenAIServer

__all__ = [
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "StoreRecipe",
    "check_session_store",
    "run_session_store_conformance",
]


def __getattr__(name: str) -> Any:
    if name == "FakeAnthropicServer":
        from ._fake_anthropic import FakeAnthropicServer

        return FakeAnthropicServer
    if name == "FakeOpenAIServer":
        from ._fake_openai import FakeOpenAIServer

        return FakeOpenAIServer
    raise AttributeError(name)
