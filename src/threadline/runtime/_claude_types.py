"""The slash commands and plugins ``runtime/_claude_dir`` loads (split from it: a run whose
``.claude`` folders hold no command and that loads no plugin does not create the classes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Command", "ExpandedCommand", "Plugin"]

Raw = dict[str, Any]


@dataclass(frozen=True)
class Command:
    """One slash command (a Markdown file)."""

    name: str
    body: str
    path: Path
    description: str = ""
    argument_hint: str | None = None
    model: str | None = None
    allowed_tools: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plugin:
    """A local plugin: its name, folder and manifest."""

    name: str
    path: Path
    version: str | None = None
    manifest: Mapping[str, Any] = field(default_factory=dict)

    def init_entry(self) -> Raw:
        """Its entry in the init message's ``plugins`` (as the CLI reports it)."""
        entry: Raw = {"name": self.name, "path": str(self.path), "source": f"{self.name}@inline"}
        if self.version:
            entry["version"] = self.version
        return entry


@dataclass(frozen=True)
class ExpandedCommand:
    """A typed slash command: the two user entries the CLI records for it."""

    name: str
    args: str
    record: str
    """The first entry's content (``<command-message>...``)."""
    body: str
    """The meta entry's text: the expanded command."""
    command: Command | None = None
