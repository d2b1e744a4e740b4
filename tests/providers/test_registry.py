"""The provider registry: a provider is one module plus one ``register_provider`` line, and
``AnthropicProvider`` takes an injected client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import pytest
from click.testing import CliRunner

from threadline._exceptions import UserError
from threadline.cli import cli
from threadline.providers import (
    AnthropicProvider,
    ModelRequest,
    ProviderConfig,
    _registry,
    provider_names,
    register_provider,
)
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import FAST_RETRY, options, run
from .example_provider import EchoProvider

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Names registered by a test are forgotten afterwards."""
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))
    yield


def test_builtin_names_come_from_the_registry() -> None:
    assert provider_names() == ("anthropic", "openai")
    with pytest.raises(ValueError, match="already registered"):
        register_provider("openai", EchoProvider.build)
    with pytest.raises(ValueError, match="non-empty"):
        register_provider("", EchoProvider.build)


async def test_a_registered_provider_runs_by_name(
    project: Path, monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> None:
    built: list[EchoProvider] = []

    def factory(config: ProviderConfig) -> EchoProvider:
        built.append(EchoProvider.build(config))
        return built[-1]

    register_provider("echo", factory)  # the one registry line
    assert "echo" in provider_names()
    msgs = await run("hello", options(provider="echo", env={"ECHO_PREFIX": "> "}))
    assert msgs[-1].result == "> olleh"
    assert built[0].requests[0].model == "claude-opus-5-5"  # the default model rule
    assert built[0].closed, "a provider the registry built is closed with the run"
    files = list((config_dir / "projects").glob("*/*.jsonl"))
    assert len(files) == 1 and "> olleh" in files[0].read_text()


async def test_model_rule_and_detection(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def model(config: ProviderConfig) -> str:
        if not config.model:
            raise UserError("echo needs a model")
        return config.model

    register_provider(
        "echo", EchoProvider.build, model=model, detect=lambda c: bool(c.env("ECHO_ON"))
    )
    # Detection: tried after the built-in names, only when its variable is set.
    msgs = await run("abc", options(env={"ECHO_ON": "1"}, model="m1"))
    assert msgs[-1].result == "cba"
    with pytest.raises(UserError, match="echo needs a model"):
        await run("abc", options(provider="echo"))


def test_unknown_names_fail_at_construction() -> None:
    with pytest.raises(UserError, match=r"Unknown provider 'gemini'.*register_provider"):
        options(provider="gemini")
    register_provider("gemini", EchoProvider.build)
    assert options(provider="gemini").provider == "gemini"


def test_cli_provider_choices_follow_the_registry(project: Path) -> None:
    register_provider("echo", EchoProvider.build)
    result = CliRunner().invoke(cli, ["run", "--provider", "echo", "hi there"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "ereht ih\n"
    result = CliRunner().invoke(cli, ["run", "--provider", "nope", "hi"])
    assert result.exit_code == 2 and "not a registered provider" in result.stderr


async def test_anthropic_provider_takes_an_injected_client(fake: FakeAnthropicServer) -> None:
    client = anthropic.AsyncAnthropic(
        api_key="sk-injected",
        base_url=fake.base_url,
        default_headers={"x-injected": "yes"},
        max_retries=5,
    )
    provider = AnthropicProvider(client=client, retry=FAST_RETRY)
    request = ModelRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    response = await provider.complete(request)
    assert response.message["content"][0]["text"] == "echo: hi"
    assert fake.requests[-1]["headers"]["x-injected"] == "yes"
    await provider.aclose()
    assert not client.is_closed(), "an injected client belongs to the caller"
    # Its own retries are off: one 500 is retried by threadline's policy, once.
    fake.script(
        [{"error": {"status": 500, "type": "api_error", "message": "boom"}}, {"text": "second"}]
    )
    response = await provider.complete(request)
    assert response.message["content"][0]["text"] == "second" and response.attempts == 2
    await client.close()
