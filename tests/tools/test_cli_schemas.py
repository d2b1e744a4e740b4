"""Every built-in tool's input schema is Claude Code's (CLI 2.1.330, captured from its
requests against the fake server; property descriptions aside, which are ours)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline.tools import BUILTIN_TOOLS

CAPTURED = json.loads((Path(__file__).parent / "data" / "cli_tool_schemas.json").read_text())


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(BUILTIN_TOOLS))
def test_schema_is_claude_codes(name: str) -> None:
    if name not in CAPTURED["schemas"]:
        pytest.fail(f"{name} was not captured from the CLI", pytrace=False)
    ours = _strip(BUILTIN_TOOLS[name].input_schema)
    theirs = CAPTURED["schemas"][name]
    if name == "Read":  # threadline's Read has no PDF pages / allow_large (documented)
        theirs = {**theirs, "properties": {
            k: v for k, v in theirs["properties"].items() if k in ours["properties"]
        }}
    assert ours == theirs
