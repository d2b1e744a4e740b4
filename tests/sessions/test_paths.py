from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, strategies as st

from threadline import project_key_for_directory
from threadline.sessions._paths import MAX_SANITIZED_LENGTH, config_dir, sanitize_path, simple_hash


def test_reference_vectors() -> None:
    assert simple_hash("abc") == "22ci"
    assert simple_hash("") == "0"
    assert sanitize_path("/home/user/my.project_x") == "-home-user-my-project-x"
    assert sanitize_path("C:\\Users\\me") == "C--Users-me"
    long = "/" + "a" * 250
    key = sanitize_path(long)
    assert key == "-" + "a" * 199 + "-feo44x"
    assert len(key) == 207


def test_matches_official_encoder() -> None:
    from claude_agent_sdk._internal.sessions import _sanitize_path

    for p in ["/tmp/x", "/ünï/cödé", "/" + "é" * 300, "/a b/c\td", "/x/🎉/y" * 40, ""]:
        assert sanitize_path(p) == _sanitize_path(p)


@given(st.text(max_size=400))
def test_encoder_properties(path: str) -> None:
    from claude_agent_sdk._internal.sessions import _sanitize_path

    key = sanitize_path(path)
    assert key == _sanitize_path(path)
    assert "/" not in key and "\\" not in key and "\x00" not in key
    assert key not in (".", "..")
    assert len(key) <= MAX_SANITIZED_LENGTH + 8
    assert all(c.isascii() and (c.isalnum() or c == "-") for c in key)


def test_project_key_uses_realpath(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert project_key_for_directory(link) == project_key_for_directory(real)
    assert project_key_for_directory(str(real)) == sanitize_path(os.path.realpath(real))


def test_config_dir_env(monkeypatch: object, tmp_path: Path) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cfg"))
        assert config_dir() == tmp_path / "cfg"
        mp.setenv("CLAUDE_CONFIG_DIR", "")
        mp.setenv("HOME", str(tmp_path))
        assert config_dir() == tmp_path / ".claude"
    finally:
        mp.undo()
