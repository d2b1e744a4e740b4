"""The provider registry: provider names, and how each builds a provider from the options.

``AgentOptions(provider="name")``, the CLI's ``--provider`` choices and the automatic choice
(``provider`` unset) all read this one table; the built-in names (``anthropic``,
``openai``) are registered at the bottom of this module and nowhere else. Adding a provider
is one module plus one line::

    register_provider("bedrock", lambda config: BedrockProvider(region=config.env("AWS_REGION")))

A factory receives a :class:`ProviderConfig` (the options' key, base URL, model, output
budget, retry policy and environment lookup, so providers never import the runtime's
options) and returns a :class:`~threadline.providers.Provider`, or raises
:class:`~threadline.UserError` naming what is missing. Factories import their SDK lazily,
so registering one costs nothing until it is chosen.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .._exceptions import UserError
from ._base import Provider
from ._retry import RetryPolicy

__all__ = [
    "DEFAULT_MODEL",
    "ProviderConfig",
    "ProviderFactory",
    "choose_provider",
    "create_provider",
    "model_for",
    "provider_names",
    "register_provider",
    "resolve_model_alias",
]

DEFAULT_MODEL = "claude-opus-5-5"

# The CLI's (2.1.330) model aliases, each with the variable that overrides it.
_ALIASES: dict[str, tuple[str, str]] = {
    "opus": ("claude-opus-5-5", "ANTHROPIC_DEFAULT_OPUS_MODEL"),
    "best": ("claude-opus-5-5", "ANTHROPIC_DEFAULT_OPUS_MODEL"),
    "sonnet": ("claude-sonnet-5-5", "ANTHROPIC_DEFAULT_SONNET_MODEL"),
    "opusplan": ("claude-sonnet-5-5", "ANTHROPIC_DEFAULT_SONNET_MODEL"),
    "haiku": ("claude-haiku-5-5", "ANTHROPIC_DEFAULT_HAIKU_MODEL"),
    "default": (DEFAULT_MODEL, "ANTHROPIC_MODEL"),
}


def resolve_model_alias(name: str, env: Callable[[str], str | None] = lambda _: None) -> str:
    """A model alias (``opus``, ``sonnet``, ``haiku``, ``best``, ``opusplan``, ``default``,
    with or without ``[1m]``) as the model id the CLI sends, honouring the
    ``ANTHROPIC_DEFAULT_<OPUS|SONNET|HAIKU>_MODEL`` overrides; any other name unchanged.
    (``opusplan`` is Sonnet outside plan mode, as the CLI resolves it there.)"""
    base = name[:-4] if name.lower().endswith("[1m]") else name
    alias = _ALIASES.get(base.strip().lower())
    if alias is None:
        return name
    model, variable = alias
    return env(variable) or model


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    """What a provider factory is given: the run's settings, not the whole options."""

    api_key: str | None = None
    """``AgentOptions.api_key`` (the provider's own variable is read through ``env``)."""
    base_url: str | None = None
    model: str | None = None
    max_tokens: int | None = None
    retry: RetryPolicy | None = None
    env: Callable[[str], str | None] = lambda _name: None
    """A variable from ``AgentOptions.env`` first, then the process environment."""


ProviderFactory = Callable[[ProviderConfig], Provider]


@dataclass(frozen=True)
class _Entry:
    factory: ProviderFactory
    model: Callable[[ProviderConfig], str] | None
    detect: Callable[[ProviderConfig], bool] | None


_REGISTRY: dict[str, _Entry] = {}
_FALLBACK = "anthropic"


