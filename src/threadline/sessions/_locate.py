"""Finding a session's transcript on disk from its id.

With ``directory``: that project's directory, then the project directories of
the repository's other git worktrees. Without: every project directory (so a
session is found whatever the current directory is). A 0-byte file counts as
absent and the search goes on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ._paths import canonicalize_path, find_project_dir, projects_dir, worktree_paths

__all__ = ["Located", "locate_session", "search_description"]


@dataclass(frozen=True)
class Located:
    path: Path
    project_dir: Path
    project_path: str | None
    """The directory the project dir was resolved from (``None`` when scanning all)."""


def _candidate(project_dir: Path, file_name: str, project_path: str | None) -> Located | None:
    path = project_dir / file_name
    try:
        if os.stat(path).st_size > 0:
            return Located(path, project_dir, project_path)
    except OSError:
        pass
    return None


def locate_session(
    session_id: str, directory: str | os.PathLike[str] | None, projects: Path | None = None
) -> Located | None:
    """The non-empty transcript of ``session_id`` (already validated as a UUID)."""
    root = projects if projects is not None else projects_dir()
    file_name = f"{session_id}.jsonl"
    if directory:
        canonical = canonicalize_path(directory)
        pdir = find_project_dir(canonical, root)
        if pdir is not None:
            found = _candidate(pdir, file_name, canonical)
            if found is not None:
                return found
        for wt in worktree_paths(canonical):
            if wt == canonical:
                continue
            wdir = find_project_dir(wt, root)
            if wdir is not None:
                found = _candidate(wdir, file_name, wt)
                if found is not None:
                    return found
        return None
    try:
        it = os.scandir(root)
    except OSError:
        return None
    with it:
        for entry in it:
            found = _candidate(Path(entry.path), file_name, None)
            if found is not None:
                return found
    return None


def search_description(directory: str | os.PathLike[str] | None) -> str:
    """Where a failed lookup looked, for error messages."""
    if directory:
        return f"in the project directory for {os.fspath(directory)} (or its git worktrees)"
    return f"in any project directory under {projects_dir()}"
