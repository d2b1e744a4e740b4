"""Message streams side by side: the same program on the official SDK (bundled CLI against the
fake server) and on threadline, compared by message class, subtype, field names and value
kinds, and by the keys programs read (``usage``, ``model_usage``, the init data)."""

from __future__ import annotations

from typing import Any

import claude_agent_sdk as official
import pytest

import threadline

from .conftest import Duo

pytestmark = [pytest.mark.oracle, pytest.mark.anyio]

SDKS = (official, threadline)
RESULT_FIELDS = (
    "subtype",
    "duration_ms",
    "duration_api_ms",
    "is_error",
    "num_turns",
    "session_id",
    "total_cost_usd",
    "usage",
    "model_usage",
    "permission_denials",
    "terminal_reason",
)


def _options(duo: Duo, sdk: Any, **kw: Any) -> Any:
    kw.setdefault("setting_sources", [])
    return duo.official(**kw) if sdk is official else duo.ours(**kw)


def _shape(messages: list[Any]) -> list[tuple[str, Any]]:
    out = []
    for m in messages:
        if type(m).__name__ == "StreamEvent":
            out.append(("StreamEvent", m.event.get("type")))
        else:
            blocks = getattr(m, "content", None)
            kinds = (
                tuple(type(b).__name__ for b in blocks) if isinstance(blocks, list) else None
            )
            out.append((type(m).__name__, getattr(m, "subtype", None) or kinds))
    return out


def _kind(value: Any) -> str:
    return {int: "number", float: "number"}.get(type(value), type(value).__name__)


def _check_result(theirs: Any, mine: Any) -> None:
    for name in RESULT_FIELDS:
        assert _kind(getattr(theirs, name)) == _kind(getattr(mine, name)), name
    assert set(theirs.usage) >= set(mine.usage) >= {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "server_tool_use",
        "service_tier",
        "cache_creation",
    }
    required = set(official.ModelUsage.__required_keys__)
    for usage in (*theirs.model_usage.values(), *mine.model_usage.values()):
        assert required <= set(usage)
    assert list(theirs.model_usage) == list(mine.model_usage)


async def _both(duo: Duo, script: list[dict[str, Any]], prompt: str = "go", **kw: Any) -> Any:
    runs = {}
    for sdk in SDKS:
        duo.script(script)
        runs[sdk] = [m async for m in sdk.query(prompt=prompt, options=_options(duo, sdk, **kw))]
    theirs, mine = runs[official], runs[threadline]
    assert _shape(theirs) == _shape(mine)
    _check_result(theirs[-1], mine[-1])
    assert set(mine[0].data) <= set(theirs[0].data), set(mine[0].data) - set(theirs[0].data)
    return theirs, mine


async def test_plain_turn(duo: Duo) -> None:
    theirs, mine = await _both(duo, [{"text": "hello"}])
    assert [m.result for m in (theirs[-1], mine[-1])] == ["hello", "hello"]
    assert theirs[-1].num_turns == mine[-1].num_turns == 1


async def test_tool_turn(duo: Duo) -> None:
    script = [{"tool_use": {"name": "Bash", "input": {"command": "echo hi"}}}, {"text": "done"}]
    theirs, mine = await _both(duo, script, allowed_tools=["Bash"])
    for msgs in (theirs, mine):
        block = msgs[2].content[0]
        assert (block.content, block.is_error) == ("hi", False)
        assert set(msgs[2].tool_use_result) >= {"stdout", "stderr", "interrupted", "isImage"}
        assert msgs[-1].num_turns == 2


async def test_failed_tool_call(duo: Duo) -> None:
    script = [{"tool_use": {"name": "Bash", "input": {"command": "exit 3"}}}, {"text": "done"}]
    theirs, mine = await _both(duo, script, allowed_tools=["Bash"])
    for msgs in (theirs, mine):
        block = msgs[2].content[0]
        assert (block.content, block.is_error) == ("Exit code 3", True)
        assert msgs[2].tool_use_result == "Error: Exit code 3"


async def test_partial_messages(duo: Duo) -> None:
    script = [{"tool_use": {"name": "Bash", "input": {"command": "echo hi"}}}, {"text": "done"}]
    await _both(duo, script, allowed_tools=["Bash"], include_partial_messages=True)


async def test_partial_messages_of_a_multi_block_reply(duo: Duo) -> None:
    """Each block's AssistantMessage comes as soon as the block is complete, right before
    its ``content_block_stop``, with the ``message_start`` usage and no ``stop_reason``;
    the messages' uuids are the transcript entries'; a ``thinking_tokens`` estimate comes
    before each thinking delta. (The CLI also sends one for some signatures: those are
    left out of the comparison.)"""
    script = [
        {
            "thinking": "hmm",
            "text": "let me look",
            "tool_use": [
                {"name": "Bash", "input": {"command": "echo hi"}},
                {"name": "Bash", "input": {"command": "echo ho"}},
            ],
        },
        {"text": "done"},
    ]
    runs = {}
    for sdk in SDKS:
        duo.script(script)
        opts = _options(duo, sdk, allowed_tools=["Bash"], include_partial_messages=True)
        msgs = [m async for m in sdk.query(prompt="go", options=opts)]
        runs[sdk] = msgs
    theirs, mine = runs[official], runs[threadline]
    # the thinking's own estimates: ceil(chars / 4) per delta, running total
    for msgs in (theirs, mine):
        estimates = [
            (m.data["estimated_tokens"], m.data["estimated_tokens_delta"])
            for m in msgs
            if getattr(m, "subtype", None) == "thinking_tokens"
        ]
        assert estimates[:3] == [(1, 1), (2, 1), (3, 1)]
    theirs = [m for m in theirs if getattr(m, "data", {}).get("estimated_tokens", 0) <= 3]
    assert _shape(theirs) == _shape(mine)
    for msgs in (theirs, mine):
        replies = [m for m in msgs if type(m).__name__ == "AssistantMessage"]
        assert [m.stop_reason for m in replies] == [None] * 5
        assert replies[0].usage["output_tokens"] == replies[3].usage["output_tokens"]
    recorded = threadline.get_session_messages(mine[-1].session_id, directory=str(duo.project))
    uuids = [m.uuid for m in mine if type(m).__name__ == "AssistantMessage"]
    assert uuids == [m.uuid for m in recorded if m.type == "assistant"]


