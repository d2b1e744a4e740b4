"""Claude-format history ⇄ OpenAI chat-completions wire format, at the provider boundary only.

threadline keeps every conversation in Anthropic Messages shapes, because that is what a
Claude Code transcript stores. The OpenAI-compatible provider converts a
:class:`~threadline.providers.ModelRequest` into a chat-completions body on the way out,
and the streamed chunks back into Anthropic stream events and one Anthropic ``message``
dict on the way in. Nothing else in threadline sees the OpenAI format, and nothing in
OpenAI format is ever persisted: a session resumes on either provider.

Outgoing (Claude → OpenAI):

- ``system`` blocks become one ``system`` message (``cache_control`` is dropped everywhere);
- ``tool_use`` blocks become the assistant message's ``tool_calls`` (input JSON-encoded);
- ``tool_result`` blocks become ``role: "tool"`` messages, placed right after the assistant
  message, before any other user content; ``is_error`` results are prefixed ``"Error: "``
  (chat completions has no error flag); images inside a result follow in a user message;
- ``image`` blocks (base64 or URL source) become ``image_url`` parts (data URLs);
- ``thinking`` / ``redacted_thinking`` blocks are **dropped**: signed Claude thinking
  cannot be verified by another model and the visible replies and tool calls already carry
  the conversation (summarising would cost an extra model call per turn);
- ``document`` and server-tool blocks, which chat completions cannot carry, become a short
  text placeholder so the model knows something was there.

Incoming (OpenAI → Claude): ``delta.content`` becomes ``text`` blocks, ``delta.tool_calls``
``tool_use`` blocks (arguments that are not a JSON object are kept as
``{"_raw_arguments": "..."}``), and ``delta.reasoning_content`` / ``delta.reasoning``
(vLLM, llama.cpp, Ollama, DeepSeek) an **unsigned** ``thinking`` block: it is stored in the
transcript, but never sent back to any model (unsigned thinking is not sendable).
``finish_reason`` maps to ``stop_reason`` and ``usage`` to Anthropic usage keys.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from ._base import ModelRequest

__all__ = [
    "ChunkTranslator",
    "anthropic_usage",
    "chat_body",
    "to_openai_messages",
    "to_openai_tools",
]

Raw = dict[str, Any]

_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_TOOL_ID_OK = re.compile(r"^[A-Za-z0-9_-]+$")
_NO_OUTPUT = "(no output)"


# ---------------------------------------------------------------------------- outgoing


def _text_of(content: Any) -> str:
    """The text of a ``tool_result`` content (string or block list), images left out."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = [
        str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
    ]
    return "\n".join(p for p in parts if p)


def _image_part(block: Mapping[str, Any]) -> Raw | None:
    source = block.get("source")
    if not isinstance(source, Mapping):
        return None
    if source.get("type") == "base64":
        media = str(source.get("media_type") or "image/png")
        url = f"data:{media};base64,{source.get('data', '')}"
    elif source.get("type") == "url":
        url = str(source.get("url", ""))
    else:
        return None
    return {"type": "image_url", "image_url": {"url": url}}


def _placeholder(block: Mapping[str, Any]) -> str:
    return f"[{block.get('type', 'content')} omitted: not supported by this model API]"


def _user_parts(blocks: Iterable[Mapping[str, Any]]) -> list[Raw]:
    parts: list[Raw] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                parts.append({"type": "text", "text": str(block["text"])})
        elif kind == "image":
            image = _image_part(block)
            parts.append(image or {"type": "text", "text": _placeholder(block)})
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            parts.append({"type": "text", "text": _placeholder(block)})
    return parts


def _user_message(parts: list[Raw]) -> Raw:
    if all(p["type"] == "text" for p in parts):
        return {"role": "user", "content": "\n\n".join(p["text"] for p in parts)}
    return {"role": "user", "content": parts}


def _result_images(content: Any) -> list[Raw]:
    if not isinstance(content, list):
        return []
    parts = (_image_part(b) for b in content if isinstance(b, dict) and b.get("type") == "image")
    return [p for p in parts if p is not None]


