"""The redactor's pre-filter: "might this JSON text hold a secret?" at memory speed.

Searching every string with the full rules costs one regex attempt per
character per rule. Instead an entry (or a whole batch) is serialised once and
searched for the rules' keywords (and ``prefilter`` pieces). Any hit means
"look closer"; no hit means the entry certainly holds nothing a rule matches.
Both engines below flag a superset of what the rules match: a miss would let a
secret through, a false hit only costs the slow path.

**One pass with RE2** (when ``google-re2`` is installed; the ``[crypto]`` extra
brings it): the keywords (all-lower-case ones as ``(?i:...)``) and the pieces
(as ``(?i:...)``) are OR-ed into one regex, run by RE2's DFA over the original
JSON bytes in Latin-1 mode (byte for byte, as ``re`` on bytes; ``(?i)`` then
folds exactly the ASCII letters, as lower-casing does). A piece that RE2
cannot compile (look-arounds, back-references) runs with ``re`` as below.

**A few passes with** ``re`` (otherwise): the JSON text is lower-cased and each
keyword is found through an *anchor*, one of its characters, checked in place
with look-behind/look-ahead; keywords sharing an anchor are OR-ed into one
regex that starts with that literal character, so CPython's ``re`` jumps
between occurrences of it with its fast literal search instead of trying every
alternative at every offset. Anchors are chosen to cover all keywords with
few, rare characters (a weighted set cover), so the whole check is a handful
of passes over the text, each not much slower than ``bytes.count``.

Case-insensitive rules (``(?i)`` in Python's ``re``) also match four non-ASCII
letters as ASCII ones: ``ſ`` (long s) as ``s``, ``K`` (Kelvin sign) as ``k``,
``ı`` and ``İ`` as ``i``. Neither engine folds them, so with ``fold=True`` any
text holding one of them is flagged as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_UNLOADED: Any = object()
_re2: Any = _UNLOADED
"""The ``re2`` module, ``None`` without google-re2; loaded with the first prefilter (its
import is not paid by programs that redact nothing)."""


def _load_re2() -> Any:
    global _re2
    if _re2 is _UNLOADED:
        try:
            import re2  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - depends on the environment
            re2 = None
        _re2 = re2
    return _re2


__all__ = ["FOLDING_CHARS", "Prefilter"]

FOLDING_CHARS = "\u0130\u0131\u017f\u212a"
"""The non-ASCII letters that Python's case-insensitive ``re`` matches as ASCII ``i``, ``s``, ``k``."""
_FOLD_BYTES = rb"\xc4[\xb0\xb1]|\xc5\xbf|\xe2\x84\xaa"  # FOLDING_CHARS in UTF-8
# For ``re``: by lead byte (a one-byte ``in`` is a memchr), then a literal-prefix search.
_FOLD_PARTS = tuple(
    (lead, re.compile(rx))
    for lead, rx in (
        (b"\xc4", rb"\xc4[\xb0\xb1]"),
        (b"\xc5", rb"\xc5\xbf"),
        (b"\xe2", rb"\xe2\x84\xaa"),
    )
)

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
    """Anchored regexes (or one RE2 regex) over JSON bytes; any hit means "look closer".

    Args:
        keywords: literal substrings. All lower-case: matched in any (ASCII)
            case; with an upper-case letter: matched exactly.
        pieces: extra regexes over the lower-cased JSON text; one starting
            with a literal character shares that character's pass.
        fold: also flag any text holding one of :data:`FOLDING_CHARS` (needed
            when a rule is case-insensitive).

    Uses RE2 when ``google-re2`` is installed (``fast``), ``re`` otherwise.
    """

    __slots__ = ("exact", "fast", "fold", "passes")

    def __init__(
        self,
        keywords: Iterable[str],
        pieces: Iterable[str] = (),
        *,
        fold: bool = False,
    ) -> None:
        kws = sorted(set(keywords) - {""})
        pieces = list(dict.fromkeys(pieces))
        self.fast: Any = None
        if _load_re2() is not None:
            fast, rejected = _compile_re2(kws, pieces, fold)
            if fast is not None:  # all in the RE2 regex; pieces it rejected stay below
                self.fast, pieces, kws, fold = fast, rejected, [], False
        self.passes = _compile([k for k in kws if k == k.lower()], pieces)
        self.exact = _compile([k for k in kws if k != k.lower()], (), exact=True)
        self.fold = fold

    def hit(self, data: bytes) -> bool:
        """Whether JSON ``data`` may contain a match."""
        fast = self.fast
        if fast is not None and fast.search(data) is not None:
            return True
        if any(p.search(data) is not None for p in self.exact):
            return True
        if self.fold and any(
            lead in data and p.search(data) is not None for lead, p in _FOLD_PARTS
        ):
            return True
        if not self.passes:
            return False
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


def _re2_options() -> Any:
    assert _re2 is not None
    options = _re2.Options()
    options.encoding = _re2.Options.Encoding.LATIN1
    options.never_capture = True
    options.log_errors = False
    options.max_mem = 32 << 20
    return options


def _compile_re2(kws: list[str], pieces: list[str], fold: bool) -> tuple[Any, list[str]]:
    """One RE2 regex for ``kws``, ``fold`` and the ``pieces`` it accepts, and the pieces it rejects
    (``None`` and all the pieces when there is nothing for RE2 or it fails).

    Everything is given to RE2 as UTF-8 bytes read as Latin-1, exactly as ``re``
    sees a pattern ``.encode()``-d for bytes.
    """
    assert _re2 is not None
    options = _re2_options()

    def lit(kw: str) -> bytes:
        return "".join(f"\\x{b:02x}" for b in kw.encode("utf-8", "surrogatepass")).encode()

    parts: list[bytes] = []
    lower = [lit(k) for k in kws if k == k.lower()]
    if lower:
        parts.append(b"(?i:" + b"|".join(lower) + b")")
    parts.extend(lit(k) for k in kws if k != k.lower())
    if fold:
        parts.append(_FOLD_BYTES)
    rejected: list[str] = []
    for piece in pieces:
        wrapped = b"(?i:" + piece.encode("utf-8", "surrogatepass") + b")"
        try:  # RE2 syntax: no look-arounds, back-references, possessive or verbose forms
            _re2.compile(wrapped, options)
        except Exception:
            rejected.append(piece)
        else:
            parts.append(wrapped)
    if not parts:
        return None, pieces
    try:
        return _re2.compile(b"|".join(parts), options), rejected
    except Exception:  # e.g. too big for max_mem: everything stays with re
        return None, pieces
