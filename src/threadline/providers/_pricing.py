"""Prices in USD per million tokens, for ``ResultMessage.total_cost_usd``.

Matched by the longest model-name prefix. Unknown Claude models are priced as the newest
Opus tier (an over- rather than under-estimate); unknown other models (local or
self-hosted ones served through the OpenAI-compatible provider) cost nothing until a price
is registered with :func:`register_model_price`. Cache writes cost 1.25x input and cache
reads 0.1x input (Anthropic's 5-minute ephemeral cache) unless a :class:`ModelPrice` says
otherwise (OpenAI bills cached prompt tokens at its own rate).

Usage is in Anthropic's terms for every provider: ``input_tokens`` excludes cache reads
(the OpenAI provider converts ``prompt_tokens`` / ``cached_tokens`` accordingly).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelPrice", "cost_usd", "model_price", "price_for", "register_model_price"]


@dataclass(frozen=True, kw_only=True)
class ModelPrice:
    """USD per million tokens. ``None`` cache prices default to 1.25x / 0.1x ``input``."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None


# prefix -> (input, output) or a full ModelPrice
_PRICES: dict[str, tuple[float, float] | ModelPrice] = {
    "claude-opus-4-0": (15.0, 75.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-2": (15.0, 75.0),
    "claude-opus-4": (5.0, 25.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-3-opus": (15.0, 75.0),
    "claude-sonnet": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
    # OpenAI (cached prompt tokens at OpenAI's discounted rate)
    "gpt-4o": ModelPrice(input=2.5, output=10.0, cache_read=1.25, cache_write=2.5),
    "gpt-4o-mini": ModelPrice(input=0.15, output=0.6, cache_read=0.075, cache_write=0.15),
    "gpt-4.1": ModelPrice(input=2.0, output=8.0, cache_read=0.5, cache_write=2.0),
    "gpt-4.1-mini": ModelPrice(input=0.4, output=1.6, cache_read=0.1, cache_write=0.4),
    "gpt-4.1-nano": ModelPrice(input=0.1, output=0.4, cache_read=0.025, cache_write=0.1),
    "gpt-5": ModelPrice(input=1.25, output=10.0, cache_read=0.125, cache_write=1.25),
    "gpt-5-mini": ModelPrice(input=0.25, output=2.0, cache_read=0.025, cache_write=0.25),
    "gpt-5-nano": ModelPrice(input=0.05, output=0.4, cache_read=0.005, cache_write=0.05),
    "o3": ModelPrice(input=2.0, output=8.0, cache_read=0.5, cache_write=2.0),
    "o3-mini": ModelPrice(input=1.1, output=4.4, cache_read=0.55, cache_write=1.1),
    "o4-mini": ModelPrice(input=1.1, output=4.4, cache_read=0.275, cache_write=1.1),
}
_DEFAULT = ModelPrice(input=5.0, output=25.0)
_FREE = ModelPrice(input=0.0, output=0.0)
_LOCK = threading.Lock()


def _ordered() -> list[tuple[str, ModelPrice]]:
    items = [(k, _as_price(v)) for k, v in _PRICES.items()]
    return sorted(items, key=lambda kv: len(kv[0]), reverse=True)


def _as_price(value: tuple[float, float] | ModelPrice) -> ModelPrice:
    if isinstance(value, ModelPrice):
        return value
    return ModelPrice(input=value[0], output=value[1])


_ORDERED = _ordered()


def register_model_price(prefix: str, price: ModelPrice) -> None:
    """Price every model whose name starts with ``prefix`` (the longest prefix wins).

    Replaces an existing entry for the same prefix, built-in ones included::

        register_model_price("qwen3", ModelPrice(input=0.2, output=0.6))
    """
    global _ORDERED
    if not prefix:
        raise ValueError("register_model_price: prefix must not be empty")
    with _LOCK:
        _PRICES[prefix] = price
        _ORDERED = _ordered()


def model_price(model: str) -> ModelPrice:
    """The :class:`ModelPrice` used for ``model`` (see the module docstring for unknowns)."""
    for prefix, price in _ORDERED:
        if model.startswith(prefix):
            return price
    return _DEFAULT if "claude" in model else _FREE


def price_for(model: str) -> tuple[float, float]:
    """(input, output) USD per million tokens."""
    price = model_price(model)
    return price.input, price.output


def _tokens(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return int(value) if isinstance(value, (int, float)) else 0


def cost_usd(model: str, usage: Mapping[str, Any]) -> float:
    """Cost of one reply's ``usage``."""
    price = model_price(model)
    inp = price.input
    cache_write = price.cache_write if price.cache_write is not None else inp * 1.25
    cache_read = price.cache_read if price.cache_read is not None else inp * 0.1
    total = (
        _tokens(usage, "input_tokens") * inp
        + _tokens(usage, "output_tokens") * price.output
        + _tokens(usage, "cache_creation_input_tokens") * cache_write
        + _tokens(usage, "cache_read_input_tokens") * cache_read
    )
    return total / 1_000_000
