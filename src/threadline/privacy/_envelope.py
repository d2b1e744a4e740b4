"""The encrypted entry formats: version 3 (compressed batches, written by default), 2 and 1.

Version 3 is version 2 with a codec: the batch's JSON is compressed before it
is encrypted (AEAD over the compressed bytes), and the codec is named in the
envelope and bound by the associated data::

    {"type": <type>, "uuid": <id>, "n": <count>, "enc": "v3:<key id>:<codec>:<nonce>:<ciphertext>"}

- ``codec`` is ``lz4`` (an LZ4 block preceded by the plaintext length, 4 bytes
  little-endian: the ``store_size`` form of the ``lz4`` package) or ``raw``
  (not compressed: written when compression is off, or when it would not make
  the batch smaller).
- Associated data: ``threadline/v3 \\0 project_key \\0 session_id \\0 subpath
  \\0 u<uuid> (or -) \\0 type \\0 n \\0 codec``. Decompression only ever runs
  on bytes that passed authentication.
- Everything else (batching, clear fields, limits) is as in version 2.

Version 2 (still read; written with ``format="v2"``): one envelope holds a *batch* of entries (at most
:data:`MAX_BATCH_ENTRIES` entries or about :data:`MAX_BATCH_BYTES` bytes of
plaintext; a bigger append is cut into several envelopes)::

    {"type": <type>, "uuid": <id>, "n": <count>, "enc": "v2:<key id>:<nonce>:<ciphertext>"}

- The plaintext is the compact JSON *array* of the entries, in order.
- ``type``/``uuid`` are those of the batch's last chain entry (a ``user``,
  ``assistant``, ``system``, ``progress`` or ``attachment`` entry with a string
  ``uuid``: the kind of entry that moves a session's head). Stores track the
  head and deduplicate retries on these clear fields, so the inner store's head
  is the uuid of the last chain entry appended, as without encryption.
- An append is split after its last chain entry: the entries that follow it
  (titles, tags, metadata...) go in an envelope of their own, so a retry that
  adds such entries after a batch that already landed still stores them.
- A batch without a chain entry has ``type`` ``"encrypted"`` (not a chain
  type: it never moves the head) and, when every entry in it has a ``uuid``,
  the ``uuid`` ``"batch-"`` + 32 hex digits of the SHA-256 of those uuids (so
  an identical retry is deduplicated); otherwise no ``uuid`` (entries without
  one are never deduplicated, as in plain stores).
- ``n`` is the number of entries.

Associated data: ``threadline/v2 \\0 project_key \\0 session_id \\0 subpath \\0
u<uuid> (or -) \\0 type \\0 n``.

Version 1 (still read; written with ``format="v1"``): one envelope per entry::

    {"type": <type>, "uuid": <uuid>, "enc": "v1:<key id>:<nonce>:<ciphertext>"}

- ``type`` is the original type for chain entries and ``"encrypted"`` for
  every other entry; ``uuid`` is kept when the entry has one.
- The plaintext is the entry's compact JSON. Associated data:
  ``threadline/v1 \\0 project_key \\0 session_id \\0 subpath \\0 uuid \\0 type``.

In both, ``enc`` holds the key id (a fingerprint,
:func:`~threadline.privacy.key_id`), a random 96-bit nonce and the AES-256-GCM
ciphertext + tag, both standard base64. Moving an envelope to another session
or subagent stream, or editing its clear fields, makes it fail to open.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any, cast

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..sessions._protocol import SessionKey, SessionStoreEntry
from ..transcript._jsonl import loads_line
from ..transcript._views import CHAIN_TYPES
from ._errors import DecryptionError
from ._keys import Keyring

__all__ = [
    "CODECS",
    "ENCRYPTED_TYPE",
    "FORMATS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENTRIES",
    "ad_prefix",
    "open_batch",
    "open_entry",
    "seal_batch",
    "seal_entry",
]

ENCRYPTED_TYPE = "encrypted"
FORMATS = ("v1", "v2", "v3")
CODECS = ("lz4", "raw")
"""The codecs of version 3: ``lz4`` (compressed) and ``raw`` (not)."""
MAX_BATCH_ENTRIES = 1000
"""A v2 envelope holds at most this many entries..."""
MAX_BATCH_BYTES = 1 << 20
"""...and at most about this many bytes of plaintext (one bigger entry gets an envelope of its own)."""


def ad_prefix(key: SessionKey, version: str = "v1") -> bytes:
    """The part of the associated data shared by every envelope of ``key``."""
    parts = (version, key["project_key"], key["session_id"], key.get("subpath") or "")
    return ("threadline/" + "\x00".join(parts) + "\x00").encode("utf-8", "surrogatepass")


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # lone surrogates and the like
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode()


try:  # SIMD base64, 5-10x faster than binascii (the [crypto] extra installs it)
    import pybase64 as _pybase64
except ImportError:  # pragma: no cover - depends on the environment
    _pybase64 = None  # type: ignore[assignment]


def _b64(data: bytes) -> str:
    if _pybase64 is not None:
        return _pybase64.b64encode_as_string(data)
    return binascii.b2a_base64(data, newline=False).decode("ascii")  # pragma: no cover


def _unb64(text: str) -> bytes:
    """Standard base64 to bytes; ``binascii.Error`` (or ``ValueError``) if it is not."""
    if _pybase64 is not None:
        return _pybase64.b64decode(text, validate=True)
    return binascii.a2b_base64(text)  # pragma: no cover


def lz4_codec() -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
    """The ``lz4`` codec's (compress, decompress); ``ImportError`` with a hint if it is missing."""
    try:
        import lz4.block  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            "threadline's encrypted format v3 compresses with the 'lz4' package: "
            'pip install "threadline[crypto]" (or write uncompressed: '
            "EncryptedStore(..., compress=False))"
        ) from None

    def compress(data: bytes) -> bytes:
        return cast(bytes, lz4.block.compress(data, store_size=True))

    return compress, lz4.block.decompress


