"""Where tools may act: the session's working directories, and file rules anchored in them.

Claude Code confines its file tools to the working directories of the session (``cwd`` plus
``add_dirs`` plus settings' ``additionalDirectories``): a path outside them asks, in every
mode but ``bypassPermissions``. Paths are compared after ``~`` expansion, normalisation and
symlink resolution, so ``src/../../x`` or a symlink pointing out of the project is outside.

File rules (``Read(...)``, ``Edit(...)``, ``Write(...)``) follow the gitignore specification
as Claude Code documents it, with four anchors: ``//abs/path`` (filesystem root),
``~/path`` (home), ``/path`` (the project root, where settings files live) and ``path`` or
``./path`` (the working directory). A pattern matches only paths under its anchor, so
``Edit(*.txt)`` covers the project's ``.txt`` files, not every ``.txt`` on the disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["PathRule", "ResolvedPath", "WorkingDirs", "resolve_path"]


@dataclass(frozen=True)
class ResolvedPath:
    """A tool's path as written (made absolute and normalised) and with symlinks resolved."""

    lexical: str
    real: str


def resolve_path(path: str, base: str | Path) -> ResolvedPath:
    """``~`` expanded, made absolute against ``base``, normalised; ``real`` follows symlinks."""
    expanded = os.path.expanduser(path)
    if not os.path.isabs(expanded):
        expanded = os.path.join(os.path.expanduser(str(base)), expanded)
    lexical = os.path.normpath(expanded)
    if lexical.startswith("//"):
        lexical = "/" + lexical.lstrip("/")
    # realpath of the path as written: ``link/..`` is the parent of the link's target, as the
    # kernel reads it, not the directory holding the link.
    return ResolvedPath(lexical=lexical, real=os.path.realpath(expanded))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class WorkingDirs:
    """The directories a session's tools may use without asking.

    ``cwd`` first, then ``add_dirs``; :meth:`add` takes more later (settings'
    ``additionalDirectories``, a permission update of type ``addDirectories``).
    """

    def __init__(self, cwd: str | Path, extra: Iterable[str | Path] = ()) -> None:
        self.cwd = os.path.normpath(os.path.abspath(os.path.expanduser(str(cwd))))
        self._dirs: list[str] = []
        self._real: list[str] = []
        self.add([self.cwd])
        self.add(extra)

    def add(self, dirs: Iterable[str | Path]) -> None:
        """Allow more directories (relative ones are taken from ``cwd``)."""
        for d in dirs:
            resolved = resolve_path(str(d), self.cwd)
            if resolved.lexical not in self._dirs:
                self._dirs.append(resolved.lexical)
                self._real.append(resolved.real)

    def remove(self, dirs: Iterable[str | Path]) -> None:
        """Stop allowing directories (``cwd`` itself stays)."""
        for d in dirs:
            resolved = resolve_path(str(d), self.cwd)
            if resolved.lexical in self._dirs and resolved.lexical != self.cwd:
                i = self._dirs.index(resolved.lexical)
                del self._dirs[i], self._real[i]

    @property
    def dirs(self) -> list[str]:
        return list(self._dirs)

    def contains(self, path: ResolvedPath) -> bool:
        """Inside when both the written path and its symlink-resolved target are inside."""
        lexical_in = any(_under(path.lexical, d) for d in self._dirs) or any(
            _under(path.lexical, r) for r in self._real
        )
        return lexical_in and any(_under(path.real, r) for r in self._real)

    def describe(self) -> str:
        return ", ".join(f"'{d}'" for d in self._dirs)


class PathRule:
    """The content of a ``Read(...)``/``Edit(...)`` rule, compiled against its anchor."""

    def __init__(self, content: str, *, cwd: str, project_root: str | None = None) -> None:
        self.content = content
        pattern = content.strip()
        if pattern.startswith("//"):
            root, pattern = "/", "/" + pattern.lstrip("/")
        elif pattern == "~" or pattern.startswith("~/"):
            root, pattern = os.path.expanduser("~"), "/" + pattern[2:]
        elif pattern.startswith("/"):
            root = project_root or cwd
        else:
            root = cwd
            while pattern.startswith("./"):
                pattern = pattern[2:]
        self.root = os.path.normpath(root)
        self.real_root = os.path.realpath(self.root)
        self._pattern = pattern or "**"

    def _match_under(self, path: str, root: str) -> bool:
        if not _under(path, root):
            return False
        rel = os.path.relpath(path, root)
        if rel == ".":
            return self._pattern in ("**", "/**", "*", "/")
        return bool(_spec(self._pattern).match_file(rel))

    def matches_any(self, path: ResolvedPath) -> bool:
        """The written path or its target matches (deny rules: either is enough)."""
        return self.matches_lexical(path) or self._match_under(path.real, self.real_root)

    def matches_all(self, path: ResolvedPath) -> bool:
        """Both the written path and its symlink target match (allow rules)."""
        return self.matches_lexical(path) and (
            self._match_under(path.real, self.real_root) or self._match_under(path.real, self.root)
        )

    def matches_lexical(self, path: ResolvedPath) -> bool:
        return self._match_under(path.lexical, self.root) or self._match_under(
            path.lexical, self.real_root
        )


@lru_cache(maxsize=512)
def _spec(pattern: str) -> Any:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines([pattern])


def paths_of(tool_input: dict[str, Any], keys: Sequence[str]) -> list[str]:
    """The path-valued fields of a tool input that are set."""
    return [v for k in keys if isinstance(v := tool_input.get(k), str) and v]
