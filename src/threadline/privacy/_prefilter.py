"""The redactor's pre-filter: "might this JSON text hold a secret?" at memory speed.

Searching every string with the full rules costs one regex attempt per
character per rule. Instead an entry (or a whole batch) is serialised once,
lower-cased, and searched for the rules' keywords. Each keyword is found
through an *anchor*, one of its characters, checked in place with
look-behind/look-ahead; keywords sharing an anchor are OR-ed into one regex
that starts with that literal character, so CPython's ``re`` jumps between
occurrences of it with its fast literal search instead of trying every
alternative at every offset. Anchors are chosen to cover all keywords with
few, rare characters (a weighted set cover), so the whole check is a handful
of passes over the text, each not much slower than ``bytes.count``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["Prefilter"]

# Approximate frequency (per mille) of characters in lower-cased transcript JSON
# (prose, code and tool output); unlisted characters count as rare.
_FREQ = {
    **dict.fromkeys('et "', 70.0),
    **dict.fromkeys("aosrin", 45.0),
    **dict.fromkeys("cd", 35.0),
    **dict.fromkeys("ulmph", 22.0),
    **dict.fromkeys("f:", 16.0),
    **dict.fromkeys("-b", 11.0),
    **dict.fromkeys("yg0123456789=_./,", 8.0),
    **dict.fromkeys("kvw", 5.0),
    **dict.fromkeys("xqj", 3.0),
    "z": 0.7,
}
_PASS_COST = 3.0  # one pass over the text, in the same unit as one per mille of hits
_LITERAL_HEAD = re.compile(r"[A-Za-z0-9_@%&#=:'\"!;,~/ -]")


def _choose_anchors(keywords: list[str], freq: dict[str, float]) -> dict[str, str]:
    """keyword -> anchor character: few passes, rare characters (greedy weighted set cover)."""
    chosen: dict[str, str] = {}
    left = set(keywords)
    while left:
        best: tuple[float, str] | None = None
        for c in sorted({c for kw in left for c in kw}):
            covered = sum(1 for kw in left if c in kw)
            rare = 0.5 if c.isupper() else 8.0
            score = (
                _PASS_COST + freq.get(c.lower(), rare) if not c.isupper() else _PASS_COST + rare
            ) / covered
            if best is None or score < best[0]:
                best = (score, c)
        assert best is not None
        anchor = best[1]
        for kw in [k for k in left if anchor in k]:
            chosen[kw] = anchor
            left.discard(kw)
    return chosen


def _lookarounds(keyword: str, anchor: str) -> str:
    """The look-arounds that, right after ``anchor``, confirm ``keyword`` around it."""
    i = keyword.index(anchor)
    piece = ""
    if i:
        piece += f"(?<={re.escape(keyword[: i + 1])})"
    if i + 1 < len(keyword):
        piece += f"(?={re.escape(keyword[i + 1 :])})"
    return piece


class Prefilter:
    """A few anchored regexes over lower-cased JSON bytes; any hit means "look closer".

    Args:
        keywords: literal substrings. All lower-case: matched in any case;
            with an upper-case letter: matched exactly (in the original text).
        pieces: extra regexes over the lower-cased JSON text; one starting
            with a literal character shares that character's pass.
    """

    __slots__ = ("exact", "passes")

    def __init__(self, keywords: Iterable[str], pieces: Iterable[str] = ()) -> None:
        kws = sorted(set(keywords) - {""})
        self.passes = _compile([k for k in kws if k == k.lower()], pieces)
        self.exact = _compile([k for k in kws if k != k.lower()], (), exact=True)

    def hit(self, data: bytes) -> bool:
        """Whether JSON ``data`` may contain a match."""
        if any(p.search(data) is not None for p in self.exact):
            return True
        low = data.lower()
        return any(p.search(low) is not None for p in self.passes)


def _compile(
    kws: list[str], pieces: Iterable[str], *, exact: bool = False
) -> list[re.Pattern[bytes]]:
    freq = _FREQ if not exact else {}  # upper-case letters are rare
    anchors = _choose_anchors(kws, freq)
    groups: dict[str, list[str]] = {}
    solo: list[str] = []
    for kw in kws:
        groups.setdefault(anchors[kw], []).append(_lookarounds(kw, anchors[kw]))
    for piece in dict.fromkeys(pieces):
        head = piece[:1]
        if head and _LITERAL_HEAD.match(head):
            groups.setdefault(head, []).append(piece[1:])
        else:
            solo.append(piece)
    patterns = [
        re.escape(head) + ("(?:" + "|".join(rests) + ")" if all(rests) else "")
        for head, rests in groups.items()
    ]
    return [re.compile(p.encode()) for p in (*patterns, *solo)]
