"""``EncryptedStore``: transcripts encrypted at rest (AES-256-GCM) over any store.

The formats are in :mod:`threadline.privacy._envelope`: version 3 (one
envelope per append, cut into batches of bounded size, LZ4-compressed before
encryption unless ``compress=False``) is written by default; version 2 (the
same batches, never compressed) and version 1 (one envelope per entry) are
still read, and written with ``format="v2"`` / ``format="v1"``. A stream may
mix them.

What the inner store can still read: project keys, session ids and subpaths
(they are its keys), modification times, the number and sizes of envelopes
and the number of entries in each, and each envelope's clear ``type`` and
``uuid`` (v2/v3: those of the batch's last chain entry; v1: of the entry), and
(v3) whether each batch is compressed. Compressed sizes also depend on how
repetitive the plaintext is (see ``docs/privacy.md``).
Everything else, titles and first prompts included, is ciphertext.

Loading drops an entry whose ``uuid`` came earlier in the stream: the inner
store deduplicates envelopes, not the entries inside them, so this keeps
overlapping retries (a batch re-sent with more entries) from duplicating.

Listing summaries: the inner store's own summaries would be folded from
ciphertext, so they are not passed through. When the inner store can
``list_sessions``, this wrapper offers ``list_session_summaries`` itself: it
decrypts and folds each session once and keeps the result in memory (never on
disk) until the session's mtime changes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import anyio
from typing_extensions import Self

from .._exceptions import UserError
from ..sessions._protocol import (
    CheckedLoadStore,
    ConditionalAppendStore,
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)
from ..sessions._summary import fold_session_summary
from ..transcript._jsonl import gc_paused
from ._envelope import (
    FORMATS,
    ad_prefix,
    lz4_codec,
    open_batch,
    open_entry,
    seal_batch,
    seal_entry,
)
from ._errors import DecryptionError
from ._keys import KeyLike, Keyring, parse_key
from ._rekey import RekeyReport, rekey
from ._wrap import PassThrough, StoreWrapper, inner_offers, variant_of

__all__ = ["DEFAULT_KEY_ENV", "EncryptedStore", "SalvageReport"]

_log = logging.getLogger("threadline.privacy")

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
        format: the format written: ``"v3"`` (default: one envelope per
            append, compressed, fastest to load), ``"v2"`` (the same batches,
            never compressed; readable by threadline versions before v3) or
            ``"v1"`` (one envelope per entry, readable by versions before v2).
            All are always read.
        compress: v3 only: compress each batch (LZ4) before encrypting it.
            Default: on for v3. Smaller files and faster loads, but the size
            of each envelope then depends on how repetitive its content is
            (see ``docs/privacy.md``, "Compression"). ``True`` with v1/v2 is
            an error.

    Offers each optional method when ``inner`` does (``list_session_summaries``
    when ``inner`` can ``list_sessions``). Errors opening an entry raise
    :class:`~threadline.privacy.DecryptionError` and change nothing.
    """

    _threadline_wrapper_root = True
    inner: SessionStore
    allow_plaintext: bool
    format: Literal["v1", "v2", "v3"]
    compress: bool

    def __new__(
        cls,
        inner: SessionStore,
        key: KeyLike | None = None,
        *,
        old_keys: Sequence[KeyLike] = (),
        key_env: str | None = DEFAULT_KEY_ENV,
        allow_plaintext: bool = False,
        format: Literal["v1", "v2", "v3"] = "v3",
        compress: bool | None = None,
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
        format: Literal["v1", "v2", "v3"] = "v3",
        compress: bool | None = None,
    ) -> None:
        if format not in FORMATS:
            raise UserError(
                f"EncryptedStore format must be one of {', '.join(FORMATS)}, not {format!r}"
            )
        if compress and format != "v3":
            raise UserError(f"EncryptedStore format {format} cannot compress (only v3 can)")
        self.inner = inner
        self.allow_plaintext = allow_plaintext
        self.format = format
        self.compress = format == "v3" and compress is not False
        self._compressor = lz4_codec()[0] if self.compress else None
        self._ring = _keyring(key, old_keys, key_env)
        self._prefixes: dict[tuple[str, str, str], tuple[bytes, bytes, bytes]] = {}
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

    def _prefix(self, key: SessionKey) -> tuple[bytes, bytes, bytes]:
        """The v1, v2 and v3 associated-data prefixes of ``key``."""
        k = (key["project_key"], key["session_id"], key.get("subpath") or "")
        prefix = self._prefixes.get(k)
        if prefix is None:
            if len(self._prefixes) > 4096:
                self._prefixes.clear()
            prefix = self._prefixes[k] = (
                ad_prefix(key, "v1"),
                ad_prefix(key, "v2"),
                ad_prefix(key, "v3"),
            )
        return prefix

    def written_prefixes(self) -> tuple[str, ...]:
        """How the envelopes this store writes now start (``rekey`` skips streams already so).

        With compression on, a batch that LZ4 cannot shrink is written ``raw``.
        """
        kid = self.key_id
        if self.format == "v3":
            return (f"v3:{kid}:lz4:", f"v3:{kid}:raw:") if self.compress else (f"v3:{kid}:raw:",)
        return (f"{self.format}:{kid}:",)

    def seal(
        self, key: SessionKey, entries: Iterable[SessionStoreEntry]
    ) -> list[SessionStoreEntry]:
        """The stored (encrypted) form of ``entries`` for ``key`` (one append)."""
        ring, (p1, p2, p3) = self._ring, self._prefix(key)
        if self.format == "v1":
            return [seal_entry(ring, p1, e) for e in entries]
        if self.format == "v2":
            return seal_batch(ring, p2, list(entries))
        return seal_batch(ring, p3, list(entries), version="v3", compress=self._compressor)

    def open(self, key: SessionKey, stored: Iterable[Any]) -> list[SessionStoreEntry]:
        """The entries back from their stored form (``DecryptionError`` if any fails).

        An entry whose ``uuid`` already came earlier in the stream is dropped
        (see the module docs).
        """
        ring, (p1, p2, p3) = self._ring, self._prefix(key)
        batch_prefixes = (p2, p3)
        plain_ok = self.allow_plaintext
        out: list[SessionStoreEntry] = []
        append = out.append
        seen: set[str] = set()
        add = seen.add
        with gc_paused():
            for i, env in enumerate(stored):
                enc = env.get("enc") if isinstance(env, dict) else None
                if type(enc) is str and enc.startswith(("v3:", "v2:")):
                    batch = open_batch(ring, batch_prefixes, env, enc, _Where(key, i))
                    for e in batch:
                        if type(e) is not dict:
                            raise DecryptionError(
                                f"{_Where(key, i)}: decrypted batch holds a non-object"
                            )
                        uid = e.get("uuid")
                        if type(uid) is str:
                            if uid in seen:
                                continue
                            add(uid)
                        append(e)  # type: ignore[arg-type]
                    continue
                if plain_ok and isinstance(env, dict) and "enc" not in env:
                    entry = cast(SessionStoreEntry, env)
                else:
                    entry = open_entry(ring, p1, env, _Where(key, i))
                uid = entry.get("uuid")
                if type(uid) is str:
                    if uid in seen:
                        continue
                    add(uid)
                append(entry)
        return out

    # -- required -------------------------------------------------------------

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        if entries:
            self._summaries.pop((key["project_key"], key["session_id"]), None)
        await self.inner.append(key, await self._seal(key, entries))

    async def _seal(
        self, key: SessionKey, entries: list[SessionStoreEntry]
    ) -> list[SessionStoreEntry]:
        if len(entries) > _THREAD_AT:  # keep the event loop free while encrypting big appends
            return await anyio.to_thread.run_sync(self.seal, key, entries)
        return self.seal(key, entries)

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        """Every entry, or :class:`DecryptionError` if any envelope is damaged or forged.

        A line of the inner file that no longer parses (a flipped bit in the JSON framing, a
        cut in the middle of the file) is an error too, not a silent gap: the inner store
        would skip it. :meth:`salvage` reads what is intact.
        """
        stored, damaged = await self._stored(key)
        if stored is None:
            return None
        if damaged:
            raise DecryptionError(
                f"{_where(key)}: line{'s' if len(damaged) > 1 else ''} "
                f"{', '.join(map(str, damaged[:10]))}{' ...' if len(damaged) > 10 else ''} "
                "of the stored stream no longer parse (the file was damaged); nothing was read. "
                "EncryptedStore.salvage() returns the intact entries and lists the rest."
            )
        if _big(stored):  # keep the event loop free while decrypting big sessions
            return await anyio.to_thread.run_sync(self.open, key, stored)
        return self.open(key, stored)

    async def _stored(self, key: SessionKey) -> tuple[list[Any] | None, list[int]]:
        """The inner store's envelopes, and the lines it could not parse (FileStore says)."""
        if isinstance(self.inner, CheckedLoadStore):
            stored, damaged = await self.inner.load_checked(key)
            return stored, list(damaged)
        return await self.inner.load(key), []

    async def salvage(self, key: SessionKey) -> SalvageReport:
        """Read what can be read of a damaged session, and say what could not.

        Every envelope that parses and authenticates is opened; the others are listed in
        the report (``damaged_lines``: lines of the inner file that do not parse; ``failed``:
        envelopes that do not decrypt, with the reason). Nothing is written.
        """
        stored, damaged = await self._stored(key)
        report = SalvageReport(entries=[], damaged_lines=damaged, failed=[])
        if stored is None:
            return report
        seen: set[str] = set()
        for i, env in enumerate(stored):
            try:
                opened = self.open(key, [env])
            except DecryptionError as exc:
                report.failed.append((i, str(exc)))
                continue
            for entry in opened:
                uid = entry.get("uuid")
                if isinstance(uid, str):
                    if uid in seen:
                        continue
                    seen.add(uid)
                report.entries.append(entry)
        return report

    # -- rotation ---------------------------------------------------------------

    async def rekey(
        self,
        new_key: KeyLike,
        *,
        project_keys: Iterable[str] | None = None,
        old_keys: Sequence[KeyLike] = (),
    ) -> RekeyReport:
        """Re-encrypt every session with ``new_key``; see :func:`threadline.privacy.rekey`."""
        return await rekey(self, new_key, project_keys=project_keys, old_keys=old_keys)

    def rotate_key(self, new_key: KeyLike, old_keys: Sequence[KeyLike] = ()) -> None:
        """Encrypt with ``new_key`` from now on, and keep decrypting with every key held
        plus ``old_keys`` (what :func:`~threadline.privacy.rekey` does before rewriting)."""
        self._ring = self._ring.rotated(parse_key(new_key), [parse_key(k) for k in old_keys])


