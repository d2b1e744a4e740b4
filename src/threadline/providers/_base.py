"""The provider seam: one small protocol between the agent loop and a model API.

A provider takes a :class:`ModelRequest` (Anthropic Messages shapes: the loop's history is
kept in that format, since that is what Claude Code transcripts store). ``stream()`` yields
the raw stream events (dicts, for ``include_partial_messages``) and finally one complete
:class:`ModelResponse`; ``complete()`` returns just the response. Retries happen inside
both, so a retried attempt's events may repeat. An OpenAI-compatible provider translates both ways inside
its own module; nothing else in threadline changes.

Errors are threadline's: :class:`~threadline.ProviderConnectionError`,
:class:`~threadline.ProviderHTTPError`, :class:`~threadline.RateLimitError`, raised after the
provider's own retries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["ModelRequest", "ModelResponse", "Provider", "StreamItem"]


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """One call to the model, in Anthropic Messages API terms."""

    model: str
    messages: list[dict[str, Any]]
    system: list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_tokens: int = 32_000
    thinking: dict[str, Any] | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Further body fields (``output_config``, ``metadata``, ...), sent as is."""
    betas: tuple[str, ...] = ()
    session_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Further HTTP headers (``x-client-app``), sent by every provider."""
    overloaded_attempts: int | None = None
    """Give up after this many consecutive 529 (overloaded) answers, whatever the retry
    policy: a fallback model takes over (the CLI switches after 3)."""


@dataclass(kw_only=True)
class ModelResponse:
    """The complete reply: an Anthropic ``message`` dict plus bookkeeping."""

    message: dict[str, Any]
    """``{"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}``."""
    request_id: str | None = None
    duration_ms: int = 0
    """Wall time of the successful attempt."""
    total_duration_ms: int = 0
    """Wall time including failed attempts and retry waits."""
    attempts: int = 1


@runtime_checkable
class Provider(Protocol):
    """A model API. Implementations must be safe to call from several tasks at once."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        """Raw events as they arrive, then the :class:`ModelResponse` as the last item."""
        ...

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """The whole reply."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


StreamItem = dict[str, Any] | ModelResponse
