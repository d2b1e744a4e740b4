"""The batch encrypted formats (v2, and v3 with its codec): round trips, mixed streams, heads, retries, rekey."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from threadline import ConcurrentModificationError, FileStore, MemoryStore
from threadline.privacy import DecryptionError, EncryptedStore, _envelope, generate_key, key_id

from ._fixtures import all_bytes

pytestmark = pytest.mark.anyio

PROJECT = "-home-dev-app"
KEY = generate_key()


def _key(sid: str = "s1", sub: str | None = None) -> Any:
    k: dict[str, str] = {"project_key": PROJECT, "session_id": sid}
    if sub:
        k["subpath"] = sub
    return k


def _e(kind: str = "user", *, uid: bool = True, **extra: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"type": kind, "message": {"content": f"{kind} text"}, **extra}
    if uid:
        e["uuid"] = str(uuid.uuid4())
    return e


def _inner(kind: str, tmp_path: Path) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return FileStore(tmp_path / "cfg") if kind == "file" else MemoryStore()


async def _stored(inner: Any, key: Any) -> list[dict[str, Any]]:
    return list(await inner.load(key) or [])


@pytest.fixture(params=["default", "tiny"])
def limits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run with the real batch limits, and with tiny ones so every append is cut up."""
    if request.param == "tiny":
        monkeypatch.setattr(_envelope, "MAX_BATCH_ENTRIES", 2)
        monkeypatch.setattr(_envelope, "MAX_BATCH_BYTES", 200)
    return str(request.param)


def _codec(env: dict[str, Any]) -> str:
    version, _kid, codec, _nonce, _ct = env["enc"].split(":")
    assert version == "v3"
    return codec


@pytest.mark.parametrize("kind", ["memory", "file"])
@pytest.mark.parametrize("fmt", ["v2", "v3"])
async def test_batch_round_trip_and_envelope_shape(tmp_path: Path, kind: str, fmt: Any) -> None:
    inner = _inner(kind, tmp_path)
    store = EncryptedStore(inner, key=KEY, format=fmt)
    u, a = _e("user"), _e("assistant")
    title = _e("custom-title", uid=False, customTitle="t")
    meta = _e("file-history-snapshot")
    odd = _e("user", text="lone \udc80 surrogate and \u2028 separators \n newline")
    await store.append(_key(), [u, a, title])  # ends in a non-chain entry: two envelopes
    await store.append(_key(), [meta])  # no chain entry: type "encrypted", a batch id
    await store.append(_key(), [title])  # no uuid at all: no envelope uuid
    await store.append(_key(), [odd])
    envs = await _stored(inner, _key())
    assert [(e["type"], e.get("uuid"), e["n"]) for e in envs[:2]] == [
        ("assistant", a["uuid"], 2),
        ("encrypted", None, 1),
    ]
    assert envs[2]["type"] == "encrypted" and envs[2]["uuid"].startswith("batch-") and envs[2]["n"] == 1
    assert "uuid" not in envs[3] and envs[4]["uuid"] == odd["uuid"]
    assert all(set(e) <= {"type", "uuid", "n", "enc"} and e["enc"].startswith(f"{fmt}:{key_id(KEY)}:") for e in envs)
    if fmt == "v3":  # each batch is compressed when that makes it smaller
        assert {_codec(e) for e in envs} <= {"lz4", "raw"}
    assert await store.load(_key()) == [u, a, title, meta, title, odd]
    assert await store.get_head(_key()) == odd["uuid"]


async def test_big_appends_are_cut_into_bounded_batches() -> None:
    inner = MemoryStore()
    store = EncryptedStore(inner, key=KEY)
    big = "x" * (_envelope.MAX_BATCH_BYTES + 10)
    entries = [_e("user" if i % 2 else "assistant", i=i) for i in range(2500)]
    entries[1200]["message"]["content"] = big  # one entry over the byte limit: an envelope of its own
    entries.append(_e("tag", uid=False, tag="x"))
    await store.append(_key(), entries)
    envs = await _stored(inner, _key())
    assert len(envs) >= 4 and sum(e["n"] for e in envs) == len(entries)
    assert all(e["n"] <= _envelope.MAX_BATCH_ENTRIES for e in envs)
    assert any(e["n"] == 1 and e.get("uuid") == entries[1200]["uuid"] for e in envs)
    assert await store.load(_key()) == entries
    assert await store.get_head(_key()) == entries[-2]["uuid"]
    await store.append(_key(), entries)  # an identical retry: every envelope is already there
    assert len(await _stored(inner, _key())) == len(envs) + 1  # ...but the uuid-less tail
    loaded = await store.load(_key())
    assert loaded == [*entries, entries[-1]]  # (entries without uuid repeat, as in plain stores)


