"""A reply's content blocks as they complete, for ``include_partial_messages``.

The CLI yields each block's ``AssistantMessage`` as soon as the block is complete, right
before the block's ``content_block_stop`` event (with the ``message_start`` usage and no
``stop_reason``: the reply has not ended yet). :class:`BlockStream` rebuilds the blocks from
the stream events so the loop can do the same. It builds ``text``, ``thinking``,
``redacted_thinking`` and ``tool_use`` blocks; at the first event it does not know (another
block type or delta, blocks out of order, a tool input that is not JSON) it stops, and that
block and the rest of the reply come out when the reply ends, as before. The reply the
provider returns stays what is recorded; the loop checks the early blocks against it.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["BlockStream"]

Raw = dict[str, Any]

_TYPES = frozenset({"text", "thinking", "redacted_thinking", "tool_use"})


class BlockStream:
    """Feed a reply's stream events; :meth:`feed` returns each block when it completes."""

    def __init__(self) -> None:
        self.start: Raw = {}
        """The ``message_start`` event's message (id, model, usage)."""
        self.done: list[Raw] = []
        """The blocks completed so far, in order (a prefix of the reply's content)."""
        self.uuids: list[str] = []
        """The uuids their messages were yielded under (the loop sets them)."""
        self.ok = True
        self.thought = 0
        self._open: dict[int, Raw] = {}
        self._json: dict[int, list[str]] = {}

    thought = 0
    """The reply's thinking so far, estimated in tokens as the CLI does (see below)."""

    def thinking_tokens(self, event: Any) -> int:
        """The estimate a ``thinking_delta`` event adds: its characters / 4, rounded up (the
        CLI's ``thinking_tokens`` status estimate); 0 for any other event."""
        if not isinstance(event, dict) or event.get("type") != "content_block_delta":
            return 0
        delta = event.get("delta")
        if not isinstance(delta, dict) or delta.get("type") != "thinking_delta":
            return 0
        grew = -(-len(str(delta.get("thinking", ""))) // 4)
        self.thought += grew
        return grew

    def reset(self) -> None:
        """A new request (a retry or fallback): nothing of the previous stream holds."""
        self.__init__()  # type: ignore[misc]

    def feed(self, event: Any) -> Raw | None:
        """The block ``event`` completes, or None."""
        if not isinstance(event, dict):
            return None
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            self.start = dict(message) if isinstance(message, dict) else {}
            return None
        if not self.ok:
            return None
        if kind == "content_block_start":
            self._begin(event)
        elif kind == "content_block_delta":
            self._delta(event)
        elif kind == "content_block_stop":
            return self._finish(event.get("index"))
        return None

    def _begin(self, event: Raw) -> None:
        block, index = event.get("content_block"), event.get("index")
        if not isinstance(block, dict) or block.get("type") not in _TYPES or index != len(
            self.done
        ) + len(self._open):
            self.ok = False
            return
        self._open[index] = dict(block)
        if block["type"] == "tool_use":
            self._json[index] = []

    def _delta(self, event: Raw) -> None:
        block, delta = self._open.get(event.get("index")), event.get("delta")  # type: ignore[arg-type]
        if block is None or not isinstance(delta, dict):
            self.ok = False
            return
        kind = delta.get("type")
        if kind == "text_delta" and block["type"] == "text":
            block["text"] = block.get("text", "") + str(delta.get("text", ""))
        elif kind == "thinking_delta" and block["type"] == "thinking":
            block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
        elif kind == "signature_delta" and block["type"] == "thinking":
            block["signature"] = str(delta.get("signature", ""))
        elif kind == "citations_delta" and block["type"] == "text":
            block.setdefault("citations", []).append(delta.get("citation"))
        elif kind == "input_json_delta" and block["type"] == "tool_use":
            self._json[event["index"]].append(str(delta.get("partial_json", "")))
        else:
            self.ok = False

    def _finish(self, index: Any) -> Raw | None:
        block = self._open.pop(index, None)
        if block is None or index != len(self.done):
            self.ok = False
            return None
        if block["type"] == "tool_use":
            text = "".join(self._json.pop(index))
            try:
                block["input"] = json.loads(text) if text.strip() else {}  # as the provider
            except ValueError:
                self.ok = False
                return None
            if not isinstance(block["input"], dict):
                self.ok = False
                return None
        self.done.append(block)
        return block
