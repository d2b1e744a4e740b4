"""Every import path the docs and the README name still works (a layout change must keep
them, or change the docs in the same commit)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
_FROM = re.compile(r"from (threadline(?:\.\w+)*) import \(?([\w, \n]+?)\)?(?:\n|$|`)")
_DOTTED = re.compile(r"`(threadline(?:\.\w+)+)")


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def _paths() -> list[str]:
    found: set[str] = set()
    for doc in DOCS:
        text = doc.read_text()
        for module, names in _FROM.findall(text):
            for name in re.split(r"[,\s]+", names):
                name = name.split(" as ")[0].strip()
                if name.isidentifier() and name != "as":
                    found.add(f"{module}.{name}")
        found.update(_DOTTED.findall(text))
    found.discard("threadline.X")  # docs/porting.md: "threadline.X is threadline.types.X"
    return sorted(found)


@pytest.mark.parametrize("path", _paths())
def test_documented_path_imports(path: str) -> None:
    _resolve(path)
