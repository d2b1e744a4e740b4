"""``Transport``: the official SDK's abstract transport class, for type compatibility only.

The official SDK talks to a Claude Code process through a ``Transport``; custom ones reach
remote Claude Code instances. threadline runs the agent loop in-process, so there is
nothing to transport: the class exists so ``from claude_agent_sdk import Transport`` code
(subclasses, annotations) still imports, and ``query(transport=...)`` /
``ClaudeSDKClient(transport=...)`` raise :class:`~threadline.UserError` saying so. It sits
beside the runtime, which is what stands in for the official transport.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["Transport"]


class Transport(ABC):
    """Abstract transport (official ``claude_agent_sdk.Transport``); unused in-process."""

    @abstractmethod
    async def connect(self) -> None:
        """Connect the transport and prepare for communication."""

    @abstractmethod
    async def write(self, data: str) -> None:
        """Write raw data (typically JSON + newline)."""

    @abstractmethod
    def read_messages(self) -> AsyncIterator[dict[str, Any]]:
        """Read and parse messages."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection and clean up."""

    @abstractmethod
    def is_ready(self) -> bool:
        """True if the transport can send and receive."""

    @abstractmethod
    async def end_input(self) -> None:
        """End the input stream."""
