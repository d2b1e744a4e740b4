"""Typed messages and content blocks, with the official Claude Agent SDK's names and fields.

Code written for ``claude_agent_sdk`` pattern-matches on these classes and reads their
attributes, so every class, field and default keeps the official spelling (0.2.187), and the
TypedDicts and Literals that describe message values (``ModelUsage``, ``SystemInitData``,
``MessageOrigin``, ...) are here too. One deliberate addition, optional and trailing:
``UserMessage.session_id`` (every message of a session carries its id).

The typed ``SystemMessage`` subclasses (``TaskStartedMessage``, ``HookEventMessage``, ...)
keep the base ``subtype`` and ``data`` fields filled with the wire payload, as the official
parser does, so ``isinstance(msg, SystemMessage)`` code keeps working.

No ``from __future__ import annotations`` here: ``NotRequired`` in a TypedDict is only
honoured when annotations are evaluated.

Converters at the bottom turn Anthropic API block dicts into blocks and back.
"""

from dataclasses import dataclass, field
from typing import Any, Literal

from typing_extensions import NotRequired, Required, TypedDict

__all__ = [
    "TERMINAL_TASK_STATUSES",
    "system_message",
    "AssistantMessage",
    "AssistantMessageError",
    "ContentBlock",
    "ConversationResetMessage",
    "DeferredToolUse",
    "FastModeDisabledReason",
    "FastModeState",
    "HookEventMessage",
    "Message",
    "MessageOrigin",
    "MessageOriginKind",
    "MirrorErrorMessage",
    "ModelUsage",
    "RateLimitEvent",
    "RateLimitInfo",
    "RateLimitStatus",
    "RateLimitType",
    "ResultMessage",
    "ServerToolName",
    "ServerToolResultBlock",
    "ServerToolUseBlock",
    "StreamEvent",
    "SystemInitData",
    "SystemInitMcpServer",
    "SystemInitPlugin",
    "SystemInitPluginError",
    "SystemMessage",
    "TaskNotificationMessage",
    "TaskNotificationOriginSubkind",
    "TaskNotificationStatus",
    "TaskProgressMessage",
    "TaskStartedMessage",
    "TaskUpdatedMessage",
    "TaskUpdatedStatus",
    "TaskUsage",
    "TextBlock",
    "ThinkingBlock",
    "ToolResultBlock",
    "ToolUseBlock",
    "UserMessage",
    "block_from_api",
    "block_to_api",
    "result_to_wire",
]

_PermissionModeValue = Literal[
    "default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"
]

# -- content blocks -----------------------------------------------------------------------------


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


ServerToolName = Literal[
    "advisor",
    "web_search",
    "web_fetch",
    "code_execution",
    "bash_code_execution",
    "text_editor_code_execution",
    "tool_search_tool_regex",
    "tool_search_tool_bm25",
]


@dataclass
class ServerToolUseBlock:
    """A tool the API ran server-side (web search, ...).

    ``name`` is one of :data:`ServerToolName` for the tools the API documents; threadline
    passes any other server tool through under its own name rather than dropping it.
    """

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

# -- message values -----------------------------------------------------------------------------

AssistantMessageError = Literal[
    "authentication_failed",
    "billing_error",
    "rate_limit",
    "invalid_request",
    "server_error",
    "unknown",
]

MessageOriginKind = Literal[
    "human",
    "channel",
    "peer",
    "task-notification",
    "coordinator",
    "unclassified",
    "observer",
    "auto-continuation",
    "observer-activity",
]
"""Known values of ``MessageOrigin["kind"]``; treat anything else as "not human"."""

TaskNotificationOriginSubkind = Literal["scheduled-trigger", "peer-send-message"]
"""Values of ``MessageOrigin["subkind"]`` for ``kind == "task-notification"``."""

# Functional syntax because ``from`` is a keyword.
MessageOrigin = TypedDict(
    "MessageOrigin",
    {
        "kind": Required[MessageOriginKind],
        "server": str,
        "from": str,
        "name": str,
        "fromSession": str,
        "senderTaskId": str,
        "body": str,
        "verifiedPeerPid": int,
        "subkind": TaskNotificationOriginSubkind,
    },
    total=False,
)
"""Provenance of a user-role message (and, on a ResultMessage, of what started the turn).

Only ``kind`` is always present. threadline stamps ``{"kind": "task-notification"}`` on the
turn a background subagent's report starts; prompts you send carry none, as officially.
"""