async def test_v3_compresses_and_binds_the_codec() -> None:
    inner = MemoryStore()
    store = EncryptedStore(inner, key=KEY)
    assert store.format == "v3" and store.compress
    wordy = [_e("user", text="the same words again and again " * 200) for _ in range(3)]
    noise = [_e("assistant", text=base64.b64encode(os.urandom(3000)).decode())]
    await store.append(_key(), wordy)
    await store.append(_key(), noise)  # barely compressible: LZ4 would not shrink it
    raw_store = EncryptedStore(inner, key=KEY, compress=False)
    assert not raw_store.compress
    more = [_e("user", text="x" * 5000)]
    await raw_store.append(_key(), more)
    envs = await _stored(inner, _key())
    assert [_codec(e) for e in envs] == ["lz4", "raw", "raw"]
    assert len(envs[0]["enc"]) * 10 < len(orjson.dumps(wordy))  # compressed before encryption
    assert len(envs[2]["enc"]) > 5000  # compress=False: not compressed
    for reader in (store, raw_store, EncryptedStore(inner, key=KEY, format="v2")):
        assert await reader.load(_key()) == [*wordy, *noise, *more]

    async def load_with(change: Any) -> None:
        changed = [dict(e) for e in envs]
        changed[0]["enc"] = change(changed[0]["enc"])
        mem = MemoryStore()
        await mem.append(_key(), changed)
        await EncryptedStore(mem, key=KEY).load(_key())

    # the codec is authenticated: relabelling a batch fails before anything is decompressed
    with pytest.raises(DecryptionError, match="failed authentication"):
        await load_with(lambda enc: enc.replace(":lz4:", ":raw:"))
    with pytest.raises(DecryptionError, match="unsupported compression codec 'zstd'"):
        await load_with(lambda enc: enc.replace(":lz4:", ":zstd:"))
    with pytest.raises(DecryptionError, match="malformed"):
        await load_with(lambda enc: enc.replace(":lz4:", ":"))
    with pytest.raises(DecryptionError, match="failed authentication"):
        await load_with(lambda enc: "v2" + enc[2:])  # the v2 reading of a v3 envelope
    # a raw batch relabelled as lz4 fails authentication too (never reaches the decompressor)
    changed = [dict(e) for e in envs]
    changed[1]["enc"] = changed[1]["enc"].replace(":raw:", ":lz4:")
    mem = MemoryStore()
    await mem.append(_key(), changed)
    with pytest.raises(DecryptionError, match="entry 1: encrypted entry failed authentication"):
        await EncryptedStore(mem, key=KEY).load(_key())


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_mixed_v1_v2_and_v3_streams(tmp_path: Path, kind: str) -> None:
    inner = _inner(kind, tmp_path)
    v1 = EncryptedStore(inner, key=KEY, format="v1")
    v2 = EncryptedStore(inner, key=KEY, format="v2")
    v3 = EncryptedStore(inner, key=KEY)
    wordy = _e("user", text="compressible " * 300)
    batches = [
        [_e("user"), _e("assistant")],
        [_e("user"), _e("custom-title", uid=False)],
        [_e("assistant")],
        [wordy, _e("assistant")],
    ]
    await v1.append(_key(), batches[0])
    await v2.append(_key(), batches[1])
    await v1.append(_key(), batches[2])
    await v2.append(_key(), [batches[2][0], _e("user")])  # overlaps a v1 entry
    await v3.append(_key(), batches[3])
    expected = [*batches[0], *batches[1], *batches[2]]
    await v2.append(_key(), [*expected[-1:]])  # a v2 retry of an entry stored by v1: a no-op
    await v3.append(_key(), [*expected[-1:]])  # ...and a v3 one
    tail = _e("user")
    await v3.append(_key(), [tail])
    envs = await _stored(inner, _key())
    assert {e["enc"][:3] for e in envs} == {"v1:", "v2:", "v3:"}
    assert "lz4" in [_codec(e) for e in envs if e["enc"].startswith("v3:")]
    for reader in (v1, v2, v3, EncryptedStore(inner, key=KEY, compress=False)):
        loaded = await reader.load(_key())
        assert loaded is not None and loaded[:5] == expected and loaded[-1] == tail
        assert loaded[6:8] == batches[3]
        assert len(loaded) == 9 and len({e.get("uuid") for e in loaded}) == 9
    assert await v3.get_head(_key()) == tail["uuid"]


