"""Tool permissions: rules, modes, working directories, and who is asked.

One tool call is decided as Claude Code decides it (the first step that decides wins):

1. a deny rule matches → deny (``Bash(rm:*)`` on any subcommand, ``Read(./.env)`` on the
   resolved path, a bare ``Bash`` hides the tool altogether);
2. a ``PreToolUse`` hook denied (the runner) or allowed;
3. an ask rule matches → ask;
4. ``bypassPermissions`` → allow;
5. an allow rule matches → allow (for Bash: every subcommand must be allowed, by a rule or
   because it is read-only; see :mod:`._bashperm`);
6. the tool's own default: read-only file tools (Read, Glob, Grep) run unasked inside the
   working directories (``cwd`` + ``add_dirs`` + :meth:`PermissionPolicy.add_directories`),
   file edits run unasked under ``acceptEdits`` inside them, other read-only tools run, the
   rest asks;
7. an "ask" goes to ``permission_prompt_tool_name`` (an MCP tool) or ``can_use_tool``; with
   neither, or under ``dontAsk``, it is denied; under ``plan`` everything that is not
   read-only is denied.

Rules are tool names (``"Read"``, ``"mcp__calc__add"``, ``"mcp__calc"`` for a whole server,
``"mcp__calc__*"``) or ``Tool(specifier)``: ``Bash(...)`` commands (exact, ``prefix:*``,
wildcards), ``Read(...)``/``Edit(...)``/``Write(...)`` gitignore-style path patterns anchored
as Claude Code documents (``//abs``, ``~/home``, ``/project``, ``relative``), and
``WebFetch(domain:example.com)``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from .._config_types import PermissionBehavior, PermissionUpdateDestination
from ._confine import PathRule, ResolvedPath, WorkingDirs, resolve_path

__all__ = [
    "CanUseTool",
    "PermissionMode",
    "PermissionResult",
    "PermissionResultAllow",
    "PermissionResultDeny",
    "PermissionPolicy",
    "PermissionRuleValue",
    "PermissionRules",
    "PermissionUpdate",
    "ToolPermissionContext",
    "Verdict",
]

PermissionMode = Literal["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto"]

_EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
_READ_TOOLS = frozenset({"Read", "Glob", "Grep", "LS", "NotebookRead"})
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


Behavior = Literal["allow", "deny", "ask"]


@dataclass
class Verdict:
    """What the rules, the mode and the working directories say about one call."""

    behavior: Behavior
    message: str = ""
    """What the model reads when the call does not run."""
    reason_type: str | None = None
    """Claude Code's ``decision_reason_type``: ``rule``, ``mode``, ``workingDir``, ..."""
    reason: str | None = None
    blocked_path: str | None = None


def _dont_ask_message(name: str) -> str:
    return (
        f"Permission to use {name} has been denied because the agent is running in don't ask "
        "mode. You may reach the goal with other tools that are allowed, in reasonable ways "
        "that respect the intent of this denial; do not try to work around it. If this "
        "capability is essential to the user's request, stop and explain what you were trying "
        "to do and why you need this permission."
    )


@dataclass(frozen=True)
class _Rule:
    tool: str
    specifier: str | None


def _parse_rule(text: str) -> _Rule:
    text = text.strip()
    if text.endswith(")") and "(" in text:
        name, _, rest = text.partition("(")
        spec = rest[:-1].strip()
        return _Rule(name.strip(), spec if spec not in ("", "*") else None)
    return _Rule(text, None)


def _tool_matches(rule_tool: str, name: str) -> bool:
    if rule_tool == name or rule_tool == "*":
        return True
    if rule_tool.startswith("mcp__"):
        # "mcp__server" and "mcp__server__*" cover every tool of that server.
        prefix = rule_tool[:-1] if rule_tool.endswith("*") else rule_tool + "__"
        return name.startswith(prefix)
    return False


