"""Per-session state of the stateful tools: background shells, the task list, the sandbox.

Most tools are stateless and shared by every session. A few keep something for the life
of a session: background shells (``Bash`` + ``TaskStop``), the task list (``TaskCreate``
... or ``TodoWrite``), the tools ``ToolSearch`` has loaded, the skills, the web-search
backend and the sandbox. The runtime creates one :class:`ToolState` per open session and
passes it in :attr:`ToolContext.state`; a tool called without one (a test, a caller
driving tools by hand) gets a state kept per ``(session_id, cwd)`` by
:func:`~threadline.tools._base.state_for`. The state imports only the leaf modules whose
objects it holds (shells, sandbox, skills, search backend), never a tool.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._shells import BackgroundShells

if TYPE_CHECKING:  # a run without a sandbox, search backend or skills does not load them
    from ._sandbox import Sandbox
    from ._search import SearchBackend
    from ._skills import Skill

__all__ = ["ToolState"]


@dataclass(kw_only=True, eq=False)
class ToolState:
    """What the stateful tools of one session share (see the module docstring)."""

    config_dir: Path | None = None
    """Claude Code's config dir (``tasks/<session>/`` lives there); None: the default."""
    sandbox: Sandbox | None = None
    """The Bash sandbox when ``sandbox.enabled`` (see :mod:`threadline.tools._sandbox`)."""
    search_backend: SearchBackend | None = None
    """What ``WebSearch`` asks; None: the tool answers with a clear error."""
    web_fetch_allow_private: bool = False
    """``WebFetch`` may fetch loopback / private-network addresses."""
    skills: Mapping[str, Skill] = field(default_factory=dict)
    """The skills ``Skill`` can load, by name."""
    deferred: dict[str, Any] = field(default_factory=dict)
    """Deferred tools by name (``ToolSearch`` finds and loads them)."""
    loaded: set[str] = field(default_factory=set)
    """Names of deferred tools ``ToolSearch`` has loaded (sent to the model from now on)."""
    shells: BackgroundShells = field(default_factory=BackgroundShells)
    todos: list[dict[str, Any]] = field(default_factory=list)
    """``TodoWrite``'s current list."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def aclose(self) -> None:
        """End the session: kill background shells."""
        await self.shells.aclose()
