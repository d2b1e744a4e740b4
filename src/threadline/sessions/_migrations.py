"""Named, forward-only schema migrations for the database stores.

Each backend keeps an ordered tuple of :class:`Migration` and records the names it
applied in a ``_migrations`` table (Redis needs none). A migration is never edited
once released; a change is a new migration appended to the tuple.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Migration"]


@dataclass(frozen=True)
class Migration:
    """One forward-only schema step: a unique ``name`` and its SQL statements."""

    name: str
    statements: tuple[str, ...]
