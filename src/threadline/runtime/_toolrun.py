"""Running the tool calls of one model reply: hooks → permissions → tool → hooks.

All calls of a reply run concurrently (an anyio task group); results come back in call
order. A call that is denied, blocked by a hook, unknown, or that raises becomes an
``is_error`` tool result the model can read; only cancellation propagates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from .._exceptions import UserError
from ..tools import Tool, ToolContext, ToolResult, ToolState, run_tool
from ._hooks import HookMatcher, HookOutcome, run_hooks
from ._permissions import (
    CanUseTool,
    PermissionPolicy,
    PermissionResultAllow,
    PermissionResultDeny,
    PermissionRules,
    ToolPermissionContext,
    Verdict,
    no_one_to_ask,
    plan_denial,
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
    notice: Raw | None = None
    """The ``permission_denied`` system message data, when the permission system refused."""
    stop: bool = False
    stop_reason: str | None = None
    hook_stop: bool = False
    """The stop is a hook's ``continue: false`` (the CLI's ``hook_stopped``)."""
    deferred: Raw | None = None
    """``{"id", "name", "input"}`` of a call a PreToolUse hook deferred (not run)."""
    system_messages: list[str] = field(default_factory=list)
    """Hooks' ``systemMessage``s, as the CLI shows them ("PreToolUse:Bash says: ...")."""


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
    add_dirs: Sequence[str | Path] = ()
    """Directories besides ``cwd`` the tools may use unasked (``AgentOptions.add_dirs``)."""
    permission_prompt_tool: str | None = None
    """An MCP tool that answers permission prompts (``permission_prompt_tool_name``)."""
    policy: PermissionPolicy = field(init=False)

    def __post_init__(self) -> None:
        self.policy = PermissionPolicy(
            rules=self.rules, mode=self.mode, cwd=self.cwd, add_dirs=self.add_dirs
        )
        prompt = self.permission_prompt_tool
        if prompt is not None and prompt != "stdio":
            if not prompt.startswith("mcp__"):
                raise UserError(
                    f"permission_prompt_tool_name must name an MCP tool (mcp__<server>__<tool>), "
                    f"not {prompt!r}"
                )
            if prompt not in self.tools:
                available = ", ".join(n for n in self.tools if n.startswith("mcp__")) or "none"
                raise UserError(
                    f"permission_prompt_tool_name {prompt!r} not found. Available MCP tools: "
                    f"{available}"
                )

    def add_directories(self, dirs: Sequence[str | Path]) -> None:
        """Allow more working directories (settings' ``additionalDirectories``)."""
        self.policy.add_directories(dirs)

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
        """One call through the pipeline: PreToolUse hooks, the permission decision, the
        tool, PostToolUse hooks (each step may end the call with its own outcome)."""
        name = str(call.get("name", ""))
        tool_use_id = str(call.get("id", ""))
        tool_input: Raw = dict(call.get("input") or {})
        tool = self.tools.get(name)
        if tool is None:
            return self._no_such_tool(name, tool_use_id)
        pre = await self._hook("PreToolUse", name, tool_input, tool_use_id)
        if pre.updated_input is not None:
            tool_input = pre.updated_input
        said = _said("PreToolUse", name, pre.system_messages)
        if pre.decision == "deny":
            message = pre.reason or f"Hook PreToolUse:{name} denied this tool"
            outcome = _denied(call, tool_use_id, tool_input, message, pre.stop, pre.stop_reason)
            outcome.hook_stop = pre.stop
        elif pre.defer:
            outcome = CallOutcome(
                block={}, deferred={"id": tool_use_id, "name": name, "input": tool_input}
            )
        else:
            outcome = await self._allowed(call, tool, tool_input, pre)
            if pre.stop:  # the call still runs, then the turn stops (as in the CLI)
                outcome.stop = outcome.hook_stop = True
                outcome.stop_reason = outcome.stop_reason or pre.stop_reason
        outcome.system_messages = said + outcome.system_messages
        return outcome

    async def _allowed(self, call: Raw, tool: Tool, tool_input: Raw, pre: HookOutcome) -> CallOutcome:
        """The permission decision, then the call (with PreToolUse's context noted)."""
        name = str(call.get("name", ""))
        tool_use_id = str(call.get("id", ""))
        decision = await self._permission(
            tool, name, tool_input, tool_use_id, pre.decision, pre.reason
        )
        if isinstance(decision, CallOutcome):
            return decision
        if isinstance(decision, PermissionResultDeny):
            return _denied(
                call, tool_use_id, tool_input, decision.message, decision.interrupt, None
            )
        if decision.updated_input is not None:
            tool_input = decision.updated_input
        notes = _notes("PreToolUse", name, pre.additional_context)
        return await self._execute(tool, name, tool_input, tool_use_id, notes)

    def _no_such_tool(self, name: str, tool_use_id: str) -> CallOutcome:
        why = (
            f". {name} is disabled for this session, in subagents as well as here."
            if self.rules.hides(name)
            else ""
        )
        return _error(
            tool_use_id,
            f"<tool_use_error>Error: No such tool available: {name}{why}</tool_use_error>",
        )

    async def _hook(
        self, event: str, name: str, tool_input: Raw, tool_use_id: str, **fields: Any
    ) -> HookOutcome:
        """Run ``event``'s hooks for a call of tool ``name``."""
        return await run_hooks(
            self.hooks,
            event,
            {
                **self.hook_base,
                "hook_event_name": event,
                "tool_name": name,
                "tool_input": tool_input,
                "tool_use_id": tool_use_id,
                **fields,
            },
            match_value=name,
            tool_use_id=tool_use_id,
        )

    async def _execute(
        self, tool: Tool, name: str, tool_input: Raw, tool_use_id: str, notes: list[str]
    ) -> CallOutcome:
        """Run the allowed call, then PostToolUse or, when it failed, PostToolUseFailure
        (their context is added to the result; ``updatedToolOutput`` replaces it)."""
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
        if result.is_error or name == "Bash":  # the CLI's Bash result says False; others omit it
            block["is_error"] = bool(result.is_error)
        event = "PostToolUseFailure" if result.is_error else "PostToolUse"
        fields: Raw = (
            {"error": _text_of(result.content), "is_interrupt": False}
            if result.is_error
            else {
                "tool_response": result.structured
                if result.structured is not None
                else result.content
            }
        )
        post = await self._hook(
            event,
            name,
            tool_input,
            tool_use_id,
            **fields,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        structured = result.structured
        if result.is_error:
            structured = f"Error: {_text_of(result.content)}"
        elif post.has_updated_output:
            structured = post.updated_output
            block["content"] = _output_content(post.updated_output)
        notes = notes + _notes(event, name, post.additional_context)
        if post.decision == "deny" and post.reason:
            notes.append(post.reason)
        if notes:
            block["content"] = _with_text(block["content"], "\n\n".join(notes))
        return CallOutcome(
            block=block,
            structured=structured,
            stop=post.stop,
            stop_reason=post.stop_reason,
            hook_stop=post.stop,
            system_messages=_said(event, name, post.system_messages),
        )

    async def _permission(
        self,
        tool: Tool,
        name: str,
        tool_input: Raw,
        tool_use_id: str,
        hook_decision: str | None,
        hook_reason: str | None,
    ) -> PermissionResultAllow | PermissionResultDeny | CallOutcome:
        """Rules and mode first (:class:`PermissionPolicy`), then whoever answers an "ask".

        A refusal by the permission system itself comes back as a finished
        :class:`CallOutcome` carrying the ``permission_denied`` notice.
        """
        self.policy.mode = self.mode
        read_only = bool(getattr(tool, "read_only", False))
        verdict = self.policy.decide(name, tool_input, read_only=read_only)
        if verdict.behavior == "deny":
            return self._refused(name, tool_use_id, tool_input, verdict)
        if hook_decision == "allow":
            return PermissionResultAllow()
        if hook_decision == "ask" and verdict.behavior == "allow":
            verdict = Verdict("ask", f"Hook PreToolUse:{name} asked for permission.", "hook")
        if (
            self.mode == "plan"
            and not read_only
            and not (name == "Bash" and verdict.behavior == "allow")
        ):
            plan = Verdict("deny", plan_denial(name, tool_input, self.cwd), "mode")
            return self._refused(name, tool_use_id, tool_input, plan)
        if verdict.behavior == "allow":
            return PermissionResultAllow()
        if self.mode == "dontAsk":
            return self._refused(
                name,
                tool_use_id,
                tool_input,
                no_one_to_ask(verdict, name, tool_input, self.mode, self.cwd),
            )
        sandbox = self.state.sandbox if self.state is not None else None
        sandboxed = name == "Bash" and sandbox is not None and sandbox.auto_allows(tool_input)
        if sandboxed and hook_decision != "ask":  # autoAllowBashIfSandboxed
            return PermissionResultAllow()
        requested = await self._permission_request(name, tool_input, tool_use_id)
        if requested is not None:
            return requested
        if self.permission_prompt_tool not in (None, "stdio"):
            return await self._prompt_tool(name, tool_input, tool_use_id)
        if self.can_use_tool is not None:
            return await self._ask_callback(name, tool_input, tool_use_id, hook_reason, verdict)
        return self._refused(
            name,
            tool_use_id,
            tool_input,
            no_one_to_ask(verdict, name, tool_input, self.mode, self.cwd),
        )

    async def _ask_callback(
        self, name: str, tool_input: Raw, tool_use_id: str, hook_reason: str | None, verdict: Verdict
    ) -> PermissionResultAllow | PermissionResultDeny:
        """``can_use_tool`` answers an "ask"; permission updates it returns apply at once."""
        assert self.can_use_tool is not None
        context = ToolPermissionContext(
            tool_use_id=tool_use_id,
            decision_reason=hook_reason or verdict.reason,
            blocked_path=verdict.blocked_path,
        )
        answer = await self.can_use_tool(name, dict(tool_input), context)
        if isinstance(answer, PermissionResultAllow):
            for update in answer.updated_permissions or []:
                self._apply_update(update)
            return answer
        if isinstance(answer, PermissionResultDeny):
            return PermissionResultDeny(
                message=answer.message or f"Permission to use {name} was denied.",
                interrupt=answer.interrupt,
            )
        return PermissionResultDeny(message=f"can_use_tool returned {answer!r}")

    async def _permission_request(
        self, name: str, tool_input: Raw, tool_use_id: str
    ) -> PermissionResultAllow | CallOutcome | None:
        """PermissionRequest hooks, fired where the CLI would ask: a callback's ``decision``
        (``{"behavior": "allow", "updatedInput"?}`` / ``{"behavior": "deny", "message"?,
        "interrupt"?}``) answers instead of ``can_use_tool``; no decision asks as before."""
        outcome = await run_hooks(
            self.hooks,
            "PermissionRequest",
            {
                **self.hook_base,
                "hook_event_name": "PermissionRequest",
                "tool_name": name,
                "tool_input": dict(tool_input),
                "permission_suggestions": [],
            },
            match_value=name,
            tool_use_id=tool_use_id,
        )
        decision = outcome.permission
        if not decision:
            return None
        if decision.get("behavior") == "allow":
            updated = decision.get("updatedInput")
            for update in decision.get("updatedPermissions") or []:
                self._apply_update(_Update(update) if isinstance(update, Mapping) else update)
            return PermissionResultAllow(
                updated_input=dict(updated) if isinstance(updated, Mapping) else None
            )
        if decision.get("behavior") == "deny":
            message = str(decision.get("message") or f"Permission to use {name} was denied.")
            refused = self._refused(
                name, tool_use_id, tool_input, Verdict("deny", message, "hook", message)
            )
            refused.stop = bool(decision.get("interrupt"))
            return refused
        return None

    def _apply_update(self, update: Any) -> None:
        """A ``PermissionUpdate`` from ``can_use_tool``, for the rest of the session.

        Rules (add / replace / remove, per behavior), directories (add / remove) and the mode.
        """
        kind = getattr(update, "type", None)
        behavior = getattr(update, "behavior", None)
        if kind in ("addRules", "replaceRules", "removeRules") and behavior in (
            "allow",
            "deny",
            "ask",
        ):
            texts = [_rule_text(r) for r in getattr(update, "rules", None) or []]
            self.rules.update(behavior, kind, texts)
        elif kind == "addDirectories":
            self.policy.add_directories(getattr(update, "directories", None) or [])
        elif kind == "removeDirectories":
            self.policy.dirs.remove(getattr(update, "directories", None) or [])
        elif kind == "setMode" and getattr(update, "mode", None):
            self.mode = str(update.mode)

    def _refused(
        self, name: str, tool_use_id: str, tool_input: Raw, verdict: Verdict
    ) -> CallOutcome:
        """A denial by the permission system: the error result plus its ``permission_denied`` notice."""
        outcome = _denied({"name": name}, tool_use_id, tool_input, verdict.message, False, None)
        notice: Raw = {
            "type": "system",
            "subtype": "permission_denied",
            "tool_name": name,
            "tool_use_id": tool_use_id,
        }
        if verdict.reason_type is not None:
            notice["decision_reason_type"] = verdict.reason_type
        if verdict.reason is not None:
            notice["decision_reason"] = verdict.reason
        notice["message"] = verdict.message
        outcome.notice = notice
        return outcome

    async def _prompt_tool(
        self, name: str, tool_input: Raw, tool_use_id: str
    ) -> PermissionResultAllow | PermissionResultDeny | CallOutcome:
        """Ask the MCP tool named by ``permission_prompt_tool_name``, as the CLI does.

        It receives ``{"tool_name", "input", "tool_use_id"}`` and answers with one text block
        holding ``{"behavior": "allow", "updatedInput": {...}}`` or
        ``{"behavior": "deny", "message": "..."}``.
        """
        assert self.permission_prompt_tool is not None
        tool = self.tools[self.permission_prompt_tool]
        ctx = ToolContext(
            cwd=Path(self.cwd), session_id=self.session_id, env=self.env, tool_use_id=tool_use_id
        )
        result = await run_tool(
            tool, {"tool_name": name, "input": dict(tool_input), "tool_use_id": tool_use_id}, ctx
        )
        answer = _prompt_answer(result)
        if answer is None:
            return _error(
                tool_use_id,
                f"<tool_use_error>Error calling tool ({name}): Permission prompt tool returned an "
                'invalid result. Expected a single text block param with type="text" and a string '
                "text value.</tool_use_error>",
            )
        if answer.get("behavior") == "allow":
            updated = answer.get("updatedInput")
            return PermissionResultAllow(
                updated_input=updated if isinstance(updated, dict) else None
            )
        message = answer.get("message")
        return PermissionResultDeny(
            message=message
            if isinstance(message, str) and message
            else f"Permission to use {name} was denied.",
            interrupt=bool(answer.get("interrupt", False)),
        )


def _prompt_answer(result: ToolResult) -> dict[str, Any] | None:
    """The JSON decision in a permission prompt tool's result, or None if malformed."""
    if result.is_error:
        return None
    content = result.content
    if isinstance(content, list):
        texts = [b.get("text") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        if len(content) != 1 or len(texts) != 1 or not isinstance(texts[0], str):
            return None
        content = texts[0]
    try:
        answer = json.loads(content)
    except ValueError:
        return None
    if not isinstance(answer, dict) or answer.get("behavior") not in ("allow", "deny"):
        return None
    return answer


def _rule_text(rule: Any) -> str:
    name = getattr(rule, "tool_name", None) or (
        rule.get("toolName") if isinstance(rule, Mapping) else None
    )
    content = getattr(rule, "rule_content", None) or (
        rule.get("ruleContent") if isinstance(rule, Mapping) else None
    )
    return f"{name}({content})" if content else str(name)


def _notes(event: str, name: str, texts: list[str]) -> list[str]:
    """Hook ``additionalContext`` as the CLI words it for the model."""
    return [f"{event}:{name} hook additional context: {t}" for t in texts]


def _said(event: str, name: str, texts: list[str]) -> list[str]:
    """Hook ``systemMessage``s as the CLI shows them."""
    return [f"{event}:{name} says: {t}" for t in texts]


def _text_of(content: str | list[Raw]) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content if b.get("type") == "text")


def _output_content(value: Any) -> str | list[Raw]:
    """What the model reads for a hook's ``updatedToolOutput``: a string as is, MCP content
    blocks as blocks, a Bash-shaped output as its stdout (and stderr), else its JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), list):
        value = value["content"]
    if isinstance(value, list) and all(isinstance(b, Mapping) and "type" in b for b in value):
        return [dict(b) for b in value]
    if isinstance(value, Mapping) and isinstance(value.get("stdout"), str):
        stderr = value.get("stderr")
        parts = (value["stdout"], stderr if isinstance(stderr, str) else "")
        return "\n".join(t for t in parts if t)
    return json.dumps(value, ensure_ascii=False, default=str)


class _Update:
    """A permission update given as a dict (wire keys), read as a ``PermissionUpdate``."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.type = raw.get("type")
        self.behavior = raw.get("behavior")
        self.rules = raw.get("rules")
        self.directories = raw.get("directories")
        self.mode = raw.get("mode")


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
        },
        structured=f"Error: {message}",
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
