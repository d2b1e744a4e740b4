"""More crafted lines (found by reviewing c4d50ad): the fork pass against its frozen copy
before that change (``_fork_reference``)."""

from __future__ import annotations

import random

import pytest

from threadline.sessions import _mutations

from . import _fork_reference
from .test_fork_differential import OTHER, _fork
from .test_fork_in_place import SID, _line, _u

S = f'"sourceToolAssistantUUID":"{_u(1)}"'
MORE: dict[str, bytes] = {
    "source-escaped-key-top": _line(2, 1, tail=',"sourceToolAssistant\\u0055UID":"x"'),
    "source-escaped-top-raw-nested-before": _line(
        2, 1, head='"t":{"a":1,' + S + '},', tail=',"sourceToolAssistant\\u0055UID":"x"'
    ),
    "source-raw-nested-before-and-top-after": _line(
        2, 1, head='"t":{"a":1,' + S + '},', tail="," + S
    ),
    "source-twice-top-level": _line(2, 1, head=S + ",", tail="," + S),
    "source-in-array-after": _line(2, 1, tail=',"arr":["a",' + S.replace(":", ",") + "]," + S),
    "source-backslash": _line(2, 1, tail=',"sourceToolAssistantUUID":"a\\\\b"'),
    "source-empty": _line(2, 1, tail=',"sourceToolAssistantUUID":""'),
    "source-before-uuid-brace-between": _line(
        2, 1, head=S + ",", **{'"type":"user"': '"type":"user","z":{"q":1}'}
    ),
    "source-before-uuid-brace-in-string": _line(
        2, 1, head=S + ",", **{'"type":"user"': '"type":"user","z":"}"'}
    ),
    "source-non-ascii": _line(2, 1, tail=',"sourceToolAssistantUUID":"\u00e9\u2028"'),
    "session-key-escaped": _line(2, 1, **{'"sessionId":': '"session\\u0049d":'}),
    "session-key-escaped-nested-raw": _line(
        2, 1, **{'"sessionId":': '"session\\u0049d":'}, tail=',"n":{"x":1,"sessionId":"' + SID + '"}'
    ),
    "session-own-prefix-longer": _line(2, 1, **{f'"{SID}"': f'"{SID}x"'}),
    "session-own-prefix-escaped-quote": _line(2, 1, **{f'"{SID}"': f'"{SID}\\""'}),
    "session-36-escapes": _line(2, 1, **{f'"{SID}"': '"' + "\\n" * 18 + '"'}),
    "session-36-ending-backslash-pair": _line(2, 1, **{f'"{SID}"': '"' + "a" * 34 + '\\\\"'}),
    "session-non-string": _line(2, 1, **{f'"{SID}"': "null"}),
    "session-u0085-raw": _line(2, 1, **{SID: SID[:-2] + "\x85"}),
    "session-other": _line(2, 1, **{SID: OTHER}),
    "parent-null-then-space": _line(2, None, **{'"parentUuid":null,': '"parentUuid":null ,'}),
    "parent-36-non-ascii": _line(2, 1, **{_u(1): _u(1)[:-1] + "\u00e9"}),
    "parent-35-non-ascii": _line(2, 1, **{_u(1): _u(1)[:-2] + "\u00e9"}),
    "parent-number": _line(2, 1, **{f'"parentUuid":"{_u(1)}"': '"parentUuid":12'}),
    "parent-escaped-key": _line(2, 1, **{'"parentUuid":': '"parent\\u0055uid":'}),
    "sidechain-zero": _line(2, 1, **{'"isSidechain":false': '"isSidechain":0'}),
    "sidechain-null": _line(2, 1, **{'"isSidechain":false': '"isSidechain":null'}),
    "type-escaped": _line(2, 1, **{'"type":"user"': '"t\\u0079pe":"user"'}),
    "type-value-escaped": _line(2, 1, **{'"type":"user"': '"type":"\\u0075ser"'}),
    "uuid-key-spaced": _line(2, 1, **{',"uuid":"': ', "uuid":"'}),
    "uuid-non-ascii-36": _line(2, 1, **{_u(2): _u(2)[:-1] + "\u00e9"}),
    "key-order-swapped": _line(2, 1, **{'"type":"user",': "", '"cwd":"/w",': '"cwd":"/w","type":"user",'}),
}


@pytest.mark.parametrize("name", list(MORE))
def test_more(name: str) -> None:
    data = b"\n".join([_line(1, None), MORE[name], _line(3, 2)]) + b"\n"
    theirs = _fork(_fork_reference._stream_fork, data, None, 1 << 30)
    ours = _fork(_mutations._stream_fork, data, None, 1 << 30)
    assert ours == theirs


@pytest.mark.parametrize("seed", range(60))
def test_layout_cache_interleaved(seed: int) -> None:
    """Three or more layouts interleaved, with escaped-key twins of the same layout."""
    rng = random.Random(seed)
    variants = [
        lambda n, p: _line(n, p),
        lambda n, p: _line(n, p, tail="," + S),
        lambda n, p: _line(n, p, head=S + ","),
        lambda n, p: _line(n, p, **{'"sessionId":': '"session\\u0049d":'}),
        lambda n, p: _line(n, p, **{',"uuid":"': ',"\\u0075uid":"'}),
        lambda n, p: _line(n, p, **{'"cwd":"/w",': ""}),
        lambda n, p: _line(n, p, tail=',"slug":"x"'),
        lambda n, p: _line(n, p, tail=',"uuid":"' + _u(999) + '"'),
        lambda n, p: _line(n, p, **{'"type":"user"': '"t\\u0079pe":"user"'}),
    ]
    lines = [_line(1, None)]
    for n in range(2, 40):
        lines.append(rng.choice(variants)(n, n - 1))
    data = b"\n".join(lines) + b"\n"
    theirs = _fork(_fork_reference._stream_fork, data, None, rng.choice([1 << 30, 500]))
    ours = _fork(_mutations._stream_fork, data, None, 1 << 30)
    assert ours == theirs
