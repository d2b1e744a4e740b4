"""Encrypted sessions through the CLI: readable with the key, refused without it, and never
a plaintext byte appended, whatever the command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from threadline import AgentOptions, FileStore, ResultMessage, query
from threadline.privacy import EncryptedStore, generate_key
from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import invoke

pexpect = pytest.importorskip("pexpect")


def _envelopes_only(path: Path) -> None:
    """Every line of the transcript is an EncryptedStore envelope, and all of them open."""
    for line in path.read_bytes().splitlines():
        obj = orjson.loads(line)
        assert "enc" in obj and "message" not in obj, line[:200]
    key = {"project_key": path.parent.name, "session_id": path.stem}

    async def load() -> Any:
        return await EncryptedStore(FileStore()).load(key)  # raises on a plaintext line

    assert anyio.run(load)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = generate_key()
    monkeypatch.setenv("THREADLINE_ENCRYPTION_KEY", value)
    return value


def _encrypted_session(fake: FakeAnthropicServer, config_dir: Path) -> tuple[str, Path]:
    """A session written through the library's EncryptedStore (as an application would)."""

    async def go() -> str:
        options = AgentOptions(session_store=EncryptedStore(FileStore()))
        async for m in query(prompt="the secret plan", options=options):
            if isinstance(m, ResultMessage):
                return m.session_id
        raise AssertionError("no result")

    sid = anyio.run(go)
    (path,) = config_dir.glob(f"projects/*/{sid}.jsonl")
    _envelopes_only(path)
    assert b"secret plan" not in path.read_bytes()
    return sid, path


