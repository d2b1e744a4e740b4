"""``CLAUDE.md`` memory: the instruction files Claude Code loads, and how it sends them.

Which files (Claude Code 2.1.330, checked against the bundled CLI; ``docs/settings.md``),
by setting source (``AgentOptions.setting_sources``; ``None`` loads all three):

- ``user``: ``$CLAUDE_CONFIG_DIR/CLAUDE.md`` (default ``~/.claude/CLAUDE.md``), then the
  rule files ``<config>/rules/**/*.md``;
- ``project``: in every directory from the file-system root down to ``cwd``:
  ``CLAUDE.md``, ``.claude/CLAUDE.md``, then ``.claude/rules/**/*.md`` (sorted; a rule
  whose front matter has ``paths:`` applies to matching files only and is not loaded at
  start);
- ``local``: ``CLAUDE.local.md`` in those same directories (after that directory's
  project files).

A file may import others with ``@path`` (relative to the file, ``~/...`` or absolute),
outside code spans and fenced code blocks. Imports nest up to depth 4 below the file
that names them (five levels in all); each file is read once; a missing file is skipped.
Confinement: a project or local file's imports must resolve (symlinks followed) inside
``cwd``: the CLI asks before it follows an "external" import and, non-interactive, never
does. The user's own files may import from anywhere. Files are read as UTF-8, at most
:data:`MAX_FILE_BYTES` each; text is stripped; empty and binary files are skipped.

Nested memory (:func:`nested_memory`): the ``CLAUDE.md``, ``.claude/CLAUDE.md`` and
``CLAUDE.local.md`` files of subfolders of ``cwd`` are sent once a file tool has touched
a file below them, after the tool results, as the CLI's ``nested_memory`` attachments.

How they are sent: one ``<system-reminder>`` text block at the front of the prompt that
starts the session (:func:`render_instructions`), recorded as the CLI records it, an
``attachment`` entry of type ``instructions`` after the prompt entry, with its
``rendered`` text; the transcript's conversion to API messages puts it in front of the
prompt (``transcript/_api``). When a session is resumed, the files are read again and
only what changed since the transcript's copies is sent, as the CLI's
"Instruction files were re-read" reminder (:func:`render_changes`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

__all__ = [
    "MAX_FILE_BYTES",
    "MemoryFile",
    "instruction_changes",
    "load_memory",
    "recorded_instructions",
    "render_changes",
    "render_instructions",
]

if TYPE_CHECKING:
    from ._memory_types import MemoryFile, MemoryType, NestedFile

Raw = dict[str, Any]


def __getattr__(name: str) -> Any:
    """``MemoryFile``, ``NestedFile``, ``MemoryType``: from ``_memory_types`` on first use."""
    if name in ("MemoryFile", "NestedFile", "MemoryType"):
        from . import _memory_types

        return getattr(_memory_types, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MAX_FILE_BYTES = 1024 * 1024
MAX_IMPORT_DEPTH = 5
"""A file names imports at depth 0..3; the deepest file read is at depth 4."""

_DESCRIPTIONS: Mapping[str, str] = {
    "User": "user's private global instructions for all projects",
    "Project": "project instructions, checked into the codebase",
    "Local": "user's private project instructions, not checked in",
}
_PREAMBLE = (
    "Codebase and user instructions are shown below. Be sure to adhere to these "
    "instructions. IMPORTANT: These instructions OVERRIDE any default behavior and you "
    "MUST follow them exactly as written."
)
_CHANGED = (
    "Instruction files were re-read when this session started; these differ from their "
    "earlier copies \u2014 each replaces its earlier copy, and the instructions preamble "
    "above still applies:"
)
_FENCE = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n.*?(?:^ {0,3}\1[^\n]*$|\Z)", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_IMPORT = re.compile(r"(?:^|(?<=\s))@((?:[^\s\\]|\\ )+)")


def _read(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_FILE_BYTES or b"\x00" in data:
        return None
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _imports(text: str) -> list[str]:
    """The ``@path`` references of ``text`` outside code blocks and code spans."""
    plain = _CODE_SPAN.sub(" ", _FENCE.sub("\n", text))
    return [m.group(1).replace("\\ ", " ") for m in _IMPORT.finditer(plain)]


def _resolve_import(ref: str, base: Path, home: Path) -> Path | None:
    if ref.startswith("~/"):
        target = home / ref[2:]
    elif ref.startswith("/"):
        target = Path(ref)
    else:
        target = base / ref
    try:
        return target.resolve()
    except (OSError, RuntimeError):
        return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _has_paths_front_matter(text: str) -> bool:
    if not text.startswith("---"):
        return False
    end = text.find("\n---", 3)
    head = text[3:end] if end >= 0 else ""
    return any(line.split(":", 1)[0].strip() == "paths" for line in head.splitlines())


class _Loader:
    def __init__(self, *, cwd: Path, home: Path) -> None:
        self.cwd = cwd
        self.home = home
        self.seen: set[Path] = set()
        self.files: list[MemoryFile] = []

    def add(self, path: Path, kind: MemoryType, *, depth: int = 0, rule: bool = False) -> None:
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return
        if real in self.seen or not real.is_file():
            return
        text = _read(real)
        if text is None:
            return
        self.seen.add(real)
        if rule and _has_paths_front_matter(text):
            return  # a conditional rule: only for the files it names
        content = text.strip()
        if not content:
            return
        from ._memory_types import MemoryFile

        self.files.append(MemoryFile(path=str(path), type=kind, content=content))
        if depth + 1 >= MAX_IMPORT_DEPTH:
            return
        for ref in _imports(text):
            target = _resolve_import(ref, path.parent, self.home)
            if target is None:
                continue
            if kind != "User" and not _inside(target, self.cwd):
                continue  # an external import: the CLI does not follow it unasked
            self.add(target, kind, depth=depth + 1)

    def rules(self, directory: Path, kind: MemoryType) -> None:
        if not directory.is_dir():
            return
        for path in sorted(directory.rglob("*.md")):
            self.add(path, kind, rule=True)


def load_memory(
    cwd: str | os.PathLike[str],
    sources: Sequence[str],
    *,
    config_dir: str | os.PathLike[str],
    home: str | os.PathLike[str] | None = None,
) -> list[MemoryFile]:
    """The instruction files of a run in ``cwd`` for the given setting sources, in the
    order the CLI sends them. Blocking I/O: call it in a thread."""
    root = Path(cwd).resolve()
    loader = _Loader(cwd=root, home=Path(home) if home is not None else Path.home())
    if "user" in sources:
        config = Path(config_dir)
        loader.add(config / "CLAUDE.md", "User")
        loader.rules(config / "rules", "User")
    if "project" in sources or "local" in sources:
        for directory in [*reversed(root.parents), root]:
            if "project" in sources:
                loader.add(directory / "CLAUDE.md", "Project")
                loader.add(directory / ".claude" / "CLAUDE.md", "Project")
                loader.rules(directory / ".claude" / "rules", "Project")
            if "local" in sources:
                loader.add(directory / "CLAUDE.local.md", "Local")
    return loader.files


def _section(file: MemoryFile) -> str:
    description = _DESCRIPTIONS.get(file.type, "instructions")
    return f"Contents of {file.path} ({description}):\n\n{file.content}"


def render_instructions(files: Sequence[MemoryFile]) -> str:
    """The ``<system-reminder>`` the CLI puts in front of the first prompt."""
    body = "\n\n".join([_PREAMBLE, *(_section(f) for f in files)])
    return f"<system-reminder>\n{body}\n</system-reminder>"


def render_changes(files: Sequence[MemoryFile], removed: Sequence[str]) -> str:
    """The reminder for files that changed (or went away) since the transcript's copies."""
    parts = [_CHANGED, *(_section(f) for f in files)]
    parts += [f"Instructions no longer present: {path}" for path in removed]
    return "<system-reminder>\n" + "\n\n".join(parts) + "\n</system-reminder>"


