"""Redactor: every built-in rule, user rules, no mutation, no false positives on ordinary text."""

from __future__ import annotations

import copy
import re

import pytest

from threadline.privacy import BUILTIN_RULES, Redactor, Rule

from ._fixtures import (
    fake_credentials,
    leaky_session,
    pem,
    rule_examples,
    secret_values,
    strings_in,
)

C = fake_credentials()


@pytest.mark.parametrize(("text", "rule"), rule_examples(C))
def test_each_rule(text: str, rule: str) -> None:
    red = Redactor()
    for wrapped in (text, f"\n\t{text}\t\n", f'"{text}"'):
        assert red.find_candidate({"k": wrapped}), "the pre-filter missed it"
        redacted = red.redact({"k": wrapped})["k"]
        assert "[REDACTED:" in redacted
        assert not any(s in redacted for s in secret_values(C) if s in text)
    out = red.redact_text(text)
    assert f"[REDACTED:{rule}]" in out
    for secret in secret_values(C):
        if secret in text:
            assert secret not in out


def test_context_is_kept() -> None:
    r = Redactor()
    assert r.redact_text(f"API_KEY={C['env-api-key']}\nDEBUG=1") == "API_KEY=[REDACTED:env-secret]\nDEBUG=1"
    assert (
        r.redact_text(f"postgres://admin:{C['url-password']}@db:5432/x")
        == "postgres://admin:[REDACTED:url-password]@db:5432/x"
    )
    assert r.redact_text(f"-H 'Authorization: Bearer {C['bearer']}'") == "-H 'Authorization: Bearer [REDACTED:bearer-token]'"
    assert r.redact_text(pem("abc") + "after") == "[REDACTED:private-key]\nafter"
    # a truncated key block (tool output cut short) is redacted to the end
    assert r.redact_text("x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow") == "x\n[REDACTED:private-key]"


def test_ordinary_text_is_untouched() -> None:
    r = Redactor()
    ordinary = [
        "def task-runner(): pass  # ask-me, disk-usage, risk-free",
        "sk-learn is not a key; neither is sk-short",
        "uuid 123e4567-e89b-12d3-a456-426614174000 sha 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "https://github.com/anthropics/claude-code/issues/63593 and http://localhost:8080/path?a=b",
        "MAX_TOKENS=4096 is not a secret (the name does not end in a secret word)",
        "the bearer of bad news; Authorization required",
        "PUBLIC KEY block:\n-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----",
        "x = os.environ['API_KEY']  # read, not a value",
        "if password == confirm: ...",
        "client = Anthropic(api_key=api_key, token=token)\nAPI_KEY = os.environ.get('API_KEY')",
        "KEYBOARD=us MAX_TOKENS=4096 PASSWORD_MIN_LENGTH=12",
        "[REDACTED:anthropic-api-key] stays as it is",
    ]
    for text in ordinary:
        assert r.redact_text(text) == text, text


def test_entry_walk_copies_never_mutates_and_keeps_keys() -> None:
    _, entries, sub = leaky_session(C)
    before = copy.deepcopy(entries)
    r = Redactor()
    out = [r.redact(e) for e in entries + sub]
    assert entries == before  # input untouched
    assert [list(e) for e in out] == [list(e) for e in entries + sub]  # same keys, same order
    blob = "\n".join(strings_in(out))
    for secret in secret_values(C):
        assert secret not in blob, secret
    assert out[1]["message"]["content"][0]["input"]["env"]["api_key"] == "[REDACTED:secret-field]"
    assert out[1]["message"]["content"][0]["input"]["env"]["GITHUB_TOKEN"] == "[REDACTED:github-token]"
    # a clean entry comes back equal, but as a copy
    clean = {"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": "hello"}]}}
    got = Redactor().redact(clean)
    assert got == clean and got is not clean and got["message"] is not clean["message"]
    # redact_entry (the store path) returns the same object when there is nothing to do
    assert Redactor().redact_entry(clean) is clean


def test_idempotent() -> None:
    _, entries, _ = leaky_session(C)
    r = Redactor()
    once = [r.redact(e) for e in entries]
    assert [r.redact(e) for e in once] == once


def test_extra_rules_disable_and_off() -> None:
    text = f"ticket ACME-{'7' * 12} and {C['anthropic']}"
    r = Redactor(extra_rules=[Rule("acme-ticket", r"ACME-\d{12}", keywords=("acme-",))])
    assert r.redact_text(text) == "ticket [REDACTED:acme-ticket] and [REDACTED:anthropic-api-key]"
    # a rule with a global flag and a backreference still works (run on its own)
    r2 = Redactor(extra_rules=[Rule("doubled", r"(?i)(zz\w)\1")])
    assert r2.redact_text("x ZZaZZa y") == "x [REDACTED:doubled] y"
    assert r2.redact({"a": ["ZZaZZa"]}) == {"a": ["[REDACTED:doubled]"]}
    # a compiled pattern with flags and a secret group
    r3 = Redactor(rules=[Rule("pin", re.compile(r"pin:\s*(?P<secret>\d{4})", re.I))], secret_fields=False)
    assert r3.redact_text("PIN: 1234") == "PIN: [REDACTED:pin]"
    assert Redactor(disable=["anthropic-api-key"]).redact_text(C["anthropic"]) == C["anthropic"]
    off = Redactor.disabled()
    _, entries, _ = leaky_session(C)
    assert [off.redact(e) for e in entries] == entries
    assert off.redact_entry(entries[0]) is entries[0]
    assert "anthropic-api-key" in {r.name for r in BUILTIN_RULES}


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="plain identifier"):
        Rule("bad name]", "x")
    with pytest.raises(ValueError, match="JSON-escaped"):
        Rule("ok", "x", keywords=('a"b',))
    with pytest.raises(re.error):
        Redactor(extra_rules=[Rule("broken", "(")])


def test_prefilter_never_misses_escaped_text() -> None:
    """Secrets next to characters JSON escapes (newline, tab, quotes) are still found."""
    r = Redactor()
    texts = [
        f"\n\tAPI_KEY={C['env-api-key']}\t\n",
        f"docker run -e 'GITHUB_TOKEN={C['env-password']}' img",
        f'"{C["anthropic"]}"',
        f"\\{C['github-classic']}\\",
        f"line1\nAuthorization: Bearer\t{C['bearer']}",
    ]
    for t in texts:
        out = r.redact({"k": t})["k"]
        assert "[REDACTED:" in out, t
