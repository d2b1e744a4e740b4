"""What a Bash command runs, found by a real shell parser, for the permission checks.

Permission rules are only as strong as the reading of the command they are matched against:
``git status; touch ../x`` is two commands, ``ls $(touch X)`` three. This module parses a
command with tree-sitter's Bash grammar (the parser Claude Code uses too) and reports every
simple command it would run, wherever it sits (lists, pipelines, subshells, ``if``/``for``/
``case`` bodies, functions, command and process substitutions, here-documents), each with
its words as the shell would see them after quote removal, plus the redirections, whether
anything is nested or sent to the background, and why a command cannot be checked at all.

Nothing here decides anything: :mod:`._bashperm` does. The parser is imported on first use
(it costs about 15 ms), so sessions that never run Bash never load it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

__all__ = ["Redirect", "ShellAnalysis", "SimpleCommand", "Word", "analyze"]

MAX_COMMAND_CHARS = 100_000
"""Longer commands are not analysed (they ask)."""

_DYNAMIC_NODES = frozenset(
    {
        "simple_expansion",
        "expansion",
        "arithmetic_expansion",
        "command_substitution",
        "process_substitution",
        "brace_expression",
    }
)
_NESTING_NODES = frozenset({"command_substitution", "process_substitution"})
_REDIRECT_NODES = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
_BRACE_EXPANSION = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")


@dataclass(frozen=True)
class Word:
    """One word of a command: its value after quote removal, when it is known before running."""

    text: str
    """The value (static words) or the source text (dynamic ones)."""
    static: bool
    """False when an expansion (``$X``, ``$(...)``, ``{a,b}``, ...) decides the value."""


@dataclass(frozen=True)
class Redirect:
    """A redirection: ``op`` is ``>``, ``>>``, ``<``, ``&>``, ``>&``, ``<<``, ``<<<``, ...

    ``target`` is the file (static), ``None`` when an expansion decides it; ``fd_dup`` is
    True for descriptor copies such as ``2>&1``.
    """

    op: str
    target: str | None
    fd_dup: bool = False

    @property
    def writes(self) -> bool:
        return ">" in self.op and not self.fd_dup

    @property
    def reads(self) -> bool:
        return self.op in ("<", "<>")


@dataclass(frozen=True)
class SimpleCommand:
    """One command the shell would run: prefix assignments, words, its source text."""

    words: tuple[Word, ...]
    assignments: tuple[str, ...] = ()
    source: str = ""

    @property
    def argv(self) -> tuple[str, ...]:
        return tuple(w.text for w in self.words)

    @property
    def static(self) -> bool:
        """Every word is known before running."""
        return all(w.static for w in self.words)

    @property
    def name(self) -> str | None:
        """The command name when it is static, else None."""
        if not self.words or not self.words[0].static:
            return None
        return self.words[0].text


@dataclass
class ShellAnalysis:
    """Everything a permission check needs to know about one command string."""

    commands: list[SimpleCommand] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    error: str | None = None
    """Why the command cannot be checked (it then asks); None when it parsed cleanly."""
    nested: bool = False
    """A command or process substitution runs a command inside another one."""
    background: bool = False
    """``&`` sends a command to the background."""


def analyze(command: str) -> ShellAnalysis:
    """Parse ``command`` and list what it runs; never raises."""
    if len(command) > MAX_COMMAND_CHARS:
        return ShellAnalysis(error=f"the command is longer than {MAX_COMMAND_CHARS} characters")
    if "\x00" in command or "\r" in command:
        return ShellAnalysis(
            error="the command contains control characters the shell reads differently"
        )
    try:
        tree = _parser().parse(command.encode("utf-8", "surrogatepass"))
    except Exception as exc:  # the grammar itself failed: unknown ground, ask
        return ShellAnalysis(error=f"the command could not be parsed ({exc})")
    root = tree.root_node
    if root.has_error:
        return ShellAnalysis(error="the command could not be parsed")
    out = ShellAnalysis()
    _walk(root, out)
    return out


@lru_cache(maxsize=1)
def _parser() -> Any:
    import tree_sitter_bash
    from tree_sitter import Language, Parser

    return Parser(Language(tree_sitter_bash.language()))


def _text(node: Any) -> str:
    return bytes(node.text).decode("utf-8", "surrogateescape")


def _walk(node: Any, out: ShellAnalysis) -> None:
    """Depth first, in source order: commands, redirections, nesting, background."""
    kind = node.type
    if not node.is_named:
        if kind == "&":
            out.background = True
        return
    if kind in _NESTING_NODES:
        out.nested = True
    if kind == "command":
        out.commands.append(_command(node, out))
    elif kind in _REDIRECT_NODES:
        out.redirects.append(_redirect(node))
    elif kind == "test_command":
        out.commands.append(SimpleCommand(words=(Word("[[", True),), source=_text(node)))
    elif kind in ("variable_assignment", "variable_assignments") and _is_statement(node):
        # ``X=1`` on its own changes the shell's state (PATH=..., IFS=...): a command of its own.
        out.commands.append(SimpleCommand(words=(), assignments=(_text(node),), source=_text(node)))
    elif kind == "declaration_command" or kind == "unset_command":
        words = tuple(Word(_text(c), True) for c in node.children if not c.is_named) + tuple(
            _word(c) for c in node.named_children
        )
        out.commands.append(SimpleCommand(words=words, source=_text(node)))
    for child in node.children:
        _walk(child, out)


def _is_statement(node: Any) -> bool:
    parent = node.parent
    return parent is not None and parent.type not in (
        "command",
        "variable_assignments",
        "declaration_command",
    )


def _command(node: Any, out: ShellAnalysis) -> SimpleCommand:
    words: list[Word] = []
    assignments: list[str] = []
    for child in node.named_children:
        kind = child.type
        if kind == "variable_assignment":
            assignments.append(_text(child))
        elif kind == "command_name":
            inner = child.named_children
            words.append(_word(inner[0]) if len(inner) == 1 else Word(_text(child), False))
        elif kind in _REDIRECT_NODES:
            continue  # collected by the walk
        else:
            words.append(_word(child))
    return SimpleCommand(words=tuple(words), assignments=tuple(assignments), source=_text(node))


def _word(node: Any) -> Word:
    """The value of a word node after quote removal, when no expansion decides it."""
    value = _static_value(node)
    if value is None:
        return Word(_text(node), False)
    return Word(value, True)


def _static_value(node: Any) -> str | None:
    kind = node.type
    if kind in _DYNAMIC_NODES:
        return None
    if kind == "word":
        raw = _text(node)
        if _BRACE_EXPANSION.search(raw):
            return None
        return _unescape(raw)
    if kind == "number":
        return _text(node)
    if kind == "raw_string":
        return _text(node)[1:-1]
    if kind == "ansi_c_string":
        return _ansi_c(_text(node)[2:-1])
    if kind in ("string", "translated_string"):
        parts: list[str] = []
        for child in node.named_children:
            if child.type != "string_content":
                return None
            parts.append(re.sub(r'\\([$`"\\\n])', r"\1", _text(child)))
        return "".join(parts)
    if kind == "concatenation":
        joined = _text(node)
        if _BRACE_EXPANSION.search(joined) and "{" in "".join(
            _text(c) for c in node.named_children if c.type == "word"
        ):
            return None
        pieces = [_static_value(c) for c in node.named_children]
        if any(p is None for p in pieces):
            return None
        return "".join(p for p in pieces if p is not None)
    return None


def _unescape(raw: str) -> str:
    """Backslash removal in an unquoted word (``t\\ouch`` runs ``touch``)."""
    return re.sub(r"\\(\n|.)", lambda m: "" if m.group(1) == "\n" else m.group(1), raw, flags=re.S)


_ANSI_SIMPLE = {
    "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
    "e": "\x1b", "E": "\x1b", "\\": "\\", "'": "'", '"': '"', "?": "?",
}  # fmt: skip


def _ansi_c(body: str) -> str | None:
    r"""Decode ``$'...'`` (``$'\x74ouch'`` is ``touch``); None for forms not handled."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[nxt])
            i += 2
            continue
        m = re.match(
            r"x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{1,4})|U([0-9A-Fa-f]{1,8})|([0-7]{1,3})",
            body[i + 1 :],
        )
        if m is None:
            return None
        digits = next(g for g in m.groups() if g is not None)
        code = int(digits, 8 if m.group(4) else 16)
        if code > 0x10FFFF:
            return None
        out.append(chr(code))
        i += 1 + m.end()
    return "".join(out)


def _redirect(node: Any) -> Redirect:
    kind = node.type
    if kind == "heredoc_redirect":
        return Redirect(op="<<", target=None)
    if kind == "herestring_redirect":
        return Redirect(op="<<<", target=None)
    op = next((_text(c) for c in node.children if not c.is_named), ">")
    dest = node.child_by_field_name("destination")
    if dest is None:
        named = [c for c in node.named_children if c.type != "file_descriptor"]
        dest = named[-1] if named else None
    if dest is None:
        return Redirect(op=op, target=None)
    value = _static_value(dest)
    fd_dup = op in (">&", "<&") and value is not None and (value.isdigit() or value == "-")
    return Redirect(op=op, target=value, fd_dup=fd_dup)