@pytest.mark.parametrize("answer", ["deny", "allow"])
async def test_can_use_tool(duo: Duo, answer: str) -> None:
    runs = {}
    for sdk in SDKS:
        asked: list[Any] = []

        async def decide(name: str, tool_input: dict[str, Any], context: Any) -> Any:
            asked.append((name, dict(tool_input)))  # noqa: B023
            if answer == "deny":
                return sdk.PermissionResultDeny(message="not today")  # noqa: B023
            return sdk.PermissionResultAllow(updated_input={"command": "echo CHANGED"})  # noqa: B023

        target = duo.project / f"made-{sdk.__name__}"
        script = [
            {"tool_use": {"name": "Bash", "input": {"command": f"touch {target}"}}},
            {"text": "done"},
        ]
        duo.script(script)
        options = _options(duo, sdk, can_use_tool=decide)
        runs[sdk] = [m async for m in sdk.query(prompt="go", options=options)]
        assert asked == [("Bash", {"command": f"touch {target}"})], sdk.__name__
        assert not target.exists()
    theirs, mine = runs[official], runs[threadline]
    assert _shape(theirs) == _shape(mine)
    _check_result(theirs[-1], mine[-1])
    for msgs in (theirs, mine):
        [user] = [m for m in msgs if isinstance(m, official.UserMessage | threadline.UserMessage)]
        block = user.content[0]
        if answer == "deny":
            assert (block.content, block.is_error) == ("not today", True)
            assert user.tool_use_result == "Error: not today"
            assert [d["tool_name"] for d in msgs[-1].permission_denials] == ["Bash"]
        else:
            assert (block.content, block.is_error) == ("CHANGED", False)
            assert msgs[-1].permission_denials == []


async def test_sdk_mcp_tool(duo: Duo) -> None:
    runs = {}
    for sdk in SDKS:

        @sdk.tool("add", "Add two numbers", {"a": int, "b": int})
        async def add(args: dict[str, Any]) -> dict[str, Any]:
            return {"content": [{"type": "text", "text": f"sum={args['a'] + args['b']}"}]}

        server = sdk.create_sdk_mcp_server("calc", tools=[add])
        duo.script(
            [{"tool_use": {"name": "mcp__calc__add", "input": {"a": 2, "b": 3}}}, {"text": "5"}]
        )
        options = _options(duo, sdk, mcp_servers={"calc": server}, allowed_tools=["mcp__calc"])
        runs[sdk] = [m async for m in sdk.query(prompt="add", options=options)]
    theirs, mine = runs[official], runs[threadline]
    assert _shape(theirs) == _shape(mine)
    _check_result(theirs[-1], mine[-1])
    for msgs in (theirs, mine):
        assert msgs[2].tool_use_result == [{"type": "text", "text": "sum=5"}]
        [calc] = msgs[0].data["mcp_servers"]
        assert (calc["name"], calc["status"]) == ("calc", "connected")


async def test_resume_fork_continue(duo: Duo) -> None:
    ids: dict[Any, list[str]] = {}
    for sdk in SDKS:
        duo.script([{"text": "first"}, {"text": "second"}, {"text": "forked"}, {"text": "cont"}])
        first = [m async for m in sdk.query(prompt="one", options=_options(duo, sdk))]
        sid = first[-1].session_id
        resumed = [
            m async for m in sdk.query(prompt="two", options=_options(duo, sdk, resume=sid))
        ]
        forked = [
            m
            async for m in sdk.query(
                prompt="three", options=_options(duo, sdk, resume=sid, fork_session=True)
            )
        ]
        cont = [
            m
            async for m in sdk.query(
                prompt="four", options=_options(duo, sdk, continue_conversation=True)
            )
        ]
        ids[sdk] = [sid, resumed[-1].session_id, forked[-1].session_id, cont[-1].session_id]
        assert [r[-1].result for r in (first, resumed, forked, cont)] == [
            "first",
            "second",
            "forked",
            "cont",
        ], sdk.__name__
        for run in (first, resumed, forked, cont):
            assert [type(m).__name__ for m in run] == [
                "SystemMessage",
                "AssistantMessage",
                "ResultMessage",
            ]
    for sid, resumed, forked, cont in ids.values():
        assert resumed == sid and forked != sid and cont == forked
