"""Bash permission decisions, as Claude Code makes them: per subcommand, on parsed commands.

A ``Bash(...)`` rule is matched against each simple command that :func:`._shell.analyze`
finds, never against the raw string, so an allow rule covers a compound command only when
every part is allowed (by a rule, or because it is read-only), and a deny rule catches its
command wherever it hides: after ``;``/``&&``/``|``, inside ``$(...)``, behind wrappers
(``timeout``, ``nice``, ``nohup``, ``env``, ``command``, ``exec``, ``sudo``, ``xargs``, ...),
behind ``VAR=value`` prefixes, spelled as a path (``/usr/bin/touch``) or quoted
(``t'ouch'``), and inside ``bash -c '...'``/``eval '...'`` strings.

Specifier forms (Claude Code's): ``Bash(npm run build)`` exact; ``Bash(npm run test:*)``
prefix on a word boundary (``npm run test`` and ``npm run test -- --watch``, not
``npm run testx``); ``Bash(git * main)`` with ``*`` matching any characters; a single
trailing `` *`` is optional (``Bash(ls *)`` matches ``ls`` and ``ls -la``, not ``lsof``).

Without a rule, a subcommand runs unasked when it is read-only (``ls``, ``cat``, ``grep``,
``git status``, ... with no option that writes or runs something) and the paths it names are
inside the session's working directories; under ``acceptEdits`` the filesystem commands
``mkdir``, ``touch``, ``rm``, ``rmdir``, ``mv``, ``cp`` and output redirections are allowed
inside them too. Everything else asks, and so does what cannot be checked before it runs:
a command that does not parse, nested commands, ``&``, a command name that is an expansion.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ._confine import ResolvedPath, WorkingDirs, resolve_path
from ._shell import Redirect, ShellAnalysis, SimpleCommand, Word, analyze

__all__ = ["BashVerdict", "bash_verdict", "match_bash_specifier"]

Behavior = Literal["allow", "deny", "ask"]

# --------------------------------------------------------------------------- rule matching


def _collapse(text: str) -> str:
    return " ".join(text.split())


def match_bash_specifier(specifier: str, command: str) -> bool:
    """Does one ``Bash(...)`` specifier match one (simple) command's text?"""
    spec = _collapse(specifier)
    cmd = _collapse(command)
    if spec in ("", "*"):
        return True
    if spec.endswith(":*"):
        prefix = spec[:-2].rstrip()
        return cmd == prefix or cmd.startswith(prefix + " ")
    if "*" not in spec:
        return cmd == spec
    if spec.endswith(" *") and spec.count("*") == 1:
        prefix = spec[:-2]
        return cmd == prefix or cmd.startswith(prefix + " ")
    pattern = ".*".join(re.escape(part) for part in spec.split("*"))
    return re.fullmatch(pattern, cmd, flags=re.S) is not None


def _quote(word: str) -> str:
    if word and re.fullmatch(r"[A-Za-z0-9_@%+=:,./~^-]+", word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def _join(words: Sequence[Word]) -> str:
    """A command's canonical text: static words quoted where needed, expansions as written."""
    return " ".join(_quote(w.text) if w.static else w.text for w in words)


# --------------------------------------------------------------------------- wrappers

# Options of the wrappers that take a value (the value is skipped with the option).
_WRAPPER_VALUE_OPTS: dict[str, frozenset[str]] = {
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "stdbuf": frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}),
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-S", "--split-string"}),
    "sudo": frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "--user", "--group"}),
    "doas": frozenset({"-u", "-C"}),
    "exec": frozenset({"-a"}),
    "xargs": frozenset(
        {"-I", "-L", "-n", "-P", "-s", "-d", "-E", "-a", "--max-args", "--max-procs",
         "--delimiter", "--arg-file", "--replace", "--max-lines", "--max-chars", "--eof"}
    ),
    "ionice": frozenset({"-c", "-n", "-p", "--class", "--classdata"}),
    "chrt": frozenset({"-p"}),
    "taskset": frozenset({"-p", "-c"}),
    "flock": frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}),
    "setsid": frozenset(),
    "time": frozenset({"-f", "-o", "--format", "--output"}),
    "nohup": frozenset(),
    "command": frozenset(),
    "builtin": frozenset(),
    "coproc": frozenset(),
    "unbuffer": frozenset(),
    "watch": frozenset({"-n", "--interval", "-d"}),
}  # fmt: skip

