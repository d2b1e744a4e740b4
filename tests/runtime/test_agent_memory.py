"""Agent memory folders: path-safe names, created folders, the MEMORY.md index."""

from __future__ import annotations

from pathlib import Path

from threadline.runtime._agent_memory import memory_dir, memory_section


def test_names_cannot_leave_the_memory_folder(tmp_path: Path) -> None:
    for name in ("../../etc", "a/b", "..", "plug:agent", "/abs"):
        folder = memory_dir(name, "project", cwd=str(tmp_path), config_dir=tmp_path / "cfg")
        assert folder is not None
        assert folder.parent == tmp_path / ".claude" / "agent-memory"
        assert folder.name not in ("", ".", "..") and "/" not in folder.name
    assert memory_dir("r", "elsewhere", cwd=str(tmp_path), config_dir=tmp_path) is None


def test_section_creates_the_folder_and_quotes_the_index(tmp_path: Path) -> None:
    text = memory_section("r", "user", cwd=str(tmp_path), config_dir=tmp_path / "cfg")
    folder = tmp_path / "cfg" / "agent-memory" / "r"
    assert folder.is_dir() and f"`{folder}/`" in text
    assert text.endswith("## MEMORY.md\n\n(empty)")
    (folder / "MEMORY.md").write_text("x" * 30_000)
    text = memory_section("r", "user", cwd=str(tmp_path), config_dir=tmp_path / "cfg")
    assert text.endswith("x" * 25_000) and "x" * 25_001 not in text
    assert memory_section("r", "bogus", cwd=str(tmp_path), config_dir=tmp_path) == ""