def recorded_instructions(chain: Iterable[Raw]) -> dict[str, str] | None:
    """The instruction files a transcript chain last sent, by path (``None``: it sent none)."""
    known: dict[str, str] | None = None
    for entry in chain:
        attachment = entry.get("attachment") if entry.get("type") == "attachment" else None
        if type(attachment) is not dict or attachment.get("type") != "instructions":
            continue
        if known is None or not attachment.get("changed"):
            known = {}  # a full copy replaces what came before
        for item in attachment.get("files") or ():
            if type(item) is dict and isinstance(item.get("path"), str):
                known[item["path"]] = str(item.get("content", ""))
        for path in attachment.get("removed") or ():
            if isinstance(path, str):
                known.pop(path, None)
    return known


def instruction_changes(
    previous: Mapping[str, str], files: Sequence[MemoryFile]
) -> tuple[list[MemoryFile], list[str]]:
    """Files new or changed since ``previous``, and the paths no longer present."""
    current = {f.path for f in files}
    changed = [f for f in files if previous.get(f.path) != f.content]
    removed = [p for p in previous if p not in current]
    return changed, removed


NESTED_TOOLS = frozenset({"Read", "Edit", "Write", "NotebookEdit"})
"""Tools whose file brings in the memory files of the folders above it."""


