"""Model providers: the :class:`Provider` protocol and the Anthropic implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import ModelRequest, ModelResponse, Provider, StreamItem
from ._pricing import cost_usd, price_for
from ._retry import RetryPolicy

if TYPE_CHECKING:
    from .anthropic import AnthropicProvider

__all__ = [
    "AnthropicProvider",
    "ModelRequest",
    "ModelResponse",
    "Provider",
    "RetryPolicy",
    "StreamItem",
    "cost_usd",
    "price_for",
]


def __getattr__(name: str) -> Any:
    # The anthropic package takes ~0.5 s to import: load it on first use only.
    if name == "AnthropicProvider":
        from .anthropic import AnthropicProvider

        return AnthropicProvider
    raise AttributeError(name)
