"""Skills: ``<skills dir>/<name>/SKILL.md`` files (the ``Skill`` tool that loads them is
:mod:`threadline.tools._skilltool`).

A skill is a directory holding a ``SKILL.md``: YAML front matter (``name``,
``description``; ``allowed-tools``, ``model`` and the rest are kept in
:attr:`Skill.metadata`) and a Markdown body of instructions, plus any files the body
refers to. Claude Code looks in ``~/.claude/skills`` (user) and ``<project>/.claude/skills``
(project) and in plugins; :func:`load_skills` takes the list of *skills directories* to
scan, in order of precedence (the first definition of a name wins), so whoever reads the
settings decides which directories count.

The ``Skill`` tool lists the skills in its description (name and description, as the
CLI's skill listing does) and, when called, answers with the skill's instructions,
headed by its base directory (relative paths in the body resolve against it) and
followed by the ``args`` given. Claude Code injects the same text as a hidden user
message after the tool result; threadline returns it as the tool result itself, which
reaches the model in the same turn.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Skill",
    "load_skills",
    "parse_skill",
    "preload_blocks",
    "front_matter",
]

_log = logging.getLogger("threadline.tools")
_MAX_SKILL_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Skill:
    """One loaded skill."""

    name: str
    description: str
    body: str
    directory: Path
    metadata: Mapping[str, Any] = field(default_factory=dict)


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split ``---`` front matter from the body (PyYAML if installed, else ``key: value``)."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        return {}, text
    raw = "".join(lines[1:end])
    body = "".join(lines[end + 1 :])
    try:
        import yaml

        data = yaml.safe_load(raw)
        return (dict(data) if isinstance(data, dict) else {}), body
    except ImportError:
        pass
    except Exception as exc:  # malformed YAML: fall back to the simple reading
        _log.debug("skill front matter is not valid YAML: %s", exc)
    meta: dict[str, Any] = {}
    for line in raw.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not line.startswith((" ", "\t", "-")):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            meta[key.strip()] = value
    return meta, body


def parse_skill(path: Path) -> Skill:
    """Read one ``SKILL.md``; the name defaults to its directory's name."""
    with path.open("rb") as fh:
        data = fh.read(_MAX_SKILL_BYTES + 1)
    if len(data) > _MAX_SKILL_BYTES:
        raise ValueError(f"{path} is larger than {_MAX_SKILL_BYTES} bytes")
    meta, body = front_matter(data.decode("utf-8", errors="replace"))
    name = str(meta.get("name") or path.parent.name).strip()
    description = str(meta.get("description") or "").strip()
    if not description:
        first = next((ln.strip("# ").strip() for ln in body.splitlines() if ln.strip()), "")
        description = first[:200]
    return Skill(
        name=name,
        description=description,
        body=body.strip(),
        directory=path.parent,
        metadata={k: v for k, v in meta.items() if k not in ("name", "description")},
    )


def preload_blocks(skill: Skill) -> list[dict[str, Any]]:
    """``skill`` as the CLI preloads an agent definition's ``skills`` into the subagent's
    first message: its ``<command-message>`` record, then ``Base directory for this skill``
    and the ``SKILL.md`` body (front matter removed, as written)."""
    try:
        text: str | None = (skill.directory / "SKILL.md").read_text(
            encoding="utf-8", errors="replace"
        )
    except OSError:
        text = None
    body = front_matter(text)[1] if text is not None else skill.body
    record = (
        f"<command-message>{skill.name}</command-message>\n"
        f"<command-name>{skill.name}</command-name>\n<skill-format>true</skill-format>"
    )
    head = f"Base directory for this skill: {skill.directory}\n\n{body}"
    return [{"type": "text", "text": record}, {"type": "text", "text": head}]


def load_skills(directories: Iterable[str | os.PathLike[str]]) -> dict[str, Skill]:
    """Every skill under the given skills directories (``<dir>/<name>/SKILL.md``).

    Missing directories are skipped; an unreadable or malformed skill is logged and
    skipped; the first definition of a name wins. Blocking I/O: call it in a thread.
    """
    skills: dict[str, Skill] = {}
    for directory in directories:
        root = Path(directory).expanduser()
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            path = entry / "SKILL.md"
            if not path.is_file():
                continue
            try:
                skill = parse_skill(path)
            except (OSError, ValueError) as exc:
                _log.warning("skipping skill %s: %s", path, exc)
                continue
            skills.setdefault(skill.name, skill)
    return skills
