"""``threadline.types``: the official ``claude_agent_sdk.types`` module path.

Code written for the official SDK imports from ``claude_agent_sdk.types`` as often as from
the package (``from claude_agent_sdk.types import PermissionRuleValue, HookMatcher``); with
``claude_agent_sdk`` replaced by ``threadline`` those imports work unchanged. This module
holds every name of ``claude_agent_sdk.types`` (0.2.187) and every name of the official
top-level ``__all__``, each the same object threadline uses everywhere else (one class per
concept: ``threadline.types.UserMessage is threadline.UserMessage``).

The control-protocol TypedDicts at the bottom describe the JSON the official SDK exchanges
with the Claude Code process. threadline has no such process; they are here for type
annotations only.

No ``from __future__ import annotations`` here: ``NotRequired`` in a TypedDict is only
honoured when annotations are evaluated.
"""

from typing import Any, Literal

from typing_extensions import NotRequired, TypedDict

from ._client import (
    ClaudeSDKClient as ClaudeSDKClient,
)
from ._config_types import (
    ContextUsageCategory as ContextUsageCategory,
    ContextUsageResponse as ContextUsageResponse,
    EffortLevel as EffortLevel,
    McpClaudeAIProxyServerConfig as McpClaudeAIProxyServerConfig,
    McpHttpServerConfig as McpHttpServerConfig,
    McpSdkServerConfig as McpSdkServerConfig,
    McpSdkServerConfigStatus as McpSdkServerConfigStatus,
    McpServerConfig as McpServerConfig,
    McpServerConnectionStatus as McpServerConnectionStatus,
    McpServerInfo as McpServerInfo,
    McpServerStatus as McpServerStatus,
    McpServerStatusConfig as McpServerStatusConfig,
    McpSSEServerConfig as McpSSEServerConfig,
    McpStatusResponse as McpStatusResponse,
    McpStdioServerConfig as McpStdioServerConfig,
    McpToolAnnotations as McpToolAnnotations,
    McpToolInfo as McpToolInfo,
    PermissionBehavior as PermissionBehavior,
    PermissionUpdateDestination as PermissionUpdateDestination,
    SandboxIgnoreViolations as SandboxIgnoreViolations,
    SandboxNetworkConfig as SandboxNetworkConfig,
    SandboxSettings as SandboxSettings,
    SdkBeta as SdkBeta,
    SdkPluginConfig as SdkPluginConfig,
    SettingSource as SettingSource,
    SystemPromptCustom as SystemPromptCustom,
    SystemPromptFile as SystemPromptFile,
    SystemPromptPreset as SystemPromptPreset,
    TaskBudget as TaskBudget,
    ThinkingConfig as ThinkingConfig,
    ThinkingConfigAdaptive as ThinkingConfigAdaptive,
    ThinkingConfigDisabled as ThinkingConfigDisabled,
    ThinkingConfigEnabled as ThinkingConfigEnabled,
    ThinkingDisplay as ThinkingDisplay,
    ToolsPreset as ToolsPreset,
)
from ._exceptions import (
    CanUseToolShadowedWarning as CanUseToolShadowedWarning,
    ClaudeSDKError as ClaudeSDKError,
    CLIConnectionError as CLIConnectionError,
    CLIJSONDecodeError as CLIJSONDecodeError,
    CLINotFoundError as CLINotFoundError,
    ProcessError as ProcessError,
    ResultError as ResultError,
)
from ._messages import (
    TERMINAL_TASK_STATUSES as TERMINAL_TASK_STATUSES,
    AssistantMessage as AssistantMessage,
    AssistantMessageError as AssistantMessageError,
    ContentBlock as ContentBlock,
    ConversationResetMessage as ConversationResetMessage,
    DeferredToolUse as DeferredToolUse,
    FastModeDisabledReason as FastModeDisabledReason,
    FastModeState as FastModeState,
    HookEventMessage as HookEventMessage,
    Message as Message,
    MessageOrigin as MessageOrigin,
    MessageOriginKind as MessageOriginKind,
    MirrorErrorMessage as MirrorErrorMessage,
    ModelUsage as ModelUsage,
    RateLimitEvent as RateLimitEvent,
    RateLimitInfo as RateLimitInfo,
    RateLimitStatus as RateLimitStatus,
    RateLimitType as RateLimitType,
    ResultMessage as ResultMessage,
    ServerToolName as ServerToolName,
    ServerToolResultBlock as ServerToolResultBlock,
    ServerToolUseBlock as ServerToolUseBlock,
    StreamEvent as StreamEvent,
    SystemInitData as SystemInitData,
    SystemInitMcpServer as SystemInitMcpServer,
    SystemInitPlugin as SystemInitPlugin,
    SystemInitPluginError as SystemInitPluginError,
    SystemMessage as SystemMessage,
    TaskNotificationMessage as TaskNotificationMessage,
    TaskNotificationOriginSubkind as TaskNotificationOriginSubkind,
    TaskNotificationStatus as TaskNotificationStatus,
    TaskProgressMessage as TaskProgressMessage,
    TaskStartedMessage as TaskStartedMessage,
    TaskUpdatedMessage as TaskUpdatedMessage,
    TaskUpdatedStatus as TaskUpdatedStatus,
    TaskUsage as TaskUsage,
    TextBlock as TextBlock,
    ThinkingBlock as ThinkingBlock,
    ToolResultBlock as ToolResultBlock,
    ToolUseBlock as ToolUseBlock,
    UserMessage as UserMessage,
)
from ._query import (
    query as query,
)
from ._results import (
    ForkSessionResult as ForkSessionResult,
    SDKSessionInfo as SDKSessionInfo,
    SessionMessage as SessionMessage,
)
from ._version import (
    __version__ as __version__,
)
from .runtime._hook_types import (
    AsyncHookJSONOutput as AsyncHookJSONOutput,
    BackgroundTaskSummary as BackgroundTaskSummary,
    BaseHookInput as BaseHookInput,
    CwdChangedHookSpecificOutput as CwdChangedHookSpecificOutput,
    ElicitationHookSpecificOutput as ElicitationHookSpecificOutput,
    ElicitationResultHookSpecificOutput as ElicitationResultHookSpecificOutput,
    FileChangedHookSpecificOutput as FileChangedHookSpecificOutput,
    HookCallback as HookCallback,
    HookContext as HookContext,
    HookEffort as HookEffort,
    HookEvent as HookEvent,
    HookInput as HookInput,
    HookJSONOutput as HookJSONOutput,
    HookSpecificOutput as HookSpecificOutput,
    MessageDisplayHookSpecificOutput as MessageDisplayHookSpecificOutput,
    NotificationHookInput as NotificationHookInput,
    NotificationHookSpecificOutput as NotificationHookSpecificOutput,
    PermissionDeniedHookSpecificOutput as PermissionDeniedHookSpecificOutput,
    PermissionRequestHookInput as PermissionRequestHookInput,
    PermissionRequestHookSpecificOutput as PermissionRequestHookSpecificOutput,
    PostModelSwitchHookSpecificOutput as PostModelSwitchHookSpecificOutput,
    PostToolBatchHookSpecificOutput as PostToolBatchHookSpecificOutput,
    PostToolUseFailureHookInput as PostToolUseFailureHookInput,
    PostToolUseFailureHookSpecificOutput as PostToolUseFailureHookSpecificOutput,
    PostToolUseHookInput as PostToolUseHookInput,
    PostToolUseHookSpecificOutput as PostToolUseHookSpecificOutput,
    PreCompactHookInput as PreCompactHookInput,
    PreModelSwitchHookSpecificOutput as PreModelSwitchHookSpecificOutput,
    PreToolUseHookInput as PreToolUseHookInput,
    PreToolUseHookSpecificOutput as PreToolUseHookSpecificOutput,
    SessionCronSummary as SessionCronSummary,
    SessionStartHookSpecificOutput as SessionStartHookSpecificOutput,
    StopHookInput as StopHookInput,
    StopHookSpecificOutput as StopHookSpecificOutput,
    SubagentStartHookInput as SubagentStartHookInput,
    SubagentStartHookSpecificOutput as SubagentStartHookSpecificOutput,
    SubagentStopHookInput as SubagentStopHookInput,
    SubagentStopHookSpecificOutput as SubagentStopHookSpecificOutput,
    SyncHookJSONOutput as SyncHookJSONOutput,
    UserPromptExpansionHookSpecificOutput as UserPromptExpansionHookSpecificOutput,
    UserPromptSubmitHookInput as UserPromptSubmitHookInput,
    UserPromptSubmitHookSpecificOutput as UserPromptSubmitHookSpecificOutput,
    WorktreeCreateHookSpecificOutput as WorktreeCreateHookSpecificOutput,
)
from .runtime._hooks import (
    HookMatcher as HookMatcher,
)
from .runtime._options import (
    ClaudeAgentOptions as ClaudeAgentOptions,
)
from .runtime._permissions import (
    CanUseTool as CanUseTool,
    PermissionMode as PermissionMode,
    PermissionResult as PermissionResult,
    PermissionResultAllow as PermissionResultAllow,
    PermissionResultDeny as PermissionResultDeny,
    PermissionRuleValue as PermissionRuleValue,
    PermissionUpdate as PermissionUpdate,
    ToolPermissionContext as ToolPermissionContext,
)
from .runtime._subagents import (
    AgentDefinition as AgentDefinition,
)
from .runtime._transport import (
    Transport as Transport,
)
from .sessions import (
    InMemorySessionStore as InMemorySessionStore,
    SessionKey as SessionKey,
    SessionListSubkeysKey as SessionListSubkeysKey,
    SessionStore as SessionStore,
    SessionStoreEntry as SessionStoreEntry,
    SessionStoreFlushMode as SessionStoreFlushMode,
    SessionStoreListEntry as SessionStoreListEntry,
    SessionSummaryEntry as SessionSummaryEntry,
    delete_session as delete_session,
    delete_session_via_store as delete_session_via_store,
    fold_session_summary as fold_session_summary,
    fork_session as fork_session,
    fork_session_via_store as fork_session_via_store,
    get_session_info as get_session_info,
    get_session_info_from_store as get_session_info_from_store,
    get_session_messages as get_session_messages,
    get_session_messages_from_store as get_session_messages_from_store,
    get_subagent_messages as get_subagent_messages,
    get_subagent_messages_from_store as get_subagent_messages_from_store,
    import_session_to_store as import_session_to_store,
    list_sessions as list_sessions,
    list_sessions_from_store as list_sessions_from_store,
    list_subagents as list_subagents,
    list_subagents_from_store as list_subagents_from_store,
    rename_session as rename_session,
    rename_session_via_store as rename_session_via_store,
    tag_session as tag_session,
    tag_session_via_store as tag_session_via_store,
)
from .sessions._paths import (
    project_key_for_directory as project_key_for_directory,
)
from .tools import (
    SdkMcpTool as SdkMcpTool,
    create_sdk_mcp_server as create_sdk_mcp_server,
    tool as tool,
)
from .tools._annotations import (
    ToolAnnotations as ToolAnnotations,
)

