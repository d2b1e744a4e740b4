"""threadline's dataclasses with their generated methods compiled ahead
(``threadline._dataclass_code``): the table's code is what ``exec`` compiles from its texts,
the classes are the same with and without it, anything else compiles as before."""

from __future__ import annotations

import dataclasses
import json
import marshal
import subprocess
import sys
import types
from importlib.util import MAGIC_NUMBER
from types import CodeType
from typing import Any

import pytest

from threadline import _dataclass_code, _dataclass_table

_this_python = pytest.mark.skipif(
    _dataclass_table.MAGIC != MAGIC_NUMBER, reason="the table is another Python's bytecode"
)


def _filenames(code: CodeType) -> set[str]:
    names = {code.co_filename}
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _filenames(const)
    return names


@_this_python
def test_the_table_is_what_exec_compiles_from_its_texts() -> None:
    assert _dataclass_table.TABLE
    for text, blob in _dataclass_table.TABLE.items():
        code = marshal.loads(blob)
        assert code == compile(text, "<string>", "exec", dont_inherit=True), text
        assert _filenames(code) == {"<string>"}


@_this_python
def test_the_table_is_current_enough() -> None:
    """Most of the run's dataclass texts are in the table (a changed class is compiled as
    before: regenerate with ``python -m threadline._dataclass_code --write``)."""
    out = subprocess.run(
        [sys.executable, "-m", "threadline._dataclass_code"],
        capture_output=True,
        text=True,
        check=True,
    )
    found, wanted = map(int, out.stdout.split())
    assert wanted > 200 and found >= 0.9 * wanted, (found, wanted)


_DESCRIBE = r"""
import json, re, sys, types
import threadline._dataclass_code as dc
if sys.argv[1] == "off":
    dc._load_table = lambda: {}
import threadline
threadline.AgentOptions, threadline.query
import threadline.providers.anthropic, dataclasses

def code(c):
    consts = [code(k) if isinstance(k, types.CodeType) else repr(k) for k in c.co_consts]
    return [c.co_code.hex(), consts, c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars,
            c.co_filename, c.co_name, c.co_qualname, c.co_firstlineno, c.co_linetable.hex(),
            c.co_exceptiontable.hex(), c.co_flags, c.co_argcount, c.co_posonlyargcount,
            c.co_kwonlyargcount, c.co_stacksize, c.co_nlocals]

out = {}
for name, module in list(sys.modules.items()):
    if not name.startswith("threadline."):
        continue
    for cls in list(vars(module).values()):
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            continue
        if cls.__module__ != name:
            continue
        for attr, fn in vars(cls).items():
            fn = getattr(fn, "__wrapped__", fn)
            if isinstance(fn, types.FunctionType) and fn.__code__.co_filename == "<string>":
                cells = [repr(c.cell_contents) for c in fn.__closure__ or ()]
                out[f"{name}.{cls.__qualname__}.{attr}"] = [
                    code(fn.__code__), repr(fn.__defaults__), repr(fn.__kwdefaults__),
                    fn.__qualname__, repr(fn.__annotations__), cells,
                ]
print(re.sub(r" at 0x[0-9a-f]+", " at 0x", json.dumps([dc.hits, out])))
"""


def _describe(mode: str) -> tuple[int, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-c", _DESCRIBE, mode], capture_output=True, text=True, check=True
    )
    hits, methods = json.loads(out.stdout)
    return hits, methods


@_this_python
def test_the_classes_are_the_same_with_and_without_the_table() -> None:
    hits, ours = _describe("on")
    none, compiled = _describe("off")
    assert none == 0 and hits >= len(_dataclass_table.TABLE) > 100
    assert len(ours) > 200
    assert ours == compiled


def test_other_texts_and_modules_compile_as_before() -> None:
    """A text not in the table is the built-in ``exec``'s, with ``dataclasses``' (no) future
    flags: annotations stay objects (this test module's ``annotations`` future is not
    ``_exec``'s). Classes outside threadline never look the table up."""
    before = _dataclass_code.hits

    def make(name: str) -> type:
        module = types.ModuleType(name)
        sys.modules[name] = module
        try:
            source = "class Point:\n    x: int\n    y: 'list[str]' = None\n"
            exec(compile(source, "<test>", "exec", dont_inherit=True), vars(module))
            return dataclasses.dataclass(vars(module)["Point"])
        finally:
            del sys.modules[name]

    with _dataclass_code.compiled_ahead(), _dataclass_code.compiled_ahead():
        ours = make("threadline.not_in_the_table")
        other = make("somebody_else")
        assert vars(dataclasses)["exec"] is _dataclass_code._exec
    assert "exec" not in vars(dataclasses)  # restored by the outermost
    plain = make("threadline.not_in_the_table")
    for cls in (ours, other):
        init = cls.__init__  # type: ignore[misc]
        assert init.__annotations__ == plain.__init__.__annotations__  # type: ignore[misc]
        assert init.__annotations__["x"] is int
        assert init.__code__ == plain.__init__.__code__  # type: ignore[misc]
    assert _dataclass_code.hits == before


def test_the_lazy_import_uses_the_table_and_restores_exec() -> None:
    code = (
        "import dataclasses, threadline\n"
        "import threadline._dataclass_code as dc\n"
        "threadline.query\n"
        "print(dc.hits > 100 or dc._load_table() == {}, 'exec' in vars(dataclasses))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


def test_a_table_of_another_python_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_dataclass_code, "_table", None)
    monkeypatch.setattr(_dataclass_table, "MAGIC", b"\x00\x00\r\n")
    assert _dataclass_code._load_table() == {}




@_this_python
def test_the_cli_commands_load_as_the_lazy_names_do() -> None:
    """``threadline run`` imports the runtime through ``threadline._lazy.import_first``
    (the GC paused, the table used), not by a plain import."""
    code = (
        "import dataclasses, gc, importlib\n"
        "import threadline._dataclass_code as dc\n"
        "from threadline.cli import cli\n"
        "seen = []\n"
        "real = importlib.import_module\n"
        "def spy(name, package=None):\n"
        "    seen.append(gc.isenabled())\n"
        "    return real(name, package)\n"
        "importlib.import_module = spy\n"
        "cli.get_command(None, 'run')\n"
        "print(dc.hits > 100, 'exec' in vars(dataclasses), any(seen), gc.isenabled())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False", "True"]
