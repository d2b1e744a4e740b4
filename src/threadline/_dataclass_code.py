"""threadline's dataclasses without compiling their generated methods in every process.

``@dataclass`` writes the source of each class's ``__init__``, ``__repr__``, ``__eq__``, ...
and ``exec``s it: compiling that text is most of what creating a dataclass costs (≈ 0.6 of
its ≈ 0.9 ms here), and a fresh process's first resume creates ≈ 70 of threadline's.
:func:`compiled_ahead` lets ``dataclasses`` find that work done: while it is active, the
``exec`` that ``dataclasses`` calls (a name of its module, shadowing the built-in) takes the
code object compiled ahead from the very same text, when the text is one of
:mod:`threadline._dataclass_table`'s and the class is threadline's; ``exec`` of a code object
compiled from a text (``compile(text, "<string>", "exec")``, as ``exec`` of the text does)
is ``exec`` of the text. Any other text, any other module's class, another Python (the table
holds the bytecode of one, by its magic number) gets the built-in ``exec``. The classes are
the same: same methods, code objects, defaults, closures (``tests/test_dataclass_code.py``
compares them, and the table's code with ``compile``).

The table is generated (``python -m threadline._dataclass_code --write``) from the classes
a one-turn query and a resume create; a class changed since then is compiled as before
until it is regenerated (``python -m threadline._dataclass_code`` prints how many of the
run's texts the table has; a test wants nine in ten).
"""

# No ``from __future__ import ...`` here: the built-in ``exec`` of a text compiles it with the
# future flags of the frame calling it, which is :func:`_exec`'s (``dataclasses`` has none).
import builtins
import dataclasses
import marshal
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import CodeType
from typing import Any

__all__ = ["compiled_ahead"]

_real_exec = builtins.exec
_lock = threading.Lock()
_depth = 0
_table: Mapping[str, bytes] | None = None
hits = 0
"""How many generated methods came from the table in this process (for the tests)."""


def _load_table() -> Mapping[str, bytes]:
    global _table
    if _table is None:
        from importlib.util import MAGIC_NUMBER

        from . import _dataclass_table as generated

        _table = generated.TABLE if generated.MAGIC == MAGIC_NUMBER else {}
    return _table


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
        blob = _load_table().get(source)
        if blob is not None:
            code = marshal.loads(blob)
            if type(code) is CodeType:
                global hits
                hits += 1
                source = code
    _real_exec(source, globals, locals, **kw)


@contextmanager
def compiled_ahead() -> Iterator[None]:
    """While active (re-entrant, any thread), ``dataclasses`` gets :func:`_exec` as its
    ``exec``; restored when the outermost one ends."""
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
            if _depth == 0 and vars(dataclasses).get("exec") is _exec:
                del dataclasses.exec  # type: ignore[attr-defined]


# -- generating the table ------------------------------------------------------------------

_TABLE_FILE = "_dataclass_table.py"


def collect() -> list[str]:
    """The texts ``dataclasses`` compiles for threadline's classes while a fresh process
    imports what a one-turn query and a resume use (run it in a new process)."""
    import importlib

    texts: list[str] = []

    def record(source: Any, globals: Any = None, locals: Any = None, /, **kw: Any) -> None:
        name = str(globals.get("__name__", "")) if type(globals) is dict else ""
        if type(source) is str and name.startswith("threadline.") and source not in texts:
            texts.append(source)
        _real_exec(source, globals, locals, **kw)

    dataclasses.exec = record  # type: ignore[attr-defined]
    try:
        threadline = importlib.import_module("threadline")
        threadline.AgentOptions  # noqa: B018  (the runtime's lazy names)
        threadline.query  # noqa: B018
        importlib.import_module("threadline.providers.anthropic")
    finally:
        del dataclasses.exec  # type: ignore[attr-defined]
    return texts


def render(texts: list[str]) -> str:
    """The table module for ``texts``, compiled by this Python."""
    from importlib.util import MAGIC_NUMBER

    lines = [
        '"""Generated by ``python -m threadline._dataclass_code --write`` (see',
        "``threadline._dataclass_code``): the code ``exec`` compiles from each text",
        '``dataclasses`` writes for threadline\'s classes, for one Python. Do not edit."""',
        "",
        f"MAGIC = {MAGIC_NUMBER!r}",
        "",
        "TABLE: dict[str, bytes] = {",
    ]
    for text in texts:
        code = compile(text, "<string>", "exec", dont_inherit=True)
        lines.append(f"    {text!r}: {marshal.dumps(code)!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from pathlib import Path

    target = Path(__file__).with_name(_TABLE_FILE)
    texts = collect()
    if sys.argv[1:] == ["--write"]:
        target.write_text(render(texts), encoding="utf-8")
    else:  # how many of the run's texts the table has (a missing one is compiled as before)
        table = _load_table()
        print(sum(text in table for text in texts), len(texts))
