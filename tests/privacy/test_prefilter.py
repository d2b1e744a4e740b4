"""The pre-filter never lets a secret through, with either engine (RE2 in one pass, or ``re``).

The redactor only walks an entry (or a batch) when its pre-filter flags it, so
a pre-filter miss would store a secret. Property checked here, for both
engines: whenever the full walk would change a value, the pre-filter flags it,
so the store path (``redact_entry``, ``RedactingStore``) gives exactly what
the full walk gives.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from threadline import MemoryStore
from threadline.privacy import BUILTIN_RULES, RedactingStore, Redactor, Rule, _prefilter

from ._fixtures import fake_credentials, rule_examples

C = fake_credentials(seed=5)
EXAMPLES = rule_examples(C)
ENGINES = ["re2", "re"]


@contextlib.contextmanager
def _engine(name: str) -> Iterator[None]:
    """Build redactors with RE2 (when installed) or with ``re`` only."""
    saved = _prefilter._re2
    if name == "re":
        _prefilter._re2 = None
    elif saved is None:  # pragma: no cover - google-re2 comes with the dev extra
        pytest.skip("google-re2 is not installed")
    try:
        yield
    finally:
        _prefilter._re2 = saved


def _redactor(engine: str, **kwargs: Any) -> Redactor:
    with _engine(engine):
        red = Redactor(**kwargs)
    pre = red._pre
    assert pre is not None
    assert (pre.fast is not None) is (engine == "re2"), "the engine under test is not the one used"
    return red


REDACTORS = {e: _redactor(e) for e in ENGINES if e == "re" or _prefilter._load_re2() is not None}


def _full(red: Redactor, value: Any) -> Any:
    """What the redactor makes of ``value`` without any pre-filter (neither per entry nor per string)."""
    bare = copy.copy(red)
    bare._pre = None
    return bare._walk(value, False)


def _contexts(text: str) -> list[Any]:
    """``text`` where secrets turn up: prompts, nested tool input, tool output, file contents, lists."""
    return [
        {"type": "user", "message": {"role": "user", "content": text}},
        {"type": "user", "message": {"role": "user", "content": f"before\n\t{text}\t\nafter"}},
        {"type": "user", "message": {"content": f'"{text}"'}},
        {"type": "user", "message": {"content": f"C:\\dir\\\n{text}\n\\"}},
        {"type": "user", "message": {"content": f"日本語 “quoted” ✓ {text} é\u2028"}},
        {
            "type": "assistant",
            "message": {
                "content": [
                    {"type": "text", "text": "running it"},
                    {"type": "tool_use", "name": "Bash", "input": {"command": text, "env": {"X": [text]}}},
                ]
            },
        },
        {
            "type": "user",
            "message": {"content": [{"type": "tool_result", "content": [{"type": "text", "text": text}]}]},
            "toolUseResult": {"stdout": f"$ cat .env\n{text}\n", "stderr": "", "interrupted": False},
        },
        {"type": "user", "toolUseResult": {"file": {"filePath": "/app/.env", "content": text}}},
        {"type": "custom-title", "customTitle": text},
        {"type": "x", "deep": [[[[{"a": {"b": [None, 1, 2.5, True, text]}}]]]]},
    ]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("text", "rule"), EXAMPLES, ids=[r for _, r in EXAMPLES])
def test_every_rule_example_is_flagged_in_every_context(engine: str, text: str, rule: str) -> None:
    if engine not in REDACTORS:  # pragma: no cover
        pytest.skip("google-re2 is not installed")
    red = REDACTORS[engine]
    for entry in _contexts(text):
        full = _full(red, entry)
        assert full != entry, "the example must be something the rules redact"
        assert f"[REDACTED:{rule}]" in json.dumps(full)
        assert red.find_candidate(entry), f"{rule} missed in {entry}"
        assert red.redact_entry(entry) == full
        # in a batch of clean entries: the batch-level search must flag it too
        clean = [{"type": "user", "message": {"content": f"clean {i} " * 50}} for i in range(60)]
        batch = [*clean[:30], entry, *clean[30:]]
        assert red.find_candidate(batch)
        stored = RedactingStore(MemoryStore(), red)._redacted(batch)
        assert stored[30] == full
        assert all(a is b for a, b in zip(stored[:30] + stored[31:], clean))


def test_examples_cover_every_builtin_rule() -> None:
    assert {r for _, r in EXAMPLES} == {r.name for r in BUILTIN_RULES}


@pytest.mark.parametrize("engine", ENGINES)
def test_secret_fields_are_flagged(engine: str) -> None:
    if engine not in REDACTORS:  # pragma: no cover
        pytest.skip("google-re2 is not installed")
    red = REDACTORS[engine]
    names = [
        "api_key", "apiKey", "API-KEY", "client_secret", "clientSecret", "password", "PASSWD",
        "passphrase", "access_token", "refreshToken", "id_token", "private_key", "credentials",
        "db.password", "x-api-key", "secret", "secretKey",
        "api_\u212aey",  # Kelvin sign: (?i) in re matches it as "k"
        "\u017fecret",  # long s
    ]
    for name in names:
        for entry in ({name: "v4lue"}, {"input": {"env": {name: "v4lue"}}}, {"a": [{name: "v4lue"}]}):
            full = _full(red, entry)
            assert "[REDACTED:secret-field]" in json.dumps(full), name
            assert red.find_candidate(entry), name
            assert red.redact_entry(entry) == full
    for name in ("monkey", "tokens", "keyboard", "passes"):  # not secret names: left alone
        assert red.redact_entry({name: "v4lue"}) == {name: "v4lue"}


@pytest.mark.parametrize("engine", ENGINES)
def test_case_insensitive_rules_with_unicode_look_alikes(engine: str) -> None:
    """``(?i)`` in ``re`` matches ``ı``/``İ`` as ``i``, ``ſ`` as ``s``: the pre-filter must flag them."""
    if engine not in REDACTORS:  # pragma: no cover
        pytest.skip("google-re2 is not installed")
    red = REDACTORS[engine]
    texts = [
        f"Authorızation: Basic {C['basic']}",
        f"AUTHORİZATION: token {C['basic']}",
        f"aws_ſecret_acceſſ_key: {C['aws-secret']}",
        f"BEARER {C['bearer']}",
    ]
    for text in texts:
        entry = {"message": {"content": text}}
        full = _full(red, entry)
        assert full != entry, text
        assert red.find_candidate(entry), text
        assert red.redact_entry(entry) == full


def test_user_rules_with_pieces_re2_cannot_run() -> None:
    """A ``prefilter`` piece with a look-around runs with ``re``; the rest still goes to RE2."""
    rules = [
        Rule("ticket", r"TKT-\d{6}", prefilter=(r"-(?<=tkt-)(?=\d)",)),
        Rule("acme", r"ACME-\d{4}", keywords=("acme-",)),
    ]
    for engine in REDACTORS:
        red = _redactor(engine, extra_rules=rules)
        pre = red._pre
        assert pre is not None
        if engine == "re2":
            assert len(pre.passes) == 1 and b"(?<=tkt-)" in pre.passes[0].pattern  # only the piece
        for text, marker in (("see TKT-123456", "ticket"), ("see acme-1234 or ACME-1234", "acme")):
            entry = {"m": text}
            assert red.find_candidate(entry)
            assert f"[REDACTED:{marker}]" in red.redact_entry(entry)["m"]
        assert not red.find_candidate({"m": "nothing to see here, TKT-x"})


def test_a_rule_without_keywords_disables_the_prefilter() -> None:
    red = Redactor(extra_rules=[Rule("nokw", r"zz\d+")])
    assert red._pre is None and red.find_candidate({"a": "b"})
    assert red.redact_entry({"a": "zz12"}) == {"a": "[REDACTED:nokw]"}


# -- property: random structures mixing secrets, look-alikes and noise ------------------------

_SECRETISH = [t for t, _ in EXAMPLES] + [
    "sk-ant-", "AKIA", "ghp_", "xoxb-", "Bearer ", "PASSWORD=", "KEY=", "://u:p@h", "-----BEGIN",
    "PRIVATE KEY", "authorization", "aws_secret_access_key=", "SecretAccessKey", "hooks.slack.com",
]
_NOISE = st.text(
    alphabet=st.sampled_from(list("abcdefxyzKSIks_-=:/@\"'\\\n\t {}[],.;&|`#0123456789ıİſ\u212a日✓é\u2028")),
    max_size=30,
)


def _mutate(text: str, rng: random.Random) -> str:
    """Flip the case of some letters, swap in Unicode look-alikes, cut or repeat a bit."""
    out = []
    for ch in text:
        r = rng.random()
        if r < 0.08 and ch.isalpha():
            ch = ch.swapcase()
        elif r < 0.10 and ch in "sS":
            ch = "\u017f"
        elif r < 0.12 and ch in "kK":
            ch = "\u212a"
        elif r < 0.14 and ch in "iI":
            ch = rng.choice("ıİ")
        out.append(ch)
    s = "".join(out)
    if rng.random() < 0.2 and len(s) > 4:
        cut = rng.randrange(len(s))
        s = s[:cut] + s[cut + 1 :]
    return s


@st.composite
def _strings(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.one_of(_NOISE, st.sampled_from(_SECRETISH)), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    return "".join(_mutate(p, rng) if rng.random() < 0.5 else p for p in parts)


_KEYS = st.one_of(
    st.sampled_from(["text", "content", "command", "stdout", "api_key", "apiKey", "password", "token", "Secret", "credentials", "x"]),
    _strings(),
)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _strings()),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(_KEYS, children, max_size=4),
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_JSON)
def test_prefilter_never_changes_the_result(engine: str, value: Any) -> None:
    if engine not in REDACTORS:  # pragma: no cover
        pytest.skip("google-re2 is not installed")
    red = REDACTORS[engine]
    full = _full(red, value)
    if full != value:
        assert red.find_candidate(value)
        assert red.find_candidate([{"clean": "x"}, value, {"clean": "y"}])
    assert red.redact_entry(value) == full


def test_rules_that_cannot_join_the_combined_regex_see_the_text_as_left_by_the_others() -> None:
    """A back-reference keeps a rule out of the combined regex: it runs after it, on its output."""
    twice = Rule("twice", r"(\[REDACTED:[a-z-]+\])\s*\1", keywords=("[redacted:",))
    key = C["anthropic"]
    for engine in REDACTORS:
        red = _redactor(engine, extra_rules=[twice])
        assert red._c.solo and red._c.solo[0][1] == "twice"
        for text in (f"{key} {key}", f"x {key}\n{key} y", f"{key} and {C['github-classic']}"):
            entry = {"m": text}
            assert red.redact_entry(entry) == _full(red, entry)
        assert red.redact_text(f"{key} {key}") == "[REDACTED:twice]"
        assert red.redact_text(f"{key}, {key}") == "[REDACTED:anthropic-api-key], [REDACTED:anthropic-api-key]"
