"""Result types of the session functions, with the official SDK's fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ForkSessionResult", "SDKSessionInfo", "SessionMessage"]


@dataclass
class SDKSessionInfo:
    """One session as listed: derived from its transcript's head and tail."""

    session_id: str
    summary: str
    last_modified: int
    """Epoch milliseconds (file mtime, or the store's write time)."""
    file_size: int | None = None
    custom_title: str | None = None
    first_prompt: str | None = None
    git_branch: str | None = None
    cwd: str | None = None
    tag: str | None = None
    created_at: int | None = None
    """Epoch milliseconds of the first timestamp in the transcript."""


@dataclass
class SessionMessage:
    """One visible user or assistant message of a session's conversation chain."""

    type: Literal["user", "assistant"]
    uuid: str
    session_id: str
    message: Any
    """The raw Anthropic API message dict, passed through unchanged."""
    parent_tool_use_id: str | None = None
    parent_agent_id: str | None = None


@dataclass
class ForkSessionResult:
    """What :func:`fork_session` returns."""

    session_id: str