# Wrappers Claude Code looks through when matching allow rules (and read-only commands).
_ALLOW_WRAPPERS = frozenset({"timeout", "time", "nice", "stdbuf", "command"})
# Wrappers whose first positional argument is not the command (timeout DURATION, flock FILE).
_LEADING_OPERAND = {"timeout": 1, "flock": 1, "chrt": 1, "taskset": 1}
_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh", "mksh", "ash", "busybox"})


def _basename(word: Word) -> Word:
    if word.static and "/" in word.text:
        return Word(os.path.basename(word.text.rstrip("/")) or word.text, True)
    return word


def _strip_wrapper(words: tuple[Word, ...]) -> tuple[Word, ...] | None:
    """The command a wrapper runs (``timeout 5 rm x`` → ``rm x``), or None if not a wrapper."""
    if not words or not words[0].static:
        return None
    name = _basename(words[0]).text
    if name not in _WRAPPER_VALUE_OPTS:
        return None
    value_opts = _WRAPPER_VALUE_OPTS[name]
    i = 1
    operands = _LEADING_OPERAND.get(name, 0)
    while i < len(words):
        w = words[i]
        if not w.static:
            break
        text = w.text
        if text == "--":
            i += 1
            break
        if name == "env" and "=" in text and not text.startswith("-"):
            i += 1
            continue
        if text.startswith("-") and len(text) > 1:
            i += 2 if text in value_opts else 1
            continue
        if operands:
            operands -= 1
            i += 1
            continue
        break
    rest = words[i:]
    return rest if rest else None


def _shell_string(words: tuple[Word, ...]) -> tuple[str | None, bool]:
    """The code a ``bash -c`` / ``eval`` runs: (code, known). (None, True) if not such a call."""
    if not words or not words[0].static:
        return None, True
    name = _basename(words[0]).text
    if name == "eval":
        if all(w.static for w in words[1:]):
            return " ".join(w.text for w in words[1:]), True
        return None, False
    if name in _SHELLS:
        for i, w in enumerate(words[1:], start=1):
            if (
                w.static
                and w.text.startswith("-")
                and "c" in w.text.lstrip("-")
                and not w.text.startswith("--")
            ):
                if i + 1 < len(words) and words[i + 1].static:
                    return words[i + 1].text, True
                return None, False
    return None, True


def _find_exec(words: tuple[Word, ...]) -> list[tuple[Word, ...]]:
    """The commands ``find ... -exec CMD ... ;`` runs."""
    if not words or _basename(words[0]).text != "find":
        return []
    found: list[tuple[Word, ...]] = []
    i = 1
    while i < len(words):
        if words[i].static and words[i].text in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(words) and not (words[j].static and words[j].text in (";", "+")):
                j += 1
            if j > i + 1:
                found.append(words[i + 1 : j])
            i = j
        i += 1
    return found


def deny_forms(cmd: SimpleCommand, depth: int = 0) -> tuple[list[str], bool]:
    """Every text a deny rule is matched against for one command, and whether all is known.

    The command as written, and after each peeled layer: prefix assignments, wrappers, a
    path spelled for the name; the commands of ``bash -c``/``eval`` strings and of
    ``find -exec``, recursively.
    """
    forms: list[str] = []
    known = True
    stack: list[tuple[Word, ...]] = [cmd.words]
    seen = 0
    while stack and seen < 64:
        seen += 1
        words = stack.pop()
        if not words:
            continue
        forms.append(_join(words))
        base = (_basename(words[0]), *words[1:])
        if base[0] != words[0]:
            forms.append(_join(base))
        inner = _strip_wrapper(base)
        if inner is not None:
            stack.append(inner)
        stack.extend(_find_exec(base))
        code, code_known = _shell_string(base)
        known = known and code_known
        if code is not None and depth < 4:
            sub = analyze(code)
            if sub.error is not None:
                known = False
                forms.append(code)
            for c in sub.commands:
                sub_forms, sub_known = deny_forms(c, depth + 1)
                forms.extend(sub_forms)
                known = known and sub_known
    return forms, known


