"""Compaction boundaries as every store reads them (split from ``_db`` so that
``FileStore`` and ``MemoryStore`` do not import the database stores' write planning)."""

from __future__ import annotations

from ._protocol import SessionStoreEntry

__all__ = ["is_boundary", "preserved_head"]


def is_boundary(entry: SessionStoreEntry) -> bool:
    return entry.get("type") == "system" and entry.get("subtype") == "compact_boundary"


def preserved_head(entry: SessionStoreEntry) -> str | None:
    meta = entry.get("compactMetadata")
    seg = meta.get("preservedSegment") if isinstance(meta, dict) else None
    head = seg.get("headUuid") if isinstance(seg, dict) else None
    return head if isinstance(head, str) else None
