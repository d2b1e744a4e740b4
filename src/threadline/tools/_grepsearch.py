"""The Grep tool's search and output (``tools/_grep`` holds the tool and its schema: a run
that never greps does not load this)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anyio import to_thread

from ._base import ToolContext, ToolResult, error_result, resolve_path
from ._walk import TYPE_EXTENSIONS, expand_braces, glob_regex, newest_first, walk_files

__all__ = ["run_grep"]

_BINARY_SNIFF = 8192
_MAX_COLUMNS = 500


@dataclass
class _FileHits:
    """Matches in one file: matched line indexes (0-based) and the ``-o`` fragments."""

    lines: list[str]
    matched: list[int] = field(default_factory=list)
    fragments: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Options:
    regex: re.Pattern[str]
    multiline: bool
    only_matching: bool
    mode: str
    before: int
    after: int
    line_numbers: bool


def _read_text(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            data = fh.read()
    except OSError:
        return None
    if b"\0" in data[:_BINARY_SNIFF]:
        return None
    return data.decode("utf-8", errors="replace")


def _search_file(path: Path, opts: _Options) -> _FileHits | None:
    text = _read_text(path)
    if not text:
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    hits = _FileHits(lines)
    if opts.multiline:
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        matched: set[int] = set()
        for m in opts.regex.finditer(text):
            first = _line_of(starts, m.start())
            last = _line_of(starts, max(m.start(), m.end() - 1))
            matched.update(range(first, min(last, len(lines) - 1) + 1))
            if m.group(0):
                hits.fragments.append((first, m.group(0)))
        hits.matched = sorted(matched)
    else:
        for i, line in enumerate(lines):
            found = False
            for m in opts.regex.finditer(line):
                found = True
                if not opts.only_matching:
                    break
                if m.group(0):
                    hits.fragments.append((i, m.group(0)))
            if found:
                hits.matched.append(i)
    return hits if hits.matched else None


def _line_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _content_lines(path: Path, hits: _FileHits, opts: _Options) -> list[str]:
    """ripgrep-style output for one file (numbers 1-based; ':' match, '-' context)."""

    def fmt(i: int, sep: str, text: str) -> str:
        if len(text) > _MAX_COLUMNS:
            text = text[:_MAX_COLUMNS] + " [... omitted long line]"
        return f"{path}{sep}{i + 1}{sep}{text}" if opts.line_numbers else f"{path}{sep}{text}"

    if opts.only_matching:
        return [fmt(i, ":", frag) for i, frag in hits.fragments]
    matched = set(hits.matched)
    shown: list[int] = []
    for i in hits.matched:
        lo, hi = max(0, i - opts.before), min(len(hits.lines) - 1, i + opts.after)
        shown.extend(range(max(lo, shown[-1] + 1 if shown else lo), hi + 1))
    out: list[str] = []
    prev = -2
    for i in shown:
        if out and i != prev + 1 and (opts.before or opts.after):
            out.append("--")
        out.append(fmt(i, ":" if i in matched else "-", hits.lines[i]))
        prev = i
    return out


def _file_filter(glob: str | None, file_type: str | None) -> Any:
    regexes: list[tuple[bool, re.Pattern[str]]] = []
    if glob:
        pieces: list[str] = []
        for word in glob.split():
            pieces.extend([word] if "{" in word else [p for p in word.split(",") if p])
        for piece in pieces:
            for pat in expand_braces(piece):
                regexes.append(("/" in pat, glob_regex(pat.removeprefix("/"))))
    exts = TYPE_EXTENSIONS.get(file_type or "", (f".{file_type}",)) if file_type else None

    def accept(rel: str) -> bool:
        if exts is not None and not rel.endswith(exts):
            return False
        if not regexes:
            return True
        name = rel.rsplit("/", 1)[-1]
        return any(rx.match(rel if has_slash else name) for has_slash, rx in regexes)

    return accept


def _grep(root: Path, opts: _Options, accept: Any) -> list[tuple[Path, _FileHits]]:
    if root.is_file():
        candidates = [root]
        base = root.parent
    else:
        candidates = list(walk_files(root))
        base = root
    results: list[tuple[Path, _FileHits]] = []
    for path in candidates:
        if path is not root and not accept(path.relative_to(base).as_posix()):
            continue
        hits = _search_file(path, opts)
        if hits is not None:
            results.append((path, hits))
    order = {p: i for i, p in enumerate(newest_first([p for p, _ in results]))}
    if opts.mode == "files_with_matches":
        results.sort(key=lambda item: order[item[0]])
    return results


def _page(items: list[str], head_limit: int, offset: int) -> tuple[list[str], int | None]:
    """Apply offset/head_limit; returns the page and the limit if it cut anything."""
    if head_limit == 0:
        return items[offset:], None
    limit = head_limit
    page = items[offset : offset + limit]
    return page, (limit if len(items) - offset > limit else None)


def _pagination_note(limit: int | None, offset: int) -> str:
    parts = []
    if limit is not None:
        parts.append(f"limit: {limit}")
    if offset:
        parts.append(f"offset: {offset}")
    return ", ".join(parts)


async def run_grep(
    input: dict[str, Any], ctx: ToolContext, *, default_head_limit: int
) -> ToolResult:
    """Search ``path`` (default ``ctx.cwd``) for ``pattern`` (``GrepTool.run``)."""
    mode = input.get("output_mode") or "files_with_matches"
    flags = re.IGNORECASE if input.get("-i") else 0
    multiline = bool(input.get("multiline"))
    if multiline:
        flags |= re.DOTALL | re.MULTILINE
    try:
        regex = re.compile(input["pattern"], flags)
    except re.error as exc:
        return error_result(f"<tool_use_error>Invalid regex pattern: {exc}</tool_use_error>")
    context = input.get("context", input.get("-C"))
    before = int(context if context is not None else input.get("-B") or 0)
    after = int(context if context is not None else input.get("-A") or 0)
    opts = _Options(
        regex=regex,
        multiline=multiline,
        only_matching=bool(input.get("-o")) and mode == "content",
        mode=mode,
        before=max(0, before) if mode == "content" else 0,
        after=max(0, after) if mode == "content" else 0,
        line_numbers=input.get("-n", True) is not False,
    )
    root = resolve_path(ctx, input.get("path") or ".")
    if not await to_thread.run_sync(root.exists):
        return error_result(f"<tool_use_error>Path does not exist: {root}</tool_use_error>")
    accept = _file_filter(input.get("glob"), input.get("type"))
    results = await to_thread.run_sync(_grep, root, opts, accept, abandon_on_cancel=True)
    given = input.get("head_limit")
    head_limit = default_head_limit if given is None else max(0, int(given))
    offset = max(0, int(input.get("offset") or 0))
    if mode == "content":
        return _content(results, opts, head_limit, offset)
    if mode == "count":
        return _count(results, head_limit, offset)
    return _files(results, head_limit, offset)


def _files(results: list[tuple[Path, _FileHits]], head_limit: int, offset: int) -> ToolResult:
    names, limit = _page([str(p) for p, _ in results], head_limit, offset)
    structured = {
        "mode": "files_with_matches",
        "filenames": names,
        "numFiles": len(names),
        "totalFiles": len(results),
    }
    if not names:
        return ToolResult(content="No files found", structured=structured)
    note = _pagination_note(limit, offset)
    head = f"Found {len(names)} file{'s' if len(names) != 1 else ''}"
    head += f" {note}" if note else ""
    return ToolResult(content=head + "\n" + "\n".join(names), structured=structured)


def _content(
    results: list[tuple[Path, _FileHits]], opts: _Options, head_limit: int, offset: int
) -> ToolResult:
    all_lines = [line for p, hits in results for line in _content_lines(p, hits, opts)]
    lines, limit = _page(all_lines, head_limit, offset)
    text = "\n".join(lines) if lines else "No matches found"
    note = _pagination_note(limit, offset)
    if note and lines:
        text += f"\n\n[Showing results with pagination = {note}]"
    structured = {
        "mode": "content",
        "numFiles": len(results),
        "filenames": [str(p) for p, _ in results],
        "content": "\n".join(lines),
        "numLines": len(lines),
        "totalLines": len(all_lines),
    }
    return ToolResult(content=text, structured=structured)


def _count(results: list[tuple[Path, _FileHits]], head_limit: int, offset: int) -> ToolResult:
    entries = [f"{p}:{len(h.matched)}" for p, h in results]
    page, limit = _page(entries, head_limit, offset)
    total = sum(len(h.matched) for _, h in results)
    structured = {
        "mode": "count",
        "numFiles": len(results),
        "filenames": [str(p) for p, _ in results],
        "content": "\n".join(page),
        "numMatches": total,
    }
    if not page:
        return ToolResult(content="No matches found", structured=structured)
    files = len(results)
    text = "\n".join(page) + (
        f"\n\nFound {total} total occurrence{'s' if total != 1 else ''} across "
        f"{files} file{'s' if files != 1 else ''}."
    )
    note = _pagination_note(limit, offset)
    if note:
        text += f" with pagination = {note}"
    return ToolResult(content=text, structured=structured)
