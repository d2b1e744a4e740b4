"""Typed views over Claude Code transcript entries.

A transcript line is one JSON object with a ``type``. threadline never owns
the format: every entry keeps its original dict (:attr:`Entry.raw`), so
unknown entry types and unknown fields survive a read/write round trip
untouched, and typed accessors only *read* from that dict.

Entry kinds (``type`` value → class):

- ``user`` → :class:`UserEntry` (prompts, tool results, compaction summaries)
- ``assistant`` → :class:`AssistantEntry` (one per content block; blocks of one
  API reply share ``message.id``)
- ``system`` → :class:`SystemEntry`; subtype ``compact_boundary`` →
  :class:`CompactBoundaryEntry` (``logicalParentUuid`` points across the cut)
- ``progress``, ``attachment`` → chain entries carrying ``uuid``/``parentUuid``
- ``custom-title``, ``tag``, ``summary``, ``last-prompt``, ``agent-name``,
  ``file-history-snapshot``, ``content-replacement`` → metadata records
- anything else → :class:`Entry` (unknown, preserved verbatim)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "CHAIN_TYPES",
    "AssistantEntry",
    "AttachmentEntry",
    "CompactBoundaryEntry",
    "ContentReplacementEntry",
    "CustomTitleEntry",
    "Entry",
    "FileHistorySnapshotEntry",
    "LastPromptEntry",
    "ProgressEntry",
    "SummaryEntry",
    "SystemEntry",
    "TagEntry",
    "UserEntry",
    "parse_entry",
]

CHAIN_TYPES = frozenset({"user", "assistant", "progress", "system", "attachment"})
"""Entry types that take part in the ``parentUuid`` chain."""


class Entry:
    """Any transcript entry. ``raw`` is the exact dict read from (or written to) disk."""

    __slots__ = ("raw",)
    kind: ClassVar[str] = ""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return f"{type(self).__name__}(type={self.type!r}, uuid={self.uuid!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and other.raw == self.raw

    __hash__ = None  # type: ignore[assignment]

    def _str(self, key: str) -> str | None:
        value = self.raw.get(key)
        return value if isinstance(value, str) else None

    @property
    def type(self) -> str:
        return self._str("type") or ""

    @property
    def uuid(self) -> str | None:
        return self._str("uuid")

    @property
    def parent_uuid(self) -> str | None:
        return self._str("parentUuid")

    @property
    def session_id(self) -> str | None:
        return self._str("sessionId")

    @property
    def timestamp(self) -> str | None:
        return self._str("timestamp")

    @property
    def is_sidechain(self) -> bool:
        return self.raw.get("isSidechain") is True

    @property
    def is_chain_entry(self) -> bool:
        return self.type in CHAIN_TYPES and self.uuid is not None

    def to_dict(self) -> dict[str, Any]:
        """The entry as stored (the very same dict: unknown fields included)."""
        return self.raw


class _MessageEntry(Entry):
    __slots__ = ()

    @property
    def message(self) -> dict[str, Any]:
        msg = self.raw.get("message")
        return msg if isinstance(msg, dict) else {}

    @property
    def content(self) -> str | list[dict[str, Any]]:
        content = self.message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return [b for b in content if isinstance(b, dict)]
        return []

    @property
    def cwd(self) -> str | None:
        return self._str("cwd")

    @property
    def is_meta(self) -> bool:
        return self.raw.get("isMeta") is True


class UserEntry(_MessageEntry):
    """A user turn: a prompt, tool results, or a compaction summary."""

    __slots__ = ()
    kind = "user"

    @property
    def is_compact_summary(self) -> bool:
        return self.raw.get("isCompactSummary") is True

    @property
    def is_tool_result(self) -> bool:
        content = self.content
        return isinstance(content, list) and any(b.get("type") == "tool_result" for b in content)

    @property
    def text(self) -> str:
        """Concatenated text of the prompt (empty for tool results)."""
        content = self.content
        if isinstance(content, str):
            return content
        return "\n".join(
            b["text"] for b in content if b.get("type") == "text" and isinstance(b.get("text"), str)
        )


class AssistantEntry(_MessageEntry):
    """One content block of an assistant reply (blocks of one reply share ``message_id``)."""

    __slots__ = ()
    kind = "assistant"

    @property
    def message_id(self) -> str | None:
        value = self.message.get("id")
        return value if isinstance(value, str) and value else None

    @property
    def is_api_error(self) -> bool:
        """A synthetic reply the CLI records after a failed API call."""
        return self.raw.get("isApiErrorMessage") is True


class SystemEntry(Entry):
    __slots__ = ()
    kind = "system"

    @property
    def subtype(self) -> str | None:
        return self._str("subtype")


class CompactBoundaryEntry(SystemEntry):
    """``system/compact_boundary``: history before it is summarized by the next user entry."""

    __slots__ = ()

    @property
    def logical_parent_uuid(self) -> str | None:
        return self._str("logicalParentUuid")


class ProgressEntry(Entry):
    __slots__ = ()
    kind = "progress"


class AttachmentEntry(Entry):
    __slots__ = ()
    kind = "attachment"


class CustomTitleEntry(Entry):
    __slots__ = ()
    kind = "custom-title"

    @property
    def title(self) -> str | None:
        return self._str("customTitle")


class TagEntry(Entry):
    __slots__ = ()
    kind = "tag"

    @property
    def tag(self) -> str | None:
        """The tag, or ``None`` when cleared (stored as ``""``)."""
        return self._str("tag") or None


class SummaryEntry(Entry):
    __slots__ = ()
    kind = "summary"

    @property
    def summary(self) -> str | None:
        return self._str("summary")


class LastPromptEntry(Entry):
    __slots__ = ()
    kind = "last-prompt"

    @property
    def last_prompt(self) -> str | None:
        return self._str("lastPrompt")


class FileHistorySnapshotEntry(Entry):
    __slots__ = ()
    kind = "file-history-snapshot"

    @property
    def message_id(self) -> str | None:
        return self._str("messageId")

    @property
    def snapshot(self) -> dict[str, Any]:
        snap = self.raw.get("snapshot")
        return snap if isinstance(snap, dict) else {}


class ContentReplacementEntry(Entry):
    __slots__ = ()
    kind = "content-replacement"


_BY_TYPE: dict[str, type[Entry]] = {
    cls.kind: cls
    for cls in (
        UserEntry,
        AssistantEntry,
        SystemEntry,
        ProgressEntry,
        AttachmentEntry,
        CustomTitleEntry,
        TagEntry,
        SummaryEntry,
        LastPromptEntry,
        FileHistorySnapshotEntry,
        ContentReplacementEntry,
    )
}


def parse_entry(raw: dict[str, Any]) -> Entry:
    """Wrap a raw transcript dict in its typed view (unknown types → :class:`Entry`)."""
    entry_type = raw.get("type")
    if entry_type == "system" and raw.get("subtype") == "compact_boundary":
        return CompactBoundaryEntry(raw)
    cls = _BY_TYPE.get(entry_type) if isinstance(entry_type, str) else None
    return (cls or Entry)(raw)
