"""File-history backup names: the one shape a checkpoint may name, wherever it comes from.

Claude Code keeps the contents a rewind restores in ``<config>/file-history/<session>/``
under names like ``<hash>@v<n>``. A transcript or a bundle that names anything else (a path,
``..``, a subdirectory) is forged: rewinds (:mod:`threadline.runtime._checkpoints`) and
bundle imports (:mod:`threadline.sessions._bundle`) both refuse it through this check.
"""

from __future__ import annotations

import re

__all__ = ["BACKUP_NAME", "is_backup_name"]

BACKUP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}@v[0-9]{1,9}\Z")


def is_backup_name(name: object) -> bool:
    """A single file name of the ``<hash>@v<n>`` shape (no path, no ``..``)."""
    return isinstance(name, str) and BACKUP_NAME.match(name) is not None