def _rule_applies(rule_tool: str, name: str) -> bool:
    """A path rule covers a family of tools: ``Edit(...)`` every editing tool, ``Read(...)``
    every reading one; ``Write(...)`` covers Write (and, as Claude Code does, the other editors)."""
    if rule_tool in ("Edit", "Write") and name in _EDIT_TOOLS:
        return True
    if rule_tool == "Read" and name in _READ_TOOLS:
        return True
    return _tool_matches(rule_tool, name)


class PermissionRules:
    """``allowed_tools`` / ``disallowed_tools`` (and ask rules), compiled once per session."""

    def __init__(
        self,
        *,
        allowed: Sequence[str] = (),
        disallowed: Sequence[str] = (),
        ask: Sequence[str] = (),
    ) -> None:
        self.allow = [_parse_rule(r) for r in allowed if r.strip()]
        self.deny = [_parse_rule(r) for r in disallowed if r.strip()]
        self.ask = [_parse_rule(r) for r in ask if r.strip()]

    def hides(self, name: str) -> bool:
        """A bare ``disallowed_tools`` entry removes the tool from the model's context."""
        return any(r.specifier is None and _tool_matches(r.tool, name) for r in self.deny)

    def add_allowed(self, rules: Sequence[str]) -> list[_Rule]:
        """Add allow rules; the rules added (for :meth:`drop_allowed`)."""
        added = [_parse_rule(r) for r in rules if r.strip()]
        self.allow.extend(added)
        return added

    def drop_allowed(self, added: Sequence[_Rule]) -> None:
        """Remove exactly the rule objects :meth:`add_allowed` returned (equal rules
        added some other way stay)."""
        ids = {id(r) for r in added}
        self.allow[:] = [r for r in self.allow if id(r) not in ids]

    def add_denied(self, rules: Sequence[str]) -> None:
        self.deny.extend(_parse_rule(r) for r in rules if r.strip())

    def add_ask(self, rules: Sequence[str]) -> None:
        self.ask.extend(_parse_rule(r) for r in rules if r.strip())

    def update(self, behavior: str, kind: str, texts: Sequence[str]) -> None:
        """Apply an ``addRules`` / ``replaceRules`` / ``removeRules`` update to one list."""
        target = {"allow": self.allow, "deny": self.deny, "ask": self.ask}[behavior]
        parsed = [_parse_rule(t) for t in texts if t.strip()]
        if kind == "replaceRules":
            target[:] = parsed
        elif kind == "removeRules":
            target[:] = [r for r in target if r not in parsed]
        else:
            target.extend(parsed)

    @staticmethod
    def bare(rules: Iterable[_Rule], name: str) -> bool:
        return any(r.specifier is None and _tool_matches(r.tool, name) for r in rules)

    @staticmethod
    def specifiers(rules: Iterable[_Rule], tool: str) -> list[str]:
        return [r.specifier for r in rules if r.specifier is not None and r.tool == tool]


