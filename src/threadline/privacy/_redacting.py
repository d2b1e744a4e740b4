"""``RedactingStore``: a store wrapper that redacts every entry before it is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from typing_extensions import Self

from ..sessions._protocol import (
    ConditionalAppendStore,
    LocalTranscripts,
    PreparedAppendStore,
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    local_transcripts,
)
from ..transcript._jsonl import dumps_line
from ._wrap import PassThrough, StoreWrapper, inner_offers, partial_loads_of, variant_of

if TYPE_CHECKING:
    from ._redact import Redactor

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

    def __new__(cls, inner: SessionStore, redactor: Redactor | None = None) -> Self:
        # Reads pass through unchanged, so partial loads do too.
        offered = frozenset(inner_offers(inner) | partial_loads_of(inner))
        return cast(Self, object.__new__(variant_of(cls, _RedactingExtras, offered)))

    def __init__(self, inner: SessionStore, redactor: Redactor | None = None) -> None:
        self.inner = inner
        self._redactor = redactor

    @property
    def redactor(self) -> Redactor:
        """The redactor; the default one is built on first use (compiling the rules costs
        a few milliseconds that a run writing nothing does not pay)."""
        red = self._redactor
        if red is None:
            from ._redact import Redactor

            red = self._redactor = Redactor()
        return red

    @redactor.setter
    def redactor(self, value: Redactor) -> None:
        self._redactor = value

    def __repr__(self) -> str:
        return f"RedactingStore({self.inner!r}, {self.redactor!r})"

    def local_transcripts(self) -> LocalTranscripts | None:
        """The inner store's files: redaction alters what is written, and the files then
        hold exactly what ``load`` returns."""
        return local_transcripts(self.inner)

    def _redacted(self, entries: list[SessionStoreEntry]) -> list[SessionStoreEntry]:
        red = self.redactor
        if len(entries) > 1 and not red.find_candidate(entries):
            return entries  # one search for the whole batch: the common case
        return [red.redact_entry(e) for e in entries]

    def _prepared(
        self, entries: list[SessionStoreEntry]
    ) -> tuple[list[SessionStoreEntry], list[bytes]]:
        """The redacted entries and their JSON lines, serialised once (for a store that
        writes lines: see :class:`~threadline.sessions.PreparedAppendStore`; runs in its worker thread)."""
        red = self.redactor
        lines = [dumps_line(e) for e in entries]
        if not red.enabled or (len(lines) > 1 and not red.may_contain(b"".join(lines))):
            return entries, lines
        out: list[SessionStoreEntry] = []
        for i, entry in enumerate(entries):
            redacted = red.redact_serialized(entry, lines[i])
            if redacted is not entry:
                lines[i] = dumps_line(redacted)
            out.append(redacted)
        return out, lines

    def _line_writer(self, method: str) -> PreparedAppendStore | None:
        """The inner store as a :class:`~threadline.sessions.PreparedAppendStore`, when its
        ``method`` is the one defined next to its prepared appends (a subclass that
        overrides ``append`` alone gets the plain call, so its override still runs)."""
        inner = self.inner
        if not isinstance(inner, PreparedAppendStore):
            return None
        home = next((k for k in type(inner).__mro__ if "append_prepared" in k.__dict__), None)
        if home is None or getattr(type(inner), method, None) is not getattr(home, method, None):
            return None
        return inner

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        writer = self._line_writer("append")
        if writer is not None:
            await writer.append_prepared(key, entries, self._prepared)
            return
        await self.inner.append(key, self._redacted(entries))

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        return await self.inner.load(key)


class _RedactingExtras(RedactingStore, PassThrough):
    """Every optional method; :func:`variant_of` copies in those the inner store has."""

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        writer = self._line_writer("append_conditional")
        if writer is not None:
            await writer.append_conditional_prepared(
                key, entries, self._prepared, expected_head=expected_head
            )
            return
        inner = cast(ConditionalAppendStore, self.inner)
        await inner.append_conditional(key, self._redacted(entries), expected_head=expected_head)
