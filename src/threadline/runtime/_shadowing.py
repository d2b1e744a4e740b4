"""Checks of ``can_use_tool`` when a run starts, as the official ``query()`` / ``connect()`` do.

- ``can_use_tool`` with ``permission_prompt_tool_name`` is a ``ValueError`` (the official
  SDK's wording; both route the same permission prompts).
- ``can_use_tool`` that some calls never reach emits :class:`CanUseToolShadowedWarning`:
  ``permission_mode="bypassPermissions"`` allows every call first, and an ``allowed_tools``
  entry naming a whole tool (``"Read"``, ``"Read()"``, ``"Read(*)"``) allows that tool
  first. Advisory only: shadowing can be intended.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from .._exceptions import CanUseToolShadowedWarning, UserError
from ._options import AgentOptions

__all__ = ["check_can_use_tool", "shadowed_message"]


def _whole_tool(entry: str) -> str | None:
    """The tool an ``allowed_tools`` entry allows outright, else None (as the CLI parses it)."""
    if not entry.strip():
        return None
    open_index = entry.find("(")
    if open_index == -1:
        return entry
    if open_index == 0 or not entry.endswith(")"):
        return None
    return entry[:open_index] if entry[open_index + 1 : -1] in ("", "*") else None


def shadowed_message(permission_mode: str | None, allowed_tools: Sequence[str]) -> str | None:
    """The official warning text for these options, or None when nothing is shadowed."""
    if permission_mode == "bypassPermissions":
        return (
            "can_use_tool will not be invoked: permission_mode "
            "'bypassPermissions' auto-approves every tool call (except "
            "explicit deny rules) before the callback is consulted. To gate "
            "every tool call, use a PreToolUse hook instead."
        )
    shadowed = list(
        dict.fromkeys(tool for entry in allowed_tools if (tool := _whole_tool(entry)) is not None)
    )
    if not shadowed:
        return None
    return (
        f"can_use_tool will not be invoked for: {', '.join(shadowed)}. "
        "An allowed_tools entry that allows a whole tool auto-approves it "
        "before the callback is consulted. To gate every tool call, use a "
        "PreToolUse hook; or narrow the entry so calls fall through to "
        "can_use_tool."
    )


def check_can_use_tool(options: AgentOptions) -> None:
    """Raise for the permission_prompt_tool_name conflict; warn when the callback is shadowed."""
    if options.can_use_tool is None:
        return
    if options.permission_prompt_tool_name:
        raise UserError(
            "can_use_tool callback cannot be used with permission_prompt_tool_name. "
            "Please use one or the other."
        )
    allowed = list(options.allowed_tools)
    if options.skills == "all" and "Skill" not in allowed:
        allowed.append("Skill")
    message = shadowed_message(options.permission_mode, allowed)
    if message is not None:
        warnings.warn(message, CanUseToolShadowedWarning, stacklevel=3)