class ModelUsage(TypedDict):
    """Per-model token usage and cost (``ResultMessage.model_usage[model]``), camelCase keys."""

    inputTokens: int
    outputTokens: int
    cacheReadInputTokens: int
    cacheCreationInputTokens: int
    webSearchRequests: int
    costUSD: float
    contextWindow: int
    maxOutputTokens: int
    canonicalModel: NotRequired[str]
    provider: NotRequired[str]


class SystemInitMcpServer(TypedDict):
    """An MCP server listed in :class:`SystemInitData`."""

    name: str
    status: str
    source: NotRequired[str]


class SystemInitPlugin(TypedDict):
    """A loaded plugin listed in :class:`SystemInitData`."""

    name: str
    path: str
    version: NotRequired[str]


class SystemInitPluginError(TypedDict):
    """A plugin load failure listed in :class:`SystemInitData`."""

    plugin: str
    type: str
    message: str
    path: NotRequired[str]


FastModeState = Literal["off", "cooldown", "on"]

FastModeDisabledReason = Literal[
    "free",
    "preference",
    "extra_usage_disabled",
    "network_error",
    "unknown",
    "not_first_party",
    "disabled_by_env",
    "model_not_allowed",
    "sdk_opt_in_required",
    "pending",
]


class SystemInitData(TypedDict):
    """Shape of ``SystemMessage.data`` for ``subtype == "init"`` (wire key names)."""

    type: Literal["system"]
    subtype: Literal["init"]
    uuid: str
    session_id: str
    agents: NotRequired[list[str]]
    apiKeySource: str
    betas: NotRequired[list[str]]
    claude_code_version: str
    cwd: str
    tools: list[str]
    mcp_servers: list[SystemInitMcpServer]
    model: str
    permissionMode: _PermissionModeValue
    slash_commands: list[str]
    terminal_slash_commands: NotRequired[list[str]]
    output_style: str
    skills: list[str]
    plugins: list[SystemInitPlugin]
    plugin_errors: NotRequired[list[SystemInitPluginError]]
    fast_mode_state: NotRequired[FastModeState]
    fast_mode_disabled_reason: NotRequired[FastModeDisabledReason]
    capabilities: NotRequired[list[str]]


class TaskUsage(TypedDict):
    """Usage reported in task_progress and task_notification messages."""

    total_tokens: int
    tool_uses: int
    duration_ms: int


TaskNotificationStatus = Literal["completed", "failed", "stopped"]

TaskUpdatedStatus = Literal["pending", "running", "paused", "completed", "failed", "killed"]

TERMINAL_TASK_STATUSES: frozenset[str] = frozenset({"completed", "failed", "stopped", "killed"})
"""Task statuses that mean the task has finished (both lifecycle vocabularies)."""

RateLimitStatus = Literal["allowed", "allowed_warning", "rejected"]
RateLimitType = Literal["five_hour", "seven_day", "seven_day_opus", "seven_day_sonnet", "overage"]

# -- messages -----------------------------------------------------------------------------------


@dataclass
class UserMessage:
    """A user turn: a prompt, or the tool results of one assistant call."""

    content: str | list[ContentBlock]
    uuid: str | None = None
    """The transcript entry's uuid (usable as ``resume_session_at``)."""
    parent_tool_use_id: str | None = None
    tool_use_result: dict[str, Any] | None = None
    origin: MessageOrigin | None = None
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
    """System message; ``subtype == "init"`` opens every turn (``data``: :class:`SystemInitData`)."""

    subtype: str
    data: dict[str, Any]


@dataclass
class TaskStartedMessage(SystemMessage):
    """A task (a background subagent) started (``subtype="task_started"``)."""

    task_id: str
    description: str
    uuid: str
    session_id: str
    tool_use_id: str | None = None
    task_type: str | None = None


@dataclass
class TaskProgressMessage(SystemMessage):
    """A running task reports progress (``subtype="task_progress"``)."""

    task_id: str
    description: str
    usage: TaskUsage
    uuid: str
    session_id: str
    tool_use_id: str | None = None
    last_tool_name: str | None = None


@dataclass
class TaskNotificationMessage(SystemMessage):
    """A task completed, failed or was stopped (``subtype="task_notification"``)."""

    task_id: str
    status: TaskNotificationStatus
    output_file: str
    summary: str
    uuid: str
    session_id: str
    tool_use_id: str | None = None
    usage: TaskUsage | None = None