def test_without_the_key_nothing_is_read_or_written(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, path = _encrypted_session(fake, config_dir)
    before = path.read_bytes()
    monkeypatch.delenv("THREADLINE_ENCRYPTION_KEY")
    listed = invoke("sessions", "list")
    assert listed.exit_code == 0 and sid in listed.stdout and "encrypted" in listed.stdout
    for args in (
        ["sessions", "show", sid],
        ["sessions", "show", sid, "--json"],
        ["sessions", "show", sid, "--tree"],
        ["sessions", "stats", sid],
        ["sessions", "rename", sid, "new title"],
        ["sessions", "tag", sid, "t"],
        ["sessions", "fork", sid],
        ["run", "-r", sid, "more please"],
        ["run", "-c", "more please"],
        ["run", "-r", sid, "--fork", "more please"],
        ["chat", "-r", sid],
    ):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "encrypted" in result.stderr and "THREADLINE_ENCRYPTION_KEY" in result.stderr
        assert path.read_bytes() == before, args
    found = invoke("sessions", "search", "secret")
    assert found.exit_code == 0 and "1 encrypted session(s) not searched" in found.stderr
    assert path.read_bytes() == before
    assert len(list(config_dir.glob("projects/*/*.jsonl"))) == 1  # no fork, no new session
    assert fake.message_requests()[-1:] and len(fake.message_requests()) == 1


def test_with_the_key_every_command_works_and_writes_ciphertext(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, key: str
) -> None:
    sid, path = _encrypted_session(fake, config_dir)
    listed = json.loads(invoke("sessions", "list", "--json").stdout)
    assert [(r["session_id"], r["first_prompt"]) for r in listed] == [(sid, "the secret plan")]
    shown = invoke("sessions", "show", sid[:8])
    assert shown.exit_code == 0 and "the secret plan" in shown.stdout
    assert "echo: the secret plan" in shown.stdout
    assert json.loads(invoke("sessions", "show", sid, "--tree", "--json").stdout)["leaves"]
    assert json.loads(invoke("sessions", "stats", sid, "--json").stdout)["prompts"] == 1
    assert invoke("sessions", "rename", sid, "Plan B").exit_code == 0
    assert invoke("sessions", "tag", sid, "private").exit_code == 0
    _envelopes_only(path)
    info = json.loads(invoke("sessions", "list", "--json").stdout)[0]
    assert info["custom_title"] == "Plan B" and info["tag"] == "private"

    resumed = invoke("run", "-r", sid[:8], "-o", "json", "and then?")
    assert resumed.exit_code == 0, resumed.stderr
    sent = json.dumps(fake.message_requests()[-1]["messages"])
    assert sent.index("the secret plan") < sent.index("and then?")
    continued = invoke("run", "-c", "-o", "json", "third")
    assert json.loads(continued.stdout)["session_id"] == sid
    _envelopes_only(path)
    assert b"and then?" not in path.read_bytes()

    forked = invoke("sessions", "fork", sid).stdout.strip()
    (fork_path,) = config_dir.glob(f"projects/*/{forked}.jsonl")
    _envelopes_only(fork_path)
    run_fork = invoke("run", "-r", sid, "--fork", "-o", "json", "branch")
    new_id = json.loads(run_fork.stdout)["session_id"]
    (run_fork_path,) = config_dir.glob(f"projects/*/{new_id}.jsonl")
    _envelopes_only(run_fork_path)
    _envelopes_only(path)

    found = invoke("sessions", "search", "secret", "--json")
    assert {h["session_id"] for h in json.loads(found.stdout)} >= {sid}
    assert (
        not (config_dir / "threadline" / "search.sqlite3").exists()
        or b"secret plan" not in (config_dir / "threadline" / "search.sqlite3").read_bytes()
    )


def test_run_store_url_writes_an_encrypted_session(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, key: str
) -> None:
    out = invoke("run", "--store", "encrypted+file:", "-o", "json", "the secret plan")
    assert out.exit_code == 0, out.stderr
    sid = json.loads(out.stdout)["session_id"]
    (path,) = config_dir.glob(f"projects/*/{sid}.jsonl")
    _envelopes_only(path)
    assert b"secret plan" not in path.read_bytes()


def test_chat_resumes_an_encrypted_session_encrypted(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, key: str
) -> None:
    import os
    import sys

    sid, path = _encrypted_session(fake, config_dir)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "threadline.cli", "chat", "-r", sid, "--no-history"],
        cwd=str(project),
        env={**os.environ, "TERM": "dumb"},
        encoding="utf-8",
        timeout=30,
    )
    child.expect_exact("> ")
    child.sendline("chatting in secret")
    child.expect_exact("echo: chatting in secret")
    child.expect_exact("> ")
    child.sendline("/rename Hidden")
    child.expect_exact("Renamed to Hidden")
    child.expect_exact("> ")  # Ctrl-D only once readline is reading again
    child.sendeof()
    child.expect(pexpect.EOF)
    _envelopes_only(path)
    assert b"chatting in secret" not in path.read_bytes()


def test_a_project_folder_no_key_can_name_is_not_listed(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, key: str
) -> None:
    """A folder with a name that is not valid UTF-8, or with a backslash, under
    ``projects/`` (made by another program) is skipped by the store's project listing:
    every listing, search and prefix lookup through the store failed with "Invalid
    project_key" while it was there."""
    sid, _path = _encrypted_session(fake, config_dir)
    (config_dir / "projects" / os.fsdecode(b"-caf\xe9")).mkdir()
    (config_dir / "projects" / "a\\b").mkdir()  # (a legal name here; no project key)
    for store in ([], ["--store", "encrypted+file:"]):
        listed = invoke("sessions", "list", "--all-projects", "--json", *store)
        assert listed.exit_code == 0, listed.stderr
        assert [r["session_id"] for r in json.loads(listed.stdout)] == [sid]
    found = invoke("sessions", "search", "secret", "--json")
    assert found.exit_code == 0, found.stderr
    assert {h["session_id"] for h in json.loads(found.stdout)} == {sid}
    shown = invoke("sessions", "show", sid[:8])
    assert shown.exit_code == 0 and "the secret plan" in shown.stdout, shown.stderr
