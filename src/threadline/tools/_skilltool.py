"""The ``Skill`` tool: list the session's skills and load one's instructions (see
:mod:`._skills` for what a skill is). Apart from the skill files so that those sit below
the session state, and the tool above it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import anyio.to_thread

from ._base import ToolContext, ToolResult, error_result
from ._skills import Skill, parse_skill

__all__ = ["SkillTool"]


class SkillTool:
    """Load a skill's instructions into the conversation."""

    name = "Skill"
    read_only = True
    input_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "skill": {
                "description": "The name of a skill from the available-skills list. Do not "
                "guess names.",
                "type": "string",
            },
            "args": {"description": "Optional arguments for the skill", "type": "string"},
        },
        "required": ["skill"],
        "additionalProperties": False,
    }

    def __init__(self, skills: Mapping[str, Skill] | Sequence[Skill] = ()) -> None:
        if isinstance(skills, Mapping):
            self.skills = dict(skills)
        else:
            self.skills = {s.name: s for s in skills}

    @property
    def description(self) -> str:
        head = (
            "Loads a skill: a packaged set of instructions (and files) for a specific kind of "
            "task. When a task matches a skill's description, call this tool with its name "
            "before doing the task, then follow the instructions it returns. Only the skills "
            "listed here exist."
        )
        if not self.skills:
            return head + "\n\nAvailable skills: none."
        listing = "\n".join(
            f"- {s.name}: {s.description}" if s.description else f"- {s.name}"
            for s in self.skills.values()
        )
        return f"{head}\n\nAvailable skills:\n{listing}"

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        name = str(input["skill"]).strip().lstrip("/")
        skill = self.skills.get(name)
        if skill is None:
            known = ", ".join(sorted(self.skills)) or "none"
            return error_result(f"Unknown skill: {name}. Available skills: {known}")
        still_there = await anyio.Path(skill.directory / "SKILL.md").is_file()
        body = skill.body
        if still_there:  # pick up edits made since the session started
            try:
                body = (await anyio.to_thread.run_sync(parse_skill, skill.directory / "SKILL.md")).body
            except (OSError, ValueError):
                pass
        text = f"Base directory for this skill: {skill.directory}\n\n{body}"
        if input.get("args"):
            text += f"\n\nARGUMENTS: {input['args']}"
        return ToolResult(
            content=text,
            structured={"success": True, "commandName": skill.name},
        )