_THREAD_AT = 256
"""Appends of more entries than this are sealed in a worker thread."""
_THREAD_BYTES = 256 * 1024


def _big(stored: list[Any]) -> bool:
    """Whether opening ``stored`` is worth a worker thread (many entries, or much ciphertext)."""
    if len(stored) > _THREAD_AT:
        return True
    size = entries = 0
    for env in stored:
        enc = env.get("enc") if type(env) is dict else None
        if type(enc) is str:
            # v3 "lz4": the plaintext is several times the ciphertext ("v3:<8 hex>:lz4:...")
            size += len(enc) * (4 if enc.startswith("lz4", 12) else 1)
            n = env.get("n")
            entries += n if type(n) is int else 1
    return size > _THREAD_BYTES or entries > _THREAD_AT


@dataclass
class SalvageReport:
    """What :meth:`EncryptedStore.salvage` could read, and what it could not."""

    entries: list[SessionStoreEntry]
    """The entries of every intact envelope, in order (duplicates by uuid dropped)."""
    damaged_lines: list[int]
    """Lines (1-based) of the inner file that no longer parse (FileStore only)."""
    failed: list[tuple[int, str]]
    """(envelope index, reason) of the envelopes that parse but do not decrypt."""

    @property
    def complete(self) -> bool:
        """Nothing was lost."""
        return not self.damaged_lines and not self.failed


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
        failed: list[DecryptionError] = []

        async def fold(e: SessionStoreListEntry) -> None:
            key: SessionKey = {"project_key": project_key, "session_id": e["session_id"]}
            async with limiter:
                if failed:
                    return
                try:
                    entries = await self.load(key)
                except DecryptionError as exc:  # raised as is below, not in an exception group
                    # One damaged session must not hide the others: list it from what is
                    # intact. Nothing intact at all (a wrong key) stays an error.
                    salvaged = await self.salvage(key)
                    if not salvaged.entries:
                        failed.append(exc)
                        return
                    _log.warning("listing %s from its intact envelopes: %s", _where(key), exc)
                    entries = salvaged.entries
            summary = fold_session_summary(None, key, entries or [])
            have[e["session_id"]] = summary
            memo[(project_key, e["session_id"])] = (e["mtime"], summary)

        async with anyio.create_task_group() as tg:
            for e in stale:
                tg.start_soon(fold, e)
        if failed:
            raise failed[0]
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
        sealed = await self._seal(key, entries)
        await inner.append_conditional(key, sealed, expected_head=expected_head)
