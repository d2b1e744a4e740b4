"""The encrypted entry format (version 1).

An entry is stored as::

    {"type": <type>, "uuid": <uuid>, "enc": "v1:<key id>:<nonce>:<ciphertext>"}

- ``type`` is the original type for chain entries (``user``, ``assistant``,
  ``system``, ``progress``, ``attachment``) and ``"encrypted"`` for every
  other entry (titles, tags, summaries, snapshots, agent metadata...). Stores
  derive the session head from chain entries' types and uuids, so these two
  stay readable; nothing else does.
- ``uuid`` is kept when the entry has one (stores dedupe retried batches and
  track the head by it).
- ``enc``: the key id (a fingerprint, :func:`~threadline.privacy.key_id`), a
  random 96-bit nonce and the AES-256-GCM ciphertext + tag of the entry's
  compact JSON, both standard base64.

The associated data binds the ciphertext to where it is stored and to the
clear fields: ``threadline/v1 \\0 project_key \\0 session_id \\0 subpath \\0
uuid \\0 type``. Moving an entry to another session or subagent stream, or
editing its clear ``type``/``uuid``, makes it fail to open.
"""

from __future__ import annotations

import binascii
import json
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag

from .._jsonl import loads_line
from .._transcript import CHAIN_TYPES
from ..sessions._protocol import SessionKey, SessionStoreEntry
from ._errors import DecryptionError
from ._keys import Keyring

__all__ = ["ENCRYPTED_TYPE", "ad_prefix", "open_entry", "seal_entry"]

ENCRYPTED_TYPE = "encrypted"
_VERSION = "v1"


def ad_prefix(key: SessionKey) -> bytes:
    """The part of the associated data shared by every entry of ``key``."""
    parts = (_VERSION, key["project_key"], key["session_id"], key.get("subpath") or "")
    return ("threadline/" + "\x00".join(parts) + "\x00").encode("utf-8", "surrogatepass")


def _dumps(entry: Any) -> bytes:
    try:
        return orjson.dumps(entry)
    except (TypeError, orjson.JSONEncodeError):  # lone surrogates and the like
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=True).encode()


def seal_entry(ring: Keyring, prefix: bytes, entry: SessionStoreEntry) -> SessionStoreEntry:
    """The stored form of ``entry`` (see the module docs)."""
    etype = entry.get("type")
    clear_type = etype if etype in CHAIN_TYPES else ENCRYPTED_TYPE
    uid = entry.get("uuid")
    out: dict[str, Any] = {"type": clear_type}
    if isinstance(uid, str):
        out["uuid"] = uid
    else:
        uid = ""
    nonce = os.urandom(12)
    ad = prefix + f"{uid}\x00{clear_type}".encode("utf-8", "surrogatepass")
    ct = ring.current.encrypt(nonce, _dumps(entry), ad)
    out["enc"] = (
        f"{_VERSION}:{ring.current_id}:{binascii.b2a_base64(nonce, newline=False).decode()}:"
        f"{binascii.b2a_base64(ct, newline=False).decode()}"
    )
    return out  # type: ignore[return-value]


def open_entry(ring: Keyring, prefix: bytes, stored: Any, where: object) -> SessionStoreEntry:
    """The original entry from its stored form; :class:`DecryptionError` if it cannot be."""
    enc = stored.get("enc") if isinstance(stored, dict) else None
    if not isinstance(enc, str):
        raise DecryptionError(f"{where}: entry is not encrypted (written without EncryptedStore?)")
    try:
        version, kid, nonce_b64, ct_b64 = enc.split(":", 3)
    except ValueError:
        raise DecryptionError(f"{where}: malformed encrypted entry") from None
    if version != _VERSION:
        raise DecryptionError(f"{where}: unsupported encryption format {version!r}")
    aead = ring.get(kid)
    if aead is None:
        raise DecryptionError(
            f"{where}: encrypted with key {kid}, which is not among the keys given "
            f"({', '.join(ring.ids)}): wrong key? Nothing was changed; "
            "open the store with the right key (old keys may be added for reading).",
            key_id=kid,
        )
    uid = stored.get("uuid")
    clear_type = stored.get("type")
    ad = prefix + f"{uid if isinstance(uid, str) else ''}\x00{clear_type}".encode(
        "utf-8", "surrogatepass"
    )
    try:
        plain = aead.decrypt(binascii.a2b_base64(nonce_b64), binascii.a2b_base64(ct_b64), ad)
    except (InvalidTag, binascii.Error, ValueError):
        raise DecryptionError(
            f"{where}: encrypted entry failed authentication: it was modified, or moved "
            "from another session",
            key_id=kid,
        ) from None
    entry = loads_line(plain)
    if entry is None:
        raise DecryptionError(f"{where}: decrypted entry is not a JSON object", key_id=kid)
    return entry  # type: ignore[return-value]
