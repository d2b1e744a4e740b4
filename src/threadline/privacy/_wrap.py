"""Store wrappers that offer exactly the optional methods their inner store offers.

The official SDK (and :func:`~threadline.sessions.store_implements`) decides
whether a store supports ``list_sessions``, ``delete``... by looking the
method up on the store's *class*. A wrapper that always defined them would
claim support the inner store lacks; one that never did would hide it. So a
wrapper class is split in two: the base (``append``/``load``, always there)
and a class holding every optional method. Instantiating the base returns an
instance of a per-capability subclass (cached) that copies in only the
optional methods the wrapper can honour for that inner store.

:class:`StoreWrapper` is the shared base (closing the inner store, the typed
optional methods) and :class:`PassThrough` the optional methods a wrapper
hands to the inner store unchanged; a wrapper's extras class overrides those
it must change.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from typing_extensions import Self, get_protocol_members

from ..sessions._protocol import (
    ConditionalAppendStore,
    FindSessionStore,
    LocalTranscripts,
    PartialLoadStore,
    SessionKey,
    SessionListSubkeysKey,
    SessionStore,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
    aclose_store,
    store_implements,
)

__all__ = [
    "OPTIONAL_METHODS",
    "PARTIAL_LOADS",
    "PassThrough",
    "StoreWrapper",
    "inner_offers",
    "partial_loads_of",
    "variant_of",
]

OFFICIAL_OPTIONAL = ("list_sessions", "list_session_summaries", "delete", "list_subkeys")
"""The official SDK's optional methods (detected on the class, as it does)."""

OPTIONAL_METHODS = OFFICIAL_OPTIONAL + tuple(
    sorted(get_protocol_members(ConditionalAppendStore) | get_protocol_members(FindSessionStore))
)
"""What a wrapper forwards when its inner store has it: the official optional methods and
the members of the declared capabilities a wrapper passes through (derived from the
protocols, so a new member cannot be forgotten here)."""


PARTIAL_LOADS = tuple(sorted(get_protocol_members(PartialLoadStore)))
""":class:`~threadline.sessions.PartialLoadStore`: offered only by wrappers whose ``load``
returns the inner store's entries unchanged (redaction), never by encryption."""


def partial_loads_of(inner: SessionStore) -> set[str]:
    """The partial loads ``inner`` offers (all or none)."""
    return set(PARTIAL_LOADS) if isinstance(inner, PartialLoadStore) else set()


def inner_offers(inner: SessionStore) -> set[str]:
    """The optional methods ``inner`` implements."""
    return {m for m in OPTIONAL_METHODS if store_implements(inner, m)}


class StoreWrapper:
    """What every wrapper does alike: ``async with`` and ``aclose`` close the inner store."""

    inner: SessionStore

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the inner store (if it has ``aclose``)."""
        await aclose_store(self.inner)

    def local_transcripts(self) -> LocalTranscripts | None:
        """``None``: a wrapper changes what is stored unless it says otherwise (see
        :class:`~threadline.sessions.WrappedStore`)."""
        return None

    if TYPE_CHECKING:  # present at runtime only when the inner store has them

        async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]: ...
        async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]: ...
        async def delete(self, key: SessionKey) -> None: ...
        async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]: ...
        async def append_conditional(
            self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
        ) -> None: ...
        async def get_head(self, key: SessionKey) -> str | None: ...
        async def find_session(self, session_id: str) -> SessionKey | None: ...


class PassThrough:
    """The optional methods that go to the inner store unchanged (a mixin of extras)."""

    inner: SessionStore

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        return await self.inner.list_sessions(project_key)

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        return await self.inner.list_session_summaries(project_key)

    async def delete(self, key: SessionKey) -> None:
        await self.inner.delete(key)

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        return await self.inner.list_subkeys(key)

    async def get_head(self, key: SessionKey) -> str | None:
        return await cast(ConditionalAppendStore, self.inner).get_head(key)

    async def find_session(self, session_id: str) -> SessionKey | None:
        found: Any = await cast(Any, self.inner).find_session(session_id)
        return cast("SessionKey | None", found)

    async def load_since_compaction(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        return await cast(PartialLoadStore, self.inner).load_since_compaction(key)

    async def load_after(self, key: SessionKey, uuid: str) -> list[SessionStoreEntry] | None:
        return await cast(PartialLoadStore, self.inner).load_after(key, uuid)

    async def load_tail(self, key: SessionKey, count: int) -> list[SessionStoreEntry] | None:
        return await cast(PartialLoadStore, self.inner).load_tail(key, count)


_cache: dict[tuple[type, frozenset[str]], type] = {}
_lock = threading.Lock()


def variant_of(base: type, extras: type, offered: frozenset[str]) -> type:
    """The subclass of ``base`` with the methods of ``extras`` named in ``offered``.

    ``extras`` is a subclass of ``base``; its methods are those it and its other bases
    (such as :class:`PassThrough`) define, the first in its MRO winning.

    Methods ``base`` already defines itself (a user subclass) are kept.
    The result looks like ``base`` (same name and module), and
    ``isinstance(x, base)`` holds.
    """
    if getattr(base, "_threadline_variant", False):
        return base
    key = (base, offered)
    with _lock:
        cls = _cache.get(key)
        if cls is None:
            methods = _defined_by(extras, base)
            ns: dict[str, Any] = {
                name: methods[name]
                for name in sorted(offered)
                if name in methods and name not in _defined_below(base)
            }
            ns.update(
                _threadline_variant=True,
                __module__=base.__module__,
                __qualname__=base.__qualname__,
                __doc__=base.__doc__,
                __slots__=(),
            )
            cls = _cache[key] = type(base.__name__, (base,), ns)
    return cls


def _defined_by(extras: type, base: type) -> dict[str, Any]:
    """What ``extras`` and its bases outside ``base``'s MRO define (the first in MRO wins)."""
    names: dict[str, Any] = {}
    for klass in reversed(extras.__mro__):
        if klass not in base.__mro__:
            names.update(klass.__dict__)
    return names


def _defined_below(base: type) -> set[str]:
    """Names a user subclass of a wrapper defines itself (they win over the extras).

    The wrapper class itself sets ``_threadline_wrapper_root = True``.
    """
    names: set[str] = set()
    for klass in base.__mro__:
        if klass.__dict__.get("_threadline_wrapper_root", False):
            break
        names.update(klass.__dict__)
    return names
