"""The packages that load names on first use (PEP 562) say each name twice: once in an
``if TYPE_CHECKING:`` import block (what type checkers and IDEs see) and once in the
``_MODULES`` table ``__getattr__`` imports from. The two must name the same objects from
the same objects (possibly through a re-exporting module such as ``threadline.types``),
and ``__all__`` may list only those names, or a type checker and the
running program disagree about where a public name comes from."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import threadline

SRC = Path(threadline.__file__).parent


def _type_checking_imports(package: str) -> dict[str, str]:
    """``{public name: module (relative, as written)}`` from the ``if TYPE_CHECKING:`` block."""
    rel = package.split(".")[1:]
    tree = ast.parse((SRC.joinpath(*rel) / "__init__.py").read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for stmt in ast.walk(node):
            if isinstance(stmt, ast.ImportFrom):
                module = "." * stmt.level + (stmt.module or "")
                for alias in stmt.names:
                    names[alias.asname or alias.name] = module
            elif isinstance(stmt, ast.Assign):  # an alias such as InMemorySessionStore = ...
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = "<alias>"
    return names


@pytest.mark.parametrize("package", ["threadline", "threadline.sessions", "threadline.tools"])
def test_type_checking_block_and_lazy_table_agree(package: str) -> None:
    mod = importlib.import_module(package)
    lazy: dict[str, str] = mod._LAZY
    seen = _type_checking_imports(package)
    aliases = {n for n, m in seen.items() if m == "<alias>"}
    typed = {n: m for n, m in seen.items() if m != "<alias>"}
    only_typed = sorted(set(typed) - set(lazy))
    only_lazy = sorted(set(lazy) - set(seen))
    assert not only_typed, f"{package}: under TYPE_CHECKING only: {only_typed}"
    assert not only_lazy, f"{package}: in _MODULES only (type checkers miss them): {only_lazy}"
    other = sorted(
        n
        for n, m in typed.items()
        if getattr(importlib.import_module(m, package), n) is not getattr(mod, n)
    )
    assert not other, f"{package}: another object at run time than type checkers see: {other}"
    for name in aliases:
        assert name in lazy
        getattr(mod, name)
    if hasattr(mod, "__all__"):
        assert set(mod.__all__) <= set(lazy) | set(vars(mod)), package
