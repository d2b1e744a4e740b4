"""Messages as ``claude -p --output-format stream-json --verbose`` prints them.

One JSON object per line: ``{"type": "system", "subtype": "init", ...}``, then
``assistant`` / ``user`` messages (``stream_event`` too with partial messages), and a
closing ``{"type": "result", ...}``. Field names follow the real CLI's output.
"""

from __future__ import annotations

from typing import Any

from .._messages import (
    AssistantMessage,
    Message,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    UserMessage,
    block_to_api,
)

__all__ = ["to_wire"]


def _assistant(msg: AssistantMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "assistant",
        "message": {
            "id": msg.message_id,
            "type": "message",
            "role": "assistant",
            "model": msg.model,
            "content": [block_to_api(b) for b in msg.content],
            "stop_reason": msg.stop_reason,
            "stop_sequence": None,
            "usage": msg.usage,
        },
        "parent_tool_use_id": msg.parent_tool_use_id,
        "session_id": msg.session_id,
        "uuid": msg.uuid,
    }
    if msg.error is not None:
        out["error"] = msg.error
    return out


def _user(msg: UserMessage) -> dict[str, Any]:
    content: Any = (
        msg.content if isinstance(msg.content, str) else [block_to_api(b) for b in msg.content]
    )
    out: dict[str, Any] = {
        "type": "user",
        "message": {"role": "user", "content": content},
        "parent_tool_use_id": msg.parent_tool_use_id,
        "session_id": msg.session_id,
        "uuid": msg.uuid,
    }
    if msg.tool_use_result is not None:
        out["tool_use_result"] = msg.tool_use_result
    return out


def _result(msg: ResultMessage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "result",
        "subtype": msg.subtype,
        "is_error": msg.is_error,
        "duration_ms": msg.duration_ms,
        "duration_api_ms": msg.duration_api_ms,
        "num_turns": msg.num_turns,
        "result": msg.result,
        "stop_reason": msg.stop_reason,
        "session_id": msg.session_id,
        "total_cost_usd": msg.total_cost_usd,
        "usage": msg.usage,
        "modelUsage": msg.model_usage or {},
        "permission_denials": msg.permission_denials or [],
        "terminal_reason": msg.terminal_reason,
        "api_error_status": msg.api_error_status,
        "uuid": msg.uuid,
    }
    if msg.errors:
        out["errors"] = msg.errors
    if msg.structured_output is not None:
        out["structured_output"] = msg.structured_output
    return out


def to_wire(msg: Message) -> dict[str, Any]:
    """``msg`` as the dict the real CLI prints for it."""
    if isinstance(msg, SystemMessage):
        return {"type": "system", "subtype": msg.subtype, **msg.data}
    if isinstance(msg, AssistantMessage):
        return _assistant(msg)
    if isinstance(msg, UserMessage):
        return _user(msg)
    if isinstance(msg, ResultMessage):
        return _result(msg)
    if isinstance(msg, StreamEvent):
        return {
            "type": "stream_event",
            "event": msg.event,
            "session_id": msg.session_id,
            "parent_tool_use_id": msg.parent_tool_use_id,
            "uuid": msg.uuid,
        }
    raise TypeError(f"not a message: {msg!r}")  # pragma: no cover
