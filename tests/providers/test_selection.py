"""Which provider a run uses: options first, then the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline._exceptions import UserError
from threadline.providers.openai import OpenAIProvider
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.testing._fake_openai import FakeOpenAIServer

from ._helpers import FAST_RETRY, options, run

pytestmark = pytest.mark.anyio


async def test_only_openai_env_selects_openai(
    fake_openai: FakeOpenAIServer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "llama3.2")
    fake_openai.script([{"text": "from env"}])
    msgs = await run("hi", options())
    assert msgs[0].data["model"] == "llama3.2"
    assert msgs[-1].result == "from env"
    assert fake_openai.chat_requests()[0]["model"] == "llama3.2"
    assert fake_openai.requests[0]["headers"]["authorization"] == "<cut>"


async def test_options_env_counts_too(fake_openai: FakeOpenAIServer, project: Path) -> None:
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-local"}
    msgs = await run("hi", options(env=env, model="qwen3"))
    assert msgs[-1].result == "echo: hi"
    assert fake_openai.chat_requests()[0]["model"] == "qwen3"


async def test_anthropic_key_wins_when_provider_is_unset(
    fake_anthropic: FakeAnthropicServer,
    fake_openai: FakeOpenAIServer,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_MODEL", "llama3.2")
    await run("hi", options())
    assert len(fake_anthropic.message_requests()) == 1 and fake_openai.chat_requests() == []

    # ...and provider="openai" overrides it (base_url from OPENAI_BASE_URL, not ANTHROPIC_*).
    await run("hi", options(provider="openai"))
    assert len(fake_anthropic.message_requests()) == 1
    assert fake_openai.chat_requests()[0]["model"] == "llama3.2"


async def test_a_ready_provider_instance_is_used_as_is(
    fake_openai: FakeOpenAIServer, project: Path
) -> None:
    provider = OpenAIProvider(base_url=fake_openai.base_url, retry=FAST_RETRY)
    try:
        msgs = await run("hi", options(provider=provider, model="mine"))
        msgs += await run("again", options(provider=provider, model="mine"))  # still open
    finally:
        await provider.aclose()
    assert msgs[-1].result == "echo: again"
    assert [b["model"] for b in fake_openai.chat_requests()] == ["mine", "mine"]


@pytest.mark.parametrize(
    ("kwargs", "env", "match"),
    [
        ({"provider": "openai"}, {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, "needs a model"),
        ({"provider": "openai", "model": "gpt-4o"}, {}, "OPENAI_API_KEY"),
        ({"provider": "gemini"}, {}, "Unknown provider"),
        ({}, {}, "ANTHROPIC_API_KEY"),
    ],
)
async def test_misconfiguration_fails_before_any_request(
    project: Path, kwargs: dict[str, str], env: dict[str, str], match: str
) -> None:
    with pytest.raises(UserError, match=match):
        await run("hi", options(env=env, **kwargs))
