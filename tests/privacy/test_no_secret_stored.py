"""Fake credentials in prompts, tool output and files never reach a stored byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import threadline
from threadline import FileStore, MemoryStore
from threadline.privacy import EncryptedStore, RedactingStore, generate_key

from ._fixtures import all_bytes, fake_credentials, leaky_session, secret_values, strings_in

pytestmark = pytest.mark.anyio

CREDS = fake_credentials(seed=11)
PROJECT = "-home-dev-app"


async def _write(store: Any) -> tuple[str, list[dict[str, Any]]]:
    sid, entries, sub = leaky_session(CREDS)
    key: Any = {"project_key": PROJECT, "session_id": sid}
    await store.append(key, entries[:3])
    await store.append(key, entries[3:])
    await store.append({**key, "subpath": "subagents/agent-a1"}, sub)
    if hasattr(store, "list_session_summaries"):
        await store.list_session_summaries(PROJECT)  # fills any summary cache or index
    await threadline.list_sessions_from_store(store, "/home/dev/app")
    return sid, entries


def _assert_clean(blob: bytes) -> None:
    for secret in secret_values(CREDS):
        assert secret.encode() not in blob, f"credential stored: {secret[:12]}..."


async def test_redacting_file_store(config_dir: Path) -> None:
    cfg = config_dir
    store = RedactingStore(FileStore())
    sid, entries = await _write(store)
    await threadline.get_session_messages_from_store(store, sid, "/home/dev/app")
    assert threadline.list_sessions(directory="/home/dev/app")  # the on-disk summary index too
    assert list((cfg / "threadline").iterdir())
    blob = all_bytes(cfg)
    _assert_clean(blob)
    for marker in ("anthropic-api-key", "openai-api-key", "aws-access-key-id", "aws-secret-access-key",
                   "github-token", "slack-token", "stripe-key", "private-key", "bearer-token",
                   "env-secret", "url-password", "secret-field", "authorization-header"):
        assert f"[REDACTED:{marker}]".encode() in blob, marker
    # ordinary text is kept; the structure is intact
    loaded: Any = await store.load({"project_key": PROJECT, "session_id": sid})
    assert loaded is not None and [e["uuid"] for e in loaded[:6]] == [e["uuid"] for e in entries[:6]]
    assert "The quick onyx goblin deploys" in loaded[0]["message"]["content"]


async def test_redacting_memory_store_internals() -> None:
    inner = MemoryStore()
    await _write(RedactingStore(inner))
    blob = "\n".join(strings_in(inner)).encode()
    assert b"[REDACTED:anthropic-api-key]" in blob
    _assert_clean(blob)


@pytest.mark.parametrize("fmt", ["v1", "v2", "v3"])
@pytest.mark.parametrize("redact", [True, False])
async def test_encrypted_file_store_holds_only_ciphertext(tmp_path: Path, redact: bool, fmt: Any) -> None:
    cfg = tmp_path / "cfg"
    key = generate_key()
    enc = EncryptedStore(FileStore(cfg), key=key, format=fmt)
    store: Any = RedactingStore(enc) if redact else enc
    sid, entries = await _write(store)
    blob = all_bytes(cfg)
    _assert_clean(blob)  # even unredacted, nothing is readable
    for plain in (b"onyx goblin", b"deploy", b"REDACTED", b"/home/dev/app", b"tool_use", b"Bash"):
        assert plain not in blob, plain
    for line in (cfg / "projects" / PROJECT / f"{sid}.jsonl").read_bytes().splitlines():
        env = orjson.loads(line)
        fields = {"type", "uuid", "enc"} | ({"n"} if fmt != "v1" else set())
        assert set(env) <= fields and env["enc"].startswith(fmt + ":")
    loaded = await store.load({"project_key": PROJECT, "session_id": sid})
    assert loaded is not None and len(loaded) == len(entries)
    assert ("[REDACTED:anthropic-api-key]" in loaded[0]["message"]["content"]) is redact
    if not redact:
        assert loaded == entries


async def test_encrypted_memory_store_internals() -> None:
    inner = MemoryStore()
    store = RedactingStore(EncryptedStore(inner, key=generate_key()))
    await _write(store)
    blob = "\n".join(strings_in(inner)).encode()
    _assert_clean(blob)
    assert b"onyx goblin" not in blob and b"REDACTED" not in blob


async def test_redacting_file_store_conditional_appends(config_dir: Path) -> None:
    """The runtime's path: ``append_conditional`` batches (serialised once, redacted in the
    store's worker thread); the caller's entries are not changed."""
    store = RedactingStore(FileStore())
    sid, entries, _ = leaky_session(CREDS)
    before = orjson.dumps(entries)
    key: Any = {"project_key": PROJECT, "session_id": sid}
    head = await store.get_head(key)
    for i in range(0, len(entries), 2):
        await store.append_conditional(key, entries[i : i + 2], expected_head=head)
        head = await store.get_head(key)
    assert orjson.dumps(entries) == before
    _assert_clean(all_bytes(config_dir))
    loaded: Any = await store.load(key)
    assert [e.get("uuid") for e in loaded] == [e.get("uuid") for e in entries]


async def test_a_file_store_subclass_that_overrides_append_is_called(config_dir: Path) -> None:
    calls: list[int] = []

    class Counting(FileStore):
        async def append(self, key: Any, entries: Any) -> None:
            calls.append(len(entries))
            await super().append(key, entries)

    store = RedactingStore(Counting())
    sid, entries, _ = leaky_session(CREDS)
    await store.append({"project_key": PROJECT, "session_id": sid}, entries)
    assert calls == [len(entries)]
    _assert_clean(all_bytes(config_dir))
