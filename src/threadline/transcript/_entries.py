"""Transcript entries in Claude Code's shape, and the way back to API messages.

Writing (:class:`EntryFactory`): what the runtime appends, entry by entry, exactly as the
``claude`` CLI lays it out so either side resumes the other's sessions:

- a prompt is one ``user`` entry, chained to the previous leaf;
- a model reply is one ``assistant`` entry **per content block**, all sharing ``message.id``
  and chained one after another;
- each tool result is its own ``user`` entry whose ``parentUuid`` is the entry of the
  ``tool_use`` it answers, with ``toolUseResult`` and ``sourceToolAssistantUUID``;
- a failed model call leaves Claude Code's synthetic ``API Error`` assistant entry
  (``isApiErrorMessage``), which is never sent back to the model.

The way back, entries to Messages API ``messages``, is :mod:`threadline.transcript._api`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._ids import new_uuid
from .._version import __version__
from ._api import (
    NO_RESPONSE_REQUESTED,
    SYNTHETIC_MODEL,
    TOOL_CALL_INTERRUPTED,
    chain_to_api_messages as chain_to_api_messages,
    merge_api_messages as merge_api_messages,
    repair_tool_pairs as repair_tool_pairs,
)
from ._jsonl import gc_paused as gc_paused

__all__ = [
    "INTERRUPTED",
    "INTERRUPTED_FOR_TOOL",
    "TOOL_REJECTED",
    "EntryFactory",
    "chain_to_api_messages",
    "fork_chain",
    "git_branch",
    "now_iso",
    "threadline_version",
]

Raw = dict[str, Any]

INTERRUPTED = "[Request interrupted by user]"
INTERRUPTED_FOR_TOOL = "[Request interrupted by user for tool use]"
TOOL_REJECTED = (
    "The user doesn't want to proceed with this tool use. The tool use was rejected "
    "(eg. if it was a file edit, the new_string was NOT written to the file). STOP what you "
    "are doing and wait for the user to tell you how to proceed."
)


def threadline_version() -> str:
    return __version__


def now_iso() -> str:
    """UTC ISO-8601 with milliseconds and ``Z``, as Claude Code writes timestamps."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def git_branch(cwd: str) -> str:
    """The checked-out branch of the repository holding ``cwd`` (``"HEAD"`` if detached/none).

    Reads ``.git/HEAD`` directly (no subprocess); worktree ``.git`` files are followed.
    """
    path = Path(cwd)
    for directory in (path, *path.parents):
        dotgit = directory / ".git"
        try:
            if dotgit.is_file():
                text = dotgit.read_text(encoding="utf-8").strip()
                if not text.startswith("gitdir:"):
                    return "HEAD"
                gitdir = Path(text[len("gitdir:") :].strip())
                dotgit = gitdir if gitdir.is_absolute() else directory / gitdir
            head = (dotgit / "HEAD").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        prefix = "ref: refs/heads/"
        return head[len(prefix) :] if head.startswith(prefix) else "HEAD"
    return "HEAD"