def allow_forms(cmd: SimpleCommand) -> list[str]:
    """The texts an allow rule may match: as written, and without Claude Code's wrappers."""
    if cmd.assignments:
        return []  # ``FOO=1 npm test`` asks, as in Claude Code
    forms = [_join(cmd.words)]
    if cmd.source and not cmd.assignments:
        forms.append(cmd.source)
    words = cmd.words
    while _allow_wrapped(words):
        stripped = _strip_wrapper(words)
        if stripped is None:
            break
        words = stripped
        forms.append(_join(words))
    return forms


def _allow_wrapped(words: tuple[Word, ...]) -> bool:
    """A wrapper allow rules look through (``command -v x`` prints, it does not run ``x``)."""
    if not words or not words[0].static or words[0].text not in _ALLOW_WRAPPERS:
        return False
    return words[0].text != "command" or (len(words) > 1 and not words[1].text.startswith("-"))


def _core(cmd: SimpleCommand) -> tuple[Word, ...]:
    """The command after the wrappers that do not change what it does."""
    words = cmd.words
    while _allow_wrapped(words):
        stripped = _strip_wrapper(words)
        if stripped is None:
            break
        words = stripped
    return words


# --------------------------------------------------------------------------- read-only


def _words(text: str) -> list[str]:
    return text.split()


# Read-only with any argument, as long as every word is known before running.
_PLAIN = frozenset(
    _words("""cal uptime cat head tail wc stat strings hexdump od nl id uname free df du locale groups
    nproc basename dirname realpath cut paste column tac rev fold expand unexpand fmt comm
    cmp numfmt readlink diff true false sleep type expr seq tsort pr ls grep egrep fgrep rg
    find sort pwd whoami date which file sha256sum sha1sum sha512sum md5sum cksum b2sum
    test [ [[ cd uniq jq tr tree""")
)
_ECHO = frozenset({"echo", "printf", ":"})
# Options that make an otherwise read-only command write or run something.
_FORBIDDEN: dict[str, tuple[str, ...]] = {
    "find": ("-exec", "-execdir", "-ok", "-okdir", "-delete", "-fprint", "-fprint0", "-fprintf", "-fls"),
    "sort": ("-o", "--output", "--compress-program"),
    "date": ("-s", "--set"),
    "rg": ("--pre", "--pre-glob", "-z", "--search-zip"),
    "file": ("-C", "--compile"),
    "jq": ("-f", "--from-file", "--rawfile", "--slurpfile", "-L", "--library-path", "--argfile"),
    "printf": ("-v",),
    "tree": ("-o", "--output", "-R"),
}  # fmt: skip
_NO_ARGS = frozenset({"pwd", "whoami"})
# Commands whose positional arguments are files/directories to check against the working dirs.
_PATH_ARGS = frozenset(
    _words("""cat head tail wc stat strings hexdump od nl cut paste column tac rev fold expand unexpand
    fmt comm cmp readlink realpath diff du df ls grep egrep fgrep rg find sort file sha256sum
    sha1sum sha512sum md5sum cksum b2sum cd uniq jq tree""")
)
_PATTERN_FIRST = frozenset({"grep", "egrep", "fgrep", "rg", "jq"})
# Short options that take the next word as their value (not a path).
_VALUE_OPTS: dict[str, frozenset[str]] = {
    "head": frozenset({"-n", "-c"}),
    "tail": frozenset({"-n", "-c", "-s"}),
    "cut": frozenset({"-d", "-f", "-c", "-b"}),
    "grep": frozenset({"-e", "-m", "-A", "-B", "-C", "--include", "--exclude", "--color"}),
    "egrep": frozenset({"-e", "-m", "-A", "-B", "-C"}),
    "fgrep": frozenset({"-e", "-m", "-A", "-B", "-C"}),
    "rg": frozenset({"-e", "-g", "-t", "-T", "-m", "-A", "-B", "-C", "-M", "-j", "--type", "--glob"}),
    "sort": frozenset({"-k", "-t", "-S", "--key", "--field-separator"}),
    "du": frozenset({"-d", "--max-depth", "-t"}),
    "ls": frozenset({"-I", "-w", "--ignore", "--hide"}),
    "nl": frozenset({"-s", "-w", "-b", "-n", "-v", "-i"}),
    "od": frozenset({"-t", "-N", "-j", "-A", "-w"}),
    "hexdump": frozenset({"-n", "-s", "-e"}),
    "column": frozenset({"-s", "-t", "-c", "-o"}),
    "fold": frozenset({"-w"}),
    "paste": frozenset({"-d"}),
    "diff": frozenset({"-U", "-C", "--label"}),
    "uniq": frozenset({"-f", "-s", "-w"}),
    "jq": frozenset({"--arg", "--argjson", "--indent"}),
    "find": frozenset({"-name", "-iname", "-path", "-ipath", "-type", "-maxdepth", "-mindepth",
                       "-size", "-mtime", "-mmin", "-newer", "-perm", "-user", "-group", "-regex",
                       "-iregex", "-wholename", "-printf", "-atime", "-ctime", "-links", "-inum"}),
}  # fmt: skip
_GIT_READ = {
    "status": (),
    "diff": ("--output", "--ext-diff", "--textconv"),
    "log": ("--output", "--ext-diff", "--textconv"),
    "show": ("--output", "--ext-diff", "--textconv"),
    "blame": ("--contents",),
    "ls-files": (),
    "rev-parse": (),
    "describe": (),
    "shortlog": (),
    "grep": ("-O", "--open-files-in-pager"),
    "cat-file": ("--textconv", "--filters"),
    "for-each-ref": (),
    "merge-base": (),
    "rev-list": (),
    "show-ref": (),
    "ls-tree": (),
    "reflog": ("expire", "delete", "write"),
    "branch": None,
    "tag": None,
    "remote": None,
    "stash": None,
    "worktree": None,
    "config": None,
}
_VERSION_ONLY = frozenset({"node", "python", "python3", "npm", "pip", "pip3", "cargo", "go", "ruby",
                           "java", "rustc", "gcc", "clang", "uv", "deno", "bun", "docker", "git"})  # fmt: skip


