"""Where Claude Code keeps things, and how it names project directories.

The layout is Claude Code's own, so sessions move freely between threadline
and the real ``claude`` CLI::

    $CLAUDE_CONFIG_DIR (default ~/.claude)
    └── projects/
        └── <project key>/                 sanitized canonical cwd
            ├── <session id>.jsonl         main transcript
            └── <session id>/subagents/
                ├── agent-<id>.jsonl       subagent transcript (may nest deeper)
                └── agent-<id>.meta.json   sidecar: toolUseId, parentAgentId, agentType

Project keys replace every non-alphanumeric code point with ``-``; above 200
characters the key is truncated and suffixed with a 32-bit ×31 string hash of
the unsanitized path in base 36 (the same hash the official SDK computes).
"""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from pathlib import Path

__all__ = [
    "MAX_SANITIZED_LENGTH",
    "canonicalize_path",
    "config_dir",
    "find_project_dir",
    "project_key_for_directory",
    "projects_dir",
    "sanitize_path",
    "simple_hash",
    "worktree_paths",
]

MAX_SANITIZED_LENGTH = 200
_SANITIZE_RE = re.compile(r"[^a-zA-Z0-9]")
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def simple_hash(s: str) -> str:
    """Claude Code's 32-bit string hash (``h = h*31 + c`` wrapped to int32), abs, base 36."""
    h = 0
    for ch in s:
        h = (h * 31 + ord(ch)) & 0xFFFFFFFF
    if h >= 0x80000000:
        h -= 0x100000000
    h = abs(h)
    if h == 0:
        return "0"
    out: list[str] = []
    while h:
        h, r = divmod(h, 36)
        out.append(_BASE36[r])
    return "".join(reversed(out))


def sanitize_path(name: str) -> str:
    """Turn a canonical path into a project key (directory name)."""
    sanitized = _SANITIZE_RE.sub("-", name)
    if len(sanitized) <= MAX_SANITIZED_LENGTH:
        return sanitized
    return f"{sanitized[:MAX_SANITIZED_LENGTH]}-{simple_hash(name)}"


def canonicalize_path(directory: str | os.PathLike[str]) -> str:
    """``realpath`` then Unicode NFC, as Claude Code does before sanitizing."""
    raw = os.fspath(directory)
    try:
        return unicodedata.normalize("NFC", os.path.realpath(raw))
    except (OSError, ValueError):
        return unicodedata.normalize("NFC", raw)


def project_key_for_directory(directory: str | os.PathLike[str] | None = None) -> str:
    """The project key Claude Code uses for ``directory`` (default: the process cwd)."""
    return sanitize_path(canonicalize_path(directory if directory is not None else "."))


def config_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """``override``, else ``$CLAUDE_CONFIG_DIR`` if set and non-empty, else ``~/.claude``."""
    if override is not None and os.fspath(override):
        return Path(unicodedata.normalize("NFC", os.path.expanduser(os.fspath(override))))
    env = os.environ.get("CLAUDE_CONFIG_DIR")
    if env:
        return Path(unicodedata.normalize("NFC", os.path.expanduser(env)))
    return Path(unicodedata.normalize("NFC", str(Path.home() / ".claude")))


def projects_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """``<config dir>/projects``."""
    return config_dir(override) / "projects"


def find_project_dir(canonical_path: str, projects: Path | None = None) -> Path | None:
    """The existing project directory for a canonical path, tolerating long-path hash drift.

    Claude Code builds under Bun may hash long paths differently; for keys over
    200 characters any directory starting with ``<first 200 chars>-`` is accepted.
    """
    root = projects if projects is not None else projects_dir()
    key = sanitize_path(canonical_path)
    exact = root / key
    if exact.is_dir():
        return exact
    if len(key) <= MAX_SANITIZED_LENGTH:
        return None
    prefix = key[:MAX_SANITIZED_LENGTH] + "-"
    try:
        with os.scandir(root) as it:
            for entry in it:
                if entry.name.startswith(prefix) and entry.is_dir():
                    return Path(entry.path)
    except OSError:
        pass
    return None


def worktree_paths(cwd: str) -> list[str]:
    """Paths of every git worktree of the repository containing ``cwd`` ([] if none)."""
    try:
        result = subprocess.run(
            ["git", "worktree", "list", "--porcelain"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    if result.returncode != 0 or not result.stdout:
        return []
    return [
        unicodedata.normalize("NFC", line[len("worktree ") :])
        for line in result.stdout.split("\n")
        if line.startswith("worktree ")
    ]
