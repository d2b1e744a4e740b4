"""Portable bundles: export on one host, verify + import on another, resume there."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline import AgentOptions, ResultMessage, query
from threadline.sessions._bundle import BundleError, export_bundle, import_bundle, read_manifest
from threadline.testing._fake_anthropic import FakeAnthropicServer

from .conftest import invoke


def _run(prompt: str, **kw: Any) -> str:
    async def go() -> str:
        sid = ""
        async for m in query(prompt=prompt, options=AgentOptions(**kw)):
            if isinstance(m, ResultMessage):
                assert not m.is_error, m
                sid = m.session_id
        return sid

    return anyio.run(go)


def _texts(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for m in body["messages"]:
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        out.extend(b["text"] for b in blocks if b.get("type") == "text")
    return out


@pytest.fixture
def host_a(fake: FakeAnthropicServer, project: Path, config_dir: Path) -> str:
    """A session on host A, with a subagent transcript and a file-history backup."""
    sid = _run("remember the number 42")
    _run("and the colour blue", resume=sid)
    (pdir,) = (config_dir / "projects").iterdir()
    sub = pdir / sid / "subagents"
    sub.mkdir(parents=True)
    (sub / "agent-abc.jsonl").write_text('{"type":"user","isSidechain":true}\n')
    (sub / "agent-abc.meta.json").write_text('{"toolUseId":"toolu_1","agentType":"Explore"}')
    history = config_dir / "file-history" / sid
    history.mkdir(parents=True)
    (history / "deadbeef@v1").write_text("old file content\n")
    return sid


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def _write(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_export_import_resume_on_another_host(
    host_a: str, fake: FakeAnthropicServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "s.tlbundle"
    plain = tmp_path / "plain.tlbundle"
    assert invoke("sessions", "export", host_a[:8], "-o", str(plain)).exit_code == 0
    assert not any("file-history" in n for n in _members(plain))  # only when asked
    result = invoke("sessions", "export", host_a[:8], "--file-history", "-o", str(bundle))
    assert result.exit_code == 0, result.output
    members = _members(bundle)
    names = list(members)
    assert names[0] == "manifest.json" and names[-1] == "seal.json"
    manifest = json.loads(members["manifest.json"])
    (session,) = manifest["sessions"]
    assert session["session_id"] == host_a and session["cwd"].endswith("project")
    assert any(n.endswith("agent-abc.meta.json") for n in names)
    assert f"files/file-history/{host_a}/deadbeef@v1" in names
    assert all(len(v["sha256"]) == 64 for v in manifest["files"].values())

    host_b = tmp_path / "host-b-config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(host_b))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke("sessions", "import", str(bundle))
    assert result.exit_code == 0, result.output
    assert host_a in result.stdout
    assert (host_b / "file-history" / host_a / "deadbeef@v1").read_text() == "old file content\n"
    assert len(list(host_b.glob(f"projects/*/{host_a}/subagents/agent-abc.meta.json"))) == 1
    assert invoke("sessions", "import", str(bundle)).exit_code == 0  # same content: a no-op
    fake.clear_requests()
    assert _run("what did I tell you?", resume=host_a) == host_a
    assert _texts(fake.message_requests()[-1]) == [
        "remember the number 42",
        "echo: remember the number 42",
        "and the colour blue",
        "echo: and the colour blue",
        "what did I tell you?",
    ]
    # the session has moved on here: the old bundle now conflicts with it
    conflict = invoke("sessions", "import", str(bundle))
    assert conflict.exit_code == 6 and "already exists" in conflict.stderr
    assert invoke("sessions", "import", "--force", str(bundle)).exit_code == 0


def test_import_into_another_project(
    host_a: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "s.tlbundle"
    export_bundle([host_a], bundle)
    host_b = tmp_path / "b"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(host_b))
    target = tmp_path / "new-home"
    target.mkdir()
    out = json.loads(
        invoke("sessions", "import", "--to-directory", str(target), "--json", str(bundle)).stdout
    )
    assert out[0]["session_id"] == host_a
    monkeypatch.chdir(target)
    assert host_a in invoke("sessions", "list").stdout


def _assert_rejected(
    bundle: Path, host_b: Path, monkeypatch: pytest.MonkeyPatch, needle: str
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(host_b))
    result = invoke("sessions", "import", str(bundle))
    assert result.exit_code == 7, result.output
    assert needle in result.stderr and result.stderr.count("\n") == 1
    assert not (host_b / "projects").exists() and not (host_b / "file-history").exists()
    assert list((host_b / "threadline").iterdir()) == []  # staging cleaned up


def test_tampered_bundle_is_refused(
    host_a: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "s.tlbundle"
    export_bundle([host_a], bundle)
    members = _members(bundle)
    name = next(n for n in members if n.endswith(f"{host_a}.jsonl"))
    members[name] = members[name].replace(b"42", b"43")
    _write(bundle, members)
    _assert_rejected(bundle, tmp_path / "b", monkeypatch, "checksum mismatch")


def test_tampered_manifest_is_refused(
    host_a: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "s.tlbundle"
    export_bundle([host_a], bundle)
    members = _members(bundle)
    members["manifest.json"] = members["manifest.json"].replace(b'"cwd"', b'"cwd" ', 1)
    _write(bundle, members)
    _assert_rejected(bundle, tmp_path / "b", monkeypatch, "does not match its seal")


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_bundle_is_refused(
    host_a: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: float
) -> None:
    bundle = tmp_path / "s.tlbundle"
    export_bundle([host_a], bundle)
    data = bundle.read_bytes()
    bundle.write_bytes(data[: int(len(data) * keep)])
    _assert_rejected(bundle, tmp_path / "b", monkeypatch, "truncated")


def test_missing_member_and_unsafe_paths_are_refused(
    host_a: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "s.tlbundle"
    export_bundle([host_a], bundle, file_history=True)
    members = _members(bundle)
    del members[next(n for n in members if n.endswith("deadbeef@v1"))]
    _write(bundle, members)
    _assert_rejected(bundle, tmp_path / "b", monkeypatch, "missing")
    evil = json.loads(_members(tmp_path / "s.tlbundle")["manifest.json"])
    evil["files"]["../../etc/x"] = {"sha256": "0" * 64, "size": 1}
    with pytest.raises(BundleError, match="unsafe path"):
        import hashlib

        raw = json.dumps(evil).encode()
        _write(
            bundle,
            {
                "manifest.json": raw,
                "seal.json": json.dumps(
                    {"manifest_sha256": hashlib.sha256(raw).hexdigest()}
                ).encode(),
            },
        )
        read_manifest(bundle)


def test_not_a_bundle(tmp_path: Path, project: Path) -> None:
    junk = tmp_path / "junk.tlbundle"
    junk.write_text("hello")
    result = invoke("sessions", "import", str(junk))
    assert result.exit_code == 7
    assert invoke("sessions", "import", str(tmp_path / "absent")).exit_code == 2


def test_export_all_and_import_many(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {_run(f"session {i}") for i in range(5)}
    bundle = tmp_path / "all.tlbundle"
    monkeypatch.setenv("THREADLINE_PROGRESS", "1")
    result = invoke("sessions", "export", "--all", "-o", str(bundle))
    assert result.exit_code == 0 and "Exported 5 session(s)" in result.stderr
    assert "Exporting sessions" in result.stderr
    assert {s.session_id for s in read_manifest(bundle)} == ids
    check = invoke("sessions", "import", "--check", str(bundle))
    assert check.exit_code == 0 and check.stdout.count("Verified") == 5
    single = tmp_path / "one.tlbundle"
    export_bundle([sorted(ids)[0]], single)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "b"))
    result = invoke("sessions", "import", str(bundle), str(single))
    assert result.exit_code == 0 and "Importing all.tlbundle" in result.stderr
    assert len(import_bundle(bundle)) == 5
    assert {r["session_id"] for r in json.loads(invoke("sessions", "list", "--json").stdout)} == ids
    assert invoke("sessions", "export", "-o", str(tmp_path / "x")).exit_code == 2