def _git_read_only(args: list[str]) -> bool:
    if not args or args[0].startswith("-"):
        return args in (["--version"], ["-v"])
    sub, rest = args[0], args[1:]
    if sub not in _GIT_READ:
        return False
    forbidden = _GIT_READ[sub]
    if forbidden is None:
        return _git_listing(sub, rest)
    return not any(a == f or a.startswith(f + "=") for a in rest for f in forbidden)


def _git_listing(sub: str, rest: list[str]) -> bool:
    """``git branch``/``tag``/``remote``/``stash``/``worktree``/``config`` only when they list."""
    if sub == "branch":
        listing = {"-a", "-r", "-v", "-vv", "--all", "--remotes", "--list", "-l", "--show-current",
                   "--merged", "--no-merged", "--contains", "--no-color", "--color"}  # fmt: skip
        positional = [a for a in rest if not a.startswith("-")]
        return all(
            a in listing or a.startswith("--format") for a in rest if a.startswith("-")
        ) and (not positional or "--list" in rest or "-l" in rest)
    if sub == "tag":
        return not rest or rest[0] in ("-l", "--list") or rest == ["-n"]
    if sub == "remote":
        return rest in ([], ["-v"], ["--verbose"]) or (
            len(rest) == 2 and rest[0] in ("show", "get-url")
        )
    if sub == "stash":
        return bool(rest) and rest[0] in ("list", "show")
    if sub == "worktree":
        return rest[:1] == ["list"]
    if sub == "config":
        return bool(rest) and rest[0] in ("--get", "--get-all", "--list", "-l", "--get-regexp")
    return False


def _sed_read_only(args: list[str]) -> bool:
    """``sed -n 1p file``: printing scripts only (no ``-i``, no ``w``/``e``/``r`` commands)."""
    scripts: list[str] = []
    quiet = False
    i = 0
    positional: list[str] = []
    while i < len(args):
        a = args[i]
        if a in ("-n", "--quiet", "--silent"):
            quiet = True
        elif a in ("-E", "-r", "--regexp-extended", "-s", "--separate", "-u", "-z"):
            pass
        elif a in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1])
            i += 1
        elif a.startswith("-"):
            return False
        else:
            positional.append(a)
        i += 1
    if not scripts and positional:
        scripts.append(positional.pop(0))
    ok = re.compile(
        r"^\s*(\d+|\$)?(\s*,\s*(\d+|\$))?\s*[pd=]\s*$|^\s*s(.)(?:(?!\4).)*\4(?:(?!\4).)*\4[gpI0-9]*\s*$"
    )
    del quiet  # printing or not, a script of these commands only reads
    return bool(scripts) and all(ok.match(s) for s in scripts)


