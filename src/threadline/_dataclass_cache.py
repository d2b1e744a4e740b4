"""threadline's dataclasses without compiling their generated methods in every process.

``@dataclass`` writes the source of each class's ``__init__``, ``__repr__``, ``__eq__``, ...
and ``exec``\\ s it: compiling that text is most of what creating a dataclass costs (≈ 0.6
of its ≈ 0.9 ms here), and a fresh process's first resume creates ≈ 70 of threadline's.
While :func:`cached_compiles` is active (threadline's lazy imports,
:func:`threadline._lazy.import_first`), the ``exec`` that ``dataclasses`` calls (a name of
its module, shadowing the built-in) runs, for a class of threadline, the code compiled from
that very text: ``compile(text, "<string>", "exec", dont_inherit=True)``, which is what
``exec`` of the text compiles (``dataclasses`` has no future flags). That code comes from a
cache file when an earlier process compiled it, else it is compiled here and the file is
written when the import ends, as Python writes a ``.pyc`` file: in the package's
``__pycache__`` (``sys.pycache_prefix`` honoured), named for the interpreter and the
optimisation level (``_dataclass_methods.cpython-311.marshal``), holding the bytecode's magic
number (another one's file is not used), not when ``sys.dont_write_bytecode`` is set,
atomically (a temporary file renamed), and not at all where it cannot be (a read-only
install compiles as before). Any other text, or another module's class, gets the built-in
``exec``. The classes are the same with and without the cache
(``tests/test_dataclass_cache.py`` compares every generated method of a run).
"""

# No ``from __future__ import ...`` here: the built-in ``exec`` of a text compiles it with the
# future flags of the frame calling it, which is :func:`_exec`'s (``dataclasses`` has none).
import builtins
import dataclasses
import marshal
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import MAGIC_NUMBER, cache_from_source
from types import CodeType
from typing import Any

__all__ = ["cached_compiles"]

_real_exec = builtins.exec
_lock = threading.Lock()
_depth = 0
_loaded: dict[str, bytes] | None = None
"""The cache file's texts and their marshalled code (read once per process)."""
_new: dict[str, bytes] = {}
"""What this process compiled that the file did not have (written when the import ends)."""
_used: set[str] = set()
hits = 0
"""How many generated methods came from the cache file in this process (for the tests)."""
_LIMIT = 4096
"""Texts kept in the file at most: past it, only the ones this process used are kept."""


def _source() -> str | None:
    """This module's file (``__file__`` is optional: in-memory importers leave it out)."""
    origin = globals().get("__file__") or getattr(__spec__, "origin", None)
    return origin if isinstance(origin, str) and os.path.isabs(origin) else None


def cache_path() -> str | None:
    """Where the cache file of this interpreter is (``None``: no bytecode cache here)."""
    source = _source()
    if source is None:
        return None
    try:
        pyc = cache_from_source(os.path.join(os.path.dirname(source), "_dataclass_methods.py"))
    except Exception:  # NotImplementedError: sys.implementation.cache_tag is None
        return None
    return pyc[: -len(".pyc")] + ".marshal"


def _mode() -> int:
    """The file's mode: a ``.pyc`` file's (the source's, plus the owner's write), never
    more open than ``0o644`` wants (the file holds code every process here will run)."""
    try:
        mode = (os.stat(_source() or "").st_mode & 0o777) | 0o200
    except OSError:
        mode = 0o644
    return mode & 0o644


def _read() -> dict[str, bytes]:
    global _loaded
    if _loaded is None:
        _loaded = {}
        path = cache_path()
        try:
            if path is not None:
                with open(path, "rb") as fh:
                    magic, table = marshal.loads(fh.read())
                if magic == MAGIC_NUMBER and type(table) is dict:
                    _loaded = {
                        k: v for k, v in table.items() if type(k) is str and type(v) is bytes
                    }
        except Exception:  # (marshal also raises SystemError, MemoryError on damaged data)
            pass  # missing, unreadable or not ours: compiled as before (and written anew)
    return _loaded


def _code_for(text: str) -> CodeType:
    global hits
    _used.add(text)
    blob = _read().get(text) or _new.get(text)
    if blob is not None:
        try:
            code = marshal.loads(blob)
        except Exception:  # (damaged: EOFError, ValueError, TypeError, SystemError, ...)
            code = None
        if type(code) is CodeType:
            hits += 1
            return code
    code = compile(text, "<string>", "exec", dont_inherit=True)
    _new[text] = marshal.dumps(code)
    return code


def _exec(source: Any, globals: Any = None, locals: Any = None, /, **kw: Any) -> None:
    """``exec`` as ``dataclasses`` calls it (``exec(text, globals, namespace)``)."""
    if globals is None:  # the caller's frame, as the built-in takes it (dataclasses never)
        frame = sys._getframe(1)
        globals = frame.f_globals
        locals = frame.f_locals if locals is None else locals
    elif (
        not kw
        and type(source) is str
        and type(globals) is dict
        and str(globals.get("__name__", "")).startswith("threadline.")
    ):
        source = _code_for(source)
    _real_exec(source, globals, locals, **kw)


_unwritable = False
"""A write failed here (a read-only install): not tried again in this process."""


def _write() -> None:
    """The file with what this process compiled added (atomically; failures ignored)."""
    global _unwritable
    path = cache_path()
    if path is None or sys.dont_write_bytecode or not _new or _unwritable:
        return
    known = _read()
    table = {**known, **_new}
    if len(table) > _LIMIT:
        table = {text: table[text] for text in _used if text in table}
    data = marshal.dumps((MAGIC_NUMBER, table))
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags | getattr(os, "O_BINARY", 0), _mode())
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        _unwritable = True
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return
    known.update(_new)
    _new.clear()


@contextmanager
def cached_compiles() -> Iterator[None]:
    """While active (re-entrant, any thread), ``dataclasses`` gets :func:`_exec` as its
    ``exec``; restored, and the cache file written, when the outermost one ends."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1 and "exec" not in vars(dataclasses):
            dataclasses.exec = _exec  # type: ignore[attr-defined]
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                if vars(dataclasses).get("exec") is _exec:
                    del dataclasses.exec  # type: ignore[attr-defined]
                try:
                    _write()
                except Exception:  # (a cache is never a reason for an import to fail)
                    pass
