"""Failed attempts and the retry loop around a streamed request, shared by the providers.

Each provider maps its SDK's exceptions to an :class:`Attempt` (the threadline error,
whether to retry, the reply headers); :func:`stream_with_retries` runs the attempts by the
table in :mod:`threadline.providers._retry` and yields the stream events, then one
:class:`~threadline.providers.ModelResponse`. Nothing of a failed attempt but its already
yielded events survives it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import anyio

from .._exceptions import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    RateLimitError,
)
from ._base import ModelResponse, StreamItem
from ._retry import RetryEvent, RetryPolicy, is_retryable_status, retry_delay

__all__ = [
    "Assembly",
    "Attempt",
    "connection_failure",
    "first_response",
    "status_failure",
    "stream_failure",
    "stream_with_retries",
]


class Attempt(Exception):
    """One failed attempt: the threadline error, whether to retry, and the reply headers."""

    def __init__(
        self, error: ProviderError, *, retryable: bool, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.headers = headers


def error_message(body: object, fallback: str) -> str:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])
    return fallback


def status_failure(
    status: int, body: object, message: str, headers: Mapping[str, str] | None
) -> Attempt:
    retryable = is_retryable_status(status)
    text = f"API Error: {status} {error_message(body, message)}"
    cls = RateLimitError if status in (429, 529) else ProviderHTTPError
    err = cls(text, status_code=status, retryable=retryable, body=body)
    return Attempt(err, retryable=retryable, headers=dict(headers) if headers else None)


def connection_failure(exc: BaseException) -> Attempt:
    """The SDK's own connection error: retried."""
    return Attempt(ProviderConnectionError(f"API Error: {exc}"), retryable=True)


def stream_failure(exc: BaseException) -> Attempt | None:
    """A cut or corrupt stream (socket, decoding, httpx errors): retried; else ``None``."""
    if isinstance(exc, (OSError, ValueError)) or type(exc).__module__.startswith("httpx"):
        return Attempt(
            ProviderConnectionError(f"API Error: stream failed: {type(exc).__name__}: {exc}"),
            retryable=True,
        )
    return None


class Assembly(Protocol):
    """Builds one attempt's reply from the raw stream chunks."""

    @property
    def finished(self) -> bool:
        """Whether the stream ended properly (else it was cut, and is retried)."""
        ...

    @property
    def message(self) -> dict[str, Any]:
        """The Anthropic ``message`` dict (complete once :meth:`finish` ran)."""
        ...

    def feed(self, chunk: dict[str, Any]) -> Iterable[dict[str, Any]]:
        """The stream events for one raw chunk."""
        ...

    def finish(self) -> Iterable[dict[str, Any]]:
        """Closing events, once :attr:`finished`."""
        ...


async def stream_with_retries(
    policy: RetryPolicy,
    *,
    prepare: Callable[[], Callable[[], Awaitable[Any]]],
    request_id_header: str,
    new_assembly: Callable[[], Assembly],
    map_exception: Callable[[BaseException], Attempt | None],
    cut_message: str,
    overloaded_limit: int | None = None,
) -> AsyncGenerator[StreamItem, None]:
    """Attempts until one succeeds or the policy gives up (raising its threadline error).

    ``prepare`` runs once, on the first iteration: it serialises the request and returns the
    function that posts it (once per attempt) and returns the SDK's ``AsyncStream``. A stream
    whose assembly is not ``finished`` at its end fails with ``cut_message``. The
    ``overloaded_limit``-th consecutive 529 is raised at once (a fallback model takes over).
    """
    started = time.monotonic()
    attempt = overloaded = 0
    open_stream = prepare()
    while True:
        t0 = time.monotonic()
        assembly = new_assembly()
        request_id: str | None = None
        try:
            try:
                stream = await open_stream()
                request_id = stream.response.headers.get(request_id_header)
                async with stream:
                    async for chunk in stream:
                        for event in assembly.feed(chunk):
                            yield event
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:
                mapped = map_exception(exc)
                if mapped is None:
                    raise
                raise mapped from exc
            if not assembly.finished:
                raise Attempt(ProviderConnectionError(cut_message), retryable=True)
        except Attempt as failure:
            overloaded = _count_overloaded(failure, overloaded, overloaded_limit)
            delay = _next_delay(policy, attempt, failure, time.monotonic() - started)
            if delay is None:
                raise failure.error from failure.__cause__
            await anyio.sleep(delay)
            attempt += 1
            continue
        for event in assembly.finish():
            yield event
        now = time.monotonic()
        yield ModelResponse(
            message=assembly.message,
            request_id=request_id,
            duration_ms=int((now - t0) * 1000),
            total_duration_ms=int((now - started) * 1000),
            attempts=attempt + 1,
        )
        return


def _count_overloaded(failure: Attempt, count: int, limit: int | None) -> int:
    """Consecutive 529 answers so far; the failure is raised once ``limit`` is reached
    (``ModelRequest.overloaded_attempts``)."""
    count = count + 1 if getattr(failure.error, "status_code", None) == 529 else 0
    if limit is not None and count >= limit:
        raise failure.error from failure.__cause__
    return count


def _next_delay(
    policy: RetryPolicy, attempt: int, failure: Attempt, elapsed: float
) -> float | None:
    """The wait before the next attempt (telling ``policy.on_retry``), or None: give up."""
    if not failure.retryable or attempt >= policy.max_retries:
        return None
    delay = retry_delay(policy, attempt, failure.headers)
    if policy.max_elapsed_s is not None and elapsed + delay > policy.max_elapsed_s:
        return None
    if policy.on_retry is not None:
        policy.on_retry(
            RetryEvent(
                attempt=attempt + 1,
                max_retries=policy.max_retries,
                delay_s=delay,
                elapsed_s=elapsed,
                error=failure.error,
            )
        )
    return delay


async def first_response(items: AsyncGenerator[StreamItem, None]) -> ModelResponse:
    """The :class:`ModelResponse` at the end of a provider's ``stream()``."""
    try:
        async for item in items:
            if isinstance(item, ModelResponse):
                return item
    finally:
        await items.aclose()
    raise ProviderConnectionError("API Error: no response")  # pragma: no cover
