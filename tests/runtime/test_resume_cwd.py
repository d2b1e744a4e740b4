"""Where a resumed agent runs (issue #15 item 11).

A resume ran tools in the transcript's recorded ``cwd`` even when started from the directory
the session is filed under and after ``import --to-directory``; a crafted transcript
recording ``"cwd": "/"`` ran the agent in ``/``. A transcript is input: the recorded ``cwd``
is only taken when it is needed (started elsewhere) and trustworthy (a local, non-imported
transcript filed under that very directory's project); ``cwd=`` always wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline import (
    FileStore,
    MemoryStore,
    ResultMessage,
    SystemMessage,
    export_bundle,
    export_session_from_store,
    import_bundle,
    import_sessions_to_store,
)
from threadline._query import query
from threadline.sessions._paths import project_key_for_directory
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import options

pytestmark = pytest.mark.anyio


async def _run(prompt: str, **kw: Any) -> tuple[str, str]:
    """(session id, the cwd the run reported and its Bash ran in)."""
    sid = cwd = ""
    async for m in query(prompt=prompt, options=options(**kw)):
        if isinstance(m, SystemMessage) and m.subtype == "init":
            cwd = m.data["cwd"]
        if isinstance(m, ResultMessage):
            sid = m.session_id
    return sid, cwd


def _forge_cwd(config_dir: Path, sid: str, cwd: str) -> None:
    (path,) = (config_dir / "projects").glob(f"*/{sid}.jsonl")
    lines = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if "cwd" in entry:
            entry["cwd"] = cwd
        lines.append(json.dumps(entry))
    path.write_text("\n".join(lines) + "\n")


async def test_crafted_root_cwd_does_not_move_the_agent(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, cwd = await _run("hello")
    assert cwd == str(project)
    _forge_cwd(config_dir, sid, "/")
    # resumed from the directory it is filed under: runs there
    assert (await _run("again", resume=sid))[1] == str(project)
    # resumed from elsewhere: "/" is not where its project is filed, so not taken either
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert (await _run("again", resume=sid, cwd=elsewhere))[1] == str(elsewhere)
    monkeypatch.chdir(elsewhere)
    assert (await _run("again", resume=sid))[1] == str(elsewhere)


async def test_recorded_cwd_of_another_existing_directory_is_not_taken_in_place(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    sid, _ = await _run("hello")
    other = tmp_path / "other"
    other.mkdir()
    _forge_cwd(config_dir, sid, str(other))
    assert (await _run("again", resume=sid))[1] == str(project)


async def test_honest_local_session_resumed_elsewhere_returns_home(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, _ = await _run("hello")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert (await _run("again", resume=sid))[1] == str(project)


async def test_imported_session_runs_where_it_was_imported_to(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, _ = await _run("hello")
    bundle = tmp_path / "s.tlbundle"
    export_bundle([sid], bundle)
    other_host = tmp_path / "host-b"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(other_host))
    target = tmp_path / "checkout"
    target.mkdir()
    import_bundle(bundle, directory=target)
    monkeypatch.chdir(target)
    assert (await _run("again", resume=sid))[1] == str(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # the recorded cwd (the exporting host's path, which exists here too) is not taken
    assert (await _run("again", resume=sid))[1] == str(elsewhere)


async def test_imported_session_in_its_original_project_is_not_trusted_either(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, _ = await _run("hello")
    bundle = tmp_path / "s.tlbundle"
    export_bundle([sid], bundle)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "host-b"))
    import_bundle(bundle)  # same project key as on the exporting host
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert (await _run("again", resume=sid))[1] == str(elsewhere)
    assert (await _run("again", resume=sid, cwd=project))[1] == str(project)  # the user's say


async def test_store_loaded_session_does_not_take_its_recorded_cwd(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    sid, _ = await _run("hello", session_store=store)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert (await _run("again", resume=sid, session_store=store))[1] == str(elsewhere)


async def test_session_exported_from_a_store_to_files_does_not_take_its_recorded_cwd(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A shared store's transcript, written to local files: the cwd it records is a claim of
    # whoever wrote the store, so a resume from elsewhere runs where it is started.
    store = MemoryStore()
    sid, _ = await _run("hello", session_store=store)
    (listed,) = await store.list_sessions(project_key_for_directory(str(project)))
    await export_session_from_store(
        store, {"project_key": project_key_for_directory(str(project)), "session_id": sid}
    )
    assert listed["session_id"] == sid
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert (await _run("again", resume=sid))[1] == str(elsewhere)
    assert (await _run("again", resume=sid, cwd=project))[1] == str(project)


async def test_session_imported_into_another_config_dir_does_not_take_its_recorded_cwd(
    fake: FakeAnthropicServer,
    project: Path,
    config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, _ = await _run("hello")
    host_b = tmp_path / "host-b"
    await import_sessions_to_store(FileStore(host_b))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(host_b))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert (await _run("again", resume=sid))[1] == str(elsewhere)
