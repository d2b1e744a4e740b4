"""``RedactingStore``: a store wrapper that redacts every entry before it is written."""

from __future__ import annotations

from typing import cast

from typing_extensions import Self

from ..sessions._protocol import (
    ConditionalAppendStore,
    SessionKey,
    SessionStore,
    SessionStoreEntry,
)
from ._redact import Redactor
from ._wrap import PassThrough, StoreWrapper, inner_offers, variant_of

__all__ = ["RedactingStore"]


class RedactingStore(StoreWrapper):
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
        offered = frozenset(inner_offers(inner))
        return cast(Self, object.__new__(variant_of(cls, _RedactingExtras, offered)))

    def __init__(self, inner: SessionStore, redactor: Redactor | None = None) -> None:
        self.inner = inner
        self.redactor = redactor if redactor is not None else Redactor()

    def __repr__(self) -> str:
        return f"RedactingStore({self.inner!r}, {self.redactor!r})"

    def _redacted(self, entries: list[SessionStoreEntry]) -> list[SessionStoreEntry]:
        red = self.redactor
        if len(entries) > 1 and not red.find_candidate(entries):
            return entries  # one search for the whole batch: the common case
        return [red.redact_entry(e) for e in entries]

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        await self.inner.append(key, self._redacted(entries))

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        return await self.inner.load(key)


class _RedactingExtras(RedactingStore, PassThrough):
    """Every optional method; :func:`variant_of` copies in those the inner store has."""

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        inner = cast(ConditionalAppendStore, self.inner)
        await inner.append_conditional(key, self._redacted(entries), expected_head=expected_head)