@dataclass
class TaskUpdatedMessage(SystemMessage):
    """A background task's state changed (``subtype="task_updated"``); ``patch`` holds the change."""

    task_id: str
    patch: dict[str, Any]
    status: TaskUpdatedStatus | None = None
    session_id: str | None = None
    uuid: str | None = None


@dataclass
class MirrorErrorMessage(SystemMessage):
    """A ``SessionStore.append`` mirror batch failed (``subtype="mirror_error"``; non-fatal)."""

    key: dict[str, Any] | None = None
    """The :class:`~threadline.SessionKey` of the failed batch."""
    error: str = ""


@dataclass
class HookEventMessage(SystemMessage):
    """A hook ran (``include_hook_events=True``): ``subtype`` is ``hook_started`` / ``hook_response``."""

    hook_event_name: str = ""
    session_id: str | None = None
    uuid: str | None = None


@dataclass
class DeferredToolUse:
    """A tool call a PreToolUse hook deferred (``permissionDecision: "defer"``); the run stopped."""

    id: str
    name: str
    input: dict[str, Any]


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
    model_usage: dict[str, ModelUsage] | None = None
    permission_denials: list[Any] | None = None
    deferred_tool_use: DeferredToolUse | None = None
    errors: list[str] | None = None
    api_error_status: int | None = None
    uuid: str | None = None
    terminal_reason: str | None = None
    origin: MessageOrigin | None = None
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


@dataclass
class RateLimitInfo:
    """Rate-limit state (subscription windows of the Claude apps; an API key has none)."""

    status: RateLimitStatus
    resets_at: int | None = None
    rate_limit_type: RateLimitType | None = None
    utilization: float | None = None
    overage_status: RateLimitStatus | None = None
    overage_resets_at: int | None = None
    overage_disabled_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class RateLimitEvent:
    """The rate-limit state changed."""

    rate_limit_info: RateLimitInfo
    uuid: str
    session_id: str


@dataclass
class ConversationResetMessage:
    """The conversation was replaced without ending the connection (``/clear``)."""

    new_conversation_id: str
    uuid: str
    session_id: str


Message = (
    UserMessage
    | AssistantMessage
    | SystemMessage
    | ResultMessage
    | StreamEvent
    | RateLimitEvent
    | ConversationResetMessage
)


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


def result_to_wire(message: ResultMessage) -> dict[str, Any]:
    """A ResultMessage as the CLI's ``result`` frame (``ResultError.data`` holds this)."""
    wire: dict[str, Any] = {"type": "result"}
    for name, value in vars(message).items():
        if name == "model_usage":
            wire["modelUsage"] = value
        elif name == "deferred_tool_use" and isinstance(value, DeferredToolUse):
            wire[name] = {"id": value.id, "name": value.name, "input": value.input}
        elif value is not None:
            wire[name] = value
    return wire


def system_message(data: dict[str, Any]) -> SystemMessage:
    """A ``system`` stream message as the official SDK parses it: the typed subclass for
    ``task_*`` and ``hook_*`` subtypes (``TaskStartedMessage``, ...), else ``SystemMessage``."""
    subtype = str(data.get("subtype", ""))
    if subtype in ("hook_started", "hook_response"):
        name = data.get("hook_event") or data.get("hook_name") or data.get("hook_event_name")
        return HookEventMessage(
            subtype=subtype,
            data=data,
            hook_event_name=str(name or ""),
            session_id=data.get("session_id"),
            uuid=data.get("uuid"),
        )
    common: dict[str, Any] = {"subtype": subtype, "data": data}
    if subtype == "task_started":
        return TaskStartedMessage(
            **common,
            task_id=data["task_id"],
            description=data["description"],
            uuid=data["uuid"],
            session_id=data["session_id"],
            tool_use_id=data.get("tool_use_id"),
            task_type=data.get("task_type"),
        )
    if subtype == "task_notification":
        return TaskNotificationMessage(
            **common,
            task_id=data["task_id"],
            status=data["status"],
            output_file=data.get("output_file", ""),
            summary=data["summary"],
            uuid=data["uuid"],
            session_id=data["session_id"],
            tool_use_id=data.get("tool_use_id"),
            usage=data.get("usage"),
        )
    if subtype == "task_updated":
        patch = data.get("patch")
        patch = patch if isinstance(patch, dict) else {}
        return TaskUpdatedMessage(
            **common,
            task_id=data.get("task_id", ""),
            patch=patch,
            status=patch.get("status"),
            session_id=data.get("session_id"),
            uuid=data.get("uuid"),
        )
    return SystemMessage(subtype=subtype, data=data)
