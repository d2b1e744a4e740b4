"""Tool permissions: rules, modes and the ``can_use_tool`` callback.

Decision order for one tool call (the first that decides wins), as in Claude Code:

1. a ``disallowed_tools`` rule matches → deny;
2. a ``PreToolUse`` hook decided (allow / deny / ask) — handled by the loop;
3. an ``allowed_tools`` rule matches → allow;
4. the permission mode: ``bypassPermissions`` allows everything; ``plan`` denies every tool
   that is not read-only; ``acceptEdits`` allows file edits (Write, Edit, NotebookEdit);
   read-only tools are always allowed except under ``dontAsk``;
5. ``can_use_tool`` is asked;
6. otherwise deny, with Claude Code's wording.

Rules are tool names (``"Read"``, ``"mcp__calc__add"``, ``"mcp__calc"`` for a whole server,
``"mcp__calc__*"``) or ``Tool(pattern)`` rules: ``Bash(git status)`` (exact command),
``Bash(npm run:*)`` / ``Bash(npm run *)`` (prefix), and for file tools a glob on the path
(``Edit(src/**)``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .._config_types import PermissionBehavior, PermissionUpdateDestination

__all__ = [
    "CanUseTool",
    "PermissionMode",
    "PermissionResult",
    "PermissionResultAllow",
    "PermissionResultDeny",
    "PermissionRuleValue",
    "PermissionRules",
    "PermissionUpdate",
    "ToolPermissionContext",
    "denial_message",
    "mode_decision",
]

PermissionMode = Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"]

_EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
_PATH_KEYS = ("file_path", "path", "notebook_path")


@dataclass
class PermissionRuleValue:
    """One permission rule: a tool, and optionally what it matches (``"npm test"`` for Bash).

    ``rule_content=None`` (or ``""``) makes a rule that covers every use of the tool.
    """

    tool_name: str
    rule_content: str | None = None


_RULE_UPDATES = ("addRules", "replaceRules", "removeRules")


@dataclass
class PermissionUpdate:
    """A permission change proposed with an allow (``PermissionResultAllow.updated_permissions``).

    Same fields and wire form (:meth:`to_dict` / :meth:`from_dict`) as the official class.
    """

    type: Literal[
        "addRules",
        "replaceRules",
        "removeRules",
        "setMode",
        "addDirectories",
        "removeDirectories",
    ]
    rules: list[PermissionRuleValue] | None = None
    behavior: PermissionBehavior | None = None
    mode: PermissionMode | None = None
    directories: list[str] | None = None
    destination: PermissionUpdateDestination | None = None
    """``"session"`` (also for ``None``), ``"localSettings"``, ``"projectSettings"`` or
    ``"userSettings"``."""

    def to_dict(self) -> dict[str, Any]:
        """The control-protocol dict (camelCase); raises ``ValueError`` when a needed field is unset."""
        result: dict[str, Any] = {"type": self.type, "destination": self.destination or "session"}
        if self.type in _RULE_UPDATES:
            if self.rules is None:
                raise ValueError(
                    f"PermissionUpdate(type={self.type!r}) has no rules. "
                    "Set rules to a list of PermissionRuleValue."
                )
            if self.behavior is None:
                raise ValueError(
                    f"PermissionUpdate(type={self.type!r}) has no behavior. "
                    "Set behavior to 'allow', 'deny' or 'ask'."
                )
            result["rules"] = [_rule_to_wire(rule) for rule in self.rules]
            result["behavior"] = self.behavior
        elif self.type == "setMode":
            if self.mode is None:
                raise ValueError(
                    "PermissionUpdate(type='setMode') has no mode. "
                    "Set mode to a permission mode such as 'acceptEdits'."
                )
            result["mode"] = self.mode
        elif self.type in ("addDirectories", "removeDirectories"):
            if self.directories is None:
                raise ValueError(
                    f"PermissionUpdate(type={self.type!r}) has no directories. "
                    "Set directories to a list of paths."
                )
            result["directories"] = self.directories
        else:
            raise ValueError(
                f"PermissionUpdate has type {self.type!r}, which is none of addRules, "
                "replaceRules, removeRules, setMode, addDirectories or removeDirectories."
            )
        return result

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PermissionUpdate:
        """The inverse of :meth:`to_dict`."""
        rules = None
        if data.get("rules") is not None:
            rules = [
                PermissionRuleValue(tool_name=r["toolName"], rule_content=r.get("ruleContent"))
                for r in data["rules"]
            ]
        return cls(
            type=data["type"],
            rules=rules,
            behavior=data.get("behavior"),
            mode=data.get("mode"),
            directories=data.get("directories"),
            destination=data.get("destination"),
        )


def _rule_to_wire(rule: PermissionRuleValue | Any) -> dict[str, Any]:
    if isinstance(rule, Mapping):  # tolerated: a rule already in wire form
        return dict(rule)
    wire: dict[str, Any] = {"toolName": rule.tool_name}
    if rule.rule_content is not None:
        wire["ruleContent"] = rule.rule_content
    return wire


@dataclass
class ToolPermissionContext:
    """What ``can_use_tool`` receives besides the tool name and input."""

    signal: Any | None = None
    suggestions: list[PermissionUpdate] = field(default_factory=list)
    tool_use_id: str | None = None
    agent_id: str | None = None
    blocked_path: str | None = None
    decision_reason: str | None = None
    title: str | None = None
    display_name: str | None = None
    description: str | None = None


@dataclass
class PermissionResultAllow:
    """Allow the call, optionally with a changed input."""

    behavior: Literal["allow"] = "allow"
    updated_input: dict[str, Any] | None = None
    updated_permissions: list[PermissionUpdate] | None = None


@dataclass
class PermissionResultDeny:
    """Deny the call; ``message`` reaches the model; ``interrupt`` stops the turn."""

    behavior: Literal["deny"] = "deny"
    message: str = ""
    interrupt: bool = False


PermissionResult = PermissionResultAllow | PermissionResultDeny
CanUseTool = Callable[[str, dict[str, Any], ToolPermissionContext], Awaitable[PermissionResult]]


@dataclass(frozen=True)
class _Rule:
    tool: str
    pattern: str | None


def _parse_rule(text: str) -> _Rule:
    text = text.strip()
    if text.endswith(")") and "(" in text:
        name, _, rest = text.partition("(")
        pattern = rest[:-1].strip()
        return _Rule(name.strip(), pattern if pattern not in ("", "*") else None)
    return _Rule(text, None)


def _tool_matches(rule_tool: str, name: str) -> bool:
    if rule_tool == name or rule_tool == "*":
        return True
    if rule_tool.startswith("mcp__"):
        # "mcp__server" and "mcp__server__*" cover every tool of that server.
        prefix = rule_tool[:-1] if rule_tool.endswith("*") else rule_tool + "__"
        return name.startswith(prefix)
    return False


def _pattern_matches(pattern: str, name: str, tool_input: dict[str, Any]) -> bool:
    if name == "Bash":
        command = str(tool_input.get("command", "")).strip()
        if pattern.endswith(":*"):
            return command.startswith(pattern[:-2])
        if pattern.endswith(" *"):
            return command == pattern[:-2] or command.startswith(pattern[:-1])
        return command == pattern
    for key in _PATH_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str):
            return fnmatch.fnmatch(value, pattern) or fnmatch.fnmatch(
                value.lstrip("./"), pattern.lstrip("./")
            )
    return False


class PermissionRules:
    """``allowed_tools`` / ``disallowed_tools`` compiled once per session."""

    def __init__(self, *, allowed: Sequence[str] = (), disallowed: Sequence[str] = ()) -> None:
        self._allowed = [_parse_rule(r) for r in allowed if r.strip()]
        self._disallowed = [_parse_rule(r) for r in disallowed if r.strip()]

    def _match(self, rules: list[_Rule], name: str, tool_input: dict[str, Any]) -> bool:
        for rule in rules:
            if not _tool_matches(rule.tool, name):
                continue
            if rule.pattern is None or _pattern_matches(rule.pattern, name, tool_input):
                return True
        return False

    def hides(self, name: str) -> bool:
        """A bare ``disallowed_tools`` entry removes the tool from the model's context."""
        return any(r.pattern is None and _tool_matches(r.tool, name) for r in self._disallowed)

    def denies(self, name: str, tool_input: dict[str, Any]) -> bool:
        return self._match(self._disallowed, name, tool_input)

    def allows(self, name: str, tool_input: dict[str, Any]) -> bool:
        return self._match(self._allowed, name, tool_input)

    def add_allowed(self, rules: Sequence[str]) -> None:
        self._allowed.extend(_parse_rule(r) for r in rules)


def mode_decision(mode: str, name: str, read_only: bool) -> Literal["allow", "deny", "ask"]:
    """What the permission mode alone says about a tool call."""
    if mode == "bypassPermissions":
        return "allow"
    if mode == "plan":
        return "allow" if read_only else "deny"
    if mode == "dontAsk":
        return "deny"
    if read_only:
        return "allow"
    if mode == "acceptEdits" and name in _EDIT_TOOLS:
        return "allow"
    return "ask"


def denial_message(name: str, tool_input: dict[str, Any], mode: str) -> str:
    """Claude Code's wording for a call nobody allowed."""
    if mode == "plan":
        return (
            f"Tool {name} is not available in plan mode: only read-only tools may run "
            "until the plan is approved."
        )
    for key in _PATH_KEYS:
        value = tool_input.get(key)
        if isinstance(value, str) and name in _EDIT_TOOLS:
            return (
                f"Claude requested permissions to write to {value}, but you haven't granted it yet."
            )
    return f"Claude requested permissions to use {name}, but you haven't granted it yet."
