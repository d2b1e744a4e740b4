"""Read, Write and Edit."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from threadline.tools import ToolContext, ToolResult, builtin_tool, run_tool

pytestmark = pytest.mark.anyio


def read(path: Path) -> str:
    return path.read_text()


async def call(name: str, ctx: ToolContext, **input: Any) -> ToolResult:
    return await run_tool(builtin_tool(name), input, ctx)


# ---------------------------------------------------------------------- Read


async def test_read_cat_n_format(ctx: ToolContext) -> None:
    (ctx.cwd / "a.txt").write_text("alpha\nbeta\r\ngamma\n")
    result = await call("Read", ctx, file_path="a.txt")
    assert not result.is_error
    assert result.content == "     1\talpha\n     2\tbeta\n     3\tgamma"
    assert result.structured["file"]["totalLines"] == 3
    assert result.structured["file"]["filePath"] == str(ctx.cwd / "a.txt")


async def test_read_offset_limit(ctx: ToolContext) -> None:
    (ctx.cwd / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    result = await call("Read", ctx, file_path=str(ctx.cwd / "n.txt"), offset=4, limit=2)
    assert result.content == "     4\tline 4\n     5\tline 5"
    assert result.structured["file"]["startLine"] == 4
    result = await call("Read", ctx, file_path="n.txt", offset="9")  # string coerced
    assert result.content == "     9\tline 9\n    10\tline 10"
    result = await call("Read", ctx, file_path="n.txt", offset=0, limit=1)
    assert result.content == "     1\tline 1"


async def test_read_default_caps(ctx: ToolContext) -> None:
    long_line = "x" * 2500
    (ctx.cwd / "big.txt").write_text(long_line + "\n" + "".join(f"{i}\n" for i in range(3000)))
    result = await call("Read", ctx, file_path="big.txt")
    assert isinstance(result.content, str)
    lines = result.content.split("\n")
    assert len(lines) == 2000
    first = lines[0].split("\t", 1)[1]
    assert first.startswith("x" * 2000) and "x" * 2001 not in first
    assert "truncated" in first
    assert result.structured["file"]["totalLines"] == 3001


async def test_read_empty_and_short(ctx: ToolContext) -> None:
    (ctx.cwd / "empty.txt").write_text("")
    result = await call("Read", ctx, file_path="empty.txt")
    assert not result.is_error and "contents are empty" in str(result.content)
    (ctx.cwd / "short.txt").write_text("one\n")
    result = await call("Read", ctx, file_path="short.txt", offset=5)
    assert "shorter than the provided offset (5)" in str(result.content)


async def test_read_errors(ctx: ToolContext) -> None:
    result = await call("Read", ctx, file_path="missing.txt")
    assert result.is_error and "File does not exist" in str(result.content)
    (ctx.cwd / "d").mkdir()
    result = await call("Read", ctx, file_path="d")
    assert result.is_error and "directory" in str(result.content)
    (ctx.cwd / "bin").write_bytes(b"\x00\x01\x02abc")
    result = await call("Read", ctx, file_path="bin")
    assert result.is_error and "binary" in str(result.content)
    result = await call("Read", ctx, file_path="d", limit=0)
    assert result.is_error


async def test_read_image(ctx: ToolContext) -> None:
    data = b"\x89PNG\r\n\x1a\nfake"
    (ctx.cwd / "p.png").write_bytes(data)
    result = await call("Read", ctx, file_path="p.png")
    assert result.content == [
        {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": "image/png",
                "data": base64.b64encode(data).decode(),
            },
        }
    ]


async def test_read_tilde(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(ctx.cwd))
    (ctx.cwd / "h.txt").write_text("home\n")
    result = await call("Read", ctx, file_path="~/h.txt")
    assert result.content == "     1\thome"


# --------------------------------------------------------------------- Write


async def test_write_creates_parents_and_updates(ctx: ToolContext) -> None:
    result = await call("Write", ctx, file_path="deep/er/f.txt", content="one\n")
    target = ctx.cwd / "deep/er/f.txt"
    assert not result.is_error
    assert result.content == f"File created successfully at: {target}"
    assert target.read_text() == "one\n"
    assert result.structured["type"] == "create"
    result = await call("Write", ctx, file_path=str(target), content="two")
    assert result.content == f"The file {target} has been updated successfully."
    assert result.structured["type"] == "update"
    assert result.structured["originalFile"] == "one\n"
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]  # no temp files left


async def test_write_keeps_mode_and_exact_bytes(ctx: ToolContext) -> None:
    target = ctx.cwd / "s.sh"
    target.write_text("old")
    target.chmod(0o755)
    await call("Write", ctx, file_path="s.sh", content="a\r\nb\n")
    assert target.read_bytes() == b"a\r\nb\n"
    assert target.stat().st_mode & 0o777 == 0o755


async def test_write_errors(ctx: ToolContext) -> None:
    (ctx.cwd / "d").mkdir()
    result = await call("Write", ctx, file_path="d", content="x")
    assert result.is_error
    result = await call("Write", ctx, file_path="x.txt")
    assert result.is_error and "`content` is missing" in str(result.content)


# ---------------------------------------------------------------------- Edit


@pytest.fixture
def code(ctx: ToolContext) -> Path:
    path = ctx.cwd / "code.py"
    path.write_text("a = 1\nb = 1\nc = 2\n")
    return path


async def test_edit_unique(ctx: ToolContext, code: Path) -> None:
    result = await call("Edit", ctx, file_path="code.py", old_string="c = 2", new_string="c = 3")
    assert not result.is_error
    assert result.content == f"The file {code} has been updated successfully."
    assert read(code) == "a = 1\nb = 1\nc = 3\n"
    assert result.structured["originalFile"] == "a = 1\nb = 1\nc = 2\n"


async def test_edit_not_unique(ctx: ToolContext, code: Path) -> None:
    result = await call("Edit", ctx, file_path="code.py", old_string="= 1", new_string="= 9")
    assert result.is_error
    assert "Found 2 matches" in str(result.content)
    assert read(code) == "a = 1\nb = 1\nc = 2\n"


async def test_edit_replace_all(ctx: ToolContext, code: Path) -> None:
    result = await call(
        "Edit", ctx, file_path="code.py", old_string="= 1", new_string="= 9", replace_all=True
    )
    assert not result.is_error
    assert "2 replacements" in str(result.content)
    assert read(code) == "a = 9\nb = 9\nc = 2\n"


async def test_edit_errors(ctx: ToolContext, code: Path) -> None:
    result = await call("Edit", ctx, file_path="code.py", old_string="zzz", new_string="y")
    assert result.is_error and "String to replace not found" in str(result.content)
    result = await call("Edit", ctx, file_path="code.py", old_string="a", new_string="a")
    assert result.is_error and "No changes to make" in str(result.content)
    result = await call("Edit", ctx, file_path="nope.py", old_string="a", new_string="b")
    assert result.is_error and "File does not exist" in str(result.content)
    result = await call("Edit", ctx, file_path="code.py", old_string="", new_string="b")
    assert result.is_error and "already exists" in str(result.content)
    assert read(code) == "a = 1\nb = 1\nc = 2\n"


async def test_edit_empty_old_creates(ctx: ToolContext) -> None:
    result = await call("Edit", ctx, file_path="new/f.txt", old_string="", new_string="hello")
    assert not result.is_error
    assert (ctx.cwd / "new/f.txt").read_text() == "hello"


async def test_edit_crlf_file(ctx: ToolContext) -> None:
    path = ctx.cwd / "w.txt"
    path.write_bytes(b"one\r\ntwo\r\nthree\r\n")
    result = await call("Edit", ctx, file_path="w.txt", old_string="one\ntwo", new_string="1\n2")
    assert not result.is_error
    assert path.read_bytes() == b"1\r\n2\r\nthree\r\n"


async def test_edit_backslashes_literal(ctx: ToolContext, code: Path) -> None:
    result = await call(
        "Edit", ctx, file_path="code.py", old_string="c = 2", new_string=r"c = '\1\n'"
    )
    assert not result.is_error
    assert read(code).endswith("c = '\\1\\n'\n")
