"""A small example provider, not shipped: what adding a provider takes.

One module (this one) plus one registry line (``register_provider("echo", EchoProvider.build)``,
made by the tests that use it). It answers every request with the last user text,
reversed, in Anthropic Messages shapes: enough for a full ``query()`` with a transcript.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from threadline.providers import ModelRequest, ModelResponse, ProviderConfig, StreamItem


class EchoProvider:
    """Replies ``"<prefix><last user text reversed>"``; ``prefix`` comes from ``ECHO_PREFIX``."""

    name = "echo"

    def __init__(self, *, prefix: str = "") -> None:
        self.prefix = prefix
        self.requests: list[ModelRequest] = []
        self.closed = False

    @classmethod
    def build(cls, config: ProviderConfig) -> EchoProvider:
        """The registry factory: settings come from the run's options and environment."""
        return cls(prefix=config.env("ECHO_PREFIX") or "")

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        self.requests.append(request)
        text = self.prefix + _last_user_text(request.messages)[::-1]
        message = {
            "id": f"msg_echo_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
        yield {"type": "message_start", "message": {**message, "content": []}}
        yield ModelResponse(message=message)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        async for item in self.stream(request):
            if isinstance(item, ModelResponse):
                return item
        raise AssertionError("no response")

    async def aclose(self) -> None:
        self.closed = True


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content or () if b.get("type") == "text"]
        if texts:
            return texts[-1]
    return ""
