"""``httpx2`` and ``httpcore2`` (or ``httpcore2`` alone), imported without
``importlib.metadata`` when it is not loaded.

Both packages set ``__version__`` with ``importlib.metadata.version(...)`` at import time.
Importing ``importlib.metadata`` (``email``, ``zipfile``, ``csv``, ``importlib.resources``)
and scanning ``sys.path`` for the two distributions cost a fresh process ≈ 10-15 ms before
its first model request, for two strings the request never uses. While the two packages
import, :func:`load` puts a stand-in module under ``importlib.metadata``'s name whose
``version`` reads ``Version:`` from the distribution's ``METADATA`` next to the package (one
small file read), and which hands everything else (and any distribution it cannot find
that way) to the real ``importlib.metadata``: a thread importing ``importlib.metadata``
meanwhile gets a module that behaves as the real one. The stand-in is removed when the
import ends; nothing else changes (the packages, their objects, their behaviour).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from pathlib import Path
from typing import Any

__all__ = ["load"]

_LOCK = threading.Lock()
_REAL = "importlib.metadata"


def _real_metadata() -> types.ModuleType:
    """The real ``importlib.metadata`` (imported now if the stand-in is in its place)."""
    found = sys.modules.get(_REAL)
    if found is not None and not isinstance(found, _StandIn):
        return found
    if isinstance(found, _StandIn):
        del sys.modules[_REAL]
    return importlib.import_module(_REAL)


def dist_version(name: str) -> str | None:
    """``Version:`` of distribution ``name`` from ``<name>-<version>.dist-info/METADATA``
    beside its (imported or importing) package of the same name, or None when that is not
    exactly one readable file."""
    package = sys.modules.get(name)  # being imported: its __init__ asks for its version
    origin = getattr(package, "__file__", None)
    if not origin:
        return None
    site = Path(origin).parent.parent
    found = list(site.glob(f"{name}-*.dist-info"))
    if len(found) != 1:
        return None
    try:
        with (found[0] / "METADATA").open(encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    break  # the headers end: no version
    except OSError:
        return None
    return None


class _StandIn(types.ModuleType):
    """``importlib.metadata`` while :func:`load` imports the two packages (see above)."""

    def version(self, distribution_name: str) -> str:
        found = dist_version(distribution_name)
        if found is not None:
            return found
        version: Any = _real_metadata().version
        return str(version(distribution_name))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # `from ... import` asks for __path__: not a package
            raise AttributeError(name)
        return getattr(_real_metadata(), name)


def load(*, core_only: bool = False) -> None:
    """Import ``httpx2`` and ``httpcore2`` (see the module docstring); then ``import httpx2``
    finds it imported. ``core_only``: ``httpcore2`` alone (the wire client's direct path)."""
    names = ("httpcore2",) if core_only else ("httpcore2", "httpx2")
    if all(name in sys.modules for name in names):
        return
    with _LOCK:
        stand_in = None
        if _REAL not in sys.modules:
            stand_in = sys.modules[_REAL] = _StandIn(_REAL)
            importlib.metadata = stand_in  # `import importlib.metadata`
        try:
            for name in names:  # httpcore2 first (imported by httpx2's transports on first use)
                importlib.import_module(name)
        finally:
            if stand_in is not None:
                if sys.modules.get(_REAL) is stand_in:
                    del sys.modules[_REAL]
                if getattr(importlib, "metadata", None) is stand_in:
                    del importlib.metadata
