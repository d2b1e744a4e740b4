"""Model providers: the :class:`Provider` protocol, Anthropic and OpenAI-compatible, and the
registry that maps provider names to factories (:func:`register_provider`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import ModelRequest, ModelResponse, Provider, StreamItem
from ._pricing import ModelPrice, cost_usd, model_price, price_for, register_model_price
from ._registry import ProviderConfig, ProviderFactory, provider_names, register_provider
from ._retry import RetryEvent, RetryPolicy

if TYPE_CHECKING:
    from .anthropic import AnthropicProvider
    from .openai import OpenAIProvider

__all__ = [
    "AnthropicProvider",
    "ModelPrice",
    "ModelRequest",
    "ModelResponse",
    "OpenAIProvider",
    "Provider",
    "ProviderConfig",
    "ProviderFactory",
    "RetryEvent",
    "RetryPolicy",
    "StreamItem",
    "cost_usd",
    "model_price",
    "price_for",
    "provider_names",
    "register_model_price",
    "register_provider",
]


def __getattr__(name: str) -> Any:
    # The providers load their HTTP clients (httpx2, openai) on first use only.
    if name == "AnthropicProvider":
        from .anthropic import AnthropicProvider

        return AnthropicProvider
    if name == "OpenAIProvider":
        from .openai import OpenAIProvider

        return OpenAIProvider
    raise AttributeError(name)
