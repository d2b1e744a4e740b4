"""``ToolAnnotations``: hints about an SDK tool's behaviour, as ``claude_agent_sdk.ToolAnnotations``.

The official class is a pydantic subclass of ``mcp.types.ToolAnnotations`` because the
official SDK serves SDK tools to the CLI over MCP. threadline calls SDK tools directly, so
this is a plain class with the same constructor: every hint in either spelling
(``readOnlyHint=True`` or ``read_only_hint=True``; given both, the camelCase one wins, as
officially), extra keys kept. Unlike the official one (whose attribute spelling follows the
installed ``mcp`` major version) both spellings read back. A plain
``mcp.types.ToolAnnotations`` or a dict works as ``annotations`` too.

threadline reads ``readOnlyHint`` (a read-only tool runs without asking under the
default permission mode and in plan mode); the other hints are kept for the caller.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ToolAnnotations"]

_WIRE = {
    "read_only_hint": "readOnlyHint",
    "destructive_hint": "destructiveHint",
    "idempotent_hint": "idempotentHint",
    "open_world_hint": "openWorldHint",
    "max_result_size_chars": "maxResultSizeChars",
}
_SNAKE = {wire: snake for snake, wire in _WIRE.items()}
_FIELDS = ("title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")


class ToolAnnotations:
    """Hints about a tool's behaviour, plus ``maxResultSizeChars`` (Claude Code's own hint)."""

    def __init__(self, **data: Any) -> None:
        for snake, wire in _WIRE.items():
            if snake in data:
                value = data.pop(snake)
                data.setdefault(wire, value)
        values: dict[str, Any] = dict.fromkeys((*_FIELDS, "maxResultSizeChars"))
        values.update(data)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        values: dict[str, Any] = object.__getattribute__(self, "_values")
        key = _WIRE.get(name, name)
        if key in values:
            return values[key]
        raise AttributeError(f"'ToolAnnotations' object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[_WIRE.get(name, name)] = value

    def model_dump(self, *, exclude_none: bool = False, by_alias: bool = True) -> dict[str, Any]:
        """The hints as a dict (wire names; ``by_alias=False`` gives snake_case names)."""
        out = {}
        for key, value in self._values.items():
            if exclude_none and value is None:
                continue
            out[key if by_alias else _SNAKE.get(key, key)] = value
        return out

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ToolAnnotations):
            return bool(self._values == other._values)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a pydantic model

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"ToolAnnotations({inner})"
