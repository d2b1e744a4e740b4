"""What ``WebSearch`` asks: the :class:`SearchBackend` protocol and its :class:`SearchHit`.

A leaf module (the session state holds a backend; the tool in :mod:`._web` calls it), so
the state never imports the tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["SearchBackend", "SearchHit"]


@dataclass(frozen=True)
class SearchHit:
    """One search result."""

    title: str
    url: str
    snippet: str = ""


@runtime_checkable
class SearchBackend(Protocol):
    """What WebSearch asks. Filter by the domains if you can; WebSearch filters again."""

    async def search(
        self,
        query: str,
        *,
        allowed_domains: Sequence[str] = (),
        blocked_domains: Sequence[str] = (),
    ) -> Sequence[SearchHit]: ...
