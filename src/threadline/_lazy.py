"""The first import of a heavy part of threadline (its runtime through a lazy name, a CLI
command): the cyclic GC paused, dataclasses' generated methods from the cache."""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any

__all__ = ["import_first"]


def import_first(module: str, package: str) -> Any:
    """Import ``module`` (relative to ``package``). The first import of one not loaded yet
    (``query`` brings the whole runtime: a few hundred modules) runs with the cyclic GC
    paused: imports build long-lived objects (classes, functions, module dicts) whose young
    collections free nothing (≈ 5 ms of a fresh process's CPU). What the import built then
    joins the oldest generation, as :func:`threadline.transcript._jsonl.promote_young`
    does, and is left alone when the program uses :func:`gc.freeze` itself. Its
    dataclasses' generated methods are compiled once, not in every process
    (:mod:`threadline._dataclass_cache`)."""
    absolute = package + module if module.startswith(".") else module  # (one dot at most)
    if absolute in sys.modules:
        return importlib.import_module(module, package)
    from ._dataclass_cache import cached_compiles  # (see there: same classes, less compiling)

    with cached_compiles():
        if not gc.isenabled():
            return importlib.import_module(module, package)
        gc.disable()
        try:
            return importlib.import_module(module, package)
        finally:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
