"""File checkpoints: snapshots before Write/Edit, rewind, forks, database stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline._client import AgentClient
from threadline._exceptions import MessageNotFoundError, UserError
from threadline._messages import ResultMessage
from threadline.sessions import MemoryStore
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import options, run_turn, transcript

pytestmark = pytest.mark.anyio


def _edit(path: Path, old: str, new: str) -> dict[str, Any]:
    return {"name": "Edit", "input": {"file_path": str(path), "old_string": old, "new_string": new}}


def _write(path: Path, content: str) -> dict[str, Any]:
    return {"name": "Write", "input": {"file_path": str(path), "content": content}}


def _script(fake: FakeAnthropicServer, project: Path) -> None:
    a, b = project / "a.txt", project / "b.txt"
    fake.script(
        [
            {
                "match": {"last_user_contains": "turn one"},
                "tool_use": [_edit(a, "original", "changed"), _write(b, "created\n")],
            },
            {
                "match": {"last_user_contains": "turn two"},
                "tool_use": [_edit(a, "changed", "changed twice"), _write(b, "rewritten\n")],
            },
        ],
        default={"text": "done"},
    )


def _prompt_uuid(msgs: list[Any]) -> str:
    result = msgs[-1]
    assert isinstance(result, ResultMessage) and result.user_message_uuid
    return result.user_message_uuid


async def _two_turns(
    fake: FakeAnthropicServer, project: Path, **kw: Any
) -> tuple[AgentClient, str, str]:
    (project / "a.txt").write_text("original\n")
    _script(fake, project)
    client = AgentClient(
        options(enable_file_checkpointing=True, permission_mode="acceptEdits", **kw)
    )
    await client.connect()
    first = _prompt_uuid(await run_turn(client, "turn one"))
    second = _prompt_uuid(await run_turn(client, "turn two"))
    assert (project / "a.txt").read_text() == "changed twice\n"
    assert (project / "b.txt").read_text() == "rewritten\n"
    return client, first, second


async def test_rewind_restores_edits_and_removes_created_files(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    client, first, second = await _two_turns(fake, project)
    try:
        changed = await client.rewind_files(second)
        assert sorted(Path(p).name for p in changed) == ["a.txt", "b.txt"]
        assert (project / "a.txt").read_text() == "changed\n"
        assert (project / "b.txt").read_text() == "created\n"
        await client.rewind_files(first)
        assert (project / "a.txt").read_text() == "original\n"
        assert not (project / "b.txt").exists()
        # and forward again: rewinding is itself undoable through a later checkpoint
        await run_turn(client, "turn three")
        with pytest.raises(MessageNotFoundError):
            await client.rewind_files("00000000-0000-4000-8000-000000000000")
        sid = client.session_id
    finally:
        await client.disconnect()
    assert sid is not None
    snaps = [e for e in transcript(config_dir, sid) if e["type"] == "file-history-snapshot"]
    assert snaps[0] == {
        "type": "file-history-snapshot",
        "messageId": first,
        "snapshot": {
            "messageId": first,
            "trackedFileBackups": {},
            "timestamp": snaps[0]["snapshot"]["timestamp"],
        },
        "isSnapshotUpdate": False,
    }
    at_second = [s for s in snaps if s["messageId"] == second and not s["isSnapshotUpdate"]][0]
    backups = at_second["snapshot"]["trackedFileBackups"]
    assert set(backups) == {"a.txt", "b.txt"}
    assert all(b["backupFileName"] and b["version"] >= 1 for b in backups.values())
    history = config_dir / "file-history" / sid
    assert (history / backups["a.txt"]["backupFileName"]).read_text() == "changed\n"
    first_update = [s for s in snaps if s["messageId"] == first and s["isSnapshotUpdate"]][-1]
    assert first_update["snapshot"]["trackedFileBackups"]["b.txt"]["backupFileName"] is None


async def test_rewind_after_resume_in_a_new_process(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    client, first, _ = await _two_turns(fake, project)
    sid = client.session_id
    await client.disconnect()
    async with AgentClient(options(resume=sid, enable_file_checkpointing=True)) as again:
        await again.rewind_files(first)
    assert (project / "a.txt").read_text() == "original\n"
    assert not (project / "b.txt").exists()


async def test_rewind_after_a_fork(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    client, first, second = await _two_turns(fake, project)
    sid = client.session_id
    await client.disconnect()
    fork_opts = options(
        resume=sid,
        fork_session=True,
        enable_file_checkpointing=True,
        permission_mode="acceptEdits",
    )
    async with AgentClient(fork_opts) as forked:
        await run_turn(forked, "fork turn")
        fork_id = forked.session_id
        # the source's uuid of the prompt works in the fork
        await forked.rewind_files(second)
        assert (project / "a.txt").read_text() == "changed\n"
        assert (project / "b.txt").read_text() == "created\n"
    assert fork_id is not None and fork_id != sid
    entries = transcript(config_dir, fork_id)
    by_origin = {e["forkedFrom"]["messageUuid"]: e["uuid"] for e in entries if e.get("forkedFrom")}
    snaps = {e["messageId"] for e in entries if e["type"] == "file-history-snapshot"}
    assert by_origin[first] in snaps and by_origin[second] in snaps
    assert first not in snaps  # re-keyed to the fork's uuids
    assert (config_dir / "file-history" / fork_id).is_dir()
    # the fork's own uuid works too, and from a new process
    async with AgentClient(options(resume=fork_id, enable_file_checkpointing=True)) as again:
        await again.rewind_files(by_origin[first])
    assert (project / "a.txt").read_text() == "original\n"
    assert not (project / "b.txt").exists()


async def test_checkpoints_with_a_memory_store(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    store = MemoryStore()
    client, first, _ = await _two_turns(fake, project, session_store=store)
    sid = client.session_id
    await client.disconnect()
    assert not (config_dir / "file-history").exists()
    assert sid is not None
    async with AgentClient(
        options(resume=sid, session_store=store, enable_file_checkpointing=True)
    ) as again:
        await again.rewind_files(first)
    assert (project / "a.txt").read_text() == "original\n"
    assert not (project / "b.txt").exists()
    from threadline.sessions._paths import project_key_for_directory

    subkeys = await store.list_subkeys(
        {"project_key": project_key_for_directory(str(project)), "session_id": sid}
    )
    assert subkeys == ["file-history/backups"]


async def test_rewind_needs_checkpointing(fake: FakeAnthropicServer, project: Path) -> None:
    async with AgentClient(options()) as client:
        with pytest.raises(UserError):
            await client.rewind_files("x")


def test_snapshot_shape_matches_the_cli_corpus() -> None:
    """The keys threadline writes are the ones the real CLI writes (see the module doc)."""
    cli = json.loads(
        '{"type":"file-history-snapshot","messageId":"m","snapshot":{"messageId":"m",'
        '"trackedFileBackups":{"a.txt":{"backupFileName":"7e9a53964f09acc8@v2","version":2,'
        '"backupTime":"2026-11-22T00:58:01.917Z"}},"timestamp":"t"},"isSnapshotUpdate":false}'
    )
    from threadline.runtime._checkpoints import _backup_name

    assert set(cli) == {"type", "messageId", "snapshot", "isSnapshotUpdate"}
    assert _backup_name("a.txt", 2).endswith("@v2") and len(_backup_name("a.txt", 2)) == 19