async def _scenario(store: Any) -> list[Any]:
    """Writes, retries and conditional appends; the result must not depend on the store."""
    log: list[Any] = []
    k = _key()
    kinds = ("user", "assistant", "user", "assistant", "user", "user", "user")
    u1, a1, u2, a2, u3, u4, u5 = (_e(t, n=i) for i, t in enumerate(kinds))
    title = _e("custom-title", uid=False, customTitle="t")
    tag = _e("tag", uid=False, tag="x")
    meta = _e("file-history-snapshot")
    prog = _e("progress", uid=False)  # a chain type without uuid never moves the head

    async def step(name: str, coro: Any) -> None:
        try:
            await coro
            log.append((name, "ok", await store.get_head(k)))
        except ConcurrentModificationError as exc:
            log.append((name, "conflict", exc.expected, exc.actual))

    await step("first", store.append_conditional(k, [u1, a1], expected_head=None))
    await step("identical retry", store.append(k, [u1, a1]))
    await step("retry extended", store.append(k, [u1, a1, u2]))
    await step("title", store.append(k, [title]))
    await step("meta", store.append(k, [meta]))
    await step("meta retry", store.append(k, [meta]))
    await step("ends in metadata", store.append(k, [a2, tag, prog]))
    await step("old retry", store.append(k, [u1, a1, u2]))
    await step("cond ok", store.append_conditional(k, [u3], expected_head=a2["uuid"]))
    await step("cond retry", store.append_conditional(k, [u3], expected_head=a2["uuid"]))
    await step("cond retry extended", store.append_conditional(k, [u3, meta], expected_head=a2["uuid"]))
    await step("cond stale", store.append_conditional(k, [u4], expected_head=a2["uuid"]))
    await step("cond + title", store.append_conditional(k, [u4, title], expected_head=u3["uuid"]))
    await step("cond + title retry", store.append_conditional(k, [u4, title], expected_head=u3["uuid"]))
    await step("metadata only", store.append_conditional(k, [tag], expected_head=u4["uuid"]))
    await step("after metadata", store.append_conditional(k, [u5], expected_head=u4["uuid"]))
    log.append(await store.load(k))
    return log


@pytest.mark.parametrize("kind", ["memory", "file"])
@pytest.mark.parametrize("fmt", ["v1", "v2", "v3"])
async def test_heads_retries_and_conflicts_match_the_plain_store(
    tmp_path: Path, kind: str, fmt: Any, limits: str
) -> None:
    plain = await _scenario(_inner(kind, tmp_path / "plain"))
    encrypted = await _scenario(EncryptedStore(_inner(kind, tmp_path / "enc"), key=KEY, format=fmt))

    def shape(log: list[Any]) -> list[Any]:  # uuids differ between runs: compare by position
        ids: dict[str, int] = {}
        out: list[Any] = []
        for item in log[:-1]:
            out.append(tuple(ids.setdefault(x, len(ids)) if isinstance(x, str) and "-" in x and len(x) == 36 else x for x in item))
        out.append([(e["type"], e.get("n")) for e in log[-1]])
        return out

    assert shape(encrypted) == shape(plain)
    assert shape(encrypted)[11][:2] == ("cond stale", "conflict")