__all__ = [
    "AgentDefinition",
    "AssistantMessage",
    "AssistantMessageError",
    "AsyncHookJSONOutput",
    "BackgroundTaskSummary",
    "BaseHookInput",
    "CLIConnectionError",
    "CLIJSONDecodeError",
    "CLINotFoundError",
    "CanUseTool",
    "CanUseToolShadowedWarning",
    "ClaudeAgentOptions",
    "ClaudeSDKClient",
    "ClaudeSDKError",
    "ContentBlock",
    "ContextUsageCategory",
    "ContextUsageResponse",
    "ControlErrorResponse",
    "ControlResponse",
    "ConversationResetMessage",
    "CwdChangedHookSpecificOutput",
    "DeferredToolUse",
    "EffortLevel",
    "ElicitationHookSpecificOutput",
    "ElicitationResultHookSpecificOutput",
    "FastModeDisabledReason",
    "FastModeState",
    "FileChangedHookSpecificOutput",
    "ForkSessionResult",
    "HookCallback",
    "HookContext",
    "HookEffort",
    "HookEvent",
    "HookEventMessage",
    "HookInput",
    "HookJSONOutput",
    "HookMatcher",
    "HookSpecificOutput",
    "InMemorySessionStore",
    "McpClaudeAIProxyServerConfig",
    "McpHttpServerConfig",
    "McpSSEServerConfig",
    "McpSdkServerConfig",
    "McpSdkServerConfigStatus",
    "McpServerConfig",
    "McpServerConnectionStatus",
    "McpServerInfo",
    "McpServerStatus",
    "McpServerStatusConfig",
    "McpStatusResponse",
    "McpStdioServerConfig",
    "McpToolAnnotations",
    "McpToolInfo",
    "Message",
    "MessageDisplayHookSpecificOutput",
    "MessageOrigin",
    "MessageOriginKind",
    "MirrorErrorMessage",
    "ModelUsage",
    "NotificationHookInput",
    "NotificationHookSpecificOutput",
    "PermissionBehavior",
    "PermissionDeniedHookSpecificOutput",
    "PermissionMode",
    "PermissionRequestHookInput",
    "PermissionRequestHookSpecificOutput",
    "PermissionResult",
    "PermissionResultAllow",
    "PermissionResultDeny",
    "PermissionRuleValue",
    "PermissionUpdate",
    "PermissionUpdateDestination",
    "PostModelSwitchHookSpecificOutput",
    "PostToolBatchHookSpecificOutput",
    "PostToolUseFailureHookInput",
    "PostToolUseFailureHookSpecificOutput",
    "PostToolUseHookInput",
    "PostToolUseHookSpecificOutput",
    "PreCompactHookInput",
    "PreModelSwitchHookSpecificOutput",
    "PreToolUseHookInput",
    "PreToolUseHookSpecificOutput",
    "ProcessError",
    "RateLimitEvent",
    "RateLimitInfo",
    "RateLimitStatus",
    "RateLimitType",
    "ResultError",
    "ResultMessage",
    "SDKControlInitializeRequest",
    "SDKControlInterruptRequest",
    "SDKControlMcpMessageRequest",
    "SDKControlMcpReconnectRequest",
    "SDKControlMcpToggleRequest",
    "SDKControlPermissionRequest",
    "SDKControlRequest",
    "SDKControlResponse",
    "SDKControlRewindFilesRequest",
    "SDKControlSetPermissionModeRequest",
    "SDKControlStopTaskRequest",
    "SDKHookCallbackRequest",
    "SDKSessionInfo",
    "SandboxIgnoreViolations",
    "SandboxNetworkConfig",
    "SandboxSettings",
    "SdkBeta",
    "SdkMcpTool",
    "SdkPluginConfig",
    "ServerToolName",
    "ServerToolResultBlock",
    "ServerToolUseBlock",
    "SessionCronSummary",
    "SessionKey",
    "SessionListSubkeysKey",
    "SessionMessage",
    "SessionStartHookSpecificOutput",
    "SessionStore",
    "SessionStoreEntry",
    "SessionStoreFlushMode",
    "SessionStoreListEntry",
    "SessionSummaryEntry",
    "SettingSource",
    "StopHookInput",
    "StopHookSpecificOutput",
    "StreamEvent",
    "SubagentStartHookInput",
    "SubagentStartHookSpecificOutput",
    "SubagentStopHookInput",
    "SubagentStopHookSpecificOutput",
    "SyncHookJSONOutput",
    "SystemInitData",
    "SystemInitMcpServer",
    "SystemInitPlugin",
    "SystemInitPluginError",
    "SystemMessage",
    "SystemPromptCustom",
    "SystemPromptFile",
    "SystemPromptPreset",
    "TERMINAL_TASK_STATUSES",
    "TaskBudget",
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
    "ThinkingConfig",
    "ThinkingConfigAdaptive",
    "ThinkingConfigDisabled",
    "ThinkingConfigEnabled",
    "ThinkingDisplay",
    "ToolAnnotations",
    "ToolPermissionContext",
    "ToolResultBlock",
    "ToolUseBlock",
    "ToolsPreset",
    "Transport",
    "UserMessage",
    "UserPromptExpansionHookSpecificOutput",
    "UserPromptSubmitHookInput",
    "UserPromptSubmitHookSpecificOutput",
    "WorktreeCreateHookSpecificOutput",
    "__version__",
    "create_sdk_mcp_server",
    "delete_session",
    "delete_session_via_store",
    "fold_session_summary",
    "fork_session",
    "fork_session_via_store",
    "get_session_info",
    "get_session_info_from_store",
    "get_session_messages",
    "get_session_messages_from_store",
    "get_subagent_messages",
    "get_subagent_messages_from_store",
    "import_session_to_store",
    "list_sessions",
    "list_sessions_from_store",
    "list_subagents",
    "list_subagents_from_store",
    "project_key_for_directory",
    "query",
    "rename_session",
    "rename_session_via_store",
    "tag_session",
    "tag_session_via_store",
    "tool",
]


