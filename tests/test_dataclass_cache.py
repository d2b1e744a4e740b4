"""threadline's dataclasses with their generated methods' code from a cache file written as
``.pyc`` files are (``threadline._dataclass_cache``): the classes are the same with the
cache cold, warm and off; the file is written only where Python would write bytecode and
read only when it is this interpreter's; anything else compiles as before."""

from __future__ import annotations

import dataclasses
import json
import marshal
import os
import subprocess
import sys
import types
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from typing import Any

import pytest

from threadline import _dataclass_cache

_DESCRIBE = r"""
import contextlib, json, re, sys, types
import threadline._dataclass_cache as dc
dc.cache_path = lambda: sys.argv[1]
if sys.argv[2] == "off":
    dc.cached_compiles = contextlib.nullcontext
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
print(re.sub(r" at 0x[0-9a-f]+", " at 0x", json.dumps([dc.hits, "exec" in vars(dataclasses), out])))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}


def _describe(
    cache: Path, mode: str, umask: int | None = None, **env: str
) -> tuple[int, bool, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-c", _DESCRIBE, str(cache), mode],
        capture_output=True,
        text=True,
        check=True,
        env=_env(**env),
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )
    hits, exec_left, methods = json.loads(out.stdout)
    return hits, exec_left, methods


def test_the_classes_are_the_same_with_the_cache_cold_warm_and_off(tmp_path: Path) -> None:
    cache = tmp_path / "__pycache__" / "_dataclass_methods.test.marshal"
    none, _, plain = _describe(cache, "off")
    assert none == 0 and not cache.exists() and len(plain) > 200
    cold_hits, exec_left, cold = _describe(cache, "on")
    assert cold_hits < 20 and not exec_left  # (a text the run compiled twice: its second use)
    magic, table = marshal.loads(cache.read_bytes())
    assert magic == MAGIC_NUMBER and len(table) > 200
    for text, blob in table.items():
        assert marshal.loads(blob) == compile(text, "<string>", "exec", dont_inherit=True)
    warm_hits, exec_left, warm = _describe(cache, "on")
    assert warm_hits == cold_hits + len(table) and not exec_left
    assert cold == plain
    assert warm == plain


def test_nothing_is_written_where_python_writes_no_bytecode(tmp_path: Path) -> None:
    cache = tmp_path / "_dataclass_methods.test.marshal"
    _describe(cache, "on", PYTHONDONTWRITEBYTECODE="1")
    assert not cache.exists()


def test_a_place_that_cannot_be_written_compiles_as_before(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    hits, exec_left, methods = _describe(tmp_path / "a-file" / "x.marshal", "on")
    assert hits < 20 and not exec_left and len(methods) > 200
    assert not [p for p in tmp_path.rglob("*") if "marshal" in p.name]  # nor a temporary one


def test_a_damaged_or_foreign_cache_is_not_used_and_is_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "_dataclass_methods.test.marshal"
    _, _, plain = _describe(cache, "off")
    _describe(cache, "on")
    _, table = marshal.loads(cache.read_bytes())
    text = next(iter(table))
    for damaged in (
        marshal.dumps((MAGIC_NUMBER, {text: _raising(table[text], SystemError)})),
        b"not marshal",
        marshal.dumps((b"\x00\x00\r\n", table)),  # another Python's bytecode
        marshal.dumps((MAGIC_NUMBER, {text: b"garbage"})),
        marshal.dumps((MAGIC_NUMBER, {text: marshal.dumps(42)})),
        marshal.dumps([1, 2, 3]),
    ):
        cache.write_bytes(damaged)
        hits, _, methods = _describe(cache, "on")
        assert hits < 20 and methods == plain
        assert marshal.loads(cache.read_bytes())[0] == MAGIC_NUMBER  # written anew


def _raising(blob: bytes, error: type[BaseException]) -> bytes:
    """``blob`` with one byte changed so that ``marshal.loads`` raises ``error`` (one byte
    of a code object's data does that in ≈ 6 % of cases: SystemError from codeobject.c)."""
    import random

    rnd = random.Random(0)
    for _ in range(100_000):
        b = bytearray(blob)
        b[rnd.randrange(len(b))] = rnd.randrange(256)
        try:
            marshal.loads(bytes(b))
        except error:
            return bytes(b)
        except Exception:
            pass
    raise AssertionError(f"no one-byte change of the blob raises {error.__name__}")


def test_the_cache_file_is_no_more_open_than_a_pyc(tmp_path: Path) -> None:
    """Written as ``.pyc`` files are (the source's mode plus the owner's write), whatever
    the umask: the file holds code every later process runs (was 0o666 less the umask)."""
    cache = tmp_path / "_dataclass_methods.test.marshal"
    _describe(cache, "on", umask=0)
    assert cache.stat().st_mode & 0o777 == 0o644


def test_a_module_without_file_compiles_as_before(tmp_path: Path) -> None:
    """In-memory importers may leave ``__file__`` and the spec's origin out: no cache, the
    lazy imports still work (was NameError from every lazy import)."""
    code = (
        "import threadline._dataclass_cache as dc\n"
        "del dc.__file__\n"
        "dc.__spec__ = None\n"
        "assert dc.cache_path() is None\n"
        "import threadline\n"
        "threadline.AgentOptions, threadline.query\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(PYTHONPYCACHEPREFIX=str(tmp_path)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert not list(tmp_path.rglob("*.marshal"))


def test_the_cache_path_is_pythons_bytecode_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    package = Path(_dataclass_cache.__file__).parent
    path = _dataclass_cache.cache_path()
    assert path is not None
    assert Path(path).parent == package / "__pycache__"
    assert Path(path).name == f"_dataclass_methods.{sys.implementation.cache_tag}.marshal"
    monkeypatch.setattr(sys, "pycache_prefix", "/somewhere/else")
    assert str(_dataclass_cache.cache_path()).startswith("/somewhere/else/")
    monkeypatch.setattr(sys.implementation, "cache_tag", None)
    assert _dataclass_cache.cache_path() is None


def test_other_texts_and_modules_compile_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text compiled here is what the built-in ``exec`` compiles with ``dataclasses``' (no)
    future flags: annotations stay objects (this test module's ``annotations`` future is not
    ``_exec``'s). Classes outside threadline never reach the cache."""
    monkeypatch.setattr(_dataclass_cache, "cache_path", lambda: str(tmp_path / "c.marshal"))
    monkeypatch.setattr(_dataclass_cache, "_loaded", {})
    monkeypatch.setattr(_dataclass_cache, "_new", {})
    monkeypatch.setattr(_dataclass_cache, "_used", set())
    monkeypatch.setattr(_dataclass_cache, "hits", 0)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)

    def make(name: str) -> type:
        module = types.ModuleType(name)
        sys.modules[name] = module
        try:
            source = "class Point:\n    x: int\n    y: 'list[str]' = None\n"
            exec(compile(source, "<test>", "exec", dont_inherit=True), vars(module))
            return dataclasses.dataclass(vars(module)["Point"])
        finally:
            del sys.modules[name]

    with _dataclass_cache.cached_compiles(), _dataclass_cache.cached_compiles():
        ours = make("threadline.not_cached_yet")
        compiled = dict(_dataclass_cache._new)
        assert len(compiled) >= 3 and _dataclass_cache.hits == 0  # __init__, __repr__, __eq__
        other = make("somebody_else")  # the same texts: never looked up for another module
        assert _dataclass_cache._new == compiled and _dataclass_cache.hits == 0
        again = make("threadline.not_cached_yet")
        assert _dataclass_cache.hits == len(compiled)
        assert vars(dataclasses)["exec"] is _dataclass_cache._exec
    assert "exec" not in vars(dataclasses)  # restored by the outermost
    assert _dataclass_cache._new == {}  # written
    assert marshal.loads((tmp_path / "c.marshal").read_bytes())[1] == compiled
    plain = make("threadline.not_cached_yet")
    for cls in (ours, other, again):
        init = cls.__init__  # type: ignore[misc]
        assert init.__annotations__ == plain.__init__.__annotations__  # type: ignore[misc]
        assert init.__annotations__["x"] is int
        assert init.__code__ == plain.__init__.__code__  # type: ignore[misc]
