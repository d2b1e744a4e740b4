"""``fork_session`` (one streaming pass, messages copied unparsed) writes what the official
``fork_session`` writes, on random transcripts full of the awkward cases: progress entries
(also pointing forward and in cycles), sidechains, parents and logical parents that come
later in the file, duplicate uuids, cuts, content replacements, and message bytes that
look like structure (nested ``},"uuid":"`` keys, braces in strings, non-ASCII)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

import threadline
from threadline import project_key_for_directory
from threadline.sessions import _mutations

from ._forkpair import fork_pair

Raw = dict[str, Any]
pytestmark = pytest.mark.usefixtures("fork_engine")

SID = "2c6a3f10-7d43-4b7e-9d1e-5a8f4e2b9c01"


def _uuid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _message(rng: random.Random, role: str, n: int) -> Raw:
    tricky = [
        "plain",
        'quote " and brace } and },"uuid":"x" inside a string',
        "unicode é ü 日本 🚀",
        "backslash at the end \\",
    ]
    content: list[Raw] = [{"type": "text", "text": rng.choice(tricky) + f" {n}"}]
    if rng.random() < 0.4:
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_{n}",
                "name": "Bash",
                # nested objects whose keys a naive split would take for the entry's own
                "input": {"meta": {"uuid": _uuid(999)}, "uuid": "nested", "x": {"a": 1}},
            }
        )
    message: Raw = {"role": role, "content": content}
    if role == "assistant":
        message = {
            "id": f"msg_{n}",
            "type": "message",
            **message,
            "usage": {"in": {"a": 1}, "out": 2},
        }
    return message


def _transcript(rng: random.Random) -> tuple[list[bytes], list[str]]:  # noqa: C901 - a generator of random transcript shapes: one branch per shape
    lines: list[bytes] = []
    uuids: list[str] = []
    messages: list[str] = []
    cur: str | None = None
    for n in range(1, rng.randint(4, 41)):
        uid = _uuid(n)
        r = rng.random()
        parent = cur
        kind = rng.choice(["user", "assistant", "assistant", "progress", "system", "attachment"])
        # (the official fork loops forever on a cycle of progress entries: none here)
        if r < 0.1 and uuids:
            parent = rng.choice(uuids)
        elif r < 0.15 and kind != "progress":
            parent = _uuid(n + rng.randint(1, 3))  # a parent later in the file
        entry: Raw = {"parentUuid": parent, "isSidechain": rng.random() < 0.08, "type": kind}
        if kind in ("user", "assistant"):
            entry["message"] = _message(rng, kind, n)
        elif kind == "system":
            entry["subtype"] = "compact_boundary" if rng.random() < 0.3 else "info"
            if rng.random() < 0.5:
                later = _uuid(n + rng.randint(1, 2))  # often an entry later in the file
                entry["logicalParentUuid"] = (
                    later if rng.random() < 0.5 or not uuids else rng.choice(uuids)
                )
        elif kind == "progress":
            entry["data"] = {"type": "hook_progress"}
        if rng.random() < 0.05 and kind in ("user", "assistant") and messages:
            uid = rng.choice(messages)  # a duplicate uuid
        entry.update(
            uuid=uid,
            timestamp=f"2026-11-22T00:00:{n % 60:02d}.000Z",
            sessionId=SID,
            cwd="/w",
        )
        if "message" in entry and rng.random() < 0.4:
            # an object member after uuid (as Claude Code writes tool results): the
            # message's end must not be taken for the end of this one
            entry["toolUseResult"] = {"stdout": "}", "nested": {"message": {"x": 1}}}
        for extra in ("teamName", "slug", "agentName", "sourceToolAssistantUUID"):
            if rng.random() < 0.05:
                entry[extra] = "x"
        if rng.random() < 0.3 and "message" in entry:
            # the message as the last member of the line
            entry = {k: v for k, v in entry.items() if k != "message"} | {
                "message": entry["message"]
            }
        lines.append(orjson.dumps(entry))
        uuids.append(uid)
        if kind in ("user", "assistant"):
            messages.append(uid)
        if kind != "progress" or rng.random() < 0.5:
            cur = uid
        if rng.random() < 0.05:
            lines.append(
                orjson.dumps(
                    {"type": "content-replacement", "sessionId": SID, "replacements": [{"n": n}]}
                )
            )
        if rng.random() < 0.05:
            lines.append(
                orjson.dumps({"type": "custom-title", "customTitle": f"t{n}", "sessionId": SID})
            )
    return lines, uuids


def _normalized(path: Path) -> list[Raw]:
    entries = [orjson.loads(x) for x in path.read_bytes().split(b"\n") if x.strip()]
    names: dict[str, str] = {}
    for e in entries:
        u = e.get("uuid")
        if isinstance(u, str) and u not in names:
            names[u] = f"U{len(names)}"
    sid = entries[0].get("sessionId")
    out = []
    for e in entries:
        for k in ("uuid", "parentUuid", "logicalParentUuid"):
            if isinstance(e.get(k), str):
                e[k] = names.get(e[k], "<outside>")
        if e.get("sessionId") == sid:
            e["sessionId"] = "<new>"
        out.append(e)
    # "now": the last chain entry and the trailer entries
    for e in out:
        if e is out[-1] or e.get("type") in ("custom-title", "content-replacement"):
            e.pop("timestamp", None)
    chain = [e for e in out if e.get("type") not in ("custom-title", "content-replacement")]
    if chain:
        chain[-1].pop("timestamp", None)
    return out


@pytest.mark.parametrize("seed", range(80))
def test_fork_matches_official(config_dir: Path, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    lines, uuids = _transcript(rng)
    up_to = rng.choice(uuids) if rng.random() < 0.3 else None
    title = "T" if rng.random() < 0.5 else None
    data = b"\n".join(lines) + b"\n"
    theirs, ours = fork_pair(
        config_dir, tmp_path, SID, data, _normalized, up_to_message_id=up_to, title=title
    )
    if isinstance(theirs, str):
        assert isinstance(ours, str), ours  # e.g. nothing to fork, message not found
        return
    assert ours == theirs


@pytest.mark.parametrize("seed", range(0, 80, 4))
def test_fork_matches_official_written_as_it_goes(
    config_dir: Path, tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # finished lines handed over to the writing thread every 2 pieces: never a line whose
    # parent comes later, nor the last one (its timestamp is "now")
    monkeypatch.setattr(_mutations, "_HAND_OVER", 2)
    test_fork_matches_official(config_dir, tmp_path, seed)


def test_invalid_utf8_in_a_message_is_not_copied(config_dir: Path, tmp_path: Path) -> None:
    folder = config_dir / "projects" / project_key_for_directory(str(tmp_path))
    folder.mkdir(parents=True)
    good = orjson.dumps(
        {
            "parentUuid": None,
            "type": "user",
            "message": {"role": "user", "content": "é ok"},
            "uuid": _uuid(1),
            "sessionId": SID,
        }
    )
    bad = (
        b'{"parentUuid":"' + _uuid(1).encode() + b'","type":"assistant","message":{"role":'
        b'"assistant","content":[{"type":"text","text":"bad \xff\xfe bytes"}]},"uuid":"'
        + _uuid(2).encode()
        + b'","sessionId":"'
        + SID.encode()
        + b'"}'
    )
    (folder / f"{SID}.jsonl").write_bytes(good + b"\n" + bad + b"\n")
    result = threadline.fork_session(SID)
    data = (folder / f"{result.session_id}.jsonl").read_bytes()
    data.decode("utf-8")  # the fork is valid UTF-8 (the official readers decode strictly)
    texts = [e.get("message") for e in map(orjson.loads, data.splitlines())]
    assert "bad \ufffd\ufffd bytes" in orjson.dumps(texts).decode()


@pytest.mark.timeout(30)
def test_a_cycle_of_progress_entries_ends(config_dir: Path, tmp_path: Path) -> None:
    folder = config_dir / "projects" / project_key_for_directory(str(tmp_path))
    folder.mkdir(parents=True)
    rows = [
        {"parentUuid": _uuid(2), "type": "progress", "uuid": _uuid(1), "sessionId": SID},
        {"parentUuid": _uuid(1), "type": "progress", "uuid": _uuid(2), "sessionId": SID},
        {
            "parentUuid": _uuid(2),
            "type": "user",
            "uuid": _uuid(3),
            "sessionId": SID,
            "message": {"role": "user", "content": "hi"},
        },
    ]
    (folder / f"{SID}.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    result = threadline.fork_session(SID)  # the official fork never returns here
    entries = threadline.get_session_messages(result.session_id)
    assert [m.type for m in entries] == ["user"]
