"""The one retry table: which failures are retried, and how long to wait.

Retried: connection failures and cut or corrupt streams, 408, 409, 429, 529 and every 5xx.
The wait is the server's ``retry-after-ms`` / ``retry-after`` when given (capped at
``max_delay_s``), else exponential backoff ``base_delay_s * 2**attempt`` with ±25 % jitter.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RetryPolicy", "is_retryable_status", "retry_delay"]

_RETRYABLE_STATUS = frozenset({408, 409, 429, 529})


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently a provider retries."""

    max_retries: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 32.0


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
