"""Prices in USD per million tokens, for ``ResultMessage.total_cost_usd``.

Matched by the longest model-name prefix; unknown models are priced as the newest Opus
tier (an over- rather than under-estimate). Cache writes cost 1.25x input, cache reads
0.1x input (5-minute ephemeral cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cost_usd", "price_for"]

# prefix -> (input, output)
_PRICES: dict[str, tuple[float, float]] = {
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
}
_DEFAULT = (5.0, 25.0)
_ORDERED = sorted(_PRICES.items(), key=lambda kv: len(kv[0]), reverse=True)


def price_for(model: str) -> tuple[float, float]:
    """(input, output) USD per million tokens."""
    for prefix, price in _ORDERED:
        if model.startswith(prefix):
            return price
    return _DEFAULT


def _tokens(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return int(value) if isinstance(value, (int, float)) else 0


def cost_usd(model: str, usage: Mapping[str, Any]) -> float:
    """Cost of one reply's ``usage``."""
    inp, out = price_for(model)
    total = (
        _tokens(usage, "input_tokens") * inp
        + _tokens(usage, "output_tokens") * out
        + _tokens(usage, "cache_creation_input_tokens") * inp * 1.25
        + _tokens(usage, "cache_read_input_tokens") * inp * 0.1
    )
    return total / 1_000_000
