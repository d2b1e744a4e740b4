"""Issue 19, item 8 (and 7): the small things a new user trips over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from threadline.sessions._bundle import export_bundle
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._transcripts import conversation, new_id, write_session
from .conftest import invoke

ROOT = Path(__file__).resolve().parents[2]


def _run(prompt: str) -> str:
    out = invoke("run", "-o", "json", prompt)
    assert out.exit_code == 0, out.stderr
    return str(json.loads(out.stdout)["session_id"])


def test_short_prefixes_say_the_minimum(fake: FakeAnthropicServer, project: Path) -> None:
    sid = _run("hello")
    for args in (["sessions", "show", sid[:3]], ["run", "-r", sid[:2], "x"]):
        result = invoke(*args)
        assert result.exit_code == 4 and "at least 4" in result.stderr, result.stderr
    assert invoke("sessions", "show", sid[:4]).exit_code == 0


def test_message_prefixes_for_at_and_errors_name_cli_options(
    fake: FakeAnthropicServer, project: Path
) -> None:
    sid = _run("first")
    invoke("run", "-r", sid, "second")
    first_reply = json.loads(invoke("sessions", "show", sid, "--json").stdout)[1]["uuid"]
    fork = invoke("sessions", "fork", sid, "--at", first_reply[:8])
    assert fork.exit_code == 0, fork.stderr
    assert len(json.loads(invoke("sessions", "show", fork.stdout.strip(), "--json").stdout)) == 2
    bad = invoke("sessions", "fork", sid, "--at", "zz")
    assert bad.exit_code == 4 and "--at" in bad.stderr and "up_to_message_id" not in bad.stderr
    missing = invoke("sessions", "fork", sid, "--at", "ffffffff")
    assert missing.exit_code == 3 and "--at" in missing.stderr


def test_restore_takes_a_prefix(fake: FakeAnthropicServer, project: Path, config_dir: Path) -> None:
    sid = _run("old one")
    (path,) = config_dir.glob(f"projects/*/{sid}.jsonl")
    os.utime(path, (time.time() - 90 * 86400,) * 2)
    assert invoke("sessions", "cleanup", "--older-than", "60", "--yes").exit_code == 0
    assert not path.exists()
    restored = invoke("sessions", "cleanup", "--restore", sid[:6])
    assert restored.exit_code == 0, restored.stderr
    assert path.exists() and sid in restored.stdout


def test_cleanup_preview_before_asking_is_not_called_a_dry_run(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    sid = _run("old one")
    (path,) = config_dir.glob(f"projects/*/{sid}.jsonl")
    os.utime(path, (time.time() - 90 * 86400,) * 2)
    asked = invoke("sessions", "cleanup", "--older-than", "60", input="n\n")
    assert "Would move 1 session(s)" in asked.stdout and "dry run" not in asked.stdout
    assert "dry run" in invoke("sessions", "cleanup", "--older-than", "60", "--dry-run").stdout


def test_unwritable_config_dir_names_claude_config_dir(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(blocker / "cfg"))
    result = invoke("run", "hi")
    assert result.exit_code == 6, result.output
    assert "CLAUDE_CONFIG_DIR" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_search_works_on_a_history_it_cannot_write(project: Path, config_dir: Path) -> None:
    sid = new_id()
    write_session(config_dir, str(project), conversation(sid, str(project), 2), sid)
    (config_dir / "threadline").write_text("a file where the index folder would go")
    result = invoke("sessions", "search", "prompt", "--json")
    assert result.exit_code == 0, result.stderr
    assert {h["session_id"] for h in json.loads(result.stdout)} == {sid}
    assert "could not be written" in result.stderr


def test_reimport_and_second_copies(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path, config_dir: Path
) -> None:
    sid = _run("travelling session")
    bundle = tmp_path / "s.tlbundle"
    assert invoke("sessions", "export", sid, "-o", str(bundle)).exit_code == 0
    again = invoke("sessions", "import", str(bundle))
    assert again.exit_code == 0 and again.stdout.startswith(f"Already here {sid}"), again.stdout
    assert (
        json.loads(invoke("sessions", "import", str(bundle), "--json").stdout)[0]["status"]
        == "unchanged"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dup = invoke("sessions", "import", "--to-directory", str(elsewhere), str(bundle))
    assert dup.exit_code == 6 and "second copy" in dup.stderr
    assert len(list(config_dir.glob(f"projects/*/{sid}.jsonl"))) == 1
    invoke("sessions", "rm", "-y", sid)
    moved = invoke("sessions", "import", "--to-directory", str(elsewhere), str(bundle))
    assert moved.exit_code == 0 and moved.stdout.startswith(f"Imported {sid}")


def test_show_prints_tool_inputs_as_json(fake: FakeAnthropicServer, project: Path) -> None:
    fake.script([{"tool_use": {"name": "Bash", "input": {"command": "echo 1"}}}, {"text": "ok"}])
    sid = json.loads(invoke("run", "--allowed-tools", "Bash", "-o", "json", "go").stdout)[
        "session_id"
    ]
    shown = invoke("sessions", "show", sid).stdout
    assert '⏺ Bash({"command":"echo 1"})' in shown and "{'command'" not in shown


def test_export_all_streams(project: Path, config_dir: Path, tmp_path: Path) -> None:
    """Constant memory, and progress all along the writing (it froze at the end)."""
    ids = []
    for i in range(6):
        sid = new_id()
        entries = conversation(sid, str(project), 200)
        for e in entries:
            if e["type"] == "assistant":
                e["message"]["content"][0]["text"] = os.urandom(3000).hex()  # 40 MB in all
        write_session(config_dir, str(project), entries, sid)
        ids.append(sid)
    calls: list[tuple[int, int]] = []
    tracemalloc.start()
    try:
        export_bundle(ids, tmp_path / "all.tlbundle", progress=lambda d, t: calls.append((d, t)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak  # was every byte of every session at once
    total = calls[-1][1]
    assert calls[-1][0] == total
    second_half = [d for d, _ in calls if total / 2 < d < total]
    assert len(second_half) >= 10  # the bar moves while the bundle is written
    result = invoke("sessions", "import", "--check", str(tmp_path / "all.tlbundle"))
    assert result.exit_code == 0 and result.stdout.count("Verified") == 6


def test_demo_leaves_no_temp_folders(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env: dict[str, Any] = {
        k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))
    }
    env["TMPDIR"] = str(tmp)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert list(tmp.iterdir()) == []
