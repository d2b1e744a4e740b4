"""``query()``: one-shot (or streamed-input) use of the agent, as in the official SDK."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from ._client import AgentClient, check_prompt
from ._exceptions import ResultError
from ._messages import Message, ResultMessage, result_to_wire
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
    an unknown ``resume`` id raises :class:`~threadline.ResumeNotFoundError` (a
    ``SessionNotFoundError`` and the official ``ResultError``) here.

    As in the official SDK, when the last ResultMessage of the run is an error (``max_turns``
    reached, budget spent, an API error, ...), :class:`~threadline.ResultError` is raised
    after it has been yielded; an error result followed by a successful turn raises nothing.
    """
    check_prompt(prompt)
    client = AgentClient(options, transport)
    await client.connect(prompt)
    last_error: ResultMessage | None = None
    try:
        async for message in client.drain():
            if isinstance(message, ResultMessage):
                last_error = message if message.is_error else None
            yield message
    finally:
        # disconnect() shields what must finish; the MCP transports' task groups on its
        # exit stack must be left in the cancel scope they were entered in, not a new one
        await client.disconnect()
    if last_error is not None:
        raise ResultError.from_result(result_to_wire(last_error))
