"""Which local sessions arrived from elsewhere (a bundle), so their recorded ``cwd`` is not trusted.

A transcript records the directory its agent ran in. For a session written on this host that
is where a resume should run; for one that came in a bundle it is a path on another host,
written by whoever made the bundle (``"cwd": "/"``, ``~/.ssh``...). :func:`mark_imported`
records the ids :func:`~threadline.import_bundle` restored, and those copied into local files
from a store (:func:`~threadline.export_session_from_store`, :func:`~threadline.import_sessions_to_store`
into a ``FileStore``), in
``<config>/threadline/imported-sessions`` (one id a line, 0600); a resume of such a session
runs where it is started unless ``cwd=`` says otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ._filelog import ensure_private_dir

__all__ = ["is_imported", "mark_imported"]

_NAME = "imported-sessions"


def _path(config_dir: Path) -> Path:
    return config_dir / "threadline" / _NAME


def mark_imported(config_dir: Path, session_ids: Iterable[str]) -> None:
    """Remember that these sessions came from a bundle."""
    ids = [s for s in session_ids if s]
    if not ids:
        return
    path = _path(config_dir)
    ensure_private_dir(path.parent, stop_at=config_dir)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    with open(fd, "a", encoding="ascii") as f:
        f.write("".join(f"{s}\n" for s in ids))


def is_imported(config_dir: Path, session_id: str) -> bool:
    """Whether ``session_id`` was restored from a bundle into this config dir."""
    try:
        with open(_path(config_dir), encoding="ascii", errors="replace") as f:
            return any(line.strip() == session_id for line in f)
    except OSError:
        return False
