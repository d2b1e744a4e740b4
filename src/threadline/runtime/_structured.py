"""Structured output (``output_format``): Claude Code's ``StructuredOutput`` tool.

With ``output_format={"type": "json_schema", "schema": {...}}`` the main agent gets a
``StructuredOutput`` tool whose input schema is the given schema, with the CLI's description.
A call is validated with ``jsonschema`` (Draft 7 unless the schema's ``$schema`` names
another draft, formats not enforced: the CLI's Ajv settings); an invalid one answers
``Output does not match required schema: <path>: <message>, ...`` in the CLI's wording, so
the model can correct itself. What the loop does with it (``_loop.Runtime``), as the CLI:

- a valid call ends the turn: ``ResultMessage.structured_output`` is the object and
  ``result`` its compact JSON text;
- after ``MAX_STRUCTURED_OUTPUT_RETRIES`` (env, default 5) calls without a valid one, the
  turn ends with ``error_max_structured_output_retries``;
- a reply that ends without calling the tool is sent back once with the CLI's reminder
  (``[structured-output-enforce] ...``); a second such reply ends the turn without
  structured output.

Subagents never get the tool (``output_format`` is the main session's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from .._exceptions import UserError
from ..tools import ToolContext, ToolResult
from ._turn import js_number

__all__ = [
    "ENFORCE_TEXT",
    "STRUCTURED_OUTPUT",
    "StructuredOutputTool",
    "check_output_format",
    "max_attempts",
    "result_text",
]

STRUCTURED_OUTPUT = "StructuredOutput"
SUCCESS_TEXT = "Structured output provided successfully"
ENFORCE_TEXT = (
    "[structured-output-enforce] You MUST call the StructuredOutput tool to complete this "
    "request. Call this tool now."
)
_DESCRIPTION = (
    "Use this tool to return your final response in the requested structured format. You "
    "MUST call this tool exactly once at the end of your response to provide the structured "
    "output."
)
_DEFAULT_ATTEMPTS = 5
_QUOTE_MAX = 80
_JSON_MAX = 300


def check_output_format(value: object) -> None:
    """Reject an ``output_format`` no run could use (raised at construction)."""
    if value is None:
        return
    if not isinstance(value, Mapping) or value.get("type") != "json_schema":
        raise UserError(
            "AgentOptions.output_format must be {'type': 'json_schema', 'schema': {...}}, "
            f"not {value!r}"
        )
    schema = value.get("schema")
    if not isinstance(schema, Mapping):
        raise UserError(
            f"AgentOptions.output_format['schema'] must be a JSON schema (a dict), not {schema!r}"
        )
    if schema.get("type", "object") != "object":
        raise UserError(
            "AgentOptions.output_format['schema'] must describe an object ('type': 'object'): "
            "the model returns it as the input of the StructuredOutput tool"
        )
    try:
        _validator(schema)
    except Exception as exc:
        raise UserError(
            f"AgentOptions.output_format['schema'] is not a valid schema: {exc}"
        ) from exc


def max_attempts(env_value: str | None) -> int:
    """``MAX_STRUCTURED_OUTPUT_RETRIES`` (the CLI's variable), default 5."""
    if env_value:
        try:
            return max(1, int(env_value))
        except ValueError:
            pass
    return _DEFAULT_ATTEMPTS


def result_text(value: Any) -> str:
    """The ``result`` of a turn that produced ``value`` (``JSON.stringify`` of it)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _validator(schema: Mapping[str, Any]) -> Any:
    from jsonschema import validators

    cls = validators.validator_for(schema, default=validators.Draft7Validator)
    cls.check_schema(schema)
    return cls(schema)


class StructuredOutputTool:
    """The ``StructuredOutput`` tool of a run with ``output_format``."""

    name = STRUCTURED_OUTPUT
    description = _DESCRIPTION
    read_only = True
    raw_input = True
    """Validated here, against the whole schema (not by ``run_tool``'s top-level check)."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._schema = dict(schema)
        self._validator = _validator(schema)

    @property
    def input_schema(self) -> dict[str, Any]:
        return dict(self._schema)

    async def run(self, input: dict[str, Any], ctx: ToolContext) -> ToolResult:
        problems = list(_problems(self._validator, input))
        if problems:
            text = "Output does not match required schema: " + ", ".join(problems)
            return ToolResult(content=text, is_error=True, structured=f"Error: {text}")
        return ToolResult(content=SUCCESS_TEXT, structured=SUCCESS_TEXT)


# -- Ajv's wording ---------------------------------------------------------------------------


def _pointer(path: Any) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "".join(f"/{p}" for p in parts) or "root"


def _json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text[:_JSON_MAX] + "\u2026" if len(text) > _JSON_MAX else text


def _num(value: Any) -> str:
    return js_number(value) if isinstance(value, (int, float)) else str(value)


_AJV_ORDER = {
    keyword: rank
    for rank, keyword in enumerate(
        [
            "$ref",
            "type",
            "const",
            "enum",
            "not",
            "anyOf",
            "oneOf",
            "allOf",
            "if",
            "then",
            "else",
            "maximum",
            "minimum",
            "exclusiveMaximum",
            "exclusiveMinimum",
            "multipleOf",
            "maxLength",
            "minLength",
            "pattern",
            "format",
            "maxItems",
            "minItems",
            "uniqueItems",
            "additionalItems",
            "items",
            "prefixItems",
            "contains",
            "maxProperties",
            "minProperties",
            "required",
            "dependencies",
            "dependentRequired",
            "propertyNames",
            "additionalProperties",
            "properties",
            "patternProperties",
        ]
    )
}
"""The order Ajv evaluates keywords in, so errors are listed as the CLI lists them."""


def _ajv_rank(error: Any) -> tuple[int, ...]:
    path = list(error.absolute_schema_path)
    ranks: list[int] = []
    skip = False
    for part in path:
        if skip or not isinstance(part, str):
            skip = False
            continue
        ranks.append(_AJV_ORDER.get(part, len(_AJV_ORDER)))
        skip = part in ("properties", "patternProperties", "dependencies", "definitions")
    return tuple(ranks)


def _problems(validator: Any, instance: Any) -> Iterator[str]:
    for error in sorted(validator.iter_errors(instance), key=_ajv_rank):
        where = _pointer(error.absolute_path)
        for message in _messages(error):
            yield f"{where}: {message}"


def _messages(error: Any) -> list[str]:
    """Ajv's message(s) for one jsonschema error (the CLI validates with Ajv)."""
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "type":
        types = value if isinstance(value, list) else [value]
        return [f"must be {','.join(str(t) for t in types)}"]
    if kind == "required":
        missing = [k for k in value if isinstance(instance, dict) and k not in instance]
        return [f"must have required property '{k}'" for k in missing] or [error.message]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties") or {})
        patterns = list(error.schema.get("patternProperties") or {})
        extra = [
            k for k in instance if k not in known and not any(re.search(p, k) for p in patterns)
        ]
        return [
            f"must NOT have additional properties ('{_cut(k)}' is not allowed)" for k in extra
        ] or ["must NOT have additional properties"]
    if kind == "enum":
        return [f"must be equal to one of the allowed values: {_json(value)}"]
    if kind == "const":
        return [f"must be equal to constant: {_json(value)}"]
    simple = {
        "minimum": f"must be >= {_num(value)}",
        "maximum": f"must be <= {_num(value)}",
        "exclusiveMinimum": f"must be > {_num(value)}",
        "exclusiveMaximum": f"must be < {_num(value)}",
        "multipleOf": f"must be multiple of {_num(value)}",
        "pattern": f'must match pattern "{value}"',
        "anyOf": "must match a schema in anyOf",
        "oneOf": "must match exactly one schema in oneOf",
        "not": "must NOT be valid",
        "uniqueItems": "must NOT have duplicate items",
    }
    if kind in simple:
        return [simple[kind]]
    counted = {
        "minLength": ("fewer", "characters", str),
        "maxLength": ("more", "characters", str),
        "minItems": ("fewer", "items", list),
        "maxItems": ("more", "items", list),
        "minProperties": ("fewer", "properties", dict),
        "maxProperties": ("more", "properties", dict),
    }
    if kind in counted:
        word, unit, sized = counted[kind]
        tail = f" (got {len(instance)})" if isinstance(instance, sized) else ""
        return [f"must NOT have {word} than {_num(value)} {unit}{tail}"]
    return [str(error.message)]


def _cut(key: str) -> str:
    return key[:_QUOTE_MAX] + "\u2026" if len(key) > _QUOTE_MAX else key