def _is_option(arg: str) -> bool:
    return arg.startswith("-") and arg != "-"


@dataclass
class _Check:
    """What the read-only check found for one command."""

    read_only: bool
    paths: list[str] = field(default_factory=list)
    """Static path arguments to confine."""


def _read_only(words: tuple[Word, ...]) -> _Check:
    """Is this command read-only, and which path arguments does it name?"""
    if not words or not words[0].static:
        return _Check(False)
    name = words[0].text
    if name in _ECHO:  # expansions are fine: these print their arguments, they open nothing
        return _Check(name != "printf" or not any(w.text == "-v" for w in words[1:2]))
    if not all(w.static for w in words):
        return _Check(False)
    args = [w.text for w in words[1:]]
    if name in _VERSION_ONLY and args in (["--version"], ["-v"], ["-V"], ["version"]):
        return _Check(name != "docker" or args == ["--version"])
    if name == "git":
        return _Check(_git_read_only(args))
    if name == "sed":
        ok = _sed_read_only(args)
        return _Check(ok, [a for a in args[1:] if not _is_option(a)] if ok else [])
    if name == "xargs":
        inner = _strip_wrapper(words)
        return (
            _read_only(inner) if inner is not None and inner[0].text != "xargs" else _Check(False)
        )
    if name == "docker":
        return _Check(args[:1] in (["ps"], ["images"]) and len(args) <= 2)
    if name == "hostname":
        return _Check(not args or args in (["-f"], ["-s"], ["-i"], ["-I"]))
    if name not in _PLAIN:
        return _Check(False)
    if name in _NO_ARGS and args:
        return _Check(False)
    forbidden = _FORBIDDEN.get(name, ())
    for a in args:
        if any(
            a == f or a.startswith(f + "=") or (len(f) == 2 and _short_cluster(a, f))
            for f in forbidden
        ):
            return _Check(False)
    if name == "uniq" and len([a for a in args if not _is_option(a)]) > 1:
        return _Check(False)
    return _Check(True, _path_args(name, args) if name in _PATH_ARGS else [])


def _short_cluster(arg: str, flag: str) -> bool:
    """``-uo`` holds ``-o``: short options clustered in one word."""
    return (
        arg.startswith("-")
        and not arg.startswith("--")
        and flag[1] in arg[1:]
        and flag.startswith("-")
        and not flag.startswith("--")
    )


def _path_args(name: str, args: list[str]) -> list[str]:
    """The arguments of a read-only command that name files or directories."""
    value_opts = _VALUE_OPTS.get(name, frozenset())
    paths: list[str] = []
    pattern_pending = name in _PATTERN_FIRST
    ended = False
    i = 0
    while i < len(args):
        a = args[i]
        if not ended and a == "--":
            ended = True
        elif not ended and _is_option(a):
            if name in _PATTERN_FIRST and a in ("-e", "--regexp", "-f", "--file"):
                pattern_pending = False
                if a in ("-f", "--file") and i + 1 < len(args):
                    paths.append(args[i + 1])
                i += 1
            elif a in value_opts:
                i += 1
        elif pattern_pending:
            pattern_pending = False
        else:
            paths.append(a)
        i += 1
    if name == "cd" and not paths:
        paths.append("~")
    return paths


# --------------------------------------------------------------------------- acceptEdits

_FS_WRITE = {
    "mkdir": frozenset({"-p", "--parents", "-v", "--verbose", "-m"}),
    "touch": frozenset({"-c", "--no-create", "-a", "-m"}),
    "rmdir": frozenset({"-p", "--parents", "-v", "--verbose"}),
    "rm": frozenset({"-r", "-R", "--recursive", "-f", "--force", "-v", "--verbose", "-rf", "-fr", "-Rf", "-fR"}),
    "mv": frozenset({"-f", "-n", "-v", "-i", "--force", "--no-clobber", "--verbose"}),
    "cp": frozenset({"-r", "-R", "-f", "-n", "-v", "-p", "-a", "--recursive", "--force", "--verbose", "-rf"}),
}  # fmt: skip