@pytest.mark.parametrize(("fmt", "codec"), [("v2", None), ("v3", "raw"), ("v3", "lz4")])
async def test_tampered_batch_envelope_is_detected(tmp_path: Path, fmt: Any, codec: Any) -> None:
    inner = MemoryStore()
    store = EncryptedStore(inner, key=KEY, format=fmt, compress=codec == "lz4" if codec else None)
    text = "long and repetitive " * 100
    await store.append(_key(), [_e("user", text=text), _e("assistant", text=text)])
    await store.append(_key(), [_e("user", text=text), _e("assistant", text=text)])
    good = await _stored(inner, _key())
    if fmt == "v3":
        assert _codec(good[1]) == codec

    async def load_with(change: Any) -> None:
        envs = [dict(e) for e in good]
        change(envs)
        mem = MemoryStore()
        await mem.append(_key(), envs)
        await EncryptedStore(mem, key=KEY).load(_key())

    def flip(envs: list[Any]) -> None:
        head, nonce, ct = envs[1]["enc"].rsplit(":", 2)
        raw = bytearray(base64.b64decode(ct))
        raw[3] ^= 0x40
        envs[1]["enc"] = ":".join([head, nonce, base64.b64encode(bytes(raw)).decode()])

    cases: list[tuple[Any, str]] = [
        (flip, "entry 1: encrypted entry failed authentication"),
        (lambda envs: envs[1].update(n=1), "failed authentication"),
        (lambda envs: envs[1].update(n="2"), "malformed"),
        (lambda envs: envs[1].pop("n"), "malformed"),
        (lambda envs: envs[1].update(type="encrypted"), "failed authentication"),
        (lambda envs: envs[1].update(uuid=str(uuid.uuid4())), "failed authentication"),
        (lambda envs: envs[1].pop("uuid"), "failed authentication"),
        (lambda envs: envs[1].update(enc=envs[1]["enc"][:-4]), "failed authentication"),
        (lambda envs: envs[1].update(enc="v1" + envs[1]["enc"][2:]), "failed authentication"),
        (lambda envs: envs[1].update(enc=envs[1]["enc"] + "AAAA"), "failed authentication"),
        (lambda envs: envs[1].update(enc=envs[1]["enc"][:-5] + "!" + envs[1]["enc"][-4:]), "failed authentication"),
    ]
    for change, match in cases:
        with pytest.raises(DecryptionError, match=match):
            await load_with(change)
    # moved to another session or subagent stream
    for other in (_key("s2"), _key("s1", "subagents/agent-a1")):
        mem = MemoryStore()
        await mem.append(other, good)
        with pytest.raises(DecryptionError, match="moved"):
            await EncryptedStore(mem, key=KEY).load(other)
    assert await store.load(_key()) is not None  # the original is intact


@pytest.mark.parametrize("fmt", ["v2", "v3"])
async def test_batch_wrong_key_raises_and_loses_nothing(tmp_path: Path, fmt: Any) -> None:
    right, wrong = generate_key(), generate_key()
    store = EncryptedStore(FileStore(tmp_path), key=right, format=fmt)
    entries = [_e("user", text="words " * 500), _e("assistant"), _e("custom-title", uid=False)]
    await store.append(_key(), entries)
    before = all_bytes(tmp_path)
    with pytest.raises(DecryptionError, match=f"entry 0: encrypted with key {key_id(right)}.*wrong key"):
        await EncryptedStore(FileStore(tmp_path), key=wrong).load(_key())
    with pytest.raises(DecryptionError):
        await EncryptedStore(FileStore(tmp_path), key=wrong).list_session_summaries(PROJECT)
    assert all_bytes(tmp_path) == before
    assert await EncryptedStore(FileStore(tmp_path), key=right).load(_key()) == entries


@pytest.mark.parametrize("kind", ["memory", "file"])
async def test_rekey_of_a_mixed_stream(tmp_path: Path, kind: str) -> None:
    old, new = generate_key(), generate_key()
    inner = _inner(kind, tmp_path)
    projects = [PROJECT]
    v1 = EncryptedStore(inner, key=old, format="v1")
    v2 = EncryptedStore(inner, key=old, format="v2")
    main = [_e("user"), _e("assistant"), _e("custom-title", uid=False, customTitle="mixed"), _e("user")]
    sub = [_e("user", isSidechain=True), _e("assistant", isSidechain=True)]
    await v1.append(_key(), main[:2])
    await v2.append(_key(), main[2:])
    await v2.append(_key("s1", "subagents/agent-a1"), sub[:1])
    await v1.append(_key("s1", "subagents/agent-a1"), sub[1:])
    await v1.append(_key("s2"), main[:2])  # a session entirely in v1 on the old key
    await EncryptedStore(inner, key=old).append(_key("s2"), [_e("user", text="v3 " * 300)])
    main2 = [*main[:2], *(await EncryptedStore(inner, key=old).load(_key("s2")) or [])[2:]]
    report = await v2.rekey(new, project_keys=projects)
    assert report.sessions_rewritten == 2 and report.entries_rewritten == len(main) + len(sub) + 3
    for k in (_key(), _key("s1", "subagents/agent-a1"), _key("s2")):
        assert all(e["enc"].startswith(f"v2:{key_id(new)}:") for e in await _stored(inner, k))
    reader = EncryptedStore(inner, key=new)
    assert await reader.load(_key()) == main
    assert await reader.load(_key("s1", "subagents/agent-a1")) == sub
    assert await reader.load(_key("s2")) == main2 and len(main2) == 3
    assert await reader.get_head(_key()) == main[-1]["uuid"]
    summaries = {s["session_id"]: s["data"] for s in await reader.list_session_summaries(PROJECT)}
    assert summaries["s1"].get("custom_title") == "mixed"
    again = await v2.rekey(new, project_keys=projects)
    assert again.sessions_rewritten == 0 and again.sessions_current == 2


