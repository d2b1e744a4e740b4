"""``query()``: one-shot (or streamed-input) use of the agent, as in the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import anyio

from ._client import AgentClient, check_prompt
from ._messages import Message
from .runtime._options import AgentOptions

__all__ = ["query"]


async def query(
    *,
    prompt: str | AsyncIterable[dict[str, Any]],
    options: AgentOptions | None = None,
    transport: Any = None,
) -> AsyncIterator[Message]:
    """Run ``prompt`` and yield every message; each prompt ends with a ResultMessage.

    ``prompt`` is a string or an async iterable of user-message dicts
    (``{"type": "user", "message": {"role": "user", "content": ...}}``), each run as its own
    turn of the same session. The session is resolved before anything is sent to the model:
    an unknown ``resume`` id raises :class:`~threadline.SessionNotFoundError` here.
    """
    check_prompt(prompt)
    client = AgentClient(options, transport)
    await client.connect(prompt)
    try:
        async for message in client.drain():
            yield message
    finally:
        with anyio.CancelScope(shield=True):
            await client.disconnect()
