"""A fault of ``fork_session``'s fast path found by review; the test failed on 91c44c7.

- A content replacement past the cut whose type is spelled with an escape
  (``"content\\u002dreplacement"``) was skipped unread (the pass looked for the plain bytes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ._forkpair import fork_pair
from .test_fork_in_place import SID, _line, _normalized, _u

pytestmark = pytest.mark.usefixtures("fork_engine")


def _text(path: Path) -> str:
    """:func:`_normalized` (less "now": the last chain entry's and the trailer's timestamp)
    as JSON text, where NaN compares equal to NaN."""
    entries = _normalized(path)
    for e in entries[-3:]:
        e.pop("timestamp", None)
    return json.dumps(entries)


def _both(config_dir: Path, tmp_path: Path, data: bytes, **kw: Any) -> tuple[Any, Any]:
    return fork_pair(config_dir, tmp_path, SID, data, _text, **kw)


def _replacement(type_: str = "content-replacement", value: str = '"r"') -> bytes:
    return (
        f'{{"type":"{type_}","sessionId":"{SID}","replacements":[{{"kind":{value}}}]}}'
    ).encode()


@pytest.mark.parametrize(
    "type_",
    [
        "content\\u002dreplacement",
        "content\\u002Dreplacement",
        "\\u0063ontent-replacement",
        "content-replace\\u006Dent",
    ],
)
def test_an_escaped_content_replacement_after_the_cut_counts(
    config_dir: Path, tmp_path: Path, type_: str
) -> None:
    data = b"".join(
        x + b"\n" for x in (_line(1, None), _line(2, 1), _replacement(type_), _line(3, 2))
    )
    theirs, ours = _both(config_dir, tmp_path, data, up_to_message_id=_u(1))
    assert '"content-replacement"' in theirs
    assert ours == theirs
