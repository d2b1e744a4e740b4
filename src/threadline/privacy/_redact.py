"""``Redactor``: replace credentials in transcript entries with ``[REDACTED:<rule>]``.

How it stays cheap on the common path (an entry holding no secret):

1. the entry (or a whole batch) is serialised once with orjson and the JSON
   text is searched for the rules' keywords and pieces
   (:mod:`threadline.privacy._prefilter`: one RE2 pass when ``google-re2`` is
   installed, else a few anchored ``re`` passes); no hit means nothing to do,
   and the store gets the caller's entries unchanged;
2. otherwise the entry is walked, and each string goes through the same
   search on its own; a string it flags is searched with one combined regex
   of the rules whose own keywords it holds (:class:`_Compiled`). The regex of
   all the rules tries every rule at every offset and crawls (~3 MB/s); one or
   two rules with a literal start are ~30 times faster.

Dict keys are never changed; a string value under a key that names a secret
(``"apiKey"``, ``"client_secret"``, ``"password"``...) is replaced whatever it
looks like (marker ``[REDACTED:secret-field]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, cast

import orjson

from ._prefilter import Prefilter
from ._rules import BUILTIN_RULES, SECRET_FIELD_KEYWORDS, SECRET_FIELD_PATTERN, Rule, marker

__all__ = ["Redactor"]

T = TypeVar("T")

_GLOBAL_FLAGS = re.compile(r"^\(\?([imsx]+)\)")
_BACKREF = re.compile(r"\\[1-9]|\(\?P=")
_SECRET_FIELD = "secret-field"


def _scoped(rule: Rule) -> str | None:
    """The rule's pattern as a self-contained fragment, or ``None`` if it cannot be combined."""
    if isinstance(rule.pattern, re.Pattern):
        source = rule.pattern.pattern
        flags = "".join(
            c
            for f, c in ((re.I, "i"), (re.M, "m"), (re.S, "s"), (re.X, "x"))
            if rule.pattern.flags & f
        )
    else:
        source, flags = rule.pattern, ""
    m = _GLOBAL_FLAGS.match(source)
    if m:
        source, flags = source[m.end() :], flags + m.group(1)
    if _BACKREF.search(source) or "(?a" in source or "(?L" in source:
        return None
    return f"(?{flags}:{source})" if flags else f"(?:{source})"