async def test_rekey_with_the_same_key_upgrades_v1_sessions() -> None:
    inner = MemoryStore()
    entries = [_e("user", text="text " * 200), _e("assistant")]
    await EncryptedStore(inner, key=KEY, format="v1").append(_key(), entries)
    v1_report = await EncryptedStore(inner, key=KEY, format="v1").rekey(KEY, project_keys=[PROJECT])
    assert v1_report.sessions_current == 1  # a v1 writer leaves v1 sessions alone
    report = await EncryptedStore(inner, key=KEY).rekey(KEY, project_keys=[PROJECT])
    assert report.sessions_rewritten == 1
    envs = await _stored(inner, _key())
    assert len(envs) == 1 and envs[0]["enc"].startswith("v3:") and _codec(envs[0]) == "lz4" and envs[0]["n"] == 2
    assert await EncryptedStore(inner, key=KEY).load(_key()) == entries
    again = await EncryptedStore(inner, key=KEY).rekey(KEY, project_keys=[PROJECT])
    assert again.sessions_current == 1  # already v3 on this key
    # turning compression off: rekey rewrites the compressed batches raw
    off = await EncryptedStore(inner, key=KEY, compress=False).rekey(KEY, project_keys=[PROJECT])
    assert off.sessions_rewritten == 1
    assert [_codec(e) for e in await _stored(inner, _key())] == ["raw"]
    assert (await EncryptedStore(inner, key=KEY).rekey(KEY, project_keys=[PROJECT])).sessions_current == 1
    assert await EncryptedStore(inner, key=KEY).load(_key()) == entries


async def test_bad_format_is_refused() -> None:
    from threadline import UserError

    with pytest.raises(UserError, match="format"):
        EncryptedStore(MemoryStore(), key=KEY, format="v9")  # type: ignore[arg-type]
    for fmt in ("v1", "v2"):
        with pytest.raises(UserError, match="cannot compress"):
            EncryptedStore(MemoryStore(), key=KEY, format=fmt, compress=True)  # type: ignore[arg-type]
        assert not EncryptedStore(MemoryStore(), key=KEY, format=fmt).compress  # type: ignore[arg-type]


async def test_big_loads_open_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline.privacy import _encrypted

    inner = MemoryStore()
    store = EncryptedStore(inner, key=KEY)
    entries = [_e("user", text="y" * 1000) for _ in range(400)]
    await store.append(_key(), entries)
    assert len(await _stored(inner, _key())) == 1
    calls: list[Any] = []
    real = _encrypted.anyio.to_thread.run_sync

    async def spy(fn: Any, *args: Any) -> Any:
        calls.append(fn)
        return await real(fn, *args)

    monkeypatch.setattr(_encrypted.anyio.to_thread, "run_sync", spy)
    assert await store.load(_key()) == entries
    assert calls, "one envelope holding ~400 KB should be opened off the event loop"


async def test_rekey_skips_a_project_folder_no_key_can_name(tmp_path: Path) -> None:
    """A folder another program made under ``projects/`` with a name that is not valid
    UTF-8 (no project key can name it) is not a project: rekey found it and failed midway,
    after the key was rotated and other projects rewritten."""
    old, new = generate_key(), generate_key()
    store = EncryptedStore(FileStore(tmp_path), key=old)
    for project in ("-a", "-z"):
        await store.append({"project_key": project, "session_id": "s1"}, [_e("user")])
    (tmp_path / "projects").joinpath(os.fsdecode(b"-caf\xe9")).mkdir()
    report = await store.rekey(new)
    assert report.sessions_rewritten == 2
    reader = EncryptedStore(FileStore(tmp_path), key=new)
    for project in ("-a", "-z"):
        assert await reader.load({"project_key": project, "session_id": "s1"})
