"""Redaction rules: what a credential looks like, and the built-in set.

A :class:`Rule` is a name, a regular expression and, optionally, *keywords*.
If the pattern has a group named ``secret`` only that group is replaced (so
``API_KEY=[REDACTED:env-secret]`` keeps the name and
``postgres://me:[REDACTED:url-password]@db`` keeps the URL); otherwise the
whole match is.

Keywords make the common case fast: a batch of entries is first serialised
once (as JSON), lower-cased, and searched for the keywords of every rule (see
:mod:`threadline.privacy._prefilter`); only entries that contain one are
walked string by string with the full patterns. A keyword must be a literal
(case-insensitive) substring of every match, free of the characters JSON
escapes (``"``, ``\\``, control characters). Instead of keywords a rule may
give ``prefilter`` regexes, searched in that lower-cased JSON text (so a tab
is the two characters ``\\t`` there); each should start with a literal
character, which is what the search skips to. A rule with neither is always
run: correct, but every string then gets a full search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BUILTIN_RULES", "SECRET_FIELD_PATTERN", "SECRET_FIELD_KEYWORDS", "Rule", "marker"]


@dataclass(frozen=True)
class Rule:
    """One kind of secret.

    Args:
        name: names the rule in the marker, ``[REDACTED:<name>]``.
        pattern: a regular expression (string or compiled). Inline flags such
            as ``(?i)`` are allowed. A group named ``secret`` limits the
            replacement to that group.
        keywords: literal substrings of which every match contains at least
            one (a fast pre-filter, see the module docs). All lower-case:
            matched in any case; with an upper-case letter: matched exactly.
        prefilter: advanced alternative to ``keywords``: regexes of which one
            finds every match's neighbourhood in the lower-cased JSON text.
    """

    name: str
    pattern: str | re.Pattern[str]
    keywords: tuple[str, ...] = ()
    prefilter: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", self.name):
            raise ValueError(f"Rule name must be a plain identifier, got {self.name!r}")
        for kw in self.keywords:
            if not kw or any(c in kw for c in '"\\') or any(ord(c) < 0x20 for c in kw):
                raise ValueError(f"Rule {self.name}: keyword {kw!r} is empty or JSON-escaped")
        if isinstance(self.prefilter, str):
            raise TypeError(f"Rule {self.name}: prefilter must be a tuple of regexes")


def marker(name: str) -> str:
    """The text that replaces a secret found by rule ``name``."""
    return f"[REDACTED:{name}]"


_SECRET_WORDS = r"(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|PASS|PASSPHRASE|CREDENTIALS?)"
_WORDS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "PASS",
    "PASSPHRASE",
    "CREDENTIAL",
    "CREDENTIALS",
)
# The rule is case-sensitive: every match holds one of these exactly.
_ENV_KEYWORDS = tuple(f"{w}=" for w in _WORDS)

BUILTIN_RULES: tuple[Rule, ...] = (
    Rule("anthropic-api-key", r"\bsk-ant-[A-Za-z0-9_\-]{20,}", ("sk-ant-",)),
    Rule(
        "openai-api-key",
        r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}|\bsk-[A-Za-z0-9]{32,}\b",
        ("sk-",),
    ),
    Rule(
        "aws-access-key-id",
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        ("AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    Rule(
        "aws-secret-access-key",
        r"(?:(?i:aws_secret(?:_access)?(?:_key)?|secret_access_key)|SecretAccessKey)[\"']?\s*[:=]\s*[\"']?"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        ("secret_access", "aws_secret", "SecretAccessKey"),
    ),
    Rule(
        "github-token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    Rule("gitlab-token", r"\bglpat-[A-Za-z0-9_\-]{20,}", ("glpat-",)),
    Rule(
        "slack-token",
        r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
        ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"),
    ),
    Rule(
        "slack-webhook",
        r"https://hooks\.slack\.com/services/[A-Za-z0-9/_\-]{20,}",
        ("hooks.slack.com",),
    ),
    Rule("stripe-key", r"\b(?:sk|rk)_live_[A-Za-z0-9]{16,}", ("_live_",)),
    Rule("google-api-key", r"\bAIza[0-9A-Za-z_\-]{35}", ("AIza",)),
    Rule("huggingface-token", r"\bhf_[A-Za-z0-9]{34,}\b", ("hf_",)),
    Rule("npm-token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    Rule(
        "private-key",
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
        r"(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        ("PRIVATE KEY",),
    ),
    Rule(
        "authorization-header",
        r"(?i:\bauthorization)[\"']?\s*[:=]\s*[\"']?(?i:basic|token|digest)\s+"
        r"(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)",
        ("authorization",),
    ),
    Rule("bearer-token", r"(?i:\bbearer)\s+(?P<secret>[A-Za-z0-9\-._~+/]{16,}=*)", ("bearer",)),
    Rule(
        "url-password",
        r"\b[A-Za-z][A-Za-z0-9+.\-]{1,30}://[^\s:/?#@\"'<>]+:(?P<secret>[^\s@/?#\"'<>]+)@",
        prefilter=(r'://[^\s/"@]+:[^\s/"@]+@',),
    ),
    Rule(
        "env-secret",
        # Shell / .env syntax: an upper-case NAME ending in a secret word, "=" with no
        # spaces, at a line start or after whitespace, a quote or ; & |.
        r"(?m:(?:^|(?<=[\s;&|\"'`]))(?:export[ \t]+)?[A-Z0-9_]*" + _SECRET_WORDS + r"="
        r"(?P<secret>\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'#;&|`]+))",
        _ENV_KEYWORDS,
    ),
)
"""The rules every :class:`~threadline.privacy.Redactor` starts with (see ``docs/privacy.md``)."""

SECRET_FIELD_PATTERN = (
    r"(?i)^(?:.*[_\-.])?(?:api[_\-]?key|access[_\-]?key|secret(?:[_\-]?key)?|client[_\-]?secret"
    r"|password|passwd|passphrase|(?:access|refresh|auth|bearer|api|session|id)?[_\-]?token"
    r"|private[_\-]?key|credentials?)$"
)
"""Dict keys whose string value is a secret whatever it looks like (``"apiKey": "..."``)."""

SECRET_FIELD_KEYWORDS = tuple(
    f'{w}":"'
    for w in (
        "key",
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "credential",
        "credentials",
    )
)
"""Where a key of that kind with a string value appears in JSON text (its pre-filter keywords)."""
