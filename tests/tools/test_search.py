"""Glob and Grep."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from threadline.tools import ToolContext, ToolResult, builtin_tool, run_tool
from threadline.tools._walk import expand_braces

pytestmark = pytest.mark.anyio


async def call(name: str, ctx: ToolContext, **input: Any) -> ToolResult:
    return await run_tool(builtin_tool(name), input, ctx)


def touch(path: Path, text: str = "", mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def tree(ctx: ToolContext) -> Path:
    root = ctx.cwd
    touch(root / "a.py", "import os\nprint('hello')\n", mtime=1000)
    touch(root / "pkg/b.py", "def Hello():\n    return 1\n\nhello = Hello()\n", mtime=3000)
    touch(root / "pkg/c.ts", "const hello = 1;\n", mtime=2000)
    touch(root / "notes.md", "nothing here\n", mtime=500)
    touch(root / ".git/config", "hello from git\n", mtime=4000)
    (root / "blob.bin").write_bytes(b"hello\x00\x01")
    return root


def test_expand_braces() -> None:
    assert expand_braces("*.{ts,tsx}") == ["*.ts", "*.tsx"]
    assert expand_braces("{a,b{c,d}}x") == ["ax", "bcx", "bdx"]
    assert expand_braces("plain") == ["plain"]


# ---------------------------------------------------------------------- Glob


async def test_glob_newest_first(ctx: ToolContext, tree: Path) -> None:
    result = await call("Glob", ctx, pattern="**/*.py")
    assert result.content == f"{tree / 'pkg/b.py'}\n{tree / 'a.py'}"
    assert result.structured["numFiles"] == 2


async def test_glob_top_level_and_braces(ctx: ToolContext, tree: Path) -> None:
    result = await call("Glob", ctx, pattern="*.py")
    assert result.content == str(tree / "a.py")
    result = await call("Glob", ctx, pattern="pkg/*.{py,ts}")
    assert result.content == f"{tree / 'pkg/b.py'}\n{tree / 'pkg/c.ts'}"


async def test_glob_path_and_absolute_pattern(ctx: ToolContext, tree: Path) -> None:
    result = await call("Glob", ctx, pattern="*.ts", path="pkg")
    assert result.content == str(tree / "pkg/c.ts")
    result = await call("Glob", ctx, pattern=f"{tree}/pkg/*.ts")
    assert result.content == str(tree / "pkg/c.ts")


async def test_glob_skips_git_and_reports_none(ctx: ToolContext, tree: Path) -> None:
    result = await call("Glob", ctx, pattern="**/config")
    assert result.content == "No files found"
    assert not result.is_error


async def test_glob_cap(ctx: ToolContext) -> None:
    for i in range(120):
        touch(ctx.cwd / f"f{i:03}.txt", mtime=10_000 + i)
    result = await call("Glob", ctx, pattern="*.txt")
    assert isinstance(result.content, str)
    lines = result.content.split("\n")
    assert lines[0] == str(ctx.cwd / "f119.txt")
    assert len([ln for ln in lines if ln.startswith("/")]) == 100
    assert "Showing 100 of 120" in result.content
    assert result.structured["truncated"] is True


async def test_glob_errors(ctx: ToolContext, tree: Path) -> None:
    result = await call("Glob", ctx, pattern="*", path="missing")
    assert result.is_error and "does not exist" in str(result.content)
    result = await call("Glob", ctx, pattern="*", path="a.py")
    assert result.is_error and "not a directory" in str(result.content)


# ---------------------------------------------------------------------- Grep


async def test_grep_files_with_matches(ctx: ToolContext, tree: Path) -> None:
    result = await call("Grep", ctx, pattern="hello")
    assert result.content == "\n".join(
        ["Found 3 files", str(tree / "pkg/b.py"), str(tree / "pkg/c.ts"), str(tree / "a.py")]
    )


async def test_grep_case_insensitive_and_none(ctx: ToolContext, tree: Path) -> None:
    result = await call("Grep", ctx, pattern="HELLO", **{"-i": True}, glob="*.py")
    assert str(result.content).startswith("Found 2 files")
    result = await call("Grep", ctx, pattern="HELLO")
    assert result.content == "No files found"


async def test_grep_content(ctx: ToolContext, tree: Path) -> None:
    result = await call("Grep", ctx, pattern="hello", output_mode="content", path="pkg/b.py")
    assert result.content == f"{tree / 'pkg/b.py'}:4:hello = Hello()"
    result = await call(
        "Grep", ctx, pattern="Hello\\(\\)", output_mode="content", path="pkg", **{"-n": False}
    )
    b = tree / "pkg/b.py"
    assert result.content == f"{b}:def Hello():\n{b}:hello = Hello()"


async def test_grep_context(ctx: ToolContext) -> None:
    touch(ctx.cwd / "f.txt", "".join(f"l{i}\n" for i in range(1, 11)))
    result = await call("Grep", ctx, pattern="l(3|8)$", output_mode="content", **{"-C": 1})
    f = ctx.cwd / "f.txt"
    assert result.content == "\n".join(
        [f"{f}-2-l2", f"{f}:3:l3", f"{f}-4-l4", "--", f"{f}-7-l7", f"{f}:8:l8", f"{f}-9-l9"]
    )
    result = await call("Grep", ctx, pattern="l3$", output_mode="content", **{"-A": 1})
    assert result.content == f"{f}:3:l3\n{f}-4-l4"


async def test_grep_count(ctx: ToolContext, tree: Path) -> None:
    result = await call("Grep", ctx, pattern="[Hh]ello", output_mode="count", type="py")
    assert result.content == (
        f"{tree / 'a.py'}:1\n{tree / 'pkg/b.py'}:2\n\nFound 3 total occurrences across 2 files."
    )
    assert result.structured["numMatches"] == 3


async def test_grep_head_limit_and_offset(ctx: ToolContext) -> None:
    touch(ctx.cwd / "f.txt", "x\n" * 300)
    result = await call("Grep", ctx, pattern="x", output_mode="content")
    assert isinstance(result.content, str)
    assert result.content.count("\n") == 249 + 2  # 250 lines + note
    assert result.content.endswith("[Showing results with pagination = limit: 250]")
    result = await call("Grep", ctx, pattern="x", output_mode="content", head_limit=2, offset=5)
    f = ctx.cwd / "f.txt"
    assert result.content == (
        f"{f}:6:x\n{f}:7:x\n\n[Showing results with pagination = limit: 2, offset: 5]"
    )
    result = await call("Grep", ctx, pattern="x", output_mode="content", head_limit=0)
    assert str(result.content).count("\n") == 299


async def test_grep_multiline_and_only_matching(ctx: ToolContext) -> None:
    touch(ctx.cwd / "s.go", "type S struct {\n    a int\n    field string\n}\n")
    f = ctx.cwd / "s.go"
    result = await call(
        "Grep", ctx, pattern=r"struct \{.*?field", multiline=True, output_mode="content"
    )
    assert result.content == f"{f}:1:type S struct {{\n{f}:2:    a int\n{f}:3:    field string"
    result = await call("Grep", ctx, pattern=r"struct \{.*?field", output_mode="content")
    assert result.content == "No matches found"
    result = await call(
        "Grep", ctx, pattern=r"\b\w+ (int|string)", output_mode="content", **{"-o": True}
    )
    assert result.content == f"{f}:2:a int\n{f}:3:field string"


async def test_grep_errors(ctx: ToolContext, tree: Path) -> None:
    result = await call("Grep", ctx, pattern="(unclosed")
    assert result.is_error and "Invalid regex" in str(result.content)
    result = await call("Grep", ctx, pattern="x", path="missing")
    assert result.is_error and "does not exist" in str(result.content)
    result = await call("Grep", ctx, pattern="x", output_mode="lines")
    assert result.is_error and "must be one of" in str(result.content)
