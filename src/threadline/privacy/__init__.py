"""Privacy: keep secrets out of stored transcripts, and encrypt transcripts at rest.

- :class:`Redactor` finds credentials (API keys, tokens, private keys,
  passwords in URLs and ``.env`` lines...) and replaces each with
  ``[REDACTED:<rule>]``; :class:`Rule` adds your own.
- :class:`RedactingStore` wraps any store so every entry is redacted before
  it is written.
- :func:`store_from_url` makes any store, encrypted ones included, from a URL
  (``docs/stores.md``).
- :class:`EncryptedStore` wraps any store so it only holds AES-256-GCM
  ciphertext; :func:`generate_key` makes a key and :meth:`EncryptedStore.rekey`
  rotates it.

Layer them as ``RedactingStore(EncryptedStore(FileStore()))``: redact first,
then encrypt. Details: ``docs/privacy.md``.

``EncryptedStore`` needs the ``cryptography`` and (for its default,
compressed format) ``lz4`` packages: ``pip install threadline[crypto]``, which
also brings ``pybase64`` (fast base64) and ``google-re2`` (the redactor's
one-pass pre-filter). The redaction half needs none of them: without
``google-re2`` its pre-filter runs on ``re``, about four times slower.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import DecryptionError as DecryptionError
from ._redacting import RedactingStore as RedactingStore

if TYPE_CHECKING:
    from ._encrypted import EncryptedStore as EncryptedStore, SalvageReport as SalvageReport
    from ._keys import generate_key as generate_key, key_id as key_id
    from ._redact import Redactor as Redactor
    from ._rekey import RekeyReport as RekeyReport, rekey as rekey
    from ._rules import BUILTIN_RULES as BUILTIN_RULES, Rule as Rule
    from ._store_url import store_from_url as store_from_url

__all__ = [
    "BUILTIN_RULES",
    "DecryptionError",
    "EncryptedStore",
    "RedactingStore",
    "Redactor",
    "RekeyReport",
    "Rule",
    "SalvageReport",
    "generate_key",
    "key_id",
    "rekey",
    "store_from_url",
]

_LAZY = {
    "Redactor": "._redact",  # the rules compile on first use: a run that writes nothing
    "BUILTIN_RULES": "._rules",  # (persist_session=False) never loads them
    "Rule": "._rules",
    "EncryptedStore": "._encrypted",
    "SalvageReport": "._encrypted",
    "generate_key": "._keys",
    "key_id": "._keys",
    "RekeyReport": "._rekey",
    "rekey": "._rekey",
    "store_from_url": "._store_url",
}


def __getattr__(name: str) -> Any:
    """Import the encryption half on first use, with an install hint if ``cryptography`` is missing."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'threadline.privacy' has no attribute {name!r}")
    import importlib

    try:
        mod = importlib.import_module(module, __name__)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        if "cryptography" in str(exc):
            raise ImportError(
                "threadline.privacy.EncryptedStore needs the 'cryptography' package: "
                'pip install "threadline[crypto]"'
            ) from exc
        raise
    return getattr(mod, name)
