"""MCP tool-result content -> Anthropic ``tool_result`` content blocks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["mcp_result_to_blocks"]

logger = logging.getLogger("threadline.tools")


def _block(item: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = item.get("type")
    if kind == "text":
        return {"type": "text", "text": str(item.get("text", ""))}
    if kind == "image":
        media_type = item.get("mimeType") or item.get("mime_type") or "image/png"
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": item.get("data", "")},
        }
    if kind == "resource_link":
        parts = [str(item[k]) for k in ("name", "uri", "description") if item.get(k)]
        return {"type": "text", "text": "\n".join(parts) or "Resource link"}
    if kind == "resource":
        resource = item.get("resource") or {}
        if "text" in resource:
            return {"type": "text", "text": str(resource["text"])}
        uri = resource.get("uri", "")
        return {"type": "text", "text": f"[binary resource {uri} omitted]"}
    if kind == "audio":
        return {"type": "text", "text": "[audio content omitted]"}
    logger.warning("Unsupported MCP content type %r in tool result, skipping", kind)
    return None


def mcp_result_to_blocks(
    content: Iterable[Mapping[str, Any]] | None, structured: Any = None
) -> list[dict[str, Any]]:
    """Convert MCP content items (wire shape, camelCase keys) to tool_result blocks.

    Text passes through; images become base64 image blocks; resource links and
    text resources become text; binary resources and audio become a short
    placeholder text. With no content at all, ``structured`` (an MCP
    ``structuredContent``) is rendered as JSON text.
    """
    blocks = [b for b in (_block(item) for item in content or ()) if b is not None]
    if not blocks and structured is not None:
        blocks.append({"type": "text", "text": json.dumps(structured, ensure_ascii=False)})
    return blocks
