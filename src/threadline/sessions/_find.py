"""Finding which project a session id is filed under (split from ``_store_api`` so that a
resume does not import the listing, fork and import functions it never calls)."""

from __future__ import annotations

from .._ids import validate_session_id
from ._protocol import FindSessionStore, SessionKey, SessionStore, store_implements

__all__ = ["find_session_key"]


async def find_session_key(
    store: SessionStore, session_id: str, *, project_key_hint: str | None = None
) -> SessionKey | None:
    """Where ``session_id`` lives in ``store``: the hinted project first, then anywhere.

    "Anywhere" needs the store to offer ``find_session(session_id)`` (all of
    threadline's stores do); other stores are only searched in the hint.
    """
    validate_session_id(session_id)
    if project_key_hint:
        key: SessionKey = {"project_key": project_key_hint, "session_id": session_id}
        if store_implements(store, "list_sessions"):
            listed = await store.list_sessions(project_key_hint)
            if any(e["session_id"] == session_id for e in listed):
                return key
        else:
            entries = await store.load(key)
            if entries:
                return key
    if isinstance(store, FindSessionStore):
        return await store.find_session(session_id)
    return None