def register_provider(
    name: str,
    factory: ProviderFactory,
    *,
    model: Callable[[ProviderConfig], str] | None = None,
    detect: Callable[[ProviderConfig], bool] | None = None,
    replace: bool = False,
) -> None:
    """Make ``AgentOptions(provider=name)`` (and ``--provider name``) build ``factory(config)``.

    ``model`` picks the model name when ``AgentOptions.model`` is unset (default: the
    Anthropic rule, ``ANTHROPIC_MODEL`` or the SDK's default model); it may raise
    :class:`~threadline.UserError`. ``detect`` makes the provider a candidate for the
    automatic choice (``provider`` unset), tried in registration order after the built-in
    ones. A name already registered raises ``ValueError`` unless ``replace=True``.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"a provider name must be a non-empty string, not {name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"provider {name!r} is already registered (pass replace=True)")
    _REGISTRY[name] = _Entry(factory=factory, model=model, detect=detect)


def provider_names() -> tuple[str, ...]:
    """The registered names, built-in ones first."""
    return tuple(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        names = ", ".join(repr(n) for n in _REGISTRY)
        raise UserError(
            f"Unknown provider {name!r}: use one of {names}, a Provider instance, "
            "or register_provider()"
        ) from None


def choose_provider(config: ProviderConfig, name: str | None = None) -> str:
    """``name`` when given (checked), else the first provider whose ``detect`` holds."""
    if name is not None:
        _entry(name)
        return name
    for candidate, entry in _REGISTRY.items():
        if entry.detect is not None and entry.detect(config):
            return candidate
    return _FALLBACK


def create_provider(name: str, config: ProviderConfig) -> Provider:
    """The provider registered as ``name``, built for ``config``."""
    entry = _entry(name)
    if entry.model is not None:
        entry.model(config)  # a missing model fails before anything is built
    return entry.factory(config)


def model_for(name: str, config: ProviderConfig) -> str:
    """The model a provider named ``name`` is asked for (any name: the Anthropic rule)."""
    entry = _REGISTRY.get(name)
    if entry is not None and entry.model is not None:
        return entry.model(config)
    wanted = config.model or config.env("ANTHROPIC_MODEL") or DEFAULT_MODEL
    return resolve_model_alias(wanted, config.env)


# ----------------------------------------------------------------------------- built-ins


def _provider_class(module: str, name: str) -> Callable[..., Provider]:
    """A built-in provider's class, imported on first use. The first import (httpx2 and
    httpcore2, or the openai package: a few hundred long-lived classes and functions) runs
    with the cyclic GC paused, as threadline's lazy names do (``threadline._import``): its
    young collections free nothing (≈ 4 ms of a fresh process here). What it built then
    joins the oldest generation (as ``transcript._jsonl.promote_young`` does, not imported
    here: it would load orjson with the options), left alone under :func:`gc.freeze`."""
    loaded: Callable[..., Provider]
    if __package__ + module in sys.modules or not gc.isenabled():
        loaded = getattr(importlib.import_module(module, __package__), name)
        return loaded
    gc.disable()
    try:
        loaded = getattr(importlib.import_module(module, __package__), name)
        return loaded
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _anthropic(config: ProviderConfig) -> Provider:
    key = config.api_key or config.env("ANTHROPIC_API_KEY")
    token = config.env("ANTHROPIC_AUTH_TOKEN")
    if key is None and token is None:
        raise UserError(
            "No API key: set ANTHROPIC_API_KEY (in the environment or AgentOptions.env) "
            "or pass AgentOptions(api_key=...); for an OpenAI-compatible server set "
            "OPENAI_BASE_URL or AgentOptions(provider='openai')"
        )
    headers = {"authorization": f"Bearer {token}"} if key is None and token else None
    provider_class = _provider_class(".anthropic", "AnthropicProvider")  # httpx2: when used

    return provider_class(
        api_key=key or "",
        base_url=config.base_url or config.env("ANTHROPIC_BASE_URL"),
        retry=config.retry,
        default_headers=headers,
    )


def _anthropic_detect(config: ProviderConfig) -> bool:
    return bool(config.env("ANTHROPIC_API_KEY") or config.env("ANTHROPIC_AUTH_TOKEN"))


def _openai(config: ProviderConfig) -> Provider:
    base_url = config.base_url or config.env("OPENAI_BASE_URL")
    api_key = config.api_key or config.env("OPENAI_API_KEY")
    if base_url is None and api_key is None:
        raise UserError(
            "No API key: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server "
            "(in the environment or AgentOptions.env), or pass AgentOptions(api_key=...)"
        )
    OpenAIProvider = _provider_class(".openai", "OpenAIProvider")  # the openai package too

    return OpenAIProvider(
        api_key=api_key, base_url=base_url, retry=config.retry, max_tokens=config.max_tokens
    )


def _openai_model(config: ProviderConfig) -> str:
    model = config.model or config.env("OPENAI_MODEL")
    if not model:
        raise UserError(
            "The OpenAI-compatible provider needs a model: AgentOptions(model=...) "
            "or OPENAI_MODEL (e.g. 'llama3.2' for Ollama)"
        )
    return model


def _openai_detect(config: ProviderConfig) -> bool:
    return bool(config.env("OPENAI_BASE_URL") or config.env("OPENAI_API_KEY"))


register_provider("anthropic", _anthropic, detect=_anthropic_detect)
register_provider("openai", _openai, model=_openai_model, detect=_openai_detect)
