"""EncryptedStore over a damaged file: an envelope that no longer parses is an error, not a gap.

Issue #15 item 6: one flipped bit in the JSON framing, or a cut in the middle of the file,
made the inner FileStore skip the line, and 3 of 12 entries vanished with no error.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

import threadline
from threadline import FileStore
from threadline.privacy import DecryptionError, EncryptedStore, generate_key

pytestmark = pytest.mark.anyio

PROJECT = "-home-dev-app"


def _key(sid: str) -> Any:
    return {"project_key": PROJECT, "session_id": sid}


def _entries(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    parent = None
    for i in range(n):
        uid = str(uuid.uuid4())
        out.append(
            {
                "type": "user" if i % 2 == 0 else "assistant",
                "uuid": uid,
                "parentUuid": parent,
                "sessionId": "x",
                "message": {"role": "user" if i % 2 == 0 else "assistant", "content": f"entry {i}"},
            }
        )
        parent = uid
    return out


async def _twelve(
    tmp_path: Path, fmt: Any, key: str
) -> tuple[EncryptedStore, str, list[dict[str, Any]], Path]:
    store = EncryptedStore(FileStore(tmp_path), key=key, format=fmt)
    sid = str(uuid.uuid4())
    entries = _entries(12)
    for e in entries[:4]:  # 4 single appends, then 4 appends of 2: several envelopes
        await store.append(_key(sid), [e])
    for i in range(4, 12, 2):
        await store.append(_key(sid), entries[i : i + 2])
    return store, sid, entries, tmp_path / "projects" / PROJECT / f"{sid}.jsonl"


def _flip_framing(path: Path, line: int) -> None:
    """Flip one bit of the opening brace of a middle line: it no longer parses."""
    lines = path.read_bytes().split(b"\n")
    raw = bytearray(lines[line])
    raw[0] ^= 0x01
    lines[line] = bytes(raw)
    path.write_bytes(b"\n".join(lines))


def _cut_middle(path: Path) -> None:
    """Remove bytes across a line boundary in the middle: two lines merge into garbage."""
    data = path.read_bytes()
    nl = data.index(b"\n", len(data) // 2)
    path.write_bytes(data[: nl - 20] + data[nl + 30 :])


@pytest.mark.parametrize("fmt", ["v1", "v3"])
@pytest.mark.parametrize("damage", ["flip", "cut"])
async def test_damaged_line_raises_and_salvage_reads_the_rest(
    tmp_path: Path, fmt: str, damage: str
) -> None:
    store, sid, entries, path = await _twelve(tmp_path, fmt, generate_key())
    if damage == "flip":
        _flip_framing(path, 2)
    else:
        _cut_middle(path)
    # a flipped brace no longer parses; a cut may leave a line that parses but fails to
    # authenticate: either way an error, never a silent gap
    with pytest.raises(DecryptionError, match="no longer parse" if damage == "flip" else None):
        await store.load(_key(sid))
    report = await store.salvage(_key(sid))
    assert not report.complete
    assert report.damaged_lines if damage == "flip" else (report.damaged_lines or report.failed)
    got = [e["uuid"] for e in report.entries]
    want = [e["uuid"] for e in entries]
    assert 0 < len(got) < len(want)
    assert got == [u for u in want if u in set(got)]  # in order, nothing invented


async def test_torn_last_line_is_not_damage(tmp_path: Path) -> None:
    store, sid, entries, path = await _twelve(tmp_path, "v3", generate_key())
    with path.open("ab") as f:
        f.write(b'{"enc":"v3:abc')  # a crash mid-append: never acknowledged
    assert await store.load(_key(sid)) == entries


async def test_undamaged_salvage_is_complete(tmp_path: Path) -> None:
    store, sid, entries, _ = await _twelve(tmp_path, "v3", generate_key())
    report = await store.salvage(_key(sid))
    assert report.complete and report.entries == entries


async def test_one_damaged_session_does_not_break_the_listing(tmp_path: Path) -> None:
    key = generate_key()
    store, bad_sid, _, path = await _twelve(tmp_path, "v3", key)
    good_sid = str(uuid.uuid4())
    await store.append(_key(good_sid), _entries(4))
    _flip_framing(path, 1)
    infos = await threadline.list_sessions_from_store(store, "/home/dev/app")
    assert sorted(i.session_id for i in infos) == sorted([bad_sid, good_sid])


async def test_wrong_key_still_fails_the_listing(tmp_path: Path) -> None:
    await _twelve(tmp_path, "v3", generate_key())
    other = EncryptedStore(FileStore(tmp_path), key=generate_key())
    with pytest.raises(DecryptionError):
        await threadline.list_sessions_from_store(other, "/home/dev/app")
