"""Import of local Claude Code sessions into a store, and export back to files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from sessions._factory import simple_session, uid  # tests/sessions (rootdir on sys.path)
from threadline.sessions import ProjectListingStore
from threadline.sessions._paths import project_key_for_directory
from threadline.sessions._transfer import (
    TransferProgress,
    export_session_from_store,
    export_sessions_from_store,
    import_sessions_to_store,
)

from .conftest import Backend

pytestmark = pytest.mark.anyio


def _write_local(config: Path, tmp: Path) -> tuple[str, list[Any], list[Any]]:
    """Two sessions in two projects; the first has a title line and a subagent with metadata."""
    t1 = simple_session(str(tmp / "proj-one"), turns=3)
    t1.meta({"type": "custom-title", "customTitle": "Imported", "sessionId": t1.session_id})
    t1.write(config)
    simple_session(str(tmp / "proj-two"), turns=1).write(config)
    sub_dir = config / "projects" / project_key_for_directory(str(tmp / "proj-one")) / t1.session_id / "subagents"
    sub_dir.mkdir(parents=True)
    sub = [{"type": "user", "uuid": uid(), "isSidechain": True, "parentUuid": None,
            "message": {"role": "user", "content": "sub task"}, "sessionId": t1.session_id}]
    (sub_dir / "agent-a1.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in sub))
    (sub_dir / "agent-a1.meta.json").write_bytes(orjson.dumps({"agentType": "general-purpose", "toolUseId": "toolu_1"}))
    return t1.session_id, t1.entries, sub


async def test_import_all_then_export_all(
    backend: Backend, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid, entries, sub = _write_local(config_dir, tmp_path)
    store = backend.make()
    seen: list[TransferProgress] = []
    report = await import_sessions_to_store(store, progress=seen.append)
    assert (report.sessions, report.transcripts) == (2, 3)
    assert report.entries == len(entries) + 2 + len(sub) + 1  # + proj-two's 2 + sub + its metadata
    assert [(p.done, p.total) for p in seen] == [(1, 2), (2, 2)]
    key: Any = {"project_key": project_key_for_directory(str(tmp_path / "proj-one")), "session_id": sid}
    assert await store.load(key) == entries
    loaded_sub = await store.load({**key, "subpath": "subagents/agent-a1"})
    assert loaded_sub == [*sub, {"agentType": "general-purpose", "toolUseId": "toolu_1", "type": "agent_metadata"}]

    again = await import_sessions_to_store(store, show_progress=True)
    assert (again.sessions, again.transcripts, again.entries) == (2, 0, 0), "re-import must not duplicate"

    out = tmp_path / "exported"
    projects = None if isinstance(store, ProjectListingStore) else [key["project_key"], project_key_for_directory(str(tmp_path / "proj-two"))]
    exported = await export_sessions_from_store(store, config_dir=out, project_keys=projects)
    assert (exported.sessions, exported.transcripts) == (2, 3)
    again_out = await export_sessions_from_store(store, config_dir=out, project_keys=projects)
    assert again_out.entries == 0, "re-export must not duplicate"

    src = config_dir / "projects" / key["project_key"]
    dst = out / "projects" / key["project_key"]
    assert (dst / f"{sid}.jsonl").read_bytes() == (src / f"{sid}.jsonl").read_bytes()
    assert orjson.loads((dst / sid / "subagents" / "agent-a1.meta.json").read_bytes())["toolUseId"] == "toolu_1"
    # The official SDK reads the exported files.
    import claude_agent_sdk as official

    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(out))
    assert len(official.get_session_messages(sid)) == 6
    assert official.list_subagents(sid) == ["a1"]


async def test_export_one_session(backend: Backend, tmp_path: Path) -> None:
    store = backend.make()
    t = simple_session(str(tmp_path / "p"), turns=2)
    key: Any = {"project_key": project_key_for_directory(str(tmp_path / "p")), "session_id": t.session_id}
    await store.append(key, t.entries)
    path = await export_session_from_store(store, key, tmp_path / "cfg")
    assert path == tmp_path / "cfg" / "projects" / key["project_key"] / f"{t.session_id}.jsonl"
    assert [orjson.loads(line) for line in path.read_bytes().splitlines()] == t.entries
    with pytest.raises(FileNotFoundError):
        await export_session_from_store(store, {**key, "session_id": uid()}, tmp_path / "cfg")
