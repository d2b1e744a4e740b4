"""The instruction files ``runtime/_memory`` loads (split from it: a run whose folders hold
no ``CLAUDE.md`` and whose tools touch none does not create the classes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MemoryFile", "MemoryType", "NestedFile"]

Raw = dict[str, Any]
MemoryType = Literal["User", "Project", "Local"]


@dataclass(frozen=True)
class MemoryFile:
    """One instruction file as the CLI records it (``attachment.files[]``)."""

    path: str
    type: MemoryType
    content: str

    def as_dict(self) -> Raw:
        return {"path": self.path, "type": self.type, "content": self.content}


@dataclass(frozen=True)
class NestedFile:
    """A memory file of a subfolder, loaded when a tool touches a file under it."""

    path: str
    type: MemoryType
    content: str
    """As on disk (not stripped)."""
    parent: str | None = None
    """The file that imported it."""
    globs: tuple[str, ...] = ()
    """A conditional rule's ``paths`` (its ``content`` is the text after the front matter)."""
    raw: str | None = None
    """A conditional rule's whole file."""