class _Compiled:
    """The rules turned into one combined regex (plus any rules that cannot join it).

    Also, for a string the pre-filter flags: which rules may match in it (each
    rule's own pre-filter), and the combined regex of just those rules.
    Leaving out rules that match nowhere in the string changes nothing: at
    every offset the first rule (in order) that matches there still wins.
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.names: dict[str, tuple[str, str | None]] = {}
        self.solo: list[tuple[re.Pattern[str], str, int]] = []
        self._parts: dict[int, str] = {}
        self._rules = tuple(rules)
        keywords: list[str] = []
        pre: list[str] = []
        always = False
        self.folds = False
        self._folds: list[bool] = []
        for i, rule in enumerate(rules):
            compiled = re.compile(rule.pattern)  # validates, whatever happens next
            folds = _ignores_case(compiled)
            self._folds.append(folds)
            self.folds = self.folds or folds
            fragment = _scoped(rule)
            if fragment is None or fragment.count("(?P<") != fragment.count("(?P<secret>"):
                self.solo.append((compiled, rule.name, i))
            else:
                sec = f"_s{i}" if "(?P<secret>" in fragment else None
                if sec is not None:
                    fragment = fragment.replace("(?P<secret>", f"(?P<{sec}>")
                self.names[f"_r{i}"] = (rule.name, sec)
                self._parts[i] = f"(?P<_r{i}>{fragment})"
            if rule.prefilter:
                pre.extend(rule.prefilter)
            elif rule.keywords:
                keywords.extend(rule.keywords)
            else:
                always = True
        self.combined = re.compile("|".join(self._parts.values())) if self._parts else None
        self.keywords = keywords
        self.pieces: list[str] | None = None if always else pre
        self._filters: list[Prefilter] | None = None
        self._subsets: dict[tuple[int, ...], re.Pattern[str] | None] = {}

    def may_match(self, data: bytes) -> list[bool]:
        """For each rule: whether it may match in the string whose JSON text is ``data``."""
        filters = self._filters
        if filters is None:  # built on first use: most redactors never need them
            filters = self._filters = [
                Prefilter(() if r.prefilter else r.keywords, r.prefilter, fold=self._folds[i])
                for i, r in enumerate(self._rules)
            ]
        return [f.hit(data) for f in filters]

    def subset(self, picked: tuple[int, ...]) -> re.Pattern[str] | None:
        """The combined regex of the combinable rules ``picked`` (indices, in rule order)."""
        if picked in self._subsets:
            return self._subsets[picked]
        parts = [self._parts[i] for i in picked if i in self._parts]
        pattern = re.compile("|".join(parts)) if parts else None
        if len(self._subsets) < 256:
            self._subsets[picked] = pattern
        return pattern


class Redactor:
    """Finds credentials in entries and replaces them with a marker naming the rule.

    Args:
        extra_rules: rules added after the built-in ones.
        rules: replaces the built-in rules entirely (default
            :data:`~threadline.privacy.BUILTIN_RULES`).
        disable: names of rules to leave out (built-in or extra).
        secret_fields: also replace any string stored under a key that names
            a secret (``apiKey``, ``password``, ``client_secret``...).
        enabled: ``False`` makes every method return its input unchanged
            (see :meth:`disabled`).
    """

    def __init__(
        self,
        *,
        extra_rules: Iterable[Rule] = (),
        rules: Iterable[Rule] | None = None,
        disable: Iterable[str] = (),
        secret_fields: bool = True,
        enabled: bool = True,
    ) -> None:
        off = set(disable)
        chosen = [
            r
            for r in (*(BUILTIN_RULES if rules is None else rules), *extra_rules)
            if r.name not in off
        ]
        self.rules: tuple[Rule, ...] = tuple(chosen)
        self.enabled = enabled
        self._c = _Compiled(self.rules)
        self._fields = re.compile(SECRET_FIELD_PATTERN) if secret_fields else None
        pieces, keywords = self._c.pieces, self._c.keywords
        if secret_fields:
            keywords = [*keywords, *SECRET_FIELD_KEYWORDS]
        fold = secret_fields or self._c.folds
        self._pre = None if pieces is None else Prefilter(keywords, pieces, fold=fold)
        self._field_marker = marker(_SECRET_FIELD)

    @classmethod
    def disabled(cls) -> Redactor:
        """A redactor that changes nothing (for ``redact=False``)."""
        return cls(rules=(), secret_fields=False, enabled=False)

    def __repr__(self) -> str:
        if not self.enabled:
            return "Redactor.disabled()"
        return f"Redactor(rules={[r.name for r in self.rules]!r})"

    # -- public -------------------------------------------------------------

    def redact_text(self, text: str) -> str:
        """``text`` with every secret replaced by its marker."""
        if not self.enabled:
            return text
        c = self._c
        data = self._json(text)
        if data is None:  # no pre-filter (or text JSON cannot hold): every rule, everywhere
            out = text
            if c.combined is not None:
                out = c.combined.sub(self._replace, out)
            for pattern, name, _ in c.solo:
                out = pattern.sub(_solo_replacer(name), out)
            return out
        pre = self._pre
        assert pre is not None
        if not pre.hit(data):
            return text
        may = c.may_match(data)
        combined = c.subset(tuple(i for i, hit in enumerate(may) if hit))
        out = combined.sub(self._replace, text) if combined is not None else text
        for pattern, name, i in c.solo:
            # a solo rule runs on the text as the rules before it left it
            if out is not text and (current := self._json(out)) is not None:
                hit = c.may_match(current)[i]
            else:
                hit = may[i]
            if hit:
                out = pattern.sub(_solo_replacer(name), out)
        return out

    def redact(self, value: T) -> T:
        """A redacted copy of ``value`` (an entry dict, or any JSON value); never mutates it.

        Every string value is searched, at any depth; keys are kept as they are.
        """
        if not self.enabled or not self.find_candidate(value):
            return cast(T, _copy(value))
        return cast(T, self._walk(value, False))

    def redact_entry(self, entry: T) -> T:
        """Like :meth:`redact`, but returns ``entry`` itself when it holds no secret.

        For stores: they serialise or copy what they keep anyway, so the
        common case costs one serialisation and one regex search.
        """
        if not self.enabled or not self.find_candidate(entry):
            return entry
        return cast(T, self._walk(entry, False))

    def find_candidate(self, value: object) -> bool:
        """Whether ``value`` might hold a secret (``False`` means it certainly does not)."""
        if not self.enabled:
            return False
        pre = self._pre
        if pre is None:
            return True
        try:
            data = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            return True
        return pre.hit(data)

    def may_contain(self, data: bytes) -> bool:
        """Whether the JSON text ``data`` might hold a secret (``False``: it certainly does
        not), e.g. a store's serialised batch."""
        if not self.enabled:
            return False
        pre = self._pre
        return pre is None or pre.hit(data)

    def redact_serialized(self, entry: T, data: bytes) -> T:
        """:meth:`redact_entry` for an entry whose JSON text ``data`` is at hand."""
        if not self.may_contain(data):
            return entry
        return cast(T, self._walk(entry, False))

    # -- internals ------------------------------------------------------------

    def _json(self, text: str) -> bytes | None:
        """The JSON text of one string, for the pre-filters; ``None``: do not filter.

        A match lies inside one string, and every rule's keyword is a substring
        of its matches (or a ``prefilter`` piece finds it in the JSON text of
        the string that holds it), so the JSON text of ``text`` alone decides
        which rules may match in it.
        """
        if self._pre is None:
            return None
        try:
            return orjson.dumps(text)
        except (TypeError, orjson.JSONEncodeError):  # lone surrogates
            return None

    def _replace(self, m: re.Match[str]) -> str:
        name, sec = self._c.names[m.lastgroup or ""]
        if sec is None or m.start(sec) < 0:
            return marker(name)
        start, end = m.start(), m.end()
        s0, s1 = m.span(sec)
        text = m.string
        return text[start:s0] + marker(name) + text[s1:end]

    def _walk(self, value: Any, secret: bool) -> Any:
        if isinstance(value, str):
            out = self.redact_text(value)
            if secret and out == value and value and not value.startswith("[REDACTED:"):
                return self._field_marker  # no rule matched: the key says it is a secret
            return out
        if isinstance(value, dict):
            fields = self._fields
            return {
                k: self._walk(
                    v, fields is not None and isinstance(k, str) and fields.match(k) is not None
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self._walk(v, False) for v in value]
        return value


_INLINE_I = re.compile(r"\(\?[a-zA-Z]*i")


def _ignores_case(pattern: re.Pattern[str]) -> bool:
    """Whether ``pattern`` may match case-insensitively anywhere (over-approximated)."""
    return bool(pattern.flags & re.IGNORECASE) or _INLINE_I.search(pattern.pattern) is not None


def _solo_replacer(name: str) -> Any:
    def replace(m: re.Match[str]) -> str:
        if "secret" in m.re.groupindex and m.start("secret") >= 0:
            s0, s1 = m.span("secret")
            return m.string[m.start() : s0] + marker(name) + m.string[s1 : m.end()]
        return marker(name)

    return replace


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value
