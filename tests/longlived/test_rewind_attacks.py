"""``rewind_files`` on a crafted session (issue #15 item 2).

A session's ``file-history-snapshot`` entries arrive with the session (a bundle, a shared
store). One naming an absolute or ``../`` path, ``backupFileName: null`` or a backup name
like ``../../../../victim/secret.txt`` made a rewind write attacker bytes outside the
project, delete a file outside it, and copy any readable file into it. Now the rewind is
refused whole and no file changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline._client import AgentClient
from threadline._exceptions import SessionError
from threadline._messages import ResultMessage
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._util import options, run_turn

pytestmark = pytest.mark.anyio


async def _session_with_checkpoint(fake: FakeAnthropicServer, project: Path) -> tuple[str, str]:
    (project / "a.txt").write_text("original\n")
    fake.script(
        [
            {
                "match": {"last_user_contains": "edit"},
                "tool_use": {
                    "name": "Edit",
                    "input": {"file_path": "a.txt", "old_string": "original", "new_string": "x"},
                },
            }
        ],
        default={"text": "done"},
    )
    async with AgentClient(
        options(enable_file_checkpointing=True, permission_mode="acceptEdits")
    ) as client:
        msgs = await run_turn(client, "edit it")
        result = msgs[-1]
        assert isinstance(result, ResultMessage) and result.user_message_uuid
        return result.session_id, result.user_message_uuid


def _forge(config_dir: Path, sid: str, prompt: str, tracked: dict[str, Any]) -> None:
    (path,) = (config_dir / "projects").glob(f"*/{sid}.jsonl")
    entry = {
        "type": "file-history-snapshot",
        "messageId": prompt,
        "isSnapshotUpdate": True,
        "snapshot": {"messageId": prompt, "timestamp": "2026-01-01T00:00:00Z",
                     "trackedFileBackups": tracked},
    }  # fmt: skip
    with path.open("a") as f:
        f.write(json.dumps(entry) + "\n")


async def _rewind(sid: str, prompt: str) -> list[str]:
    async with AgentClient(options(resume=sid, enable_file_checkpointing=True)) as client:
        return await client.rewind_files(prompt)


async def test_rewind_does_not_delete_outside_the_project(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    sid, prompt = await _session_with_checkpoint(fake, project)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    _forge(config_dir, sid, prompt, {"../victim.txt": {"backupFileName": None, "version": 1}})
    with pytest.raises(SessionError, match="outside the session's directories"):
        await _rewind(sid, prompt)
    assert victim.read_text() == "precious"
    assert (project / "a.txt").read_text() == "x\n"  # refused whole: nothing restored


async def test_rewind_does_not_write_outside_the_project(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    sid, prompt = await _session_with_checkpoint(fake, project)
    history = config_dir / "file-history" / sid
    history.mkdir(parents=True, exist_ok=True)
    (history / "deadbeefdeadbeef@v9").write_text("attacker bytes")
    target = tmp_path / "planted.sh"
    _forge(config_dir, sid, prompt, {str(target): {"backupFileName": "deadbeefdeadbeef@v9"}})
    with pytest.raises(SessionError, match="outside"):
        await _rewind(sid, prompt)
    assert not target.exists()


async def test_rewind_does_not_copy_a_file_in_through_the_backup_name(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    sid, prompt = await _session_with_checkpoint(fake, project)
    secret = tmp_path / "victim" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the secret")
    climb = "../" * 12 + str(secret).lstrip("/")
    _forge(config_dir, sid, prompt, {"stolen.txt": {"backupFileName": climb}})
    with pytest.raises(SessionError, match="not a backup name"):
        await _rewind(sid, prompt)
    assert not (project / "stolen.txt").exists()


async def test_rewind_does_not_follow_a_symlink_out(
    fake: FakeAnthropicServer, project: Path, config_dir: Path, tmp_path: Path
) -> None:
    sid, prompt = await _session_with_checkpoint(fake, project)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (project / "link").symlink_to(outside)
    _forge(config_dir, sid, prompt, {"link/keep.txt": {"backupFileName": None}})
    with pytest.raises(SessionError):
        await _rewind(sid, prompt)
    assert (outside / "keep.txt").read_text() == "keep"


async def test_malformed_snapshot_is_refused(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid, prompt = await _session_with_checkpoint(fake, project)
    (path,) = (config_dir / "projects").glob(f"*/{sid}.jsonl")
    with path.open("a") as f:
        f.write(json.dumps({"type": "file-history-snapshot", "messageId": prompt,
                            "snapshot": {"trackedFileBackups": ["a.txt"]}}) + "\n")  # fmt: skip
    with pytest.raises(SessionError, match="malformed"):
        await _rewind(sid, prompt)


async def test_an_honest_rewind_still_works(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid, prompt = await _session_with_checkpoint(fake, project)
    changed = await _rewind(sid, prompt)
    assert [Path(p).name for p in changed] == ["a.txt"]
    assert (project / "a.txt").read_text() == "original\n"
