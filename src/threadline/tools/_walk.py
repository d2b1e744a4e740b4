"""File-walking helpers shared by Glob and Grep (pure Python, no ripgrep needed).

Walks skip version-control directories (``.git``, ``.svn``, ``.hg``, ``.bzr``,
``.jj``, ``.sl``) and do not consult ``.gitignore``. Everything here is
blocking: callers run it in a worker thread.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "TYPE_EXTENSIONS",
    "VCS_DIRS",
    "expand_braces",
    "glob_regex",
    "newest_first",
    "walk_files",
]

VCS_DIRS = frozenset({".git", ".svn", ".hg", ".bzr", ".jj", ".sl"})

TYPE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "py": (".py", ".pyi"),
    "js": (".js", ".jsx", ".mjs", ".cjs", ".vue"),
    "ts": (".ts", ".tsx", ".cts", ".mts"),
    "rust": (".rs",),
    "go": (".go",),
    "java": (".java", ".jsp", ".properties"),
    "c": (".c", ".h"),
    "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".h", ".inl"),
    "cs": (".cs",),
    "rb": (".rb", ".gemspec"),
    "ruby": (".rb", ".gemspec"),
    "php": (".php",),
    "sh": (".sh", ".bash", ".zsh"),
    "md": (".md", ".markdown", ".mdx"),
    "markdown": (".md", ".markdown", ".mdx"),
    "json": (".json",),
    "yaml": (".yaml", ".yml"),
    "toml": (".toml",),
    "html": (".html", ".htm"),
    "css": (".css", ".scss", ".sass", ".less"),
    "sql": (".sql",),
    "kotlin": (".kt", ".kts"),
    "swift": (".swift",),
    "txt": (".txt",),
}


def expand_braces(pattern: str) -> list[str]:
    """Expand shell-style braces: ``"*.{ts,tsx}"`` -> ``["*.ts", "*.tsx"]`` (nesting allowed)."""
    depth = 0
    start = -1
    for i, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                body = pattern[start + 1 : i]
                parts: list[str] = []
                level = 0
                last = 0
                for j, c in enumerate(body):
                    if c == "{":
                        level += 1
                    elif c == "}":
                        level -= 1
                    elif c == "," and level == 0:
                        parts.append(body[last:j])
                        last = j + 1
                parts.append(body[last:])
                if len(parts) == 1:
                    continue
                head, tail = pattern[:start], pattern[i + 1 :]
                return [x for part in parts for x in expand_braces(head + part + tail)]
    return [pattern]


def walk_files(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` (sorted walk, VCS directories skipped)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in VCS_DIRS)
        for name in sorted(filenames):
            yield Path(dirpath, name)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def newest_first(paths: list[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: (-_mtime(p), str(p)))


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a glob with ``**`` (any number of directories) into a regex on posix paths."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            ch = pattern[i]
            if ch == "*":
                out.append("[^/]*")
            elif ch == "?":
                out.append("[^/]")
            elif ch == "[":
                end = pattern.find("]", i + 2)
                if end == -1:
                    out.append(re.escape(ch))
                else:
                    body = pattern[i + 1 : end]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    out.append(f"[{body}]")
                    i = end
            else:
                out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)
