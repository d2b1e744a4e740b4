"""The one retry table: which failures are retried, and how long to wait.

Retried: connection failures and cut or corrupt streams, 408, 409, 429, 529 and every 5xx.
The wait is the server's ``retry-after-ms`` / ``retry-after`` when given (capped at
``max_delay_s``), else exponential backoff ``base_delay_s * 2**attempt`` with ±25 % jitter.
``max_elapsed_s`` bounds the whole request: no retry is started whose wait would end past
it. ``on_retry`` is told of every retry before its wait (:class:`RetryEvent`), so a user
interface can show what is happening instead of silence.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["RetryEvent", "RetryPolicy", "is_retryable_status", "retry_delay"]

_RETRYABLE_STATUS = frozenset({408, 409, 429, 529})


@dataclass(frozen=True, kw_only=True)
class RetryEvent:
    """A failed attempt that is about to be retried."""

    attempt: int
    """The attempt that failed (1 for the first request)."""
    max_retries: int
    delay_s: float
    """How long the provider waits before the next attempt."""
    elapsed_s: float
    """Seconds since the request started."""
    error: Exception
    """Why the attempt failed (a :class:`~threadline.ProviderError`)."""


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a provider retries."""

    max_retries: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 32.0
    max_elapsed_s: float | None = None
    """Give up rather than start a retry whose wait would end later than this many seconds
    after the request started (None: only ``max_retries`` bounds it)."""
    on_retry: Callable[[RetryEvent], None] | None = None
    """Called before each retry's wait (on the event loop: keep it quick)."""


def is_retryable_status(status: int) -> bool:
    return status in _RETRYABLE_STATUS or status >= 500


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # an HTTP date is rare: not loaded before one comes

    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


def retry_delay(
    policy: RetryPolicy, attempt: int, headers: Mapping[str, str] | None = None
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
    server = _retry_after(headers)
    if server is not None:
        return min(server, policy.max_delay_s)
    delay: float = min(policy.base_delay_s * (2.0**attempt), policy.max_delay_s)
    return delay * random.uniform(0.75, 1.25)
