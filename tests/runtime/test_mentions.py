"""``@`` mentions expanded as the CLI expands them (verbatim_prompts=False, the default);
side by side with the CLI in tests/parity/test_limits.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import collect, options, transcript

pytestmark = pytest.mark.anyio


def _texts(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for m in body["messages"]:
        if m["role"] != "user":
            continue
        content = m["content"]
        for b in [{"type": "text", "text": content}] if isinstance(content, str) else content:
            if b.get("type") == "text":
                out.append(b["text"])
    return out


@pytest.fixture
def files(project: Path) -> Path:
    (project / "notes.txt").write_text("hello notes\nsecond line\n")
    (project / "sub").mkdir()
    (project / "sub" / "x.py").write_text("print(1)\n")
    (project / "sub" / ".hidden").write_text("")
    return project


async def test_file_and_directory_mentions_are_attached(
    fake: FakeAnthropicServer, files: Path, config_dir: Path
) -> None:
    fake.script([{"text": "ok"}, {"text": "again"}])
    prompt = "look at @notes.txt and @sub/ and @missing.txt please"
    msgs = await collect(prompt, options(setting_sources=[]))
    texts = _texts(fake.message_requests()[0])
    notes = str(files / "notes.txt")
    sub = str(files / "sub")
    assert texts == [
        "<system-reminder>\nCalled the Read tool with the following input: "
        + json.dumps({"file_path": notes}, separators=(",", ":"))
        + "\n</system-reminder>\n",
        "<system-reminder>\nResult of calling the Read tool:\n1\thello notes\n2\tsecond line\n3\t"
        "\n</system-reminder>\n",
        "<system-reminder>\nCalled the Bash tool with the following input: "
        + json.dumps(
            {"command": f"ls {sub}", "description": f"Lists files in {sub}"}, separators=(",", ":")
        )
        + "\n</system-reminder>\n",
        "<system-reminder>\nResult of calling the Bash tool:\nx.py\n</system-reminder>\n",
        prompt,
    ]
    entries = transcript(config_dir, msgs[-1].session_id)
    kinds = [(e["type"], (e.get("attachment") or {}).get("type")) for e in entries]
    assert kinds[:3] == [("user", None), ("attachment", "file"), ("attachment", "directory")]
    assert entries[0]["message"]["content"] == prompt  # the prompt stays as typed
    # a resume sends them again, in front of their prompt (as the CLI does)
    await collect("and again", options(setting_sources=[], resume=msgs[-1].session_id))
    resumed = _texts(fake.message_requests()[1])
    assert resumed[:5] == texts and resumed[-1] == "and again"


async def test_verbatim_prompts_attach_nothing(
    fake: FakeAnthropicServer, files: Path, config_dir: Path
) -> None:
    fake.script([{"text": "ok"}])
    await collect("look at @notes.txt", options(setting_sources=[], verbatim_prompts=True))
    assert _texts(fake.message_requests()[0]) == ["look at @notes.txt"]


async def test_only_what_read_may_read_unasked_is_attached(
    fake: FakeAnthropicServer, files: Path, config_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret\n")
    (files / "denied.txt").write_text("denied text\n")
    (files / "link.txt").symlink_to(outside)
    (files / "blob.bin").write_bytes(b"\x00\x01binary")
    fake.script([{"text": "ok"}])
    prompt = f"see @{outside} @link.txt @denied.txt @blob.bin @notes.txt, then stop"
    await collect(prompt, options(setting_sources=[], disallowed_tools=["Read(denied.txt)"]))
    sent = "\n".join(_texts(fake.message_requests()[0]))
    assert "top secret" not in sent and "denied text" not in sent and "binary" not in sent
    assert "1\thello notes" in sent  # '@notes.txt,' (trailing punctuation) still found


async def test_quoted_paths_and_added_directories(
    fake: FakeAnthropicServer, files: Path, config_dir: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "extra dir"
    extra.mkdir()
    (extra / "doc.md").write_text("# doc\n")
    fake.script([{"text": "ok"}])
    await collect(f'read @"{extra / "doc.md"}"', options(setting_sources=[], add_dirs=[str(extra)]))
    assert any("1\t# doc" in t for t in _texts(fake.message_requests()[0]))
