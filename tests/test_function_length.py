"""Functions stay short: one over 60 lines (``def`` to its last line, nested functions
included) must say why in a docstring line starting with ``Long:``; otherwise split it
into named steps. The same rule ruff's C90 (max-complexity 15) applies to branching."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "threadline"
LIMIT = 60


def _long_functions() -> list[tuple[str, int, bool]]:
    """(where, lines, has a reason) for every function over the limit."""
    found: list[tuple[str, int, bool]] = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            if length <= LIMIT:
                continue
            doc = ast.get_docstring(node) or ""
            reason = any(line.strip().startswith("Long:") for line in doc.splitlines())
            found.append((f"{path.relative_to(SRC)}:{node.lineno} {node.name}", length, reason))
    return found


def test_long_functions_say_why() -> None:
    missing = [f"{where} ({n} lines)" for where, n, reason in _long_functions() if not reason]
    assert not missing, (
        "functions over 60 lines without a 'Long:' reason in their docstring "
        "(split them into named steps, or say why they are one piece): " + ", ".join(missing)
    )


def test_few_functions_are_long() -> None:
    """A ceiling, so 'Long:' stays the exception (12 at the time of writing)."""
    assert len(_long_functions()) <= 15