@dataclass(frozen=True, kw_only=True)
class EntryFactory:
    """Builds the entries of one session (same ``sessionId``, ``cwd``, ``gitBranch``)."""

    session_id: str
    cwd: str
    git_branch: str = "HEAD"

    def new_entry(self, kind: str, parent: str | None) -> Raw:
        """A bare entry of ``kind`` (the fields every entry of the session shares)."""
        return self._base(kind, parent)

    def _base(self, kind: str, parent: str | None) -> Raw:
        return {
            "parentUuid": parent,
            "isSidechain": False,
            "userType": "external",
            "entrypoint": "sdk-py",
            "cwd": self.cwd,
            "sessionId": self.session_id,
            "version": threadline_version(),
            "gitBranch": self.git_branch,
            "type": kind,
            "uuid": new_uuid(),
            "timestamp": now_iso(),
        }

    def prompt(
        self, content: str | list[Raw], parent: str | None, *, uuid: str | None = None
    ) -> Raw:
        entry = self._base("user", parent)
        entry["message"] = {"role": "user", "content": content}
        if uuid:
            entry["uuid"] = uuid
        return entry

    def assistant(
        self, message: Mapping[str, Any], parent: str | None, request_id: str | None
    ) -> list[Raw]:
        """One entry per content block of ``message``, chained, sharing ``message.id``."""
        shell = {k: v for k, v in message.items() if k != "content"}
        out: list[Raw] = []
        for block in message.get("content") or []:
            entry = self._base("assistant", parent)
            entry["message"] = {**shell, "content": [block]}
            if request_id:
                entry["requestId"] = request_id
            out.append(entry)
            parent = entry["uuid"]
        return out

    def tool_result(
        self,
        block: Raw,
        *,
        tool_use_entry: str,
        structured: Any = None,
    ) -> Raw:
        entry = self._base("user", tool_use_entry)
        entry["message"] = {"role": "user", "content": [block]}
        content = block.get("content")
        entry["toolUseResult"] = (
            structured
            if structured is not None
            else (content if isinstance(content, str) else {"content": content})
        )
        entry["sourceToolAssistantUUID"] = tool_use_entry
        return entry

    def interrupted(self, parent: str | None, *, for_tool: bool) -> Raw:
        text = INTERRUPTED_FOR_TOOL if for_tool else INTERRUPTED
        return self.prompt([{"type": "text", "text": text}], parent)

    def no_response(self, parent: str | None) -> Raw:
        """Claude Code's synthetic ``No response requested.`` reply, which a resume adds
        when the conversation ended with a user message (see ``resume_closing``)."""
        entry = self._base("assistant", parent)
        entry["message"] = _synthetic_message(NO_RESPONSE_REQUESTED)
        entry["isApiErrorMessage"] = False
        entry["madeBy"] = "other"
        return entry

    def interrupted_result(self, call_id: str, *, tool_use_entry: str | None) -> Raw:
        """The result a resume records for a call the session ended in (as the CLI does)."""
        entry = self._base("user", tool_use_entry)
        block = {
            "type": "tool_result",
            "content": TOOL_CALL_INTERRUPTED,
            "is_error": True,
            "tool_use_id": call_id,
        }
        entry["message"] = {"role": "user", "content": [block]}
        entry["toolUseResult"] = TOOL_CALL_INTERRUPTED
        entry["toolDenialKind"] = "interrupted"
        if tool_use_entry is not None:
            entry["sourceToolAssistantUUID"] = tool_use_entry
        return entry

    def api_error(self, parent: str | None, text: str, *, status: int | None, error: str) -> Raw:
        """Claude Code's synthetic assistant entry for a failed model call."""
        entry = self._base("assistant", parent)
        entry["message"] = _synthetic_message(text)
        entry["error"] = error
        entry["isApiErrorMessage"] = True
        if status is not None:
            entry["apiErrorStatus"] = status
        return entry


def fork_chain(chain: Iterable[Raw], *, new_session_id: str, source_session_id: str) -> list[Raw]:
    """Copy a chain under a new session id with fresh uuids (the official ``fork_session`` transform).

    ``parentUuid``, ``logicalParentUuid`` and ``sourceToolAssistantUUID`` are remapped;
    each copy records ``forkedFrom: {sessionId, messageUuid}``; sidechain entries are skipped.
    """
    entries = [e for e in chain if not e.get("isSidechain")]
    mapping = {e["uuid"]: new_uuid() for e in entries}
    out: list[Raw] = []
    for entry in entries:
        copy = dict(entry)
        for key in ("teamName", "agentName", "slug"):
            copy.pop(key, None)
        copy["uuid"] = mapping[entry["uuid"]]
        copy["parentUuid"] = mapping.get(entry.get("parentUuid") or "")
        if "logicalParentUuid" in entry:
            copy["logicalParentUuid"] = mapping.get(entry.get("logicalParentUuid") or "")
        if "sourceToolAssistantUUID" in entry:
            copy["sourceToolAssistantUUID"] = mapping.get(entry["sourceToolAssistantUUID"] or "")
        copy["sessionId"] = new_session_id
        copy["isSidechain"] = False
        copy["forkedFrom"] = {"sessionId": source_session_id, "messageUuid": entry["uuid"]}
        out.append(copy)
    return out


def _synthetic_message(text: str) -> Raw:
    """The message of Claude Code's synthetic assistant entries (model ``<synthetic>``, no
    usage): the ``No response requested.`` reply and the API-error reply."""
    return {
        "id": new_uuid(),
        "model": SYNTHETIC_MODEL,
        "role": "assistant",
        "stop_reason": "stop_sequence",
        "stop_sequence": "",
        "type": "message",
        "usage": {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
        "content": [{"type": "text", "text": text}],
    }
