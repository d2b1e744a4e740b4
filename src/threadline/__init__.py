"""threadline: a pure-Python agent SDK whose conversations are durable sessions."""

from __future__ import annotations

from ._exceptions import (
    ConcurrentModificationError as ConcurrentModificationError,
)
from ._exceptions import (
    CorruptTranscriptError as CorruptTranscriptError,
)
from ._exceptions import (
    EmptySessionError as EmptySessionError,
)
from ._exceptions import (
    InvalidSessionIdError as InvalidSessionIdError,
)
from ._exceptions import (
    MessageNotFoundError as MessageNotFoundError,
)
from ._exceptions import (
    ProviderConnectionError as ProviderConnectionError,
)
from ._exceptions import (
    ProviderError as ProviderError,
)
from ._exceptions import (
    ProviderHTTPError as ProviderHTTPError,
)
from ._exceptions import (
    RateLimitError as RateLimitError,
)
from ._exceptions import (
    SessionError as SessionError,
)
from ._exceptions import (
    SessionNotFoundError as SessionNotFoundError,
)
from ._exceptions import (
    StorageError as StorageError,
)
from ._exceptions import (
    ThreadlineError as ThreadlineError,
)
from ._exceptions import (
    ToolError as ToolError,
)
from ._exceptions import (
    UserError as UserError,
)

__version__ = "0.1.0"
from ._paths import project_key_for_directory as project_key_for_directory
from ._types import (
    ForkSessionResult as ForkSessionResult,
)
from ._types import (
    SDKSessionInfo as SDKSessionInfo,
)
from ._types import (
    SessionMessage as SessionMessage,
)
from .sessions import (
    FileStore as FileStore,
)
from .sessions import (
    InMemorySessionStore as InMemorySessionStore,
)
from .sessions import (
    MemoryStore as MemoryStore,
)
from .sessions import (
    SessionKey as SessionKey,
)
from .sessions import (
    SessionListSubkeysKey as SessionListSubkeysKey,
)
from .sessions import (
    SessionStore as SessionStore,
)
from .sessions import (
    SessionStoreEntry as SessionStoreEntry,
)
from .sessions import (
    SessionStoreFlushMode as SessionStoreFlushMode,
)
from .sessions import (
    SessionStoreListEntry as SessionStoreListEntry,
)
from .sessions import (
    SessionSummaryEntry as SessionSummaryEntry,
)
from .sessions import (
    delete_session as delete_session,
)
from .sessions import (
    delete_session_via_store as delete_session_via_store,
)
from .sessions import (
    fold_session_summary as fold_session_summary,
)
from .sessions import (
    fork_session as fork_session,
)
from .sessions import (
    fork_session_via_store as fork_session_via_store,
)
from .sessions import (
    get_session_info as get_session_info,
)
from .sessions import (
    get_session_info_from_store as get_session_info_from_store,
)
from .sessions import (
    get_session_messages as get_session_messages,
)
from .sessions import (
    get_session_messages_from_store as get_session_messages_from_store,
)
from .sessions import (
    get_subagent_messages as get_subagent_messages,
)
from .sessions import (
    get_subagent_messages_from_store as get_subagent_messages_from_store,
)
from .sessions import (
    import_session_to_store as import_session_to_store,
)
from .sessions import (
    list_sessions as list_sessions,
)
from .sessions import (
    list_sessions_from_store as list_sessions_from_store,
)
from .sessions import (
    list_subagents as list_subagents,
)
from .sessions import (
    list_subagents_from_store as list_subagents_from_store,
)
from .sessions import (
    rename_session as rename_session,
)
from .sessions import (
    rename_session_via_store as rename_session_via_store,
)
from .sessions import (
    tag_session as tag_session,
)
from .sessions import (
    tag_session_via_store as tag_session_via_store,
)
