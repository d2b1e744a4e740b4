"""``permission_prompt_tool_name``: permission prompts answered by an MCP tool, as the CLI does.

The CLI (``--permission-prompt-tool``) calls the tool with ``{"tool_name", "input",
"tool_use_id"}`` and reads one text block holding ``{"behavior": "allow", "updatedInput":
{...}}`` or ``{"behavior": "deny", "message": "..."}`` (observed on the bundled CLI 2.1.330).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline import PermissionResultAllow, UserError
from threadline._messages import UserMessage
from threadline._query import query
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.tools import create_sdk_mcp_server, tool

from ._helpers import options

pytestmark = pytest.mark.anyio

ASKED: list[dict[str, Any]] = []


@tool(
    "approve", "Answers permission prompts", {"tool_name": str, "input": dict, "tool_use_id": str}
)
async def _approve(args: dict[str, Any]) -> dict[str, Any]:
    ASKED.append(args)
    command = str(args["input"].get("command", ""))
    if "forbidden" in command:
        answer: dict[str, Any] = {"behavior": "deny", "message": "the prompt tool said no"}
    elif "rewrite" in command:
        answer = {"behavior": "allow", "updatedInput": {"command": "touch rewritten"}}
    else:
        answer = {"behavior": "allow", "updatedInput": args["input"]}
    return {"content": [{"type": "text", "text": json.dumps(answer)}]}


@tool("broken", "Answers nonsense", {"tool_name": str, "input": dict, "tool_use_id": str})
async def _broken(args: dict[str, Any]) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": "yes please"}]}


SERVER = create_sdk_mcp_server("perm", "1.0.0", [_approve, _broken])


async def _run(fake: FakeAnthropicServer, commands: list[str], **kw: Any) -> list[Any]:
    fake.script(
        [
            {"tool_use": [{"name": "Bash", "input": {"command": c}} for c in commands]},
            {"text": "done"},
        ]
    )
    return [
        m async for m in query(prompt="go", options=options(mcp_servers={"perm": SERVER}, **kw))
    ]


def _results(msgs: list[Any]) -> list[Any]:
    return [
        b
        for m in msgs
        if isinstance(m, UserMessage) and isinstance(m.content, list)
        for b in m.content
    ]


async def test_prompts_go_to_the_mcp_tool(fake: FakeAnthropicServer, project: Path) -> None:
    ASKED.clear()
    msgs = await _run(
        fake,
        ["touch allowed", "touch forbidden", "touch please-rewrite", "echo read-only"],
        permission_prompt_tool_name="mcp__perm__approve",
    )
    assert (project / "allowed").exists()
    assert not (project / "forbidden").exists()
    assert (project / "rewritten").exists() and not (project / "please-rewrite").exists()
    assert [a["input"]["command"] for a in ASKED] == [
        "touch allowed",
        "touch forbidden",
        "touch please-rewrite",
    ]
    assert all(a["tool_name"] == "Bash" and a["tool_use_id"].startswith("toolu_") for a in ASKED)
    denied = _results(msgs)[1]
    assert denied.is_error and denied.content == "the prompt tool said no"


async def test_a_malformed_answer_is_an_error_not_an_allow(
    fake: FakeAnthropicServer, project: Path
) -> None:
    msgs = await _run(fake, ["touch x"], permission_prompt_tool_name="mcp__perm__broken")
    assert not (project / "x").exists()
    assert "invalid result" in str(_results(msgs)[0].content)


async def test_unknown_or_non_mcp_prompt_tool_is_refused(
    fake: FakeAnthropicServer, project: Path
) -> None:
    with pytest.raises(UserError, match="not found"):
        await _run(fake, ["touch x"], permission_prompt_tool_name="mcp__perm__missing")
    with pytest.raises(UserError, match="MCP tool"):
        await _run(fake, ["touch x"], permission_prompt_tool_name="Bash")


async def test_can_use_tool_and_prompt_tool_together_raise_value_error(
    fake: FakeAnthropicServer, project: Path
) -> None:
    async def allow(name: str, data: dict[str, Any], ctx: Any) -> PermissionResultAllow:
        return PermissionResultAllow()

    with pytest.raises(ValueError, match="cannot be used with permission_prompt_tool_name"):
        await _run(
            fake, ["touch x"], can_use_tool=allow, permission_prompt_tool_name="mcp__perm__approve"
        )


async def test_official_sdk_raises_the_same_value_error() -> None:
    from claude_agent_sdk import ClaudeAgentOptions, query as official_query

    async def allow(name: str, data: dict[str, Any], ctx: Any) -> Any:
        raise AssertionError("never called")

    opts = ClaudeAgentOptions(can_use_tool=allow, permission_prompt_tool_name="mcp__x__y")

    async def prompt() -> Any:
        yield {"type": "user", "message": {"role": "user", "content": "hi"}}

    with pytest.raises(ValueError, match="cannot be used with permission_prompt_tool_name"):
        async for _ in official_query(prompt=prompt(), options=opts):
            pass


async def test_updated_permissions_apply_for_the_rest_of_the_session(
    fake: FakeAnthropicServer, project: Path, tmp_path: Path
) -> None:
    from threadline.types import PermissionRuleValue, PermissionUpdate

    extra = tmp_path / "extra"
    extra.mkdir()
    asked: list[str] = []

    async def decide(name: str, data: dict[str, Any], ctx: Any) -> PermissionResultAllow:
        asked.append(str(data.get("command") or data.get("file_path")))
        return PermissionResultAllow(
            updated_permissions=[
                PermissionUpdate(
                    type="addRules",
                    behavior="allow",
                    rules=[PermissionRuleValue(tool_name="Bash", rule_content="touch:*")],
                ),
                PermissionUpdate(type="addDirectories", directories=[str(extra)]),
            ]
        )

    fake.script(
        [
            {"tool_use": {"name": "Bash", "input": {"command": "touch one"}}},
            {
                "tool_use": [
                    {"name": "Bash", "input": {"command": "touch two"}},
                    {"name": "Read", "input": {"file_path": str(extra)}},
                ]
            },
            {"text": "done"},
        ]
    )
    async for _ in query(prompt="go", options=options(can_use_tool=decide)):
        pass
    assert (project / "one").exists() and (project / "two").exists()
    assert asked == ["touch one"]
