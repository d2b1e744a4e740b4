"""``EncryptedStore``: transcripts encrypted at rest (AES-256-GCM) over any store.

The entry format is in :mod:`threadline.privacy._envelope`. What the inner
store can still read: project keys, session ids and subpaths (they are its
keys), modification times, the number and sizes of entries, and each entry's
``uuid`` and, for chain entries, ``type``. Everything else, titles and first
prompts included, is ciphertext.

Listing summaries: the inner store's own summaries would be folded from
ciphertext, so they are not passed through. When the inner store can
``list_sessions``, this wrapper offers ``list_session_summaries`` itself: it
decrypts and folds each session once and keeps the result in memory (never on
disk) until the session's mtime changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import anyio
from typing_extensions import Self

from .._exceptions import UserError
from .._jsonl import gc_paused
from ..sessions._protocol import (
    ConditionalAppendStore,
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)
from ..sessions._summary import fold_session_summary
from ._envelope import ad_prefix, open_entry, seal_entry
from ._keys import KeyLike, Keyring, parse_key
from ._wrap import PassThrough, StoreWrapper, inner_offers, variant_of

if TYPE_CHECKING:
    from ._rekey import RekeyReport

__all__ = ["DEFAULT_KEY_ENV", "EncryptedStore"]

DEFAULT_KEY_ENV = "THREADLINE_ENCRYPTION_KEY"
_LOAD_CONCURRENCY = 16


def _offered(inner: SessionStore) -> frozenset[str]:
    names = inner_offers(inner)
    names.discard("list_session_summaries")  # folded from ciphertext: useless
    if "list_sessions" in names:
        names.add("list_session_summaries")  # ours, from decrypted entries
    return frozenset(names)


def _keyring(key: KeyLike | None, old_keys: Iterable[KeyLike], key_env: str | None) -> Keyring:
    old = [parse_key(k) for k in old_keys]
    if key is not None:
        return Keyring(parse_key(key), old)
    value = os.environ.get(key_env) if key_env else None
    if not value or not value.strip():
        raise UserError(
            f"EncryptedStore needs a key: pass key=... or set ${key_env or DEFAULT_KEY_ENV} "
            "(make one with threadline.privacy.generate_key())"
        )
    keys = [parse_key(k) for k in value.split(",") if k.strip()]
    return Keyring(keys[0], [*keys[1:], *old])


class EncryptedStore(StoreWrapper):
    """Wraps ``inner`` so that it only ever holds ciphertext.

    Args:
        inner: any session store.
        key: the key that encrypts (32 bytes, or base64 / hex text). Default:
            the environment variable ``key_env``, which may hold several
            comma-separated keys: the first encrypts, all decrypt.
        old_keys: more keys that only decrypt (during and after a rotation).
        key_env: the environment variable read when ``key`` is not given.
        allow_plaintext: load unencrypted entries as they are instead of
            raising (to read a store written before encryption was turned on;
            :meth:`rekey` then encrypts them). Off by default: an entry that
            is not ciphertext is an error, so none can be slipped in.

    Offers each optional method when ``inner`` does (``list_session_summaries``
    when ``inner`` can ``list_sessions``). Errors opening an entry raise
    :class:`~threadline.privacy.DecryptionError` and change nothing.
    """

    _threadline_wrapper_root = True
    inner: SessionStore
    allow_plaintext: bool

    def __new__(
        cls,
        inner: SessionStore,
        key: KeyLike | None = None,
        *,
        old_keys: Sequence[KeyLike] = (),
        key_env: str | None = DEFAULT_KEY_ENV,
        allow_plaintext: bool = False,
    ) -> Self:
        return cast(Self, object.__new__(variant_of(cls, _EncryptedExtras, _offered(inner))))

    def __init__(
        self,
        inner: SessionStore,
        key: KeyLike | None = None,
        *,
        old_keys: Sequence[KeyLike] = (),
        key_env: str | None = DEFAULT_KEY_ENV,
        allow_plaintext: bool = False,
    ) -> None:
        self.inner = inner
        self.allow_plaintext = allow_plaintext
        self._ring = _keyring(key, old_keys, key_env)
        self._prefixes: dict[tuple[str, str, str], bytes] = {}
        self._summaries: dict[tuple[str, str], tuple[int, SessionSummaryEntry]] = {}

    def __repr__(self) -> str:
        return f"EncryptedStore({self.inner!r}, key_id={self.key_id!r})"

    @property
    def key_id(self) -> str:
        """The id of the key new entries are encrypted with."""
        return self._ring.current_id

    @property
    def key_ids(self) -> list[str]:
        """The ids of every key this store can decrypt with (current first)."""
        return self._ring.ids

    # -- the format -----------------------------------------------------------

    def _prefix(self, key: SessionKey) -> bytes:
        k = (key["project_key"], key["session_id"], key.get("subpath") or "")
        prefix = self._prefixes.get(k)
        if prefix is None:
            if len(self._prefixes) > 4096:
                self._prefixes.clear()
            prefix = self._prefixes[k] = ad_prefix(key)
        return prefix

    def seal(
        self, key: SessionKey, entries: Iterable[SessionStoreEntry]
    ) -> list[SessionStoreEntry]:
        """The stored (encrypted) form of ``entries`` for ``key``."""
        ring, prefix = self._ring, self._prefix(key)
        return [seal_entry(ring, prefix, e) for e in entries]

    def open(self, key: SessionKey, stored: Iterable[Any]) -> list[SessionStoreEntry]:
        """The entries back from their stored form (``DecryptionError`` if any fails)."""
        ring, prefix = self._ring, self._prefix(key)
        out: list[SessionStoreEntry] = []
        append = out.append
        with gc_paused():
            for i, env in enumerate(stored):
                if self.allow_plaintext and isinstance(env, dict) and "enc" not in env:
                    append(cast(SessionStoreEntry, env))
                    continue
                append(open_entry(ring, prefix, env, _Where(key, i)))
        return out

    # -- required -------------------------------------------------------------

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        if entries:
            self._summaries.pop((key["project_key"], key["session_id"]), None)
        sealed = (
            await anyio.to_thread.run_sync(self.seal, key, entries)
            if len(entries) > _THREAD_AT
            else self.seal(key, entries)
        )
        await self.inner.append(key, sealed)

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        stored = await self.inner.load(key)
        if stored is None:
            return None
        if len(stored) > _THREAD_AT:  # keep the event loop free while decrypting big sessions
            return await anyio.to_thread.run_sync(self.open, key, stored)
        return self.open(key, stored)

    # -- rotation ---------------------------------------------------------------

    async def rekey(
        self,
        new_key: KeyLike,
        *,
        project_keys: Iterable[str] | None = None,
        old_keys: Sequence[KeyLike] = (),
    ) -> RekeyReport:
        """Re-encrypt every session with ``new_key``; see :func:`threadline.privacy.rekey`."""
        from ._rekey import rekey

        return await rekey(self, new_key, project_keys=project_keys, old_keys=old_keys)

    def _use_keyring(self, ring: Keyring) -> None:
        self._ring = ring


_THREAD_AT = 256
"""Batches larger than this are sealed/opened in a worker thread."""


class _Where:
    """Where an entry is, formatted only if an error needs it."""

    __slots__ = ("i", "key")

    def __init__(self, key: SessionKey, i: int) -> None:
        self.key, self.i = key, i

    def __str__(self) -> str:
        return f"{_where(self.key)} entry {self.i}"


def _where(key: SessionKey) -> str:
    sub = key.get("subpath")
    return f"session {key['project_key']}/{key['session_id']}" + (f"/{sub}" if sub else "")


class _EncryptedExtras(EncryptedStore, PassThrough):
    """Every optional method; :func:`variant_of` copies in those the inner store allows."""

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        """Summaries folded from decrypted entries (cached in memory per session mtime)."""
        listing = await self.inner.list_sessions(project_key)
        memo = self._summaries
        have: dict[str, SessionSummaryEntry] = {}
        stale: list[SessionStoreListEntry] = []
        for e in listing:
            m = memo.get((project_key, e["session_id"]))
            if m is not None and m[0] == e["mtime"]:
                have[e["session_id"]] = m[1]
            else:
                stale.append(e)
        limiter = anyio.CapacityLimiter(_LOAD_CONCURRENCY)

        async def fold(e: SessionStoreListEntry) -> None:
            key: SessionKey = {"project_key": project_key, "session_id": e["session_id"]}
            async with limiter:
                entries = await self.load(key)
            summary = fold_session_summary(None, key, entries or [])
            have[e["session_id"]] = summary
            memo[(project_key, e["session_id"])] = (e["mtime"], summary)

        async with anyio.create_task_group() as tg:
            for e in stale:
                tg.start_soon(fold, e)
        out: list[SessionSummaryEntry] = []
        for e in listing:
            data = dict(have[e["session_id"]]["data"])
            out.append({"session_id": e["session_id"], "mtime": e["mtime"], "data": data})
        return out

    async def delete(self, key: SessionKey) -> None:
        self._summaries.pop((key["project_key"], key["session_id"]), None)
        await self.inner.delete(key)

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        self._summaries.pop((key["project_key"], key["session_id"]), None)
        inner = cast(ConditionalAppendStore, self.inner)
        await inner.append_conditional(key, self.seal(key, entries), expected_head=expected_head)