class PermissionPolicy:
    """Rules + mode + working directories: the decision before anyone is asked.

    One per session (subagents get their own). ``add_directories`` is the hook through which
    more allowed directories arrive after construction (settings' ``additionalDirectories``,
    an ``addDirectories`` permission update).
    """

    def __init__(
        self,
        *,
        rules: PermissionRules,
        mode: str,
        cwd: str | Path,
        add_dirs: Iterable[str | Path] = (),
        project_root: str | Path | None = None,
    ) -> None:
        self.rules = rules
        self.mode = mode
        self.dirs = WorkingDirs(cwd, add_dirs)
        self.project_root = str(project_root) if project_root is not None else self.dirs.cwd

    def add_directories(self, dirs: Iterable[str | Path]) -> None:
        """Allow more directories (relative ones are taken from ``cwd``)."""
        self.dirs.add(dirs)

    # -- the decision ------------------------------------------------------------------------

    def decide(self, name: str, tool_input: dict[str, Any], *, read_only: bool) -> Verdict:
        """Deny rules, ask rules, bypass, allow rules, then the tool's default (see module doc)."""
        if self.rules.bare(self.rules.deny, name):
            return Verdict("deny", f"Permission to use {name} has been denied.", "rule")
        if name == "Bash":
            return self._bash(tool_input)
        paths = self._paths(name, tool_input)
        denied = self._content_match(self.rules.deny, name, tool_input, paths, deny=True)
        if denied:
            return Verdict("deny", f"Permission to use {name} has been denied.", "rule")
        if self.rules.bare(self.rules.ask, name) or self._content_match(
            self.rules.ask, name, tool_input, paths, deny=True
        ):
            return self._ask(name, tool_input, paths, reason_type="rule")
        if self.mode == "bypassPermissions":
            return Verdict("allow")
        if self.rules.bare(self.rules.allow, name) or self._content_match(
            self.rules.allow, name, tool_input, paths, deny=False
        ):
            return Verdict("allow")
        return self._default(name, tool_input, paths, read_only)

    def _default(
        self, name: str, tool_input: dict[str, Any], paths: list[ResolvedPath], read_only: bool
    ) -> Verdict:
        if name in _EDIT_TOOLS:
            outside = [p for p in paths if not self.dirs.contains(p)]
            if self.mode == "acceptEdits" and paths and not outside:
                return Verdict("allow")
            return self._ask(name, tool_input, paths, reason_type="workingDir" if outside else None)
        if name in _READ_TOOLS:
            outside = [p for p in paths if not self.dirs.contains(p)]
            if not outside or self.mode == "plan":
                return Verdict("allow")
            return self._ask(name, tool_input, paths, reason_type="workingDir")
        if read_only:
            return Verdict("allow")
        return self._ask(name, tool_input, paths)

    def _ask(
        self,
        name: str,
        tool_input: dict[str, Any],
        paths: list[ResolvedPath],
        *,
        reason_type: str | None = None,
    ) -> Verdict:
        blocked = next((p for p in paths if not self.dirs.contains(p)), paths[0] if paths else None)
        where = blocked.lexical if blocked is not None else None
        if name in _EDIT_TOOLS and where is not None:
            message = (
                f"Claude requested permissions to write to {where}, but you haven't granted it yet."
            )
        elif name in _READ_TOOLS and where is not None:
            message = f"Claude requested permissions to read from {where}, but you haven't granted it yet."
        else:
            message = f"Claude requested permissions to use {name}, but you haven't granted it yet."
        reason = (
            "Path is outside allowed working directories" if reason_type == "workingDir" else None
        )
        return Verdict("ask", message, reason_type, reason, where)

    def _bash(self, tool_input: dict[str, Any]) -> Verdict:
        from ._bashperm import BashRules, bash_verdict  # the Bash parser: with a Bash call

        command = str(tool_input.get("command", ""))
        rules = BashRules(
            allow=[] if not self.rules.bare(self.rules.allow, "Bash") else ["*"],
            deny=PermissionRules.specifiers(self.rules.deny, "Bash"),
            ask=PermissionRules.specifiers(self.rules.ask, "Bash")
            + (["*"] if self.rules.bare(self.rules.ask, "Bash") else []),
            write_allowed=lambda p: self._path_rule(self.rules.allow, "Write", p, deny=False),
            write_denied=lambda p: self._path_rule(self.rules.deny, "Write", p, deny=True),
            read_denied=lambda p: self._path_rule(self.rules.deny, "Read", p, deny=True),
        )
        rules.allow += PermissionRules.specifiers(self.rules.allow, "Bash")
        verdict = bash_verdict(command, rules, self.mode, self.dirs)
        return Verdict(verdict.behavior, verdict.message, verdict.reason_type, verdict.reason)

    # -- matching helpers ----------------------------------------------------------------------

    def _paths(self, name: str, tool_input: dict[str, Any]) -> list[ResolvedPath]:
        """The filesystem paths a file tool call touches, resolved against ``cwd``."""
        if name not in _EDIT_TOOLS and name not in _READ_TOOLS:
            return []
        paths = [resolve_path(v, self.dirs.cwd) for v in _path_values(tool_input)]
        if name in ("Glob", "Grep") and not paths:
            paths.append(resolve_path(".", self.dirs.cwd))
        pattern = tool_input.get("pattern")
        if name == "Glob" and isinstance(pattern, str) and pattern.startswith(("/", "~")):
            prefix = _glob_prefix(pattern)
            paths = [resolve_path(prefix, self.dirs.cwd)]
        return paths

    def _path_rule(
        self, rules: Iterable[_Rule], tool: str, path: ResolvedPath, *, deny: bool
    ) -> bool:
        for rule in rules:
            if rule.specifier is None or not _rule_applies(rule.tool, tool):
                continue
            compiled = PathRule(rule.specifier, cwd=self.dirs.cwd, project_root=self.project_root)
            if compiled.matches_any(path) if deny else compiled.matches_all(path):
                return True
        return False

    def _content_match(
        self,
        rules: Iterable[_Rule],
        name: str,
        tool_input: dict[str, Any],
        paths: list[ResolvedPath],
        *,
        deny: bool,
    ) -> bool:
        """A ``Tool(specifier)`` rule matches this call (deny: any path; allow: every path)."""
        rules = [r for r in rules if r.specifier is not None and _rule_applies(r.tool, name)]
        if not rules:
            return False
        if paths:
            hits = [self._path_rule(rules, name, p, deny=deny) for p in paths]
            return any(hits) if deny else all(hits)
        if name == "WebFetch":
            return _domain_match(rules, tool_input)
        return any(_generic_match(r.specifier or "", tool_input) for r in rules)