# -- control protocol (no meaning in-process; for annotations only) ---------------------------


class SDKControlInterruptRequest(TypedDict):
    subtype: Literal["interrupt"]


class SDKControlPermissionRequest(TypedDict):
    subtype: Literal["can_use_tool"]
    tool_name: str
    input: dict[str, Any]
    permission_suggestions: list[dict[str, Any]] | None
    blocked_path: str | None
    decision_reason: NotRequired[str]
    title: NotRequired[str]
    display_name: NotRequired[str]
    description: NotRequired[str]
    tool_use_id: str
    agent_id: NotRequired[str]


class SDKControlInitializeRequest(TypedDict):
    subtype: Literal["initialize"]
    hooks: dict[HookEvent, Any] | None
    agents: NotRequired[dict[str, dict[str, Any]]]
    excludeDynamicSections: NotRequired[bool]
    systemPromptSnapshot: NotRequired[bool]
    skills: NotRequired[list[str]]
    forwardSubagentText: NotRequired[bool]


class SDKControlSetPermissionModeRequest(TypedDict):
    subtype: Literal["set_permission_mode"]
    mode: PermissionMode


class SDKHookCallbackRequest(TypedDict):
    subtype: Literal["hook_callback"]
    callback_id: str
    input: Any
    tool_use_id: str | None