# -- version 1: one envelope per entry -------------------------------------------


def seal_entry(ring: Keyring, prefix: bytes, entry: SessionStoreEntry) -> SessionStoreEntry:
    """The v1 stored form of ``entry`` (``prefix`` from ``ad_prefix(key, "v1")``)."""
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
    out["enc"] = f"v1:{ring.current_id}:{_b64(nonce)}:{_b64(ct)}"
    return out  # type: ignore[return-value]


def _split(enc: str, version: str, where: object) -> tuple[str, str, str]:
    try:
        got, kid, nonce_b64, ct_b64 = enc.split(":", 3)
    except ValueError:
        raise DecryptionError(f"{where}: malformed encrypted entry") from None
    if got != version:
        raise DecryptionError(f"{where}: unsupported encryption format {got!r}")
    return kid, nonce_b64, ct_b64


def _aead(ring: Keyring, kid: str, where: object) -> AESGCM:
    aead = ring.get(kid)
    if aead is None:
        raise DecryptionError(
            f"{where}: encrypted with key {kid}, which is not among the keys given "
            f"({', '.join(ring.ids)}): wrong key? Nothing was changed; "
            "open the store with the right key (old keys may be added for reading).",
            key_id=kid,
        )
    return aead


def _decrypt(
    aead: AESGCM, nonce_b64: str, ct_b64: str, ad: bytes, kid: str, where: object
) -> bytes:
    try:
        return aead.decrypt(_unb64(nonce_b64), _unb64(ct_b64), ad)
    except (InvalidTag, binascii.Error, ValueError):
        raise DecryptionError(
            f"{where}: encrypted entry failed authentication: it was modified, or moved "
            "from another session",
            key_id=kid,
        ) from None


def open_entry(ring: Keyring, prefix: bytes, stored: Any, where: object) -> SessionStoreEntry:
    """The original entry from its v1 stored form; :class:`DecryptionError` if it cannot be."""
    enc = stored.get("enc") if isinstance(stored, dict) else None
    if not isinstance(enc, str):
        raise DecryptionError(f"{where}: entry is not encrypted (written without EncryptedStore?)")
    kid, nonce_b64, ct_b64 = _split(enc, "v1", where)
    aead = _aead(ring, kid, where)
    uid = stored.get("uuid")
    clear_type = stored.get("type")
    ad = prefix + f"{uid if isinstance(uid, str) else ''}\x00{clear_type}".encode(
        "utf-8", "surrogatepass"
    )
    entry = loads_line(_decrypt(aead, nonce_b64, ct_b64, ad, kid, where))
    if entry is None:
        raise DecryptionError(f"{where}: decrypted entry is not a JSON object", key_id=kid)
    return entry  # type: ignore[return-value]


# -- version 2: one envelope per batch --------------------------------------------


def _head_moving(entry: Any) -> bool:
    return entry.get("type") in CHAIN_TYPES and isinstance(entry.get("uuid"), str)


def _chunks(entries: list[SessionStoreEntry]) -> list[tuple[list[SessionStoreEntry], bytes]]:
    """``entries`` cut into batches within the limits, each with its plaintext (greedy, in order)."""
    if len(entries) <= MAX_BATCH_ENTRIES:
        blob = _dumps(entries)
        if len(blob) <= MAX_BATCH_BYTES:
            return [(entries, blob)]
    out: list[tuple[list[SessionStoreEntry], bytes]] = []
    start, size = 0, 0
    parts: list[bytes] = []
    for i, entry in enumerate(entries):
        part = _dumps(entry)
        if parts and (len(parts) >= MAX_BATCH_ENTRIES or size + len(part) + 1 > MAX_BATCH_BYTES):
            out.append((entries[start:i], b"[" + b",".join(parts) + b"]"))
            start, parts, size = i, [], 0
        parts.append(part)
        size += len(part) + 1
    out.append((entries[start:], b"[" + b",".join(parts) + b"]"))
    return out


