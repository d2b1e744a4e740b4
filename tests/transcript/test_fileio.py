"""The one atomic-write helper: whole file or old file, never a temp left behind; and no
other temp-then-rename in the package."""

from __future__ import annotations

import ast
import os
import stat
from pathlib import Path

import pytest

from threadline.transcript._fileio import atomic_file, atomic_write

SRC = Path(__file__).resolve().parents[2] / "src" / "threadline"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "folder"
    path.mkdir()
    return path


def test_atomic_write_replaces_whole(folder: Path) -> None:
    target = folder / "f"
    target.write_bytes(b"old")
    atomic_write(target, b"new" * 1000, fsync=True)
    assert target.read_bytes() == b"new" * 1000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(folder) == ["f"]


def test_a_failed_write_leaves_the_old_file(folder: Path) -> None:
    target = folder / "f"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as fd:
        os.write(fd, b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert os.listdir(folder) == ["f"]


def test_modes(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh"
        atomic_write(fresh, b"x", mode=0o666)
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644  # a user file: the umask applies
        kept = tmp_path / "kept"
        kept.write_bytes(b"x")
        kept.chmod(0o750)
        atomic_write(kept, b"y", mode=0o666, keep_mode=True)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o750
    finally:
        os.umask(old_umask)
    nested = tmp_path / "a" / "b" / "c"
    atomic_write(nested, b"z", make_parents=True)
    assert nested.read_bytes() == b"z" and stat.S_IMODE(nested.parent.stat().st_mode) == 0o700


def test_no_other_temp_then_rename() -> None:
    """``os.replace``/``os.rename`` appear only in ``_fileio`` and in the moves listed here
    (files already whole, moved into place: bundle staging, the trash), and the dataclass
    compile cache, which is written the way ``importlib`` writes a ``.pyc`` file (a cache,
    written with a ``.pyc``'s mode while a lazy import runs, before ``threadline.transcript``
    is loaded; it must not import ``pathlib``)."""
    moves = {
        ("sessions/_bundle.py", 1),
        ("sessions/_retention.py", 3),
        ("_dataclass_cache.py", 1),
    }
    found: dict[str, int] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("replace", "rename")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "os"
            ):
                found[rel] = found.get(rel, 0) + 1
    found.pop("transcript/_fileio.py")
    assert set(found.items()) == moves, (
        f"a temp-then-rename outside transcript/_fileio.py: {found}; use atomic_file/atomic_write"
    )
