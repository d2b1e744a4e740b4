"""``store_from_url``: a session store from a URL, encrypted stores included.

It sits in ``privacy/``, not in ``sessions/``: an ``encrypted+`` URL wraps the store in
:class:`threadline.privacy.EncryptedStore`, and ``privacy/`` is the floor above
``sessions/``. The parsing itself is :mod:`threadline.sessions._url` (URL forms are listed
there and in ``docs/stores.md``). The CLI (``--store``) and ``threadline serve`` use this
one function; it is public as ``threadline.privacy.store_from_url``. ``EncryptedStore`` is
imported when a URL asks for it: the ``cryptography`` extra is optional.
"""

from __future__ import annotations

import os

from .._exceptions import UserError
from ..sessions._protocol import SessionStore
from ..sessions._url import StoreUrl, display_url, parse_store_url, plain_store

__all__ = ["StoreUrl", "display_url", "parse_store_url", "store_from_url"]


def store_from_url(url: str, *, key: bytes | str | None = None) -> SessionStore:
    """The store ``url`` names, not yet opened (use ``async with store:``).

    ``encrypted+...`` URLs take the key from ``key`` when given, else from the
    environment variable named by the URL's ``key_env=`` (default
    ``$THREADLINE_ENCRYPTION_KEY``, which may hold several comma-separated keys: the
    first encrypts, all decrypt). Raises :class:`~threadline.UserError` for a bad URL or
    a missing key, and ``ImportError`` naming the extra to install for a missing driver.
    """
    spec = parse_store_url(url)
    store = plain_store(spec)
    if not spec.encrypted:
        return store
    try:
        from ._encrypted import DEFAULT_KEY_ENV, EncryptedStore
    except ImportError as exc:
        raise ImportError(
            f"store {spec.display} is encrypted: EncryptedStore needs the 'cryptography' and "
            "'lz4' packages: pip install 'threadline[crypto]'"
        ) from exc
    key_env = spec.key_env or DEFAULT_KEY_ENV
    if key is None and not os.environ.get(key_env, "").strip():
        raise UserError(
            f"store {spec.display} is encrypted and needs its key in ${key_env} "
            "(make a new one with: python -c "
            "'from threadline.privacy import generate_key; print(generate_key())')"
        )
    return EncryptedStore(store, key, key_env=key_env)
