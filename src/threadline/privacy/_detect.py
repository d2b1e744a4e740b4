"""Is a transcript file one that ``EncryptedStore`` wrote? (No cryptography needed to ask.)

Used where plaintext would otherwise be appended to an encrypted session: the runtime's
resume without the session's store, and the command line.
"""

from __future__ import annotations

import os

import orjson

__all__ = ["is_encrypted_transcript"]

_PEEK = 1 << 16
_PEEK_MAX_LINE = 8 << 20


def is_encrypted_transcript(path: str | os.PathLike[str]) -> bool:
    """Whether the transcript at ``path`` was written by ``EncryptedStore`` (envelope lines)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_PEEK)
            while b"\n" not in head and len(head) < _PEEK_MAX_LINE:
                more = f.read(_PEEK)
                if not more:
                    break
                head += more
    except OSError:
        return False
    for line in head.split(b"\n")[:3]:
        if not line.strip():
            continue
        if b'"enc"' not in line:
            return False
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return b'"enc":"v' in line and b'"message"' not in line
        enc = obj.get("enc") if isinstance(obj, dict) else None
        return isinstance(enc, str) and enc[:3] in ("v1:", "v2:", "v3:") and "message" not in obj
    return False
