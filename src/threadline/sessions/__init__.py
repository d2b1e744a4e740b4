"""Sessions: the store protocol, the stores, and the session functions.

Names load on first use (PEP 562): a run that writes one transcript file does not import the
database stores, bundles or transfers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._disk import (
        get_session_info as get_session_info,
        get_session_messages as get_session_messages,
        get_subagent_messages as get_subagent_messages,
        list_sessions as list_sessions,
        list_subagents as list_subagents,
    )
    from ._find import find_session_key as find_session_key
    from ._mutations import (
        delete_session as delete_session,
        fork_session as fork_session,
        rename_session as rename_session,
        tag_session as tag_session,
    )
    from ._protocol import (
        CheckedLoadStore as CheckedLoadStore,
        ClosableStore as ClosableStore,
        ConditionalAppendStore as ConditionalAppendStore,
        FindSessionStore as FindSessionStore,
        LocalTranscripts as LocalTranscripts,
        PartialLoadStore as PartialLoadStore,
        PreparedAppendStore as PreparedAppendStore,
        ProjectListingStore as ProjectListingStore,
        SessionKey as SessionKey,
        SessionListSubkeysKey as SessionListSubkeysKey,
        SessionStore as SessionStore,
        SessionStoreEntry as SessionStoreEntry,
        SessionStoreFlushMode as SessionStoreFlushMode,
        SessionStoreListEntry as SessionStoreListEntry,
        SessionSummaryEntry as SessionSummaryEntry,
        WrappedStore as WrappedStore,
        capabilities_of as capabilities_of,
        store_implements as store_implements,
    )
    from ._retention import (
        CleanupReport as CleanupReport,
        cleanup_sessions as cleanup_sessions,
        restore_session as restore_session,
    )
    from ._store_api import (
        delete_session_via_store as delete_session_via_store,
        fork_session_via_store as fork_session_via_store,
        get_session_info_from_store as get_session_info_from_store,
        get_session_messages_from_store as get_session_messages_from_store,
        get_subagent_messages_from_store as get_subagent_messages_from_store,
        import_session_to_store as import_session_to_store,
        list_sessions_from_store as list_sessions_from_store,
        list_subagents_from_store as list_subagents_from_store,
        rename_session_via_store as rename_session_via_store,
        tag_session_via_store as tag_session_via_store,
    )
    from ._summary import fold_session_summary as fold_session_summary
    from ._transfer import (
        TransferProgress as TransferProgress,
        TransferReport as TransferReport,
        export_session_from_store as export_session_from_store,
        export_sessions_from_store as export_sessions_from_store,
        import_sessions_to_store as import_sessions_to_store,
    )
    from .file import FileStore as FileStore
    from .memory import MemoryStore as MemoryStore
    from .postgres import PostgresStore as PostgresStore
    from .redis import RedisStore as RedisStore
    from .sqlite import SQLiteStore as SQLiteStore

    InMemorySessionStore = MemoryStore

_MODULES: dict[str, tuple[str, ...]] = {
    "._disk": (
        "get_session_info",
        "get_session_messages",
        "get_subagent_messages",
        "list_sessions",
        "list_subagents",
    ),
    "._mutations": (
        "delete_session",
        "fork_session",
        "rename_session",
        "tag_session",
    ),
    "._protocol": (
        "CheckedLoadStore",
        "ClosableStore",
        "ConditionalAppendStore",
        "FindSessionStore",
        "LocalTranscripts",
        "PartialLoadStore",
        "PreparedAppendStore",
        "ProjectListingStore",
        "SessionKey",
        "SessionListSubkeysKey",
        "SessionStore",
        "SessionStoreEntry",
        "SessionStoreFlushMode",
        "SessionStoreListEntry",
        "SessionSummaryEntry",
        "WrappedStore",
        "capabilities_of",
        "store_implements",
    ),
    "._retention": (
        "CleanupReport",
        "cleanup_sessions",
        "restore_session",
    ),
    "._find": ("find_session_key",),
    "._store_api": (
        "delete_session_via_store",
        "fork_session_via_store",
        "get_session_info_from_store",
        "get_session_messages_from_store",
        "get_subagent_messages_from_store",
        "import_session_to_store",
        "list_sessions_from_store",
        "list_subagents_from_store",
        "rename_session_via_store",
        "tag_session_via_store",
    ),
    "._summary": ("fold_session_summary",),
    "._transfer": (
        "TransferProgress",
        "TransferReport",
        "export_session_from_store",
        "export_sessions_from_store",
        "import_sessions_to_store",
    ),
    ".file": ("FileStore",),
    ".memory": ("MemoryStore",),
    ".postgres": ("PostgresStore",),
    ".redis": ("RedisStore",),
    ".sqlite": ("SQLiteStore",),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}
_LAZY["InMemorySessionStore"] = ".memory"
_ALIASES = {"InMemorySessionStore": "MemoryStore"}
"""``InMemorySessionStore``: the official SDK's name for :class:`MemoryStore`."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
