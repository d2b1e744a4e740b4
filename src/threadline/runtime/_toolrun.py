"""Running the tool calls of one model reply: hooks → permissions → tool → hooks.

All calls of a reply run concurrently (an anyio task group); results come back in call
order. A call that is denied, blocked by a hook, unknown, or that raises becomes an
``is_error`` tool result the model can read; only cancellation propagates.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from ..tools import Tool, ToolContext, ToolResult, ToolState, run_tool
from ._hooks import HookMatcher, run_hooks
from ._permissions import (
    CanUseTool,
    PermissionResultAllow,
    PermissionResultDeny,
    PermissionRules,
    ToolPermissionContext,
    denial_message,
    mode_decision,
)

__all__ = ["CallOutcome", "ToolRunner"]

Raw = dict[str, Any]


@dataclass(kw_only=True)
class CallOutcome:
    """One answered tool call."""

    block: Raw
    """The ``tool_result`` content block."""
    structured: Any = None
    denial: Raw | None = None
    """``{"tool_name", "tool_use_id", "tool_input"}`` when permission was refused."""
    stop: bool = False
    stop_reason: str | None = None


@dataclass(kw_only=True)
class ToolRunner:
    """Everything a tool call needs; one per session."""

    tools: Mapping[str, Tool]
    rules: PermissionRules
    mode: str
    cwd: str
    session_id: str
    env: Mapping[str, str] = field(default_factory=dict)
    can_use_tool: CanUseTool | None = None
    hooks: Mapping[str, Sequence[HookMatcher]] | None = None
    hook_base: Raw = field(default_factory=dict)
    state: ToolState | None = None
    """The session's tool state (sandbox, background shells, ...), passed to every tool."""
    before_tool: Callable[[str, Raw], Awaitable[None]] | None = None
    """Called with (tool name, final input) right before an allowed call runs (checkpoints)."""

    async def run_all(self, calls: Sequence[Raw], results: list[CallOutcome | None]) -> None:
        """Answer every ``tool_use`` block concurrently; ``results[i]`` answers ``calls[i]``.

        Filled in as calls finish, so after a cancellation the finished ones are kept.
        """

        async def one(i: int) -> None:
            results[i] = await self.run_one(calls[i])

        if len(calls) == 1:
            await one(0)
            return
        async with anyio.create_task_group() as tg:
            for i in range(len(calls)):
                tg.start_soon(one, i)

    async def run_one(self, call: Raw) -> CallOutcome:
        name = str(call.get("name", ""))
        tool_use_id = str(call.get("id", ""))
        tool_input: Raw = dict(call.get("input") or {})
        tool = self.tools.get(name)
        if tool is None:
            return _error(
                tool_use_id,
                f"<tool_use_error>Error: No such tool available: {name}</tool_use_error>",
            )

        pre = await run_hooks(
            self.hooks,
            "PreToolUse",
            {
                **self.hook_base,
                "hook_event_name": "PreToolUse",
                "tool_name": name,
                "tool_input": tool_input,
                "tool_use_id": tool_use_id,
            },
            match_value=name,
            tool_use_id=tool_use_id,
        )
        if pre.updated_input is not None:
            tool_input = pre.updated_input
        if pre.decision == "deny":
            message = pre.reason or f"Hook PreToolUse:{name} denied this tool"
            return _denied(call, tool_use_id, tool_input, message, pre.stop, pre.stop_reason)

        decision = await self._permission(
            tool, name, tool_input, tool_use_id, pre.decision, pre.reason
        )
        if isinstance(decision, PermissionResultDeny):
            return _denied(
                call, tool_use_id, tool_input, decision.message, decision.interrupt, None
            )
        if decision.updated_input is not None:
            tool_input = decision.updated_input

        if self.before_tool is not None:
            await self.before_tool(name, tool_input)
        started = time.monotonic()
        ctx = ToolContext(
            cwd=Path(self.cwd),
            session_id=self.session_id,
            env=self.env,
            tool_use_id=tool_use_id,
            state=self.state,
        )
        result: ToolResult = await run_tool(tool, tool_input, ctx)
        block: Raw = {"type": "tool_result", "tool_use_id": tool_use_id, "content": result.content}
        if result.is_error:
            block["is_error"] = True

        post = await run_hooks(
            self.hooks,
            "PostToolUse",
            {
                **self.hook_base,
                "hook_event_name": "PostToolUse",
                "tool_name": name,
                "tool_input": tool_input,
                "tool_use_id": tool_use_id,
                "tool_response": result.structured
                if result.structured is not None
                else result.content,
                "duration_ms": int((time.monotonic() - started) * 1000),
            },
            match_value=name,
            tool_use_id=tool_use_id,
        )
        extra = list(post.additional_context)
        if post.decision == "deny" and post.reason:
            extra.append(post.reason)
        if extra:
            block["content"] = _with_text(block["content"], "\n\n".join(extra))
        return CallOutcome(
            block=block, structured=result.structured, stop=post.stop, stop_reason=post.stop_reason
        )

    async def _permission(
        self,
        tool: Tool,
        name: str,
        tool_input: Raw,
        tool_use_id: str,
        hook_decision: str | None,
        hook_reason: str | None,
    ) -> PermissionResultAllow | PermissionResultDeny:
        if self.rules.denies(name, tool_input):
            return PermissionResultDeny(message=f"Permission to use {name} has been denied.")
        if hook_decision == "allow" or self.rules.allows(name, tool_input):
            return PermissionResultAllow()
        verdict = mode_decision(self.mode, name, bool(getattr(tool, "read_only", False)))
        if verdict == "allow" and hook_decision != "ask":
            return PermissionResultAllow()
        if verdict == "deny":
            return PermissionResultDeny(message=denial_message(name, tool_input, self.mode))
        sandbox = self.state.sandbox if self.state is not None else None
        sandboxed = name == "Bash" and sandbox is not None and sandbox.auto_allows(tool_input)
        if sandboxed and hook_decision != "ask":  # autoAllowBashIfSandboxed
            return PermissionResultAllow()
        if self.can_use_tool is not None:
            context = ToolPermissionContext(tool_use_id=tool_use_id, decision_reason=hook_reason)
            answer = await self.can_use_tool(name, dict(tool_input), context)
            if isinstance(answer, PermissionResultAllow):
                for update in answer.updated_permissions or []:
                    if update.type == "addRules" and update.behavior == "allow":
                        self.rules.add_allowed([_rule_text(r) for r in update.rules or []])
                return answer
            if isinstance(answer, PermissionResultDeny):
                return PermissionResultDeny(
                    message=answer.message or f"Permission to use {name} was denied.",
                    interrupt=answer.interrupt,
                )
            return PermissionResultDeny(message=f"can_use_tool returned {answer!r}")
        return PermissionResultDeny(message=denial_message(name, tool_input, self.mode))


def _rule_text(rule: Any) -> str:
    name = getattr(rule, "tool_name", None) or (
        rule.get("toolName") if isinstance(rule, Mapping) else None
    )
    content = getattr(rule, "rule_content", None) or (
        rule.get("ruleContent") if isinstance(rule, Mapping) else None
    )
    return f"{name}({content})" if content else str(name)


def _with_text(content: str | list[Raw], text: str) -> str | list[Raw]:
    if isinstance(content, str):
        return f"{content}\n\n{text}" if content else text
    return [*content, {"type": "text", "text": text}]


def _error(tool_use_id: str, message: str) -> CallOutcome:
    return CallOutcome(
        block={
            "type": "tool_result",
            "tool_use_id": tool_use_id,
            "content": message,
            "is_error": True,
        }
    )


def _denied(
    call: Raw, tool_use_id: str, tool_input: Raw, message: str, stop: bool, stop_reason: str | None
) -> CallOutcome:
    outcome = _error(tool_use_id, message)
    outcome.denial = {
        "tool_name": call.get("name"),
        "tool_use_id": tool_use_id,
        "tool_input": tool_input,
    }
    outcome.stop = stop
    outcome.stop_reason = stop_reason
    return outcome
