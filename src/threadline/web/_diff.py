"""Two branches side by side, from their common ancestor.

A branch is a path (a session and a leaf in it). Entries of the two paths are matched
by identity: the uuid, or for an entry ``fork_session`` copied, the uuid it was copied
from (``forkedFrom.messageUuid``), so a fork compares with its source across sessions
(forks made by the CLI keep the uuids themselves). The common ancestor is the last
entry of the second path that the first path also holds; everything after it on each
side is the diff.
"""

from __future__ import annotations

from ._items import View
from ._transcript import Raw

__all__ = ["common_ancestor", "split_at"]


def _identity(e: Raw) -> str:
    ff = e.get("forkedFrom")
    if isinstance(ff, dict) and isinstance(ff.get("messageUuid"), str):
        return str(ff["messageUuid"])
    return str(e["uuid"])


def common_ancestor(a: list[Raw], b: list[Raw]) -> tuple[str | None, str | None]:
    """(uuid in ``a``, uuid in ``b``) of the last shared entry, or ``(None, None)``."""
    in_a: dict[str, str] = {}
    for e in a:
        in_a[_identity(e)] = e["uuid"]
        in_a.setdefault(e["uuid"], e["uuid"])
    for e in reversed(b):
        for ident in (_identity(e), e["uuid"]):
            hit = in_a.get(ident)
            if hit is not None:
                return hit, e["uuid"]
    return None, None


def split_at(view: View, path: list[Raw], uuid: str | None) -> int:
    """How many of ``view``'s items come up to the entry ``uuid`` of ``path``.

    The entry itself may draw no item (an attachment): the last one before it that
    does is the cut.
    """
    cut = -1
    if uuid is not None:
        for e in path:
            idx = view.index_of.get(e["uuid"])
            if idx is not None:
                cut = max(cut, idx)
            if e["uuid"] == uuid:
                break
        else:
            cut = -1
    return cut + 1