def _path_values(tool_input: dict[str, Any]) -> list[str]:
    return [v for k in _PATH_KEYS if isinstance(v := tool_input.get(k), str) and v]


def _glob_prefix(pattern: str) -> str:
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        if any(c in part for c in "*?[{"):
            return "/".join(parts[:i]) or "/"
    return os.path.dirname(pattern) or "/"


def _domain_match(rules: Iterable[_Rule], tool_input: dict[str, Any]) -> bool:
    host = (urlsplit(str(tool_input.get("url", ""))).hostname or "").lower()
    for r in rules:
        spec = r.specifier or ""
        if spec.startswith("domain:"):
            domain = spec[len("domain:") :].strip().lower()
            if host == domain or (domain.startswith("*.") and host.endswith(domain[1:])):
                return True
    return False


def _generic_match(specifier: str, tool_input: dict[str, Any]) -> bool:
    """Other tools: the specifier as a glob on the input's string values."""
    return any(
        isinstance(v, str) and fnmatch.fnmatchcase(v, specifier) for v in tool_input.values()
    )


def plan_denial(name: str, tool_input: dict[str, Any], cwd: str) -> str:
    """Claude Code's wording for a call that plan mode refuses."""
    values = _path_values(tool_input)
    if name in _EDIT_TOOLS and values:
        return f"Cannot write to {resolve_path(values[0], cwd).lexical} while in plan mode."
    return (
        f"Tool {name} is not available in plan mode: only read-only tools may run "
        "until the plan is approved."
    )


def no_one_to_ask(
    verdict: Verdict, name: str, tool_input: dict[str, Any], mode: str, cwd: str
) -> Verdict:
    """An "ask" that nobody can answer becomes a denial, worded by the mode."""
    if mode == "dontAsk":
        return Verdict("deny", _dont_ask_message(name), "mode")
    if mode == "plan":
        return Verdict("deny", plan_denial(name, tool_input, cwd), "mode")
    return Verdict(
        "deny", verdict.message, verdict.reason_type, verdict.reason, verdict.blocked_path
    )