def nested_memory(
    cwd: str | os.PathLike[str],
    file_path: str,
    sources: Sequence[str],
    seen: set[str],
    *,
    home: str | os.PathLike[str] | None = None,
) -> list[NestedFile]:
    """The ``CLAUDE.md`` / ``CLAUDE.local.md`` files (and their imports) of the folders
    between ``cwd`` (excluded) and ``file_path``'s folder, not in ``seen`` (which is
    updated): what the CLI attaches after a tool read a file there. Blocking I/O."""
    root = Path(cwd).resolve()
    try:
        target = (root / file_path).resolve()
    except (OSError, RuntimeError):
        return []
    if not _inside(target.parent, root):
        return []
    rules = _matching_rules(root, target, seen) if "project" in sources else []
    folders = [target.parent, *target.parent.parents]
    folders = [f for f in folders if f != root and _inside(f, root)]
    out: list[NestedFile] = []
    home_path = Path(home) if home is not None else Path.home()

    def add(path: Path, kind: MemoryType, depth: int, parent: str | None) -> None:
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return
        if str(path) in seen or str(real) in seen or not real.is_file() or not _inside(real, root):
            return
        text = _read(real)
        seen.update((str(path), str(real)))
        if text is None or not text.strip():
            return
        from ._memory_types import NestedFile

        out.append(NestedFile(path=str(path), type=kind, content=text, parent=parent))
        if depth + 1 >= MAX_IMPORT_DEPTH:
            return
        for ref in _imports(text):
            imported = _resolve_import(ref, path.parent, home_path)
            if imported is not None:
                add(imported, kind, depth + 1, str(path))

    for folder in reversed(folders):
        if "project" in sources:
            add(folder / "CLAUDE.md", "Project", 0, None)
            add(folder / ".claude" / "CLAUDE.md", "Project", 0, None)
        if "local" in sources:
            add(folder / "CLAUDE.local.md", "Local", 0, None)
    return rules + out


def _rule_globs(text: str) -> tuple[list[str], str] | None:
    """A conditional rule's ``paths`` and its text after the front matter, or None."""
    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    head = text[3:end]
    body = text[end + 4 :]
    body = body[1:] if body.startswith("\n") else body
    globs: list[str] = []
    in_paths = False
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "\t", "-")):
            in_paths = key.strip() == "paths"
            if in_paths and value.strip():
                globs += [v.strip().strip("'\"") for v in value.split(",") if v.strip()]
        elif in_paths and line.strip().startswith("-"):
            globs.append(line.strip()[1:].strip().strip("'\""))
    return ([g for g in globs if g], body) if in_paths or globs else None


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif c == "*":
            out, i = out + "[^/]*", i + 1
        elif c == "?":
            out, i = out + "[^/]", i + 1
        elif c == "{" and "}" in pattern[i:]:
            close = pattern.index("}", i)
            options = pattern[i + 1 : close].split(",")
            out, i = out + "(?:" + "|".join(re.escape(o) for o in options) + ")", close + 1
        else:
            out, i = out + re.escape(c), i + 1
    return re.compile(out + r"\Z")


def _matching_rules(root: Path, target: Path, seen: set[str]) -> list[NestedFile]:
    """``<cwd>/.claude/rules`` files whose ``paths`` match ``target`` (relative to cwd)."""
    directory = root / ".claude" / "rules"
    if not directory.is_dir():
        return []
    relative = target.relative_to(root).as_posix()
    found: list[NestedFile] = []
    for path in sorted(directory.rglob("*.md")):
        if str(path) in seen:
            continue
        text = _read(path)
        parsed = _rule_globs(text) if text is not None else None
        if text is None or parsed is None:
            continue
        globs, body = parsed
        if not any(_glob_regex(g.removeprefix("./")).match(relative) for g in globs):
            continue
        seen.add(str(path))
        from ._memory_types import NestedFile

        found.append(
            NestedFile(path=str(path), type="Project", content=body, globs=tuple(globs), raw=text)
        )
    return found


def nested_attachment(file: NestedFile, cwd: str) -> tuple[Raw, str]:
    """The ``nested_memory`` attachment of ``file`` and its rendered text (the CLI's)."""
    content: Raw = {
        "path": file.path,
        "type": file.type,
        "content": file.content,
        "contentDiffersFromDisk": False,
    }
    if file.parent is not None:
        content["parent"] = file.parent
    if file.raw is not None:
        content["globs"] = list(file.globs)
        content["contentDiffersFromDisk"] = True
        content["rawContent"] = file.raw
        content["isRule"] = True
    try:
        display = os.path.relpath(file.path, cwd)
    except ValueError:
        display = file.path
    attachment = {
        "type": "nested_memory",
        "path": file.path,
        "content": content,
        "displayPath": display,
    }
    text = f"<system-reminder>\nContents of {file.path}:\n\n{file.content}\n</system-reminder>"
    return attachment, text
