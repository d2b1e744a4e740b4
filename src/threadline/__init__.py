"""threadline: a pure-Python agent SDK whose conversations are durable sessions.

Sessions are Claude Code transcripts, so they move freely between threadline,
the ``claude`` CLI and the official ``claude-agent-sdk`` readers.
"""

from __future__ import annotations

from ._bundle import (
    BundleConflictError as BundleConflictError,
    BundleError as BundleError,
    export_bundle as export_bundle,
    import_bundle as import_bundle,
    read_manifest as read_manifest,
)
from ._client import AgentClient as AgentClient, ClaudeSDKClient as ClaudeSDKClient
from ._exceptions import (
    ConcurrentModificationError as ConcurrentModificationError,
    CorruptTranscriptError as CorruptTranscriptError,
    DecryptionError as DecryptionError,
    EmptySessionError as EmptySessionError,
    InvalidSessionIdError as InvalidSessionIdError,
    MessageNotFoundError as MessageNotFoundError,
    ProviderConnectionError as ProviderConnectionError,
    ProviderError as ProviderError,
    ProviderHTTPError as ProviderHTTPError,
    RateLimitError as RateLimitError,
    SessionError as SessionError,
    SessionNotFoundError as SessionNotFoundError,
    StorageError as StorageError,
    ThreadlineError as ThreadlineError,
    ToolError as ToolError,
    UserError as UserError,
)
from ._hooks import (
    HookCallback as HookCallback,
    HookContext as HookContext,
    HookMatcher as HookMatcher,
)
from ._messages import (
    AssistantMessage as AssistantMessage,
    ContentBlock as ContentBlock,
    Message as Message,
    ResultMessage as ResultMessage,
    ServerToolResultBlock as ServerToolResultBlock,
    ServerToolUseBlock as ServerToolUseBlock,
    StreamEvent as StreamEvent,
    SystemMessage as SystemMessage,
    TextBlock as TextBlock,
    ThinkingBlock as ThinkingBlock,
    ToolResultBlock as ToolResultBlock,
    ToolUseBlock as ToolUseBlock,
    UserMessage as UserMessage,
)
from ._options import AgentOptions as AgentOptions, ClaudeAgentOptions as ClaudeAgentOptions
from ._paths import project_key_for_directory as project_key_for_directory
from ._permissions import (
    CanUseTool as CanUseTool,
    PermissionMode as PermissionMode,
    PermissionResult as PermissionResult,
    PermissionResultAllow as PermissionResultAllow,
    PermissionResultDeny as PermissionResultDeny,
    PermissionUpdate as PermissionUpdate,
    ToolPermissionContext as ToolPermissionContext,
)
from ._query import query as query
from ._search import (
    SearchHit as SearchHit,
    SearchIndex as SearchIndex,
    search_sessions as search_sessions,
)
from ._types import (
    ForkSessionResult as ForkSessionResult,
    SDKSessionInfo as SDKSessionInfo,
    SessionMessage as SessionMessage,
)
from .privacy import (
    RedactingStore as RedactingStore,
    Redactor as Redactor,
    Rule as Rule,
)
from .providers import (
    ModelPrice as ModelPrice,
    RetryPolicy as RetryPolicy,
    register_model_price as register_model_price,
)
from .sessions import (
    ConditionalAppendStore as ConditionalAppendStore,
    FileStore as FileStore,
    InMemorySessionStore as InMemorySessionStore,
    MemoryStore as MemoryStore,
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
from .sessions._transfer import (
    TransferProgress as TransferProgress,
    TransferReport as TransferReport,
    export_session_from_store as export_session_from_store,
    export_sessions_from_store as export_sessions_from_store,
    import_sessions_to_store as import_sessions_to_store,
)
from .sessions.postgres import PostgresStore as PostgresStore
from .sessions.redis import RedisStore as RedisStore
from .sessions.sqlite import SQLiteStore as SQLiteStore
from .tools import (
    SdkMcpTool as SdkMcpTool,
    create_sdk_mcp_server as create_sdk_mcp_server,
    tool as tool,
)

__version__ = "0.1.0"
