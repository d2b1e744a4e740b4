"""Key rotation: re-encrypt every session of an :class:`EncryptedStore` with a new key.

Requirements: the inner store must offer ``list_sessions``, ``list_subkeys``
and ``delete`` (the protocol has no "replace", so a session is rewritten by
delete + append), and the projects must be known: ``project_keys=...``, or
found on disk when the innermost store is a :class:`~threadline.FileStore`.
Run it while nothing else writes to the store: an append racing a session's
rewrite could be lost.

Nothing is lost if the rotation stops half-way (crash, Ctrl-C, disk full):

1. a session is loaded and fully decrypted first; any entry that cannot be
   opened raises :class:`DecryptionError` before anything is changed;
2. a backup copy, encrypted with the new key, is written under the project
   key ``<project_key>.threadline-rekey``, ending with a completion marker;
3. the session is deleted and re-appended with the new key, then the backup
   is deleted.

A later ``rekey`` (with the new key) first finishes any interrupted session
from its complete backup, and drops incomplete backups (their session was not
touched yet). Sessions already fully on the new key are skipped, so running
``rekey`` again is cheap and safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from .._exceptions import UserError
from ..sessions._protocol import (
    SessionKey,
    SessionStore,
    SessionStoreEntry,
    innermost_store,
    store_implements,
)
from ..sessions.file import FileStore
from ._keys import KeyLike

__all__ = ["BACKUP_SUFFIX", "RekeyReport", "rekey"]

BACKUP_SUFFIX = ".threadline-rekey"
_DONE = "threadline-rekey-complete"


class Rekeyable(Protocol):
    """What rotation needs of an encrypting wrapper (:class:`~threadline.privacy.EncryptedStore`
    has it): the store under it, the key it now encrypts with, which stored prefixes that
    key writes, opening stored envelopes, and switching keys."""

    @property
    def inner(self) -> SessionStore: ...

    @property
    def key_id(self) -> str: ...

    def written_prefixes(self) -> tuple[str, ...]: ...

    def open(self, key: SessionKey, stored: Iterable[Any]) -> list[SessionStoreEntry]: ...

    def rotate_key(self, new_key: KeyLike, old_keys: Sequence[KeyLike] = ()) -> None: ...

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None: ...

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None: ...


@dataclass
class RekeyReport:
    """What :func:`rekey` did."""

    key_id: str
    """The id of the new key."""
    sessions_rewritten: int = 0
    sessions_current: int = 0
    """Sessions already entirely on the new key (left untouched)."""
    entries_rewritten: int = 0
    recovered: int = 0
    """Sessions of an interrupted earlier rotation restored from their backup."""


async def rekey(
    store: Rekeyable,
    new_key: KeyLike,
    *,
    project_keys: Iterable[str] | None = None,
    old_keys: Sequence[KeyLike] = (),
) -> RekeyReport:
    """Re-encrypt every session of ``store`` (main transcripts and subagents) with ``new_key``.

    Afterwards ``store`` encrypts with ``new_key`` and still decrypts with
    every key it had (plus ``old_keys``); a store opened with only an old key
    can no longer read the rewritten sessions. See the module docs for the
    requirements and the crash-safety guarantees.
    """
    inner = store.inner
    missing = [
        m for m in ("list_sessions", "list_subkeys", "delete") if not store_implements(inner, m)
    ]
    if missing:
        raise UserError(f"rekey needs an inner store with {', '.join(missing)}")
    projects = list(project_keys) if project_keys is not None else _discover(inner)
    store.rotate_key(new_key, old_keys)
    report = RekeyReport(key_id=store.key_id)
    for pk in dict.fromkeys(projects):
        if pk.endswith(BACKUP_SUFFIX):
            continue
        await _recover(store, pk, report)
        for listed in await inner.list_sessions(pk):
            await _rekey_session(store, pk, listed["session_id"], report)
    return report


def _discover(inner: Any) -> list[str]:
    """Project keys of the innermost FileStore (through wrappers' ``inner``)."""
    inner = innermost_store(inner)
    if not isinstance(inner, FileStore):
        raise UserError("rekey cannot list the projects of this store: pass project_keys=[...]")
    try:
        names = inner.project_dirs()
    except FileNotFoundError:
        return []
    return sorted({n[: -len(BACKUP_SUFFIX)] if n.endswith(BACKUP_SUFFIX) else n for n in names})


async def _keys_of(store: Rekeyable, main: SessionKey) -> list[SessionKey]:
    subs = await store.inner.list_subkeys(
        {"project_key": main["project_key"], "session_id": main["session_id"]}
    )
    keys = [main]
    for sub in subs:
        key: SessionKey = {
            "project_key": main["project_key"],
            "session_id": main["session_id"],
            "subpath": sub,
        }
        keys.append(key)
    return keys


def _on_key(stored: list[Any], prefix: tuple[str, ...]) -> bool:
    """Whether every envelope of ``stored`` starts with one of ``prefix`` (format, key id, codec)."""
    return all(isinstance(e, dict) and str(e.get("enc", "")).startswith(prefix) for e in stored)


async def _rekey_session(store: Rekeyable, pk: str, sid: str, report: RekeyReport) -> None:
    inner = store.inner
    main: SessionKey = {"project_key": pk, "session_id": sid}
    keys = await _keys_of(store, main)
    stored = [list(await inner.load(k) or []) for k in keys]
    prefix = store.written_prefixes()
    if all(_on_key(batch, prefix) for batch in stored):
        report.sessions_current += 1
        return
    plain = [store.open(k, batch) for k, batch in zip(keys, stored)]  # raises before any change
    backup = [_backup_key(k) for k in keys]
    await inner.delete(backup[0])  # a stale incomplete backup, if any
    for bk, entries in zip(backup[1:], plain[1:]):
        await store.append(bk, entries)
    await store.append(backup[0], [*plain[0], cast(SessionStoreEntry, {"type": _DONE})])
    await _replace(store, keys, plain)
    await inner.delete(backup[0])
    report.sessions_rewritten += 1
    report.entries_rewritten += sum(len(p) for p in plain)


async def _replace(
    store: Rekeyable, keys: list[SessionKey], plain: list[list[SessionStoreEntry]]
) -> None:
    await store.inner.delete(keys[0])
    for k, entries in zip(keys, plain):
        if entries:
            await store.append(k, entries)


def _backup_key(key: SessionKey) -> SessionKey:
    out: SessionKey = {
        "project_key": key["project_key"] + BACKUP_SUFFIX,
        "session_id": key["session_id"],
    }
    if key.get("subpath"):
        out["subpath"] = key["subpath"]
    return out


def _original_key(backup: SessionKey, pk: str) -> SessionKey:
    out: SessionKey = {"project_key": pk, "session_id": backup["session_id"]}
    if backup.get("subpath"):
        out["subpath"] = backup["subpath"]
    return out


async def _recover(store: Rekeyable, pk: str, report: RekeyReport) -> None:
    """Finish (or drop) the backups an interrupted rotation left in project ``pk``."""
    inner = store.inner
    for listed in await inner.list_sessions(pk + BACKUP_SUFFIX):
        bmain: SessionKey = {"project_key": pk + BACKUP_SUFFIX, "session_id": listed["session_id"]}
        entries = await store.load(bmain) or []
        if entries and entries[-1].get("type") == _DONE:
            bkeys = await _keys_of(store, bmain)
            plain = [entries[:-1], *[await store.load(k) or [] for k in bkeys[1:]]]
            keys = [_original_key(k, pk) for k in bkeys]
            await _replace(store, keys, plain)
            report.recovered += 1
        await inner.delete(bmain)
