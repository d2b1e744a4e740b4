"""Sessions: the store protocol, the stores, and the session functions."""

from __future__ import annotations

from ._disk import (
    get_session_info as get_session_info,
)
from ._disk import (
    get_session_messages as get_session_messages,
)
from ._disk import (
    get_subagent_messages as get_subagent_messages,
)
from ._disk import (
    list_sessions as list_sessions,
)
from ._disk import (
    list_subagents as list_subagents,
)
from ._mutations import (
    delete_session as delete_session,
)
from ._mutations import (
    fork_session as fork_session,
)
from ._mutations import (
    rename_session as rename_session,
)
from ._mutations import (
    tag_session as tag_session,
)
from ._protocol import (
    SessionKey as SessionKey,
)
from ._protocol import (
    SessionListSubkeysKey as SessionListSubkeysKey,
)
from ._protocol import (
    SessionStore as SessionStore,
)
from ._protocol import (
    SessionStoreEntry as SessionStoreEntry,
)
from ._protocol import (
    SessionStoreFlushMode as SessionStoreFlushMode,
)
from ._protocol import (
    SessionStoreListEntry as SessionStoreListEntry,
)
from ._protocol import (
    SessionSummaryEntry as SessionSummaryEntry,
)
from ._protocol import (
    store_implements as store_implements,
)
from ._store_api import (
    delete_session_via_store as delete_session_via_store,
)
from ._store_api import (
    find_session_key as find_session_key,
)
from ._store_api import (
    fork_session_via_store as fork_session_via_store,
)
from ._store_api import (
    get_session_info_from_store as get_session_info_from_store,
)
from ._store_api import (
    get_session_messages_from_store as get_session_messages_from_store,
)
from ._store_api import (
    get_subagent_messages_from_store as get_subagent_messages_from_store,
)
from ._store_api import (
    import_session_to_store as import_session_to_store,
)
from ._store_api import (
    list_sessions_from_store as list_sessions_from_store,
)
from ._store_api import (
    list_subagents_from_store as list_subagents_from_store,
)
from ._store_api import (
    rename_session_via_store as rename_session_via_store,
)
from ._store_api import (
    tag_session_via_store as tag_session_via_store,
)
from ._summary import fold_session_summary as fold_session_summary
from .file import FileStore as FileStore
from .memory import MemoryStore as MemoryStore

InMemorySessionStore = MemoryStore
"""Alias with the official SDK's name."""
