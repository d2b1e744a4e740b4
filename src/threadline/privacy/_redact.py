"""``Redactor``: replace credentials in transcript entries with ``[REDACTED:<rule>]``.

How it stays cheap on the common path (an entry holding no secret):

1. the entry (or a whole batch) is serialised once with orjson and the
   lower-cased JSON text is searched for the rules' keywords with a few
   anchored regexes (:mod:`threadline.privacy._prefilter`); no hit means
   nothing to do, and the store gets the caller's entries unchanged;
2. otherwise the entry is walked and every string searched with one combined
   regex of all rules (one pass per string, whatever the number of rules).

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
    """The rules turned into one combined regex (plus any rules that cannot join it)."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.names: dict[str, tuple[str, str | None]] = {}
        parts: list[str] = []
        self.solo: list[tuple[re.Pattern[str], str]] = []
        keywords: list[str] = []
        pre: list[str] = []
        always = False
        for i, rule in enumerate(rules):
            compiled = re.compile(rule.pattern)  # validates, whatever happens next
            fragment = _scoped(rule)
            if fragment is None or fragment.count("(?P<") != fragment.count("(?P<secret>"):
                self.solo.append((compiled, rule.name))
            else:
                sec = f"_s{i}" if "(?P<secret>" in fragment else None
                if sec is not None:
                    fragment = fragment.replace("(?P<secret>", f"(?P<{sec}>")
                self.names[f"_r{i}"] = (rule.name, sec)
                parts.append(f"(?P<_r{i}>{fragment})")
            if rule.prefilter:
                pre.extend(rule.prefilter)
            elif rule.keywords:
                keywords.extend(rule.keywords)
            else:
                always = True
        self.combined = re.compile("|".join(parts)) if parts else None
        self.keywords = keywords
        self.pieces: list[str] | None = None if always else pre


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
        self._pre = None if pieces is None else Prefilter(keywords, pieces)
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
        out = text
        if self._c.combined is not None:
            out = self._c.combined.sub(self._replace, out)
        for pattern, name in self._c.solo:
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

    # -- internals ------------------------------------------------------------

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
