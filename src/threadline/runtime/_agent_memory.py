"""A subagent's persistent memory (``AgentDefinition.memory``), as the CLI lays it out.

The CLI gives an agent with ``memory`` a folder that outlives the conversation and puts its
index in the agent's system prompt: ``<cwd>/.claude/agent-memory/<agent>/`` for
``project`` (shared through version control), ``<cwd>/.claude/agent-memory-local/<agent>/``
for ``local``, ``<config dir>/agent-memory/<agent>/`` for ``user``. The folder is created;
the section that follows the agent's prompt names it, says how to use it (threadline's
wording, shorter than the CLI's) and ends with the folder's ``MEMORY.md`` under a
``## MEMORY.md`` heading, as in the CLI. Writing there goes through the usual permission
rules. The agent name is made path-safe; a ``MEMORY.md`` past 25 000 characters is cut.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["memory_dir", "memory_section"]

_MAX_INDEX = 25_000
_SCOPE_NOTE = {
    "project": "This memory is project-scope and shared with your team through version "
    "control: keep to what helps anyone working on this project.",
    "local": "This memory is local to this machine's copy of the project: it is not shared.",
    "user": "This memory is user-scope: it follows the user across projects, so keep "
    "project specifics out of it.",
}


def memory_dir(agent: str, scope: str, *, cwd: str, config_dir: Path) -> Path | None:
    """The agent's memory folder for ``scope`` (None for an unknown scope)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", agent).strip(".-") or "agent"
    if scope == "project":
        return Path(cwd) / ".claude" / "agent-memory" / name
    if scope == "local":
        return Path(cwd) / ".claude" / "agent-memory-local" / name
    if scope == "user":
        return config_dir / "agent-memory" / name
    return None


def memory_section(agent: str, scope: str, *, cwd: str, config_dir: Path) -> str:
    """The system prompt section for the agent's memory (its folder created); ``""`` for
    an unknown scope."""
    folder = memory_dir(agent, scope, cwd=cwd, config_dir=config_dir)
    if folder is None:
        return ""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        index = (folder / "MEMORY.md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        index = ""
    index = index[:_MAX_INDEX]
    lines = [
        "# Persistent Agent Memory",
        "",
        f"You have a persistent, file-based memory at `{folder}/`. The folder exists: write "
        "to it directly with the Write tool.",
        "",
        "Keep what will help future conversations: who the user is and how they like to "
        "work, feedback on what to do or avoid, and context behind the work that the code "
        "and its history do not show. Save one topic per Markdown file and keep `MEMORY.md` "
        "as a short index of links to them; update or remove entries that turn out wrong. "
        "When the user asks you to remember or forget something, do it at once. Memories "
        "can be stale: check what they say against the files before relying on it.",
        "",
        _SCOPE_NOTE[scope],
        "",
        "## MEMORY.md",
        "",
        index.rstrip("\n") if index.strip() else "(empty)",
    ]
    return "\n".join(lines)