class SDKControlMcpMessageRequest(TypedDict):
    subtype: Literal["mcp_message"]
    server_name: str
    message: Any


class SDKControlRewindFilesRequest(TypedDict):
    subtype: Literal["rewind_files"]
    user_message_id: str


class SDKControlMcpReconnectRequest(TypedDict):
    subtype: Literal["mcp_reconnect"]
    serverName: str


class SDKControlMcpToggleRequest(TypedDict):
    subtype: Literal["mcp_toggle"]
    serverName: str
    enabled: bool


class SDKControlStopTaskRequest(TypedDict):
    subtype: Literal["stop_task"]
    task_id: str


class SDKControlRequest(TypedDict):
    type: Literal["control_request"]
    request_id: str
    request: (
        SDKControlInterruptRequest
        | SDKControlPermissionRequest
        | SDKControlInitializeRequest
        | SDKControlSetPermissionModeRequest
        | SDKHookCallbackRequest
        | SDKControlMcpMessageRequest
        | SDKControlRewindFilesRequest
        | SDKControlMcpReconnectRequest
        | SDKControlMcpToggleRequest
        | SDKControlStopTaskRequest
    )


class ControlResponse(TypedDict):
    subtype: Literal["success"]
    request_id: str
    response: dict[str, Any] | None


class ControlErrorResponse(TypedDict):
    subtype: Literal["error"]
    request_id: str
    error: str


class SDKControlResponse(TypedDict):
    type: Literal["control_response"]
    response: ControlResponse | ControlErrorResponse
