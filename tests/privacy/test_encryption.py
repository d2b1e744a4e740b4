"""EncryptedStore: tampering, wrong keys, moved entries, keys from the environment, rotation."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

import threadline
from threadline import FileStore, MemoryStore, StorageError, UserError
from threadline.privacy import DecryptionError, EncryptedStore, generate_key, key_id
from threadline.privacy._rekey import BACKUP_SUFFIX

from ._fixtures import all_bytes, fake_credentials, leaky_session

pytestmark = pytest.mark.anyio

PROJECT = "-home-dev-app"
CREDS = fake_credentials(seed=3)


def _key(sid: str, sub: str | None = None) -> Any:
    k: dict[str, str] = {"project_key": PROJECT, "session_id": sid}
    if sub:
        k["subpath"] = sub
    return k


async def _session(store: Any, batch: int = 0) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    sid, entries, sub = leaky_session(CREDS)
    for i in range(0, len(entries), batch or len(entries)):
        await store.append(_key(sid), entries[i : i + (batch or len(entries))])
    await store.append(_key(sid, "subagents/agent-a1"), sub)
    return sid, entries, sub


def _path(cfg: Path, sid: str) -> Path:
    return cfg / "projects" / PROJECT / f"{sid}.jsonl"


def _rewrite_line(path: Path, index: int, change: Any) -> None:
    lines = path.read_bytes().splitlines()
    env = orjson.loads(lines[index])
    change(env)
    lines[index] = orjson.dumps(env)
    path.write_bytes(b"\n".join(lines) + b"\n")


def _flip(env: dict[str, Any]) -> None:
    head, nonce, ct = env["enc"].rsplit(":", 2)
    raw = bytearray(base64.b64decode(ct))
    raw[len(raw) // 2] ^= 1
    env["enc"] = ":".join([head, nonce, base64.b64encode(bytes(raw)).decode()])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (_flip, "failed authentication"),
        (lambda e: e.update(uuid="00000000-0000-4000-8000-000000000000"), "failed authentication"),
        (lambda e: e.update(type="system"), "failed authentication"),
        (lambda e: e.update(enc=e["enc"][:-8]), "failed authentication"),
        (lambda e: e.update(enc="v9:" + e["enc"][3:]), "unsupported"),
        (lambda e: e.update(enc="garbage"), "malformed"),
        (lambda e: e.pop("enc"), "not encrypted"),
    ],
)
@pytest.mark.parametrize("fmt", ["v1", "v2", "v3"])
async def test_tampering_is_detected(tmp_path: Path, change: Any, match: str, fmt: Any) -> None:
    store = EncryptedStore(FileStore(tmp_path), key=generate_key(), format=fmt)
    sid, _entries, _ = await _session(store, batch=2)  # v2/v3: four envelopes of two entries
    path = _path(tmp_path, sid)
    assert orjson.loads(path.read_bytes().splitlines()[2])["enc"].startswith(fmt + ":")
    _rewrite_line(path, 2, change)
    with pytest.raises(DecryptionError, match=match) as info:
        await store.load(_key(sid))
    assert isinstance(info.value, StorageError)
    assert "entry 2" in str(info.value)


@pytest.mark.parametrize("fmt", ["v1", "v2", "v3"])
async def test_entries_cannot_move_between_sessions(tmp_path: Path, fmt: Any) -> None:
    store = EncryptedStore(FileStore(tmp_path), key=generate_key(), format=fmt)
    a, _, _ = await _session(store)
    b, _, _ = await _session(store)
    victim = _path(tmp_path, b)
    victim.write_bytes(victim.read_bytes() + _path(tmp_path, a).read_bytes().splitlines()[0] + b"\n")
    with pytest.raises(DecryptionError, match="moved"):
        await store.load(_key(b))
    # nor from a subagent stream into the main transcript
    sub = tmp_path / "projects" / PROJECT / a / "subagents" / "agent-a1.jsonl"
    main = _path(tmp_path, a)
    main.write_bytes(main.read_bytes() + sub.read_bytes())
    with pytest.raises(DecryptionError):
        await store.load(_key(a))


@pytest.mark.parametrize("fmt", ["v1", "v2", "v3"])
async def test_wrong_key_raises_and_loses_nothing(tmp_path: Path, fmt: Any) -> None:
    right, wrong = generate_key(), generate_key()
    sid, entries, sub = await _session(EncryptedStore(FileStore(tmp_path), key=right, format=fmt))
    before = all_bytes(tmp_path)
    bad = EncryptedStore(FileStore(tmp_path), key=wrong)
    with pytest.raises(DecryptionError, match=f"key {key_id(right)}.*wrong key") as info:
        await bad.load(_key(sid))
    assert info.value.key_id == key_id(right)
    with pytest.raises(DecryptionError):
        await bad.load(_key(sid, "subagents/agent-a1"))
    with pytest.raises(DecryptionError):
        await threadline.get_session_messages_from_store(bad, sid, "/home/dev/app")
    assert all_bytes(tmp_path) == before  # nothing written, nothing lost
    good = EncryptedStore(FileStore(tmp_path), key=right)
    assert await good.load(_key(sid)) == entries
    assert await good.load(_key(sid, "subagents/agent-a1")) == sub


async def test_keys_from_environment_and_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = os.urandom(32)
    monkeypatch.delenv("THREADLINE_ENCRYPTION_KEY", raising=False)
    with pytest.raises(UserError, match="THREADLINE_ENCRYPTION_KEY"):
        EncryptedStore(MemoryStore())
    inner = MemoryStore()
    sid, entries, _ = await _session(EncryptedStore(inner, key=raw))
    for form in (raw, raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")):
        assert await EncryptedStore(inner, key=form).load(_key(sid)) == entries
    monkeypatch.setenv("THREADLINE_ENCRYPTION_KEY", raw.hex())
    assert await EncryptedStore(inner).load(_key(sid)) == entries
    monkeypatch.setenv("MY_KEY", f"{generate_key()}, {base64.b64encode(raw).decode()}")  # new first, old after
    both = EncryptedStore(inner, key_env="MY_KEY")
    assert both.key_id != key_id(raw) and key_id(raw) in both.key_ids
    assert await both.load(_key(sid)) == entries
    for bad in ("short", "zz" * 32, b"x" * 31, 123):
        with pytest.raises(UserError):
            EncryptedStore(inner, key=bad)  # type: ignore[arg-type]
    assert len(base64.urlsafe_b64decode(generate_key())) == 32


async def test_plaintext_entries_are_refused_unless_allowed(tmp_path: Path) -> None:
    plain: Any = FileStore(tmp_path)
    sid, entries, _sub = leaky_session(CREDS)
    await plain.append(_key(sid), entries)
    with pytest.raises(DecryptionError, match="not encrypted"):
        await EncryptedStore(plain, key=generate_key()).load(_key(sid))
    migrating = EncryptedStore(plain, key=generate_key(), allow_plaintext=True)
    assert await migrating.load(_key(sid)) == entries
    report = await migrating.rekey(generate_key())  # encrypts what was plaintext
    assert report.sessions_rewritten == 1
    # The transcripts are encrypted now. (FileStore's listing index, a cache under
    # <config>/threadline/, may still hold text indexed while the store was
    # plaintext: docs/privacy.md says to delete it after such a migration.)
    assert b"onyx goblin" not in all_bytes(tmp_path / "projects")
    assert await migrating.load(_key(sid)) == entries


async def test_summaries_and_listing_through_encryption(tmp_path: Path) -> None:
    store = EncryptedStore(FileStore(tmp_path), key=generate_key())
    sid, _, _ = await _session(store)
    infos = await threadline.list_sessions_from_store(store, "/home/dev/app")
    assert [i.session_id for i in infos] == [sid]
    assert infos[0].custom_title is not None and infos[0].custom_title.startswith("deploy xoxp-")
    assert infos[0].first_prompt is not None and "onyx goblin" in infos[0].first_prompt
    rename: Any = {"type": "custom-title", "customTitle": "renamed"}
    await store.append(_key(sid), [rename])
    infos = await threadline.list_sessions_from_store(store, "/home/dev/app")
    assert infos[0].custom_title == "renamed"
    msgs = await threadline.get_session_messages_from_store(store, sid, "/home/dev/app")
    assert msgs and msgs[0].message["content"].startswith("The quick onyx goblin")
    # the head is tracked on clear uuids/types, so conditional appends work
    head = await store.get_head(_key(sid))
    loaded = await store.load(_key(sid))
    assert loaded is not None and head == [e["uuid"] for e in loaded if e["type"] in ("user", "assistant")][-1]


@pytest.mark.parametrize("kind", ["file", "memory"])
async def test_rekey_rotates_every_session(tmp_path: Path, kind: str) -> None:
    old, new = generate_key(), generate_key()
    inner: Any = FileStore(tmp_path) if kind == "file" else MemoryStore()
    store: Any = EncryptedStore(inner, key=old)
    sessions = [await _session(store) for _ in range(3)]
    other: Any = {"project_key": "-other", "session_id": sessions[0][0]}
    await store.append(other, sessions[0][1][:2])
    projects = None if kind == "file" else [PROJECT, "-other"]
    report = await store.rekey(new, project_keys=projects)
    assert report.sessions_rewritten == 4 and report.key_id == key_id(new) == store.key_id
    assert report.entries_rewritten == sum(len(e) + len(s) for _, e, s in sessions) + 2
    for sid, entries, sub in sessions:
        assert await store.load(_key(sid)) == entries
        assert await store.load(_key(sid, "subagents/agent-a1")) == sub
        assert await EncryptedStore(inner, key=new).load(_key(sid)) == entries
        with pytest.raises(DecryptionError):
            await EncryptedStore(inner, key=old).load(_key(sid))
        with pytest.raises(DecryptionError):
            await EncryptedStore(inner, key=old).load(_key(sid, "subagents/agent-a1"))
    assert await store.load(other) == sessions[0][1][:2]
    assert await inner.list_sessions(PROJECT + BACKUP_SUFFIX) == []
    again = await store.rekey(new, project_keys=projects)
    assert again.sessions_rewritten == 0 and again.sessions_current == 4


async def test_rekey_refuses_before_changing_anything(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    _sid, _, _ = await _session(EncryptedStore(FileStore(tmp_path), key=a))
    before = all_bytes(tmp_path)
    with pytest.raises(DecryptionError):
        await EncryptedStore(FileStore(tmp_path), key=b).rekey(generate_key())
    assert all_bytes(tmp_path) == before
    with pytest.raises(UserError, match="project_keys"):
        await EncryptedStore(MemoryStore(), key=a).rekey(b)


async def test_interrupted_rekey_is_finished_from_the_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline.privacy import _rekey

    old, new = generate_key(), generate_key()
    store = EncryptedStore(FileStore(tmp_path), key=old)
    sid, entries, sub = await _session(store)

    async def crash(*args: Any) -> None:
        await store.inner.delete(_key(sid))  # the session is gone, the backup is complete
        raise KeyboardInterrupt

    monkeypatch.setattr(_rekey, "_replace", crash)
    with pytest.raises(KeyboardInterrupt):
        await store.rekey(new)
    monkeypatch.undo()
    assert await store.inner.load(_key(sid)) is None
    resumed = EncryptedStore(FileStore(tmp_path), key=new)
    report = await resumed.rekey(new)
    assert report.recovered == 1
    assert await resumed.load(_key(sid)) == entries
    assert await resumed.load(_key(sid, "subagents/agent-a1")) == sub
    assert not list((tmp_path / "projects" / (PROJECT + BACKUP_SUFFIX)).glob("*.jsonl"))
