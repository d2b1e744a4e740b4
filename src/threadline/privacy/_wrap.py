"""Store wrappers that offer exactly the optional methods their inner store offers.

The official SDK (and :func:`~threadline.sessions.store_implements`) decides
whether a store supports ``list_sessions``, ``delete``... by looking the
method up on the store's *class*. A wrapper that always defined them would
claim support the inner store lacks; one that never did would hide it. So a
wrapper class is split in two: the base (``append``/``load``, always there)
and a class holding every optional method. Instantiating the base returns an
instance of a per-capability subclass (cached) that copies in only the
optional methods the wrapper can honour for that inner store.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["OPTIONAL_METHODS", "variant_of"]

OPTIONAL_METHODS = (
    "list_sessions",
    "list_session_summaries",
    "delete",
    "list_subkeys",
    "append_conditional",
    "get_head",
    "find_session",
)

_cache: dict[tuple[type, frozenset[str]], type] = {}
_lock = threading.Lock()


def variant_of(base: type, extras: type, offered: frozenset[str]) -> type:
    """The subclass of ``base`` with the methods of ``extras`` named in ``offered``.

    Methods ``base`` already defines itself (a user subclass) are kept.
    The result looks like ``base`` (same name and module), and
    ``isinstance(x, base)`` holds.
    """
    if getattr(base, "_threadline_variant", False):
        return base
    key = (base, offered)
    with _lock:
        cls = _cache.get(key)
        if cls is None:
            ns: dict[str, Any] = {
                name: extras.__dict__[name]
                for name in sorted(offered)
                if name in extras.__dict__ and name not in _defined_below(base)
            }
            ns.update(
                _threadline_variant=True,
                __module__=base.__module__,
                __qualname__=base.__qualname__,
                __doc__=base.__doc__,
                __slots__=(),
            )
            cls = _cache[key] = type(base.__name__, (base,), ns)
    return cls


def _defined_below(base: type) -> set[str]:
    """Names a user subclass of a wrapper defines itself (they win over the extras).

    The wrapper class itself sets ``_threadline_wrapper_root = True``.
    """
    names: set[str] = set()
    for klass in base.__mro__:
        if klass.__dict__.get("_threadline_wrapper_root", False):
            break
        names.update(klass.__dict__)
    return names
