"""The Anthropic Messages API.

Always streams (``stream=True``), assembles the reply from the raw events itself (so each
raw event can be forwarded as a ``StreamEvent``), and retries by the one table in
:mod:`threadline.providers._retry`. A stream that is cut, corrupt, or ends without
``message_stop`` is retried like a connection failure; nothing of a failed attempt reaches
the transcript.

The body is serialised once with orjson. By default it is posted by
:mod:`threadline.providers._anthropic_wire` (``httpx2`` and an SSE decoder, no ``anthropic``
import: that package takes ~0.9 s to import, most of a fresh process's time to its first
request). A client of the official package passed as ``client=`` (``AsyncAnthropic`` with
your own ``http_client``, ``AsyncAnthropicBedrock``, ``AsyncAnthropicVertex``, ...) is used
instead, through its low-level ``post(content=...)`` (``messages.create`` deep-copies the
whole request on every call, ~0.2 s for a resumed 20 000-entry history) with its own retries
off. Events stay plain dicts either way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

import orjson

from ._anthropic_wire import ConnectionFailed, StatusError, WireClient
from ._base import ModelRequest, ModelResponse, StreamItem
from ._errors import (
    Attempt,
    connection_failure,
    first_response,
    status_failure,
    stream_failure,
    stream_with_retries,
)
from ._retry import RetryPolicy

__all__ = ["AnthropicProvider"]

_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _status_attempt(
    status: int, body: object, message: str, headers: Mapping[str, str]
) -> Attempt:
    if status < 400 and isinstance(body, Mapping):
        # An ``error`` event inside a 200 stream.
        inner = body.get("error")
        kind = inner.get("type") if isinstance(inner, Mapping) else None
        status = _ERROR_TYPE_STATUS.get(str(kind), 500)
    return status_failure(status, body, message, headers)


def _map_wire_exception(exc: BaseException) -> Attempt | None:
    if isinstance(exc, StatusError):
        return _status_attempt(exc.status, exc.body, exc.message, exc.headers)
    if isinstance(exc, ConnectionFailed):
        return connection_failure(exc)
    return stream_failure(exc)


def _map_sdk_exception(exc: BaseException) -> Attempt | None:
    import anthropic  # a client of the package was given: it is imported already

    if isinstance(exc, anthropic.APIStatusError):
        return _status_attempt(exc.status_code, exc.body, exc.message, exc.response.headers)
    if isinstance(exc, anthropic.APIConnectionError):
        return connection_failure(exc)
    return stream_failure(exc)


class _Accumulator:
    """Builds the final message dict from raw stream events (an :class:`Assembly`)."""

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self.content: list[dict[str, Any]] = []
        self._json: dict[int, list[str]] = {}
        self._stopped = False

    @property
    def finished(self) -> bool:
        """Whether both ``message_start`` and ``message_stop`` arrived."""
        return self._message is not None and self._stopped

    @property
    def message(self) -> dict[str, Any]:
        return self._message if self._message is not None else {}

    def finish(self) -> tuple[()]:
        return ()

    def feed(self, event: dict[str, Any]) -> tuple[dict[str, Any]]:
        """Takes in one raw event; the event itself is what is streamed on."""
        self._apply(event)
        return (event,)

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            self._message = dict(event.get("message") or {})
            self._message["content"] = self.content
        elif kind == "content_block_start":
            index = int(event.get("index", len(self.content)))
            block = dict(event.get("content_block") or {})
            if block.get("type") in ("tool_use", "server_tool_use"):
                self._json[index] = []
            while len(self.content) <= index:
                self.content.append({})
            self.content[index] = block
        elif kind == "content_block_delta":
            self._delta(int(event.get("index", 0)), event.get("delta") or {})
        elif kind == "content_block_stop":
            index = int(event.get("index", 0))
            parts = self._json.pop(index, None)
            if parts is not None and index < len(self.content):
                raw = "".join(parts)
                self.content[index]["input"] = json.loads(raw) if raw.strip() else {}
        elif kind == "message_delta" and self._message is not None:
            delta = event.get("delta") or {}
            for key in ("stop_reason", "stop_sequence"):
                if key in delta:
                    self._message[key] = delta[key]
            usage = dict(self._message.get("usage") or {})
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            self._message["usage"] = usage
        elif kind == "message_stop":
            self._stopped = True

    def _delta(self, index: int, delta: Mapping[str, Any]) -> None:
        if index >= len(self.content):
            return
        block = self.content[index]
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + str(delta.get("text", ""))
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
        elif kind == "signature_delta":
            block["signature"] = str(delta.get("signature", ""))
        elif kind == "input_json_delta":
            self._json.setdefault(index, []).append(str(delta.get("partial_json", "")))
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))


class AnthropicProvider:
    """:class:`~threadline.providers.Provider` for the Anthropic Messages API.

    ``client`` injects a ready ``anthropic.AsyncAnthropic``-like client (``AsyncAnthropic``
    with your own ``http_client``, ``AsyncAnthropicBedrock``, ``AsyncAnthropicVertex``, ...):
    requests then go through it (its base URL, authentication and headers), with its own
    retries turned off (``with_options(max_retries=0)``) because ``retry`` applies instead.
    An injected client belongs to the caller: :meth:`aclose` leaves it open. ``api_key``,
    ``base_url`` (default ``ANTHROPIC_BASE_URL``, else the public API), ``timeout_s`` and
    ``default_headers`` are for the client built otherwise.
    """

    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 600.0,
        default_headers: Mapping[str, str] | None = None,
        client: Any = None,
    ) -> None:
        self._retry = retry or RetryPolicy()
        self._sdk: Any = None
        self._wire: WireClient | None = None
        if client is not None:
            self._sdk = client.with_options(max_retries=0)
        else:
            self._wire = WireClient(
                api_key=api_key,
                base_url=base_url,
                timeout_s=timeout_s,
                default_headers=default_headers,
            )

    async def aclose(self) -> None:
        if self._wire is not None:
            await self._wire.aclose()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await first_response(self.stream(request))

    def stream(self, request: ModelRequest) -> AsyncGenerator[StreamItem, None]:
        wire, sdk = self._wire, self._sdk

        def prepare() -> Callable[[], Awaitable[Any]]:
            body = orjson.dumps({**_params(request), **request.extra_body})
            if wire is not None:
                return functools.partial(wire.stream, body, _headers(request))
            import anthropic

            return functools.partial(
                sdk.post,
                "/v1/messages",
                cast_to=dict[str, Any],
                content=body,
                options={"headers": {"content-type": "application/json", **_headers(request)}},
                stream=True,
                stream_cls=anthropic.AsyncStream[dict[str, Any]],
            )

        return stream_with_retries(
            self._retry,
            prepare=prepare,
            request_id_header="request-id",
            new_assembly=_Accumulator,
            map_exception=_map_wire_exception if wire is not None else _map_sdk_exception,
            cut_message="API Error: the stream ended before message_stop",
            overloaded_limit=request.overloaded_attempts,
        )


def _params(request: ModelRequest) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": request.messages,
        "stream": True,
    }
    if request.system:
        params["system"] = request.system
    if request.tools:
        params["tools"] = request.tools
    if request.thinking:
        params["thinking"] = request.thinking
    return params


def _headers(request: ModelRequest) -> dict[str, str]:
    headers: dict[str, str] = dict(request.headers)
    if request.betas:
        headers["anthropic-beta"] = ",".join(request.betas)
    if request.session_id:
        headers["x-claude-code-session-id"] = request.session_id
    return headers