def _fs_write(words: tuple[Word, ...]) -> list[str] | None:
    """The paths a simple filesystem command changes, or None if it is not one of them."""
    if not words or not all(w.static for w in words):
        return None
    name = words[0].text
    allowed = _FS_WRITE.get(name)
    if allowed is None:
        return None
    paths: list[str] = []
    ended = False
    for w in words[1:]:
        a = w.text
        if not ended and a == "--":
            ended = True
        elif not ended and _is_option(a):
            if a not in allowed:
                return None
        else:
            paths.append(a)
    return paths or None


# --------------------------------------------------------------------------- verdict


@dataclass
class BashVerdict:
    """The permission outcome for one Bash command (before the mode's last word)."""

    behavior: Behavior
    message: str = ""
    reason_type: str | None = None
    reason: str | None = None


Matcher = Callable[[str], bool]


@dataclass
class BashRules:
    """The ``Bash(...)`` specifiers of the allow/deny/ask lists, and the file rules for writes."""

    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    ask: list[str] = field(default_factory=list)
    write_allowed: Callable[[ResolvedPath], bool] | None = None
    """Does an ``Edit(...)``/``Write(...)`` allow rule cover this path (redirections)?"""
    write_denied: Callable[[ResolvedPath], bool] | None = None
    read_denied: Callable[[ResolvedPath], bool] | None = None


def _matches(specs: Iterable[str], forms: Iterable[str]) -> bool:
    forms = list(forms)
    return any(match_bash_specifier(s, f) for s in specs for f in forms)


def bash_verdict(command: str, rules: BashRules, mode: str, dirs: WorkingDirs) -> BashVerdict:
    """Deny rules, ask rules, then allow rules / read-only / acceptEdits, per subcommand.

    Long by nature (one pass per rule kind, each reporting its own message).
    """
    analysis = analyze(command)
    denied = _deny_check(command, analysis, rules, dirs.cwd)
    if denied is not None:
        return denied
    if rules.ask and _matches(rules.ask, (f for c in analysis.commands for f in deny_forms(c)[0])):
        return BashVerdict("ask", "This command matches an ask rule.", "rule")
    if mode == "bypassPermissions":
        return BashVerdict("allow")
    if analysis.error is not None:
        return BashVerdict(
            "ask",
            f"This command can't be checked before it runs: {analysis.error}",
            "other",
            analysis.error,
        )
    if analysis.nested:
        reason = "A nested command in this command can't be checked before it runs"
        return BashVerdict("ask", reason, "other", reason)
    if analysis.background:
        reason = (
            "This command uses the `&` background operator, which defers execution past "
            "approval-time safety checks."
        )
        return BashVerdict("ask", reason, "safetyCheck", reason)
    return _subcommands(analysis, rules, mode, dirs)


def _deny_check(
    command: str, analysis: ShellAnalysis, rules: BashRules, cwd: str
) -> BashVerdict | None:
    message = f"Permission to use Bash with command {command} has been denied."
    if not rules.deny and rules.write_denied is None and rules.read_denied is None:
        return None
    if analysis.error is not None:
        # Unparseable: the deny rules still get every operator-separated piece to look at.
        pieces = [command, *re.split(r"[;&|()\n`]|\$\(", command)]
        if _matches(rules.deny, (p.strip() for p in pieces if p.strip())):
            return BashVerdict("deny", message, "rule")
        return None
    for cmd in analysis.commands:
        forms, _known = deny_forms(cmd)
        if _matches(rules.deny, forms):
            return BashVerdict("deny", message, "subcommandResults")
    for r in analysis.redirects:
        if r.target is None or r.fd_dup or r.op in ("<<", "<<<"):
            continue
        path = resolve_path(r.target, cwd)
        if r.writes and rules.write_denied is not None and rules.write_denied(path):
            return BashVerdict("deny", message, "rule")
        if r.reads and rules.read_denied is not None and rules.read_denied(path):
            return BashVerdict("deny", message, "rule")
    return None


def _subcommands(
    analysis: ShellAnalysis, rules: BashRules, mode: str, dirs: WorkingDirs
) -> BashVerdict:
    bases = [dirs.cwd]
    needs: list[BashVerdict] = []
    multiple = len(analysis.commands) > 1
    for cmd in analysis.commands:
        verdict = _one(cmd, rules, mode, dirs, bases)
        if verdict is not None:
            if verdict.message == "":
                verdict.message = (
                    "This Bash command contains multiple operations. The following part "
                    f"requires approval: {cmd.source}"
                    if multiple
                    else "This command requires approval"
                )
            needs.append(verdict)
    for r in analysis.redirects:
        verdict = _redirect(r, rules, mode, dirs, bases)
        if verdict is not None:
            needs.append(verdict)
    if not needs:
        return BashVerdict("allow")
    return next((v for v in needs if v.behavior == "deny"), needs[0])


