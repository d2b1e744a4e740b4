"""The floors are kept by a machine: no import cycle among threadline's modules (counting
imports inside functions and under ``TYPE_CHECKING``), and the import-linter ``floors``
contract in ``pyproject.toml`` holds, and fails when a lower floor imports a higher one."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "threadline"
LINT = Path(sys.executable).parent / "lint-imports"


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_pkg else parts), is_pkg


def import_graph() -> dict[str, set[str]]:
    """Module -> internal modules it imports, at any place in the file."""
    names = {_module_name(p)[0]: p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in names}
    for module, path in names.items():
        is_pkg = _module_name(path)[1]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_pkg else module.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    prefix = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    prefix = node.module or ""
                for alias in node.names:
                    full = f"{prefix}.{alias.name}"
                    targets.append(full if full in names else prefix)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[module].update(t for t in targets if t in names and t != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 100 and "threadline.runtime._loop" in graph
    assert sum(len(v) for v in graph.values()) > 500  # every kind of import is counted
    assert cycles(graph) == []


def _lint(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_floors_contract_is_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "KEPT" in result.stdout


@pytest.mark.parametrize(
    "injected",
    [
        "from threadline.runtime import _loop\n",
        "def _late() -> None:\n    from threadline.runtime import _loop\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from threadline.runtime import _loop\n",
    ],
    ids=["top-level", "in-a-function", "type-checking"],
)
def test_floors_contract_fails_on_an_upward_import(tmp_path: Path, injected: str) -> None:
    """A copy of the package whose transcript floor imports the runtime breaks the contract,
    however the import is written."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PKG, tmp_path / "src" / "threadline", ignore=shutil.ignore_patterns("*.pyc"))
    victim = tmp_path / "src" / "threadline" / "transcript" / "_jsonl.py"
    victim.write_text(victim.read_text() + "\n" + injected)
    result = _lint(tmp_path, {"PYTHONPATH": str(tmp_path / "src")})
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    assert "threadline.transcript._jsonl -> threadline.runtime._loop" in result.stdout


def test_no_module_imports_another_modules_private_names() -> None:
    """A name another module needs is part of its interface: public, and in its ``__all__``
    (importing a private submodule, ``from .runtime import _loop``, is fine)."""
    modules = {_module_name(p)[0] for p in PKG.rglob("*.py")}
    found: list[str] = []
    for path in PKG.rglob("*.py"):
        module, is_pkg = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = module.split(".") if is_pkg else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1] if node.level else []
            prefix = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                name = alias.name
                private = name.startswith("_") and not name.startswith("__")
                if private and f"{prefix}.{name}" not in modules:
                    found.append(f"{module} imports {prefix}.{name}")
    assert found == []
