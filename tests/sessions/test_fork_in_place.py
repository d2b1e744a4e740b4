"""fork_session rewrites a line of Claude Code's shape where it lies (uuid and sessionId
overwritten, the rest copied as it is) only when simdjson proved the rewrite is the official
one. Crafted lines of that shape (duplicate or escaped keys, a uuid key inside a string or a
nested value, brackets in a string, odd whitespace, line breaks the official fork splits at)
must come out as the official fork writes them: each case below fails when the matching
check of the in-place rewrite (``_mutations._stream_fork``) is taken out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline.sessions import _mutations

from ._forkpair import fork_pair

pytestmark = pytest.mark.usefixtures("fork_engine")

SID = "2c6a3f10-7d43-4b7e-9d1e-5a8f4e2b9c01"
OTHER = "9d0b8c7a-6e5f-4a3b-8c2d-1e0f9a8b7c6d"


def _u(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _line(n: int, parent: int | None, head: str = "", tail: str = "", **swap: str) -> bytes:
    """One user entry in Claude Code's shape; ``head``/``tail`` add members before the
    message / at the end; ``swap`` replaces a piece of the text (old=new)."""
    first = "null" if parent is None else f'"{_u(parent)}"'
    text = (
        f'{{"parentUuid":{first},"isSidechain":false,{head}"message":{{"role":"user",'
        f'"content":"m{n}"}},"type":"user","uuid":"{_u(n)}",'
        f'"timestamp":"2026-01-01T00:00:{n:02d}.000Z","cwd":"/w","sessionId":"{SID}",'
        f'"version":"2.1.330"{tail}}}'
    )
    for old, new in swap.items():
        assert old in text, old
        text = text.replace(old, new)
    return text.encode("utf-8", "surrogateescape")


def _normalized(path: Path) -> list[Any]:
    data = path.read_bytes()
    data.decode("utf-8")  # strictly: the official readers decode strictly
    entries = [json.loads(raw) for raw in data.split(b"\n") if raw.strip()]
    names: dict[str, str] = {}
    for e in entries:
        if isinstance(e.get("uuid"), str):
            names.setdefault(e["uuid"], f"U{len(names)}")
    new_sid = entries[-1]["sessionId"]
    for e in entries:
        for k in ("uuid", "parentUuid", "logicalParentUuid"):
            if isinstance(e.get(k), str):
                e[k] = names.get(e[k], f"<outside {e[k]}>")
        if e.get("sessionId") == new_sid:
            e["sessionId"] = "<new>"
    for e in entries[-2:]:  # "now": the last chain entry and the title
        e.pop("timestamp", None)
    return entries


def _both(config_dir: Path, tmp_path: Path, *lines: bytes) -> tuple[Any, Any]:
    data = b"".join(x + b"\n" for x in lines)
    return fork_pair(config_dir, tmp_path, SID, data, _normalized)


FAKE = "ffffffff-ffff-4fff-8fff-ffffffffffff"

CASES: dict[str, bytes] = {
    # a second uuid member: JSON parsers keep the last one
    "duplicate-uuid": _line(2, 1, tail=f',"uuid":"{FAKE}"'),
    "duplicate-uuid-escaped": _line(2, 1, tail=f',"\\u0075uid":"{FAKE}"'),
    "uuid-key-escaped-only": _line(2, 1, **{'"uuid":': '"\\u0075uid":'}),
    # no message to split off: the line is parsed whole, not skipped for want of "uuid"
    "uuid-key-escaped-no-message": _line(
        2, 1, **{'"message":{"role":"user","content":"m2"},': "", '"uuid":': '"\\u0075uid":'}
    ),

    "uuid-value-escaped": _line(2, 1, **{_u(2): _u(2).replace("-4000", "-\\u0034000")}),
    # 36 characters spelled in more bytes (an escape, a non-ASCII character): the value's
    # bytes are not where a 36-byte value would lie
    "parent-value-escaped": _line(2, 1, **{f'"{_u(1)}"': f'"{_u(1)[:-1]}\\u0031"'}),
    "parent-value-non-ascii": _line(2, 1, **{f'"{_u(1)}"': f'"{_u(1)[:-1]}\u00e9"'}),
    "uuid-value-non-ascii": _line(2, 1, **{f'"{_u(2)}"': f'"{_u(2)[:-1]}\u00e9"'}),
    # 36 bytes, then a quote that is escaped: the value goes on
    "uuid-value-quote-escaped-at-36": _line(2, 1, **{f'"{_u(2)}"': f'"{_u(2)[:-1]}\\"x"'}),
    "session-id-quote-escaped-at-36": _line(2, 1, **{f'"{SID}"': f'"{SID[:-1]}\\"x"'}),
    "source-tool-quote-escaped": _line(
        2, 1, tail=f',"sourceToolAssistantUUID":"{_u(1)[:-1]}\\",\\"x"'
    ),
    "space-after-parent-value": _line(2, 1, **{f'"{_u(1)}",': f'"{_u(1)}" ,'}),
    "duplicate-session-id": _line(2, 1, head=f'"sessionId":"{OTHER}",'),
    "session-id-in-the-head-only": _line(
        2, 1, head=f'"sessionId":"{SID}",', **{f',"sessionId":"{SID}"': ""}
    ),
    "duplicate-parent": _line(2, 1, tail=f',"parentUuid":"{_u(3)}"'),
    "duplicate-parent-escaped": _line(2, 1, head=f'"\\u0070arentUuid":"{_u(3)}",'),
    "duplicate-sidechain-true": _line(2, 1, tail=',"isSidechain":true'),
    "sidechain-null": _line(2, 1, **{'"isSidechain":false': '"isSidechain":null'}),
    "sidechain-zero": _line(2, 1, **{'"isSidechain":false': '"isSidechain":0'}),
    "sidechain-one": _line(2, 1, **{'"isSidechain":false': '"isSidechain":1'}),
    "sidechain-true-with-an-escaped-uuid": _line(
        2, 1, **{'"isSidechain":false': '"isSidechain":true', _u(2): _u(2).replace("-4000", "-\\u0034000")}
    ),
    "sidechain-escaped-key": _line(2, 1, **{'"isSidechain":false': '"is\\u0053idechain":true'}),
    "duplicate-type": _line(2, 1, tail=',"type":"progress"'),
    "logical-parent-escaped": _line(2, 1, tail=f',"\\u006cogicalParentUuid":"{_u(1)}"'),
    "forked-from-escaped": _line(2, 1, tail=',"\\u0066orkedFrom":{"a":1}'),
    "source-tool-duplicate": _line(
        2, 1, tail=f',"sourceToolAssistantUUID":"{_u(1)}","\\u0073ourceToolAssistantUUID":"x"'
    ),
    "slug-escaped": _line(2, 1, tail=',"\\u0073lug":"s"'),
    # keys that look like the entry's own but are not top-level members
    "uuid-key-nested-after-the-message": _line(
        2, 1, tail=f',"toolUseResult":{{"uuid":"{FAKE}","sessionId":"{OTHER}"}}'
    ),
    "uuid-key-in-the-message": _line(
        2,
        1,
        **{
            '"content":"m2"': f'"content":[{{"type":"tool_use","input":{{"uuid":"{FAKE}",'
            f'"sessionId":"{OTHER}","parentUuid":null}}}}]'
        },
    ),
    "uuid-key-inside-a-string": _line(
        2, 1, **{'"cwd":"/w"': f'"cwd":"/w\\",\\"uuid\\":\\"{FAKE}\\""'}
    ),
    "message-key-inside-a-string": _line(
        2, 1, **{'"content":"m2"': '"content":"\\"message\\":{\\"x\\":1},\\"uuid\\":1"'}
    ),
    "bracket-in-a-tail-string": _line(2, 1, **{'"cwd":"/w"': '"cwd":"/w],x"'}),
    "uuid-key-in-an-object-in-a-tail-array": _line(
        2, 1, tail=f',"toolUseResult":[{{"uuid":"{FAKE}","sessionId":"{OTHER}"}}]'
    ),
    "tail-array-after-the-entry-keys": _line(2, 1, tail=',"toolUseResult":["uuid",1]'),
    "session-id-before-uuid": _line(
        2, 1, **{f',"sessionId":"{SID}"': "", ',"type":"user"': f',"sessionId":"{SID}","type":"user"'}
    ),
    "brace-in-a-tail-string-before-uuid": _line(
        2, 1, **{',"type":"user"': ',"label":"},","type":"user"'}
    ),
    "bracket-and-uuid-in-a-tail-string": _line(
        2, 1, **{'"cwd":"/w"': f'"cwd":"/w}}],\\"uuid\\":\\"{FAKE}\\""'}
    ),
    # whitespace and other spellings the official parser accepts
    "space-after-parent-key": _line(2, 1, **{'"parentUuid":"': '"parentUuid": "'}),
    "space-around-uuid-colon": _line(2, 1, **{'"uuid":': '"uuid" : '}),
    "space-before-the-end": _line(2, 1, tail=" "),
    "tab-between-members": _line(2, 1, **{',"type"': ',\t"type"'}),
    "short-uuid": _line(2, 1, **{_u(2): "u2"}),
    "uuid-not-a-string": _line(2, 1, **{f'"uuid":"{_u(2)}"': '"uuid":2'}),
    "big-integer-in-the-message": _line(2, 1, **{'"content":"m2"': '"n":123456789012345678901234567890'}),
    "lone-surrogate-in-the-message": _line(2, 1, **{'"content":"m2"': '"content":"\\ud800"'}),
    "invalid-utf8-in-the-tail": _line(2, 1, **{'"cwd":"/w"': '"cwd":"/w\udcff"'}),
    "not-a-chain-type": _line(2, 1, **{'"type":"user"': '"type":"summary"'}),
    # a type that is no string
    "type-a-list": _line(2, 1, **{'"type":"user"': '"type":[1]'}),
    "type-an-object": _line(2, 1, **{'"type":"user"': '"type":{"a":1}'}),
    # the last uuid and sessionId keys in a short nested value at the end (found in review:
    # the rewrite read past the end of the line before it checked where the object ends)
    "short-uuid-and-session-keys-nested-at-the-end": _line(
        2, 1, tail=',"x":{"k":1,"uuid":"a","sessionId":"b"}'
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_crafted_line_forks_as_the_official(
    config_dir: Path, tmp_path: Path, name: str
) -> None:
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), CASES[name], _line(3, 2))
    assert ours == theirs


@pytest.mark.parametrize(
    "text",
    ["\u2028", "\u2029", "\x85", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"],
    ids=["U+2028", "U+2029", "U+0085", "CR", "VT", "FF", "FS", "GS", "RS"],
)
def test_line_breaks_the_official_fork_splits_at(
    config_dir: Path, tmp_path: Path, text: str
) -> None:
    # str.splitlines breaks there: the official fork drops the line, or reads its halves
    if text == "\r":  # whitespace between members
        line = _line(2, 1, **{',"type"': ',\r"type"'})
    elif text in "\x0b\x0c\x1c\x1d\x1e":  # not JSON at all: between two entries
        line = _line(2, 1) + text.encode() + _line(4, 1)
    else:  # inside a string
        line = _line(2, 1, **{'"content":"m2"': f'"content":"a{text}b"'})
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), line, _line(3, 2))
    assert ours == theirs


def test_claude_code_lines_are_rewritten_in_place(
    config_dir: Path, tmp_path: Path, fork_engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cases above go through the path they test: lines of the usual shape are rewritten
    in place (with simdjson: views of the read buffer), including a tool result whose
    sourceToolAssistantUUID is dropped (two views)."""
    views: list[int] = []
    original = _mutations._stream_fork

    def counting(*args: Any) -> Any:
        found = original(*args)
        if found is not None:
            views.append(sum(type(piece) is memoryview for piece in found[0]))
        return found

    monkeypatch.setattr(_mutations, "_stream_fork", counting)
    tool = _line(
        2,
        1,
        **{
            '"content":"m2"},': '"content":"m2"},"toolUseResult":{"stdout":"}"},'
            f'"sourceToolAssistantUUID":"{_u(1)}",'
        },
    )
    theirs, ours = _both(config_dir, tmp_path, _line(1, None), tool, _line(3, 2))
    assert ours == theirs
    # the last line is parsed again for its timestamp ("now"): its view is replaced
    assert views == ([1 + 2] if fork_engine == "simdjson" else [0])


def test_escaped_content_replacement_type(config_dir: Path, tmp_path: Path) -> None:
    # a content replacement spelled with an escape is still one for the official fork
    from .test_fork_equivalence import _normalized as with_trailer

    replacement = (
        b'{"type":"content\\u002dreplacement","sessionId":"'
        + SID.encode()
        + b'","replacements":[{"kind":"x"}]}'
    )
    data = b"".join(x + b"\n" for x in (_line(1, None), replacement, _line(2, 1)))
    theirs, ours = fork_pair(config_dir, tmp_path, SID, data, with_trailer)
    assert ours == theirs
    assert any(e.get("type") == "content-replacement" for e in theirs)