def _one(
    cmd: SimpleCommand, rules: BashRules, mode: str, dirs: WorkingDirs, bases: list[str]
) -> BashVerdict | None:
    """None when this subcommand may run unasked; else why it asks."""
    if not cmd.words:
        return BashVerdict("ask")  # a bare assignment changes what later commands do
    if _matches(rules.allow, allow_forms(cmd)):
        _track_cd(cmd, dirs, bases)
        return None
    if cmd.assignments or cmd.name is None:
        return BashVerdict("ask")
    core = _core(cmd)
    check = _read_only(core)
    if check.read_only:
        name = core[0].text if core else ""
        for p in check.paths:
            for base in bases:
                resolved = resolve_path(p.split("*")[0].split("?")[0] or ".", base)
                if rules.read_denied is not None and rules.read_denied(resolved):
                    return BashVerdict(
                        "deny",
                        f"Permission to read {resolved.lexical} with {name} has been denied.",
                        "rule",
                    )
                if not dirs.contains(resolved):
                    return BashVerdict(
                        "ask",
                        f"{name} in '{resolved.lexical}' was blocked. For security, commands may "
                        "only read files in the allowed working directories for this session: "
                        f"{dirs.describe()}.",
                    )
        _track_cd(cmd, dirs, bases)
        return None
    targets = _fs_write(core)
    if targets is not None:
        return _fs_verdict(core[0].text, targets, rules, mode, dirs, bases)
    return BashVerdict("ask")


def _track_cd(cmd: SimpleCommand, dirs: WorkingDirs, bases: list[str]) -> None:
    if cmd.name == "cd" and len(cmd.words) == 2 and cmd.words[1].static:
        for base in list(bases):
            target = resolve_path(cmd.words[1].text, base).lexical
            if target not in bases:
                bases.append(target)


def _fs_verdict(
    name: str, targets: list[str], rules: BashRules, mode: str, dirs: WorkingDirs, bases: list[str]
) -> BashVerdict | None:
    for t in targets:
        for base in bases:
            resolved = resolve_path(t, base)
            if not dirs.contains(resolved):
                return BashVerdict(
                    "ask",
                    f"{name} in '{resolved.lexical}' needs approval. The path is outside the "
                    f"working directories for this session ({dirs.describe()}).",
                    None,
                )
            allowed = rules.write_allowed is not None and rules.write_allowed(resolved)
            if mode != "acceptEdits" and not allowed:
                return BashVerdict(
                    "ask",
                    f"{name} in '{resolved.lexical}' needs approval. The path is inside the "
                    f"working directories for this session ({dirs.describe()}), and a shell "
                    "command that creates, changes or removes files there asks first.",
                )
    return None


_HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})


def _redirect(
    r: Redirect, rules: BashRules, mode: str, dirs: WorkingDirs, bases: list[str]
) -> BashVerdict | None:
    if r.fd_dup or r.op in ("<<", "<<<"):
        return None
    if r.target is None:
        return BashVerdict(
            "ask", "A redirection whose target is an expansion can't be checked before it runs."
        )
    if r.target in _HARMLESS_TARGETS:
        return None
    for base in bases:
        resolved = resolve_path(r.target, base)
        if r.writes:
            inside = dirs.contains(resolved)
            allowed = rules.write_allowed is not None and rules.write_allowed(resolved)
            if allowed or (inside and mode == "acceptEdits"):
                continue
            where = (
                f"inside the working directories for this session ({dirs.describe()}), and a "
                "shell command that creates, changes or removes files there asks first"
                if inside
                else f"outside the working directories for this session ({dirs.describe()})"
            )
            return BashVerdict(
                "ask",
                f"Output redirection to '{resolved.lexical}' needs approval. The path is {where}.",
            )
        if not dirs.contains(resolved):
            return BashVerdict(
                "ask",
                f"Input redirection from '{resolved.lexical}' was blocked. For security, commands "
                "may only read files in the allowed working directories for this session: "
                f"{dirs.describe()}.",
            )
    return None