def _clear_fields(batch: list[SessionStoreEntry]) -> tuple[str, str | None]:
    """The envelope's clear ``type`` and ``uuid`` (see the module docs)."""
    for entry in reversed(batch):
        if _head_moving(entry):
            return entry["type"], entry["uuid"]
    uuids = [e.get("uuid") for e in batch]
    if all(isinstance(u, str) for u in uuids):
        h = hashlib.sha256("\x00".join(uuids).encode("utf-8", "surrogatepass"))  # type: ignore[arg-type]
        return ENCRYPTED_TYPE, "batch-" + h.hexdigest()[:32]
    return ENCRYPTED_TYPE, None


def _ad2(prefix: bytes, uid: object, clear_type: object, n: object) -> bytes:
    u = f"u{uid}" if isinstance(uid, str) else "-"
    return prefix + f"{u}\x00{clear_type}\x00{n}".encode("utf-8", "surrogatepass")


def seal_batch(
    ring: Keyring,
    prefix: bytes,
    entries: list[SessionStoreEntry],
    *,
    version: str = "v2",
    compress: Callable[[bytes], bytes] | None = None,
) -> list[SessionStoreEntry]:
    """The v2 or v3 stored form of one append (``prefix`` from ``ad_prefix(key, version)``).

    v3 only: ``compress`` (the codec ``lz4``'s, see :func:`lz4_codec`), or ``None`` for ``raw``.
    """
    if not entries:
        return []
    last = len(entries) - 1
    while last >= 0 and not _head_moving(entries[last]):
        last -= 1
    groups = (
        [entries] if last in (-1, len(entries) - 1) else [entries[: last + 1], entries[last + 1 :]]
    )
    aead, kid = ring.current, ring.current_id
    v3 = version == "v3"
    out: list[SessionStoreEntry] = []
    for group in groups:
        for batch, plain in _chunks(group):
            clear_type, uid = _clear_fields(batch)
            env: dict[str, Any] = {"type": clear_type}
            if uid is not None:
                env["uuid"] = uid
            n = len(batch)
            env["n"] = n
            nonce = os.urandom(12)
            ad = _ad2(prefix, uid, clear_type, n)
            if v3:
                codec = "raw"
                if compress is not None:
                    packed = compress(plain)
                    if len(packed) < len(plain):
                        plain, codec = packed, "lz4"
                ct = aead.encrypt(nonce, plain, ad + b"\x00" + codec.encode())
                env["enc"] = f"v3:{kid}:{codec}:{_b64(nonce)}:{_b64(ct)}"
            else:
                ct = aead.encrypt(nonce, plain, ad)
                env["enc"] = f"v2:{kid}:{_b64(nonce)}:{_b64(ct)}"
            out.append(env)  # type: ignore[arg-type]
    return out


_decompressors: dict[str, Callable[[bytes], bytes]] = {}


def _decompressor(codec: str, kid: str, where: object) -> Callable[[bytes], bytes] | None:
    """How to undo ``codec`` (``None``: nothing to undo); :class:`DecryptionError` if unknown."""
    if codec == "raw":
        return None
    fn = _decompressors.get(codec)
    if fn is None:
        if codec != "lz4":
            raise DecryptionError(f"{where}: unsupported compression codec {codec!r}", key_id=kid)
        fn = _decompressors[codec] = lz4_codec()[1]
    return fn


def open_batch(
    ring: Keyring, prefixes: tuple[bytes, bytes], stored: dict[str, Any], enc: str, where: object
) -> list[Any]:
    """The entries of one v2 or v3 envelope (``enc`` is its ``enc`` field); :class:`DecryptionError` if it fails.

    ``prefixes``: ``ad_prefix(key, "v2")`` and ``ad_prefix(key, "v3")``. The
    items are not yet checked to be JSON objects: the caller does it while it walks them.
    """
    unpack = None
    if enc.startswith("v3:"):
        parts = enc.split(":", 4)
        if len(parts) != 5:
            raise DecryptionError(f"{where}: malformed encrypted entry")
        _, kid, codec, nonce_b64, ct_b64 = parts
        prefix = prefixes[1]
        unpack = _decompressor(codec, kid, where)
    else:
        kid, nonce_b64, ct_b64 = _split(enc, "v2", where)
        codec, prefix = "", prefixes[0]
    aead = _aead(ring, kid, where)
    n = stored.get("n")
    if type(n) is not int:
        raise DecryptionError(f"{where}: malformed encrypted entry (no entry count)", key_id=kid)
    ad = _ad2(prefix, stored.get("uuid"), stored.get("type"), n)
    if codec:
        ad += b"\x00" + codec.encode("utf-8", "surrogatepass")
    plain = _decrypt(aead, nonce_b64, ct_b64, ad, kid, where)
    if unpack is not None:
        try:  # authenticated: written by a holder of the key
            plain = unpack(plain)
        except Exception:
            raise DecryptionError(
                f"{where}: decrypted batch failed to decompress ({codec})", key_id=kid
            ) from None
    try:
        value = orjson.loads(plain)
    except orjson.JSONDecodeError:
        try:  # written by the json fallback (lone surrogates)
            value = json.loads(plain)
        except (ValueError, RecursionError):
            value = None
    except RecursionError:
        value = None
    if type(value) is not list or len(value) != n:
        raise DecryptionError(f"{where}: decrypted batch is not a list of {n} entries", key_id=kid)
    return value
