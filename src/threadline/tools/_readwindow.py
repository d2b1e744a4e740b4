"""The lines the Read tool returns, streamed from the file (split from ``tools/_files`` so
that a run that never reads a file does not create the dataclass)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Window", "read_window"]


@dataclass(frozen=True)
class Window:
    lines: list[str]
    start: int  # 1-based number of the first line in ``lines``
    total: int
    binary: bool = False


def read_window(path: Path, first: int, limit: int, max_chars: int) -> Window:
    """Lines ``first`` (0-based) .. ``first+limit`` of a text file, streaming it; lines
    longer than ``max_chars`` are cut."""
    with path.open("rb") as fh:
        if b"\0" in fh.read(8192):
            return Window([], first + 1, 0, binary=True)
        fh.seek(0)
        lines: list[str] = []
        total = 0
        for total, raw in enumerate(fh, start=1):
            if first < total <= first + limit:
                text = raw.decode("utf-8", errors="replace").rstrip("\n").removesuffix("\r")
                if len(text) > max_chars:
                    text = text[:max_chars] + "... [line truncated]"
                lines.append(text)
        return Window(lines, first + 1, total)
