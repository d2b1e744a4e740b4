"""``RedactingStore``: a store wrapper that redacts every entry before it is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from typing_extensions import Self

from ..sessions._protocol import (
    ConditionalAppendStore,
    SessionKey,
    SessionListSubkeysKey,
    SessionStore,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
    store_implements,
)
from ._redact import Redactor
from ._wrap import OPTIONAL_METHODS, variant_of

__all__ = ["RedactingStore"]


class RedactingStore:
    """Wraps ``inner`` so that no credential reaches it.

    ``append`` and ``append_conditional`` pass each entry through
    ``redactor`` (default: :class:`Redactor` with the built-in rules); every
    other call goes to ``inner`` unchanged. The wrapper offers an optional
    method (``list_sessions``, ``delete``, ``append_conditional``...) exactly
    when ``inner`` does, so capability checks stay truthful.

    Entries the caller passes are never mutated. Layer it outside
    :class:`~threadline.privacy.EncryptedStore` (redact, then encrypt).
    """

    _threadline_wrapper_root = True
    inner: SessionStore
    redactor: Redactor

    def __new__(cls, inner: SessionStore, redactor: Redactor | None = None) -> Self:
        offered = frozenset(m for m in OPTIONAL_METHODS if store_implements(inner, m))
        return cast(Self, object.__new__(variant_of(cls, _RedactingExtras, offered)))

    def __init__(self, inner: SessionStore, redactor: Redactor | None = None) -> None:
        self.inner = inner
        self.redactor = redactor if redactor is not None else Redactor()

    def __repr__(self) -> str:
        return f"RedactingStore({self.inner!r}, {self.redactor!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the inner store (if it has ``aclose``)."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()

    def _redacted(self, entries: list[SessionStoreEntry]) -> list[SessionStoreEntry]:
        red = self.redactor
        if len(entries) > 1 and not red.find_candidate(entries):
            return entries  # one search for the whole batch: the common case
        return [red.redact_entry(e) for e in entries]

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        await self.inner.append(key, self._redacted(entries))

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        return await self.inner.load(key)

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


class _RedactingExtras(RedactingStore):
    """Every optional method; :func:`variant_of` copies in those the inner store has."""

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        return await self.inner.list_sessions(project_key)

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        return await self.inner.list_session_summaries(project_key)

    async def delete(self, key: SessionKey) -> None:
        await self.inner.delete(key)

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        return await self.inner.list_subkeys(key)

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        inner = cast(ConditionalAppendStore, self.inner)
        await inner.append_conditional(key, self._redacted(entries), expected_head=expected_head)

    async def get_head(self, key: SessionKey) -> str | None:
        return await cast(ConditionalAppendStore, self.inner).get_head(key)

    async def find_session(self, session_id: str) -> SessionKey | None:
        found: Any = await cast(Any, self.inner).find_session(session_id)
        return cast("SessionKey | None", found)
