"""fork_session copies each ``message`` value unparsed (an orjson.Fragment) only when the
bytes are one valid JSON value: a torn line glued to the next append, a raw control
character, a stray comma, or whitespace that would make the split swallow later members
must be handled as the official fork handles them (the line dropped or parsed whole)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from ._forkpair import fork_pair

pytestmark = pytest.mark.usefixtures("fork_engine")

SID = "2c6a3f10-7d43-4b7e-9d1e-5a8f4e2b9c01"


def _u(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


FIRST = orjson.dumps(
    {
        "parentUuid": None,
        "type": "user",
        "message": {"role": "user", "content": "hi"},
        "uuid": _u(1),
        "sessionId": SID,
    }
)


def _normalized(path: Path) -> list[Any]:
    out: list[Any] = []
    for raw in path.read_bytes().split(b"\n"):
        if raw.strip():
            out.append(json.loads(raw))  # every line of a fork must be valid JSON
    names: dict[str, str] = {}
    for e in out:
        if isinstance(e.get("uuid"), str):
            names.setdefault(e["uuid"], f"U{len(names)}")
    for e in out:
        for k in ("uuid", "parentUuid", "logicalParentUuid"):
            if isinstance(e.get(k), str):
                e[k] = names.get(e[k], "<outside>")
        e.pop("sessionId", None)
        e.pop("timestamp", None)
    return out


def _both(config_dir: Path, tmp_path: Path, data: bytes, **kw: Any) -> tuple[Any, Any]:
    return fork_pair(config_dir, tmp_path, SID, data, _normalized, **kw)


def test_torn_line_glued_to_the_next_append(config_dir: Path, tmp_path: Path) -> None:
    # a writer killed mid-line, then another append (the CLI does not repair tails)
    torn = b'{"parentUuid":"%s","type":"user","message":{"role":"user","content":"abc' % _u(
        1
    ).encode()
    nxt = (
        b'{"parentUuid":"%s","type":"assistant","message":{"id":"m","role":"assistant",'
        b'"content":[{"type":"text","text":"x"}]},"uuid":"%s","sessionId":"%s"}'
        % (_u(1).encode(), _u(3).encode(), SID.encode())
    )
    theirs, ours = _both(config_dir, tmp_path, FIRST + b"\n" + torn + nxt + b"\n")
    assert ours == theirs


@pytest.mark.parametrize(
    "message",
    [b'{"role":"user","content":"a\tb"}', b'{"role":"user",,"content":"x"}'],
    ids=["raw-control-char", "stray-comma"],
)
def test_invalid_message_bytes_are_not_copied(
    config_dir: Path, tmp_path: Path, message: bytes
) -> None:
    bad = b'{"parentUuid":"%s","type":"user","message":%s,"uuid":"%s","sessionId":"%s"}' % (
        _u(1).encode(),
        message,
        _u(2).encode(),
        SID.encode(),
    )
    theirs, ours = _both(config_dir, tmp_path, FIRST + b"\n" + bad + b"\n")
    assert ours == theirs


def test_whitespace_after_the_message_does_not_swallow_members(
    config_dir: Path, tmp_path: Path
) -> None:
    line = (
        b'{"type":"user","message":{"role":"user","content":"x"} ,"parentUuid":"%s",'
        b'"toolUseResult":{"a":1},"uuid":"%s","sessionId":"%s"}'
        % (_u(1).encode(), _u(2).encode(), SID.encode())
    )
    theirs, ours = _both(config_dir, tmp_path, FIRST + b"\n" + line + b"\n")
    assert ours == theirs  # threadline: parentUuid lost (None), old value left in the text


def test_empty_up_to_message_id_forks_everything(config_dir: Path, tmp_path: Path) -> None:
    theirs, ours = _both(config_dir, tmp_path, FIRST + b"\n", up_to_message_id="")
    assert ours == theirs


def test_a_torn_last_line_counts_for_the_title(config_dir: Path, tmp_path: Path) -> None:
    # The official fork takes the title from the file's last bytes as they are: a title
    # line torn after its value (a writer killed mid-line) still names the fork.
    torn = b'{"type":"custom-title","customTitle":"torn title","sessionId":"%s' % SID.encode()
    data = FIRST + b"\n" + torn

    def title(path: Path) -> Any:
        return [json.loads(raw) for raw in path.read_bytes().split(b"\n") if raw.strip()][-1]

    theirs, ours = fork_pair(config_dir, tmp_path, SID, data, title)
    assert theirs["customTitle"] == "torn title (fork)"
    assert ours["customTitle"] == theirs["customTitle"]
