"""Encryption keys: parsing, generation, key ids and the keyring."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable
from typing import TypeAlias

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._exceptions import UserError

__all__ = ["KeyLike", "Keyring", "generate_key", "key_id", "parse_key"]

KeyLike: TypeAlias = "bytes | str"
"""A key as raw bytes, base64 text or hex text."""
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


def generate_key() -> str:
    """A new random 256-bit key, base64 (URL-safe) encoded: put it in ``THREADLINE_ENCRYPTION_KEY``."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def parse_key(key: bytes | str) -> bytes:
    """32 key bytes from raw bytes, 64 hex digits, or base64 (standard or URL-safe)."""
    if isinstance(key, (bytes, bytearray, memoryview)):
        raw = bytes(key)
    elif isinstance(key, str):
        text = key.strip()
        if _HEX.match(text):
            raw = bytes.fromhex(text)
        else:
            try:
                raw = base64.b64decode(
                    text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
                )
            except (binascii.Error, ValueError):
                raise UserError(
                    "Encryption key is neither base64 nor 64 hex digits "
                    "(make one with threadline.privacy.generate_key())"
                ) from None
    else:
        raise UserError(f"Encryption key must be bytes or str, not {type(key).__name__}")
    if len(raw) != 32:
        raise UserError(f"Encryption key must be 32 bytes (AES-256), got {len(raw)}")
    return raw


def key_id(key: bytes | str) -> str:
    """A short public fingerprint of ``key`` (8 hex digits), stored with each entry."""
    return hashlib.sha256(b"threadline-key-id\x00" + parse_key(key)).hexdigest()[:8]


class Keyring:
    """One key that encrypts and any number that only decrypt (during and after rotation)."""

    __slots__ = ("_by_id", "_raw", "current_id")

    def __init__(self, current: bytes, others: Iterable[bytes] = ()) -> None:
        self.current_id = key_id(current)
        self._by_id: dict[str, AESGCM] = {}
        self._raw: dict[str, bytes] = {}
        for raw in (current, *others):
            kid = key_id(raw)
            if kid not in self._raw:
                self._raw[kid] = raw
                self._by_id[kid] = AESGCM(raw)

    def rotated(self, new: bytes, extra: Iterable[bytes] = ()) -> Keyring:
        """A keyring whose current key is ``new``, keeping every key of this one for decryption."""
        return Keyring(new, (*self._raw.values(), *extra))

    @property
    def ids(self) -> list[str]:
        """The key ids this keyring can decrypt, current first."""
        return list(self._by_id)

    @property
    def current(self) -> AESGCM:
        return self._by_id[self.current_id]

    def get(self, kid: str) -> AESGCM | None:
        return self._by_id.get(kid)
