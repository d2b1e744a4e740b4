"""The rows the web UI lists: sessions, subagents, lineage, search hits, trashed sessions.

Plain frozen dataclasses with their JSON shapes, shared by the sources (``_source``), the
store search index (``_storesearch``) and the API (``_api``); they import nothing of the
web package, which keeps the sources and the search index from importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._results import SDKSessionInfo

__all__ = ["AgentRef", "Hit", "Lineage", "Row", "TrashedRow", "row_of"]


@dataclass(frozen=True)
class Row:
    """One session in the listing."""

    session_id: str
    project_key: str
    summary: str
    title: str | None
    first_prompt: str | None
    tag: str | None
    git_branch: str | None
    cwd: str | None
    created_at: int | None
    last_modified: int
    size: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "project": self.project_key,
            "summary": self.summary,
            "title": self.title,
            "first_prompt": self.first_prompt,
            "tag": self.tag,
            "git_branch": self.git_branch,
            "cwd": self.cwd,
            "created_at": self.created_at,
            "last_modified": self.last_modified,
            "size": self.size,
        }


def row_of(info: SDKSessionInfo, project_key: str) -> Row:
    """The listing row of a session's info."""
    return Row(
        session_id=info.session_id,
        project_key=project_key,
        summary=info.summary,
        title=info.custom_title,
        first_prompt=info.first_prompt,
        tag=info.tag,
        git_branch=info.git_branch,
        cwd=info.cwd,
        created_at=info.created_at,
        last_modified=info.last_modified,
        size=info.file_size,
    )


@dataclass(frozen=True)
class AgentRef:
    """A subagent transcript of a session."""

    agent_id: str
    subpath: str
    meta: dict[str, Any]

    @property
    def tool_use_id(self) -> str | None:
        v = self.meta.get("toolUseId")
        return v if isinstance(v, str) else None

    def to_json(self) -> dict[str, Any]:
        def s(k: str) -> str | None:
            v = self.meta.get(k)
            return v if isinstance(v, str) else None

        return {
            "agent_id": self.agent_id,
            "subpath": self.subpath,
            "agent_type": s("agentType"),
            "description": s("description"),
            "tool_use_id": self.tool_use_id,
            "parent_agent_id": s("parentAgentId"),
            "model": s("model"),
        }


@dataclass(frozen=True)
class Lineage:
    """What a session's first entries say about where it came from."""

    session_id: str
    root_uuid: str | None
    forked_from: str | None
    created_at: int | None


@dataclass(frozen=True)
class Hit:
    session_id: str
    project_key: str
    message_uuid: str | None
    role: str
    snippet: str
    timestamp: str | None


@dataclass(frozen=True)
class TrashedRow:
    session_id: str
    project_key: str
    trashed_at: float | None
    summary: str | None
