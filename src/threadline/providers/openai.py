"""OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp server, ...).

Through the official ``openai`` package (``pip install "threadline[openai]"``), imported
only when this module is. Mirrors :mod:`threadline.providers.anthropic`:

- always streams, with ``stream_options={"include_usage": True}`` so the last chunk
  carries token usage; each chunk is translated into Anthropic stream events (what
  ``include_partial_messages`` consumers see) and one Anthropic ``message`` dict
  (what the transcript stores), by :mod:`threadline.providers._openai_convert`;
- retries by the one table in :mod:`threadline.providers._retry` (the ``openai`` client is
  built with ``max_retries=0``); a stream that is cut, corrupt, or ends without a
  ``finish_reason`` is retried like a connection failure;
- errors become :class:`~threadline.ProviderHTTPError` / :class:`~threadline.RateLimitError`
  (429, 529) / :class:`~threadline.ProviderConnectionError`, chained to the ``openai`` one.

The body is serialised once with orjson and posted through the client's low-level
``post(content=...)`` (no per-call deep copy of a long history).

Output tokens: ``max_tokens`` is sent only when the provider was given one (the agent loop
passes ``AgentOptions.max_tokens``). Local servers otherwise reject the Anthropic-sized
default when it exceeds the model's context window.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

import orjson

try:
    import httpx2
    import openai
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        'The OpenAI-compatible provider needs the "openai" package: '
        'pip install "threadline[openai]"'
    ) from exc

from ._base import ModelRequest, ModelResponse, StreamItem
from ._errors import (
    Attempt,
    connection_failure,
    first_response,
    status_failure,
    stream_failure,
    stream_with_retries,
)
from ._openai_convert import ChunkTranslator, chat_body
from ._retry import RetryPolicy

__all__ = ["DEFAULT_OPENAI_BASE_URL", "NO_API_KEY", "OpenAIProvider"]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_API_KEY = "not-needed"
"""Sent as the bearer token when no key is configured (local servers ignore it)."""

_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "api_error": 500,
    "overloaded_error": 529,
}


def _stream_error_status(body: object) -> int:
    """The status an ``error`` object inside a 200 stream stands for (500 when unsaid)."""
    inner = body.get("error", body) if isinstance(body, Mapping) else None
    if not isinstance(inner, Mapping):
        return 500
    code = inner.get("code")
    numeric = isinstance(code, int) or (isinstance(code, str) and code.isdigit())
    if numeric and 400 <= int(str(code)) <= 599:
        return int(str(code))
    for key in ("type", "code"):
        status = _ERROR_TYPE_STATUS.get(str(inner.get(key)))
        if status is not None:
            return status
    return 500


def _map_exception(exc: BaseException) -> Attempt | None:
    if isinstance(exc, openai.APIStatusError):
        return status_failure(exc.status_code, exc.body, exc.message, exc.response.headers)
    if isinstance(exc, openai.APIConnectionError):
        return connection_failure(exc)
    if isinstance(exc, openai.APIError):
        # An ``error`` object inside a 200 stream: no status of its own.
        status = _stream_error_status(exc.body)
        return status_failure(status, exc.body, exc.message, None)
    return stream_failure(exc)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~15 ms."""
    return httpx2.create_ssl_context()


class OpenAIProvider:
    """:class:`~threadline.providers.Provider` for OpenAI-compatible chat completions.

    ``base_url`` is the API root including ``/v1`` (``http://localhost:11434/v1`` for
    Ollama, ``http://localhost:8000/v1`` for vLLM); ``api_key`` may be ``None`` for local
    servers. ``max_tokens`` caps each reply (unset: the server's default). ``extra_body``
    is merged into every request body (``temperature``, vLLM's ``chat_template_kwargs``...).
    ``include_usage=False`` drops ``stream_options`` for servers that reject it.
    """

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 600.0,
        default_headers: Mapping[str, str] | None = None,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        include_usage: bool = True,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._max_tokens = max_tokens
        self._extra_body = dict(extra_body or {})
        self._include_usage = include_usage
        self._client = openai.AsyncOpenAI(
            api_key=api_key or NO_API_KEY,
            base_url=base_url or DEFAULT_OPENAI_BASE_URL,
            max_retries=0,
            timeout=timeout_s,
            default_headers=dict(default_headers or {}),
            http_client=openai.DefaultAsyncHttpxClient(verify=_ssl_context(), timeout=timeout_s),
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def aclose(self) -> None:
        await self._client.close()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await first_response(self.stream(request))

    def stream(self, request: ModelRequest) -> AsyncGenerator[StreamItem, None]:
        def prepare() -> Callable[[], Awaitable[Any]]:
            body = orjson.dumps(
                chat_body(
                    request,
                    max_tokens=self._max_tokens,
                    include_usage=self._include_usage,
                    extra_body=self._extra_body,
                )
            )
            return functools.partial(
                self._client.post,
                "/chat/completions",
                cast_to=dict[str, Any],
                content=body,
                options={"headers": {**request.headers, "content-type": "application/json"}},
                stream=True,
                stream_cls=openai.AsyncStream[dict[str, Any]],
            )

        return stream_with_retries(
            self._retry,
            prepare=prepare,
            request_id_header="x-request-id",
            new_assembly=lambda: ChunkTranslator(model=request.model),
            map_exception=_map_exception,
            cut_message="API Error: the stream ended before a finish_reason",
            overloaded_limit=request.overloaded_attempts,
        )
