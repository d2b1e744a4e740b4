"""Model providers: the :class:`Provider` protocol and the Anthropic implementation."""

from __future__ import annotations

from ._base import ModelRequest, ModelResponse, Provider, StreamItem
from ._pricing import cost_usd, price_for
from ._retry import RetryPolicy
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
