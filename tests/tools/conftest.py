"""Fixtures for the threadline.tools tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.tools import ToolContext


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    """A ToolContext whose cwd is a fresh directory."""
    work = tmp_path / "work"
    work.mkdir()
    return ToolContext(cwd=work, session_id="00000000-0000-4000-8000-000000000000")
