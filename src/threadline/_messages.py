"""Typed messages and content blocks, with the official Claude Agent SDK's names and fields.

Code written for ``claude_agent_sdk`` pattern-matches on these classes and reads
their attributes, so every class and field keeps the official spelling. Two
deliberate additions, both optional and trailing: ``UserMessage.session_id``
(every message of a session carries its id) and nothing else.

Converters at the bottom turn Anthropic API block dicts into blocks and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AssistantMessage",
    "AssistantMessageError",
    "ContentBlock",
    "Message",
    "ResultMessage",
    "ServerToolResultBlock",
    "ServerToolUseBlock",
    "StreamEvent",
    "SystemMessage",
    "TextBlock",
    "ThinkingBlock",
    "ToolResultBlock",
    "ToolUseBlock",
    "UserMessage",
    "block_from_api",
    "block_to_api",
]


@dataclass
class TextBlock:
    """Text content block."""

    text: str


@dataclass
class ThinkingBlock:
    """Thinking content block (the signature must travel back to the API unchanged)."""

    thinking: str
    signature: str


@dataclass
class ToolUseBlock:
    """The model asks to call a tool."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass
class ToolResultBlock:
    """The answer to one tool call."""

    tool_use_id: str
    content: str | list[dict[str, Any]] | None = None
    is_error: bool | None = None


@dataclass
class ServerToolUseBlock:
    """A tool the API ran server-side (web search, ...)."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass
class ServerToolResultBlock:
    """The result of a server-side tool call (raw API dict)."""

    tool_use_id: str
    content: dict[str, Any]


ContentBlock = (
    TextBlock
    | ThinkingBlock
    | ToolUseBlock
    | ToolResultBlock
    | ServerToolUseBlock
    | ServerToolResultBlock
)

AssistantMessageError = Literal[
    "authentication_failed",
    "billing_error",
    "rate_limit",
    "invalid_request",
    "server_error",
    "unknown",
]


@dataclass
class UserMessage:
    """A user turn: a prompt, or the tool results of one assistant call."""

    content: str | list[ContentBlock]
    uuid: str | None = None
    """The transcript entry's uuid (usable as ``resume_session_at``)."""
    parent_tool_use_id: str | None = None
    tool_use_result: dict[str, Any] | None = None
    origin: dict[str, Any] | None = None
    session_id: str | None = None
    """threadline addition: the session this message belongs to."""


@dataclass
class AssistantMessage:
    """One content block of a model reply (one per block, as Claude Code streams them)."""

    content: list[ContentBlock]
    model: str
    parent_tool_use_id: str | None = None
    error: AssistantMessageError | None = None
    usage: dict[str, Any] | None = None
    message_id: str | None = None
    stop_reason: str | None = None
    session_id: str | None = None
    uuid: str | None = None
    user_message_uuid: str | None = None
    user_message_uuids: list[str] | None = None


@dataclass
class SystemMessage:
    """System message; ``subtype == "init"`` opens every turn with the session metadata."""

    subtype: str
    data: dict[str, Any]


@dataclass
class ResultMessage:
    """Last message of every turn: outcome, timing, usage and cost."""

    subtype: str
    duration_ms: int
    duration_api_ms: int
    is_error: bool
    num_turns: int
    session_id: str
    stop_reason: str | None = None
    total_cost_usd: float | None = None
    usage: dict[str, Any] | None = None
    result: str | None = None
    structured_output: Any = None
    model_usage: dict[str, Any] | None = None
    permission_denials: list[Any] | None = None
    deferred_tool_use: Any = None
    errors: list[str] | None = None
    api_error_status: int | None = None
    uuid: str | None = None
    terminal_reason: str | None = None
    origin: dict[str, Any] | None = None
    user_message_uuid: str | None = None
    user_message_uuids: list[str] | None = None


@dataclass
class StreamEvent:
    """A raw Anthropic stream event (only with ``include_partial_messages=True``)."""

    uuid: str
    session_id: str
    event: dict[str, Any]
    parent_tool_use_id: str | None = None
    user_message_uuid: str | None = None
    user_message_uuids: list[str] | None = field(default=None)


Message = UserMessage | AssistantMessage | SystemMessage | ResultMessage | StreamEvent


def block_from_api(block: dict[str, Any]) -> ContentBlock:
    """An Anthropic API content block dict as a typed block (unknown types become text)."""
    kind = block.get("type")
    if kind == "text":
        return TextBlock(text=str(block.get("text", "")))
    if kind == "thinking":
        return ThinkingBlock(
            thinking=str(block.get("thinking", "")), signature=str(block.get("signature", ""))
        )
    if kind == "redacted_thinking":
        return ThinkingBlock(thinking="", signature=str(block.get("data", "")))
    if kind == "tool_use":
        return ToolUseBlock(
            id=str(block.get("id", "")),
            name=str(block.get("name", "")),
            input=dict(block.get("input") or {}),
        )
    if kind == "tool_result":
        content = block.get("content")
        return ToolResultBlock(
            tool_use_id=str(block.get("tool_use_id", "")),
            content=content if isinstance(content, (str, list)) else None,
            is_error=block.get("is_error"),
        )
    if kind == "server_tool_use":
        return ServerToolUseBlock(
            id=str(block.get("id", "")),
            name=str(block.get("name", "")),
            input=dict(block.get("input") or {}),
        )
    if isinstance(kind, str) and kind.endswith("_tool_result"):
        return ServerToolResultBlock(tool_use_id=str(block.get("tool_use_id", "")), content=block)
    return TextBlock(text=str(block.get("text", "")))


def block_to_api(block: ContentBlock) -> dict[str, Any]:
    """A typed block as an Anthropic API content block dict."""
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ToolResultBlock):
        out: dict[str, Any] = {"type": "tool_result", "tool_use_id": block.tool_use_id}
        if block.content is not None:
            out["content"] = block.content
        if block.is_error is not None:
            out["is_error"] = block.is_error
        return out
    if isinstance(block, ServerToolUseBlock):
        return {"type": "server_tool_use", "id": block.id, "name": block.name, "input": block.input}
    return dict(block.content)