def _user_messages(content: Any) -> list[Raw]:
    """One Claude user message: ``tool`` messages first, then the rest as one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}] if content else []
    blocks = [b for b in content or [] if isinstance(b, dict)]
    out: list[Raw] = []
    tool_images: list[Raw] = []
    for block in blocks:
        if block.get("type") != "tool_result":
            continue
        text = _text_of(block.get("content")) or _NO_OUTPUT
        if block.get("is_error"):
            text = f"Error: {text}"
        call_id = str(block.get("tool_use_id", ""))
        out.append({"role": "tool", "tool_call_id": call_id, "content": text})
        images = _result_images(block.get("content"))
        if images:
            note = {"type": "text", "text": f"(image output of tool call {call_id})"}
            tool_images.extend([note, *images])
    parts = [*tool_images, *_user_parts(b for b in blocks if b.get("type") != "tool_result")]
    if parts:
        out.append(_user_message(parts))
    return out


def _assistant_message(content: Any) -> Raw | None:
    if isinstance(content, str):
        return {"role": "assistant", "content": content} if content else None
    texts: list[str] = []
    calls: list[Raw] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            if block.get("text"):
                texts.append(str(block["text"]))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name", "")),
                        "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                    },
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            texts.append(_placeholder(block))
    if not texts and not calls:
        return None
    message: Raw = {"role": "assistant", "content": "\n\n".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def to_openai_messages(
    system: list[Raw] | None, messages: Iterable[Mapping[str, Any]]
) -> list[Raw]:
    """Anthropic ``system`` + ``messages`` as chat-completions ``messages``."""
    out: list[Raw] = []
    system_text = "\n\n".join(
        str(b.get("text", "")) for b in system or [] if b.get("type") == "text" and b.get("text")
    )
    if system_text:
        out.append({"role": "system", "content": system_text})
    for message in messages:
        if message.get("role") == "assistant":
            converted = _assistant_message(message.get("content"))
            if converted is not None:
                out.append(converted)
        else:
            out.extend(_user_messages(message.get("content")))
    return out


def to_openai_tools(tools: Iterable[Mapping[str, Any]]) -> list[Raw]:
    """Anthropic tool definitions as chat-completions ``tools`` (server tools skipped)."""
    out: list[Raw] = []
    for tool in tools:
        if "input_schema" not in tool:
            continue
        function: Raw = {"name": str(tool["name"]), "parameters": tool["input_schema"]}
        if tool.get("description"):
            function["description"] = str(tool["description"])
        out.append({"type": "function", "function": function})
    return out


def chat_body(
    request: ModelRequest,
    *,
    max_tokens: int | None,
    include_usage: bool,
    extra_body: Mapping[str, Any],
) -> Raw:
    """The streaming chat-completions body for ``request``.

    Anthropic-only request fields (``thinking``, ``betas``, ``metadata``, ``output_config``
    in ``extra_body``) are not sent; the provider's own ``extra_body`` is merged last.
    """
    body: Raw = {
        "model": request.model,
        "messages": to_openai_messages(request.system, request.messages),
        "stream": True,
    }
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    tools = to_openai_tools(request.tools)
    if tools:
        body["tools"] = tools
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    body.update(extra_body)
    return body


# ---------------------------------------------------------------------------- incoming


def _tool_id(raw: object) -> str:
    """A tool-call id both APIs accept (Anthropic wants ``[A-Za-z0-9_-]+``)."""
    text = str(raw or "")
    if text and _TOOL_ID_OK.match(text):
        return text
    if text:
        return re.sub(r"[^A-Za-z0-9_-]", "_", text)
    return "toolu_" + secrets.token_hex(12)


def _parse_arguments(raw: str) -> Raw:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"_raw_arguments": raw}
    return value if isinstance(value, dict) else {"_raw_arguments": raw}


def anthropic_usage(usage: Mapping[str, Any] | None) -> Raw:
    """Chat-completions ``usage`` in Anthropic terms (``input_tokens`` excludes cache reads)."""
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    details = usage.get("prompt_tokens_details")
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, Mapping) else 0
    return {
        "input_tokens": max(0, prompt - cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": int(usage.get("completion_tokens") or 0),
    }


class ChunkTranslator:
    """Chat-completion chunks → Anthropic stream events, and the final Anthropic message.

    The message is built from the chunks directly; the events mirror it for
    ``include_partial_messages`` consumers (``content_block_*`` in Anthropic's order).
    Only choice 0 is read.
    """

    def __init__(self, *, model: str) -> None:
        self.message: Raw = {
            "id": "msg_" + secrets.token_hex(12),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": anthropic_usage(None),
        }
        self.finished = False
        """Whether a ``finish_reason`` arrived (a stream without one was cut)."""
        self._started = False
        self._open: int | None = None
        self._tools: dict[int, int] = {}
        self._args: dict[int, list[str]] = {}

    @property
    def content(self) -> list[Raw]:
        blocks: list[Raw] = self.message["content"]
        return blocks

    def feed(self, chunk: Mapping[str, Any]) -> list[Raw]:
        """Events for one chunk (the first chunk also yields ``message_start``)."""
        events: list[Raw] = []
        if not self._started:
            self._started = True
            if chunk.get("model"):
                self.message["model"] = str(chunk["model"])
            start = {k: v for k, v in self.message.items() if k != "content"}
            events.append({"type": "message_start", "message": {**start, "content": []}})
        usage = chunk.get("usage")
        if isinstance(usage, Mapping):
            self.message["usage"] = anthropic_usage(usage)
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            return events
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.extend(self._append("thinking", reasoning))
            text = delta.get("content")
            if isinstance(text, str) and text:
                events.extend(self._append("text", text))
            for call in delta.get("tool_calls") or []:
                if isinstance(call, Mapping):
                    events.extend(self._tool_delta(call))
        reason = choice.get("finish_reason")
        if reason:
            self.finished = True
            self.message["stop_reason"] = _STOP_REASONS.get(str(reason), "end_turn")
        return events

    def finish(self) -> list[Raw]:
        """Closing events; completes ``message`` (tool inputs parsed, stop reason fixed)."""
        events = self._close()
        for index, position in self._tools.items():
            self.content[position]["input"] = _parse_arguments("".join(self._args.get(index, [])))
        if self._tools:
            # Some servers (older Ollama) say "stop" although they called tools.
            self.message["stop_reason"] = "tool_use"
        elif self.message["stop_reason"] is None:
            self.message["stop_reason"] = "end_turn"
        if not self.content:
            self.content.append({"type": "text", "text": ""})
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.message["stop_reason"], "stop_sequence": None},
                "usage": dict(self.message["usage"]),
            }
        )
        events.append({"type": "message_stop"})
        return events

    # -- blocks ------------------------------------------------------------------------------

    def _close(self) -> list[Raw]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [{"type": "content_block_stop", "index": index}]

    def _start(self, block: Raw) -> list[Raw]:
        events = self._close()
        self.content.append(block)
        self._open = len(self.content) - 1
        shown = {**block, "input": {}} if block["type"] == "tool_use" else dict(block)
        events.append({"type": "content_block_start", "index": self._open, "content_block": shown})
        return events

    def _append(self, kind: str, piece: str) -> list[Raw]:
        events: list[Raw] = []
        if self._open is None or self.content[self._open]["type"] != kind:
            empty: Raw = (
                {"type": "text", "text": ""}
                if kind == "text"
                else {"type": "thinking", "thinking": "", "signature": ""}
            )
            events.extend(self._start(empty))
        assert self._open is not None
        field = "text" if kind == "text" else "thinking"
        self.content[self._open][field] += piece
        delta = {"type": f"{field}_delta", field: piece}
        events.append({"type": "content_block_delta", "index": self._open, "delta": delta})
        return events

    def _tool_delta(self, call: Mapping[str, Any]) -> list[Raw]:
        index = int(call.get("index") or 0)
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        events: list[Raw] = []
        if index not in self._tools:
            block: Raw = {
                "type": "tool_use",
                "id": _tool_id(call.get("id")),
                "name": str(function.get("name") or ""),
                "input": {},
            }
            events.extend(self._start(block))
            self._tools[index] = len(self.content) - 1
        elif function.get("name") and not self.content[self._tools[index]]["name"]:
            self.content[self._tools[index]]["name"] = str(function["name"])
        piece = function.get("arguments")
        if isinstance(piece, Mapping):  # a few servers send the parsed object
            piece = json.dumps(piece, ensure_ascii=False)
        if isinstance(piece, str) and piece:
            self._args.setdefault(index, []).append(piece)
            position = self._tools[index]
            if position == self._open:
                delta = {"type": "input_json_delta", "partial_json": piece}
                events.append({"type": "content_block_delta", "index": position, "delta": delta})
        return events
