"""output_format: the StructuredOutput tool, its validation, retries and the result fields
(the CLI's behaviour, side by side, is in tests/parity/test_limits.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline import UserError
from threadline._messages import ResultMessage, SystemMessage, TextBlock, UserMessage
from threadline.runtime._options import AgentOptions
from threadline.testing._fake_anthropic import FakeAnthropicServer

from ._helpers import collect, options, transcript

pytestmark = pytest.mark.anyio

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
    "required": ["answer"],
    "additionalProperties": False,
}
FORMAT = {"type": "json_schema", "schema": SCHEMA}


def _so(payload: dict[str, Any]) -> dict[str, Any]:
    return {"tool_use": {"name": "StructuredOutput", "input": payload}}


def _errors(msgs: list[Any]) -> list[str]:
    return [
        str(b.content)
        for m in msgs
        if isinstance(m, UserMessage) and isinstance(m.content, list)
        for b in m.content
        if getattr(b, "is_error", None)
    ]


async def test_valid_output_ends_the_turn(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([_so({"answer": "42"}), {"text": "never asked"}])
    msgs = await collect("go", options(output_format=FORMAT))
    result = msgs[-1]
    assert isinstance(result, ResultMessage) and result.subtype == "success"
    assert result.structured_output == {"answer": "42"}
    assert result.result == '{"answer":"42"}'
    assert result.num_turns == 2 and result.terminal_reason == "completed"
    assert len(fake.message_requests()) == 1
    init = next(m for m in msgs if isinstance(m, SystemMessage) and m.subtype == "init")
    assert "StructuredOutput" in init.data["tools"]
    (tool,) = [t for t in fake.message_requests()[0]["tools"] if t["name"] == "StructuredOutput"]
    assert tool["input_schema"] == SCHEMA
    assert tool["description"].startswith("Use this tool to return your final response")
    entries = transcript(config_dir, result.session_id)
    assert entries[-1]["message"]["content"][0]["content"] == (
        "Structured output provided successfully"
    )


async def test_invalid_output_is_explained_in_the_cli_wording_and_retried(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script(
        [
            _so({"answer": 42}),
            _so({"n": 0, "extra": True}),
            _so({"answer": "ok", "n": 3}),
        ]
    )
    msgs = await collect("go", options(output_format=FORMAT))
    assert _errors(msgs) == [  # Ajv's order and wording (tests/parity checks it on the CLI)
        "Output does not match required schema: /answer: must be string",
        "Output does not match required schema: root: must have required property 'answer', "
        "root: must NOT have additional properties ('extra' is not allowed), /n: must be >= 1",
    ]
    result = msgs[-1]
    assert result.subtype == "success" and result.structured_output == {"answer": "ok", "n": 3}
    assert result.num_turns == 4


async def test_retries_are_bounded_as_the_cli(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([{**_so({"answer": 1}), "repeat": True}])
    msgs = await collect("go", options(output_format=FORMAT))
    result = msgs[-1]
    assert result.subtype == "error_max_structured_output_retries" and result.is_error
    assert result.terminal_reason == "structured_output_retry_exhausted"
    assert result.num_turns == 6 and result.result is None and result.structured_output is None
    assert result.errors == [
        "Failed to provide valid structured output after 5 attempts \u2014 last "
        "StructuredOutput error: Output does not match required schema: /answer: must be string"
    ]
    assert len(fake.message_requests()) == 5
    fake.script([{**_so({"answer": 1}), "repeat": True}])
    env = {"MAX_STRUCTURED_OUTPUT_RETRIES": "2"}
    msgs = await collect("go", options(output_format=FORMAT, env=env))
    assert msgs[-1].num_turns == 3 and "after 2 attempts" in msgs[-1].errors[0]


async def test_a_text_reply_is_sent_back_once(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    fake.script([{"text": "plain"}, {"text": "plain again"}])
    msgs = await collect("go", options(output_format=FORMAT))
    enforce = [m for m in msgs if isinstance(m, UserMessage)]
    assert len(enforce) == 1 and enforce[0].content == [
        TextBlock(
            text="[structured-output-enforce] You MUST call the StructuredOutput tool to "
            "complete this request. Call this tool now."
        )
    ]
    result = msgs[-1]
    assert result.subtype == "success" and result.structured_output is None
    assert result.result == "plain again" and result.num_turns == 2
    last = fake.message_requests()[-1]["messages"][-1]
    assert "[structured-output-enforce]" in json.dumps(last)


async def test_subagents_do_not_get_the_tool(
    fake: FakeAnthropicServer, project: Path, config_dir: Path
) -> None:
    from threadline import AgentDefinition

    fake.script(
        [
            {
                "tool_use": {
                    "name": "Agent",
                    "input": {"description": "d", "prompt": "work", "subagent_type": "w"},
                }
            },
            {"text": "child report"},
            _so({"answer": "done"}),
        ]
    )
    agents = {"w": AgentDefinition(description="worker", prompt="You work.")}
    msgs = await collect("go", options(output_format=FORMAT, agents=agents))
    assert msgs[-1].structured_output == {"answer": "done"}
    child_request = fake.message_requests()[1]
    assert "StructuredOutput" not in [t["name"] for t in child_request.get("tools") or []]
    assert not any(
        "[structured-output-enforce]" in json.dumps(r["messages"])
        for r in fake.message_requests()[1:2]
    )


@pytest.mark.parametrize(
    "value",
    [
        {"type": "json", "schema": SCHEMA},
        {"type": "json_schema"},
        {"type": "json_schema", "schema": {"type": "array"}},
        {"type": "json_schema", "schema": {"type": "object", "properties": 5}},
        "json",
    ],
)
def test_unusable_output_format_raises_at_construction(value: Any) -> None:
    with pytest.raises(UserError, match="output_format"):
        AgentOptions(output_format=value)
