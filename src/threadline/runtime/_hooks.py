"""Hook callbacks (``AgentOptions.hooks``), with the official SDK's shapes.

``hooks`` maps an event name to a list of :class:`HookMatcher`. For tool events the
matcher is a regular expression matched in full against the tool name (``"Write|Edit"``);
``None``, ``""`` and ``"*"`` match everything. Callbacks of one event run concurrently, as the
official SDK documents; their outputs are folded into one :class:`HookOutcome`:

- any ``permissionDecision: "deny"`` (or ``decision: "block"``) wins over ``"ask"``, which
  wins over ``"allow"``; ``"defer"`` (PreToolUse) stops the turn before the call runs
  unless a callback denies it;
- ``continue_: False`` stops the run after the current step (``stopReason`` is reported);
- ``additionalContext`` strings are collected in order, and so are ``systemMessage``s;
- the last ``updatedInput``, ``updatedToolOutput`` / ``updatedMCPToolOutput`` (PostToolUse)
  and PermissionRequest ``decision`` win;
- an output with ``async_: True`` (``async`` on the wire) is not waited for: it decides
  nothing, as the CLI goes on without it; ``suppressOutput`` only concerns the CLI's
  transcript view and changes nothing here.

The callback's second argument is the tool call's id for tool events and a fresh id for
the others (the CLI passes a string for every event).

A callback that raises or times out counts as "no decision" unless its matcher says
``on_failure="block"``.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

import anyio

from .._ids import new_uuid

if TYPE_CHECKING:  # ~40 TypedDicts: the public names load them (threadline.types), a run does not
    from ._hook_types import HookCallback, HookInput

__all__ = [
    "HOOK_EVENT_SINK",
    "HookMatcher",
    "HookOutcome",
    "run_hooks",
]

HOOK_EVENT_SINK: contextvars.ContextVar[Callable[[dict[str, Any]], None] | None] = (
    contextvars.ContextVar("threadline_hook_event_sink", default=None)
)
"""Where command hooks report ``hook_started`` / ``hook_response`` (the CLI's hook events,
streamed with ``include_hook_events=True``); set by the run for its turns."""

logger = logging.getLogger("threadline.hooks")



@dataclass
class HookMatcher:
    """Which callbacks run for which tool (or for every occurrence of the event)."""

    matcher: str | None = None
    hooks: list[HookCallback] = field(default_factory=list)
    timeout: float | None = None
    on_failure: Literal["continue", "block"] | None = None


@dataclass
class HookOutcome:
    """The folded result of every callback of one event."""

    decision: Literal["allow", "deny", "ask"] | None = None
    reason: str | None = None
    updated_input: dict[str, Any] | None = None
    additional_context: list[str] = field(default_factory=list)
    stop: bool = False
    stop_reason: str | None = None
    system_messages: list[str] = field(default_factory=list)
    defer: bool = False
    """A PreToolUse callback answered ``permissionDecision: "defer"``."""
    updated_output: Any = None
    """``updatedToolOutput`` / ``updatedMCPToolOutput`` of a PostToolUse callback."""
    has_updated_output: bool = False
    permission: dict[str, Any] | None = None
    """A PermissionRequest callback's ``decision`` (``behavior`` allow / deny, ...)."""

    @property
    def blocked(self) -> bool:
        return self.decision == "deny"


_RANK = {"allow": 1, "ask": 2, "deny": 3}


def _matches(matcher: str | None, value: str | None) -> bool:
    if matcher in (None, "", "*") or value is None:
        return True
    try:
        return re.fullmatch(matcher, value) is not None
    except re.error:
        return matcher == value


def _fold_specific(outcome: HookOutcome, specific: Mapping[str, Any]) -> str | None:
    """The event-specific part of one output; the permission decision it makes, if any."""
    decision: str | None = None
    pd = specific.get("permissionDecision")
    if pd in _RANK:
        decision = str(pd)
    elif pd == "defer":
        outcome.defer = True
    for key in ("updatedMCPToolOutput", "updatedToolOutput"):
        if key in specific:
            outcome.updated_output = specific[key]
            outcome.has_updated_output = True
    if isinstance(specific.get("decision"), Mapping):
        outcome.permission = dict(specific["decision"])
    if isinstance(specific.get("updatedInput"), Mapping):
        outcome.updated_input = dict(specific["updatedInput"])
    ctx = specific.get("additionalContext")
    if isinstance(ctx, str) and ctx:
        outcome.additional_context.append(ctx)
    if specific.get("decision") == "block":
        decision = "deny"
    return decision


def _fold(outcome: HookOutcome, output: Mapping[str, Any]) -> None:
    if output.get("async_") is True or output.get("async") is True:
        return  # not waited for: the CLI goes on without this callback's answer
    decision: str | None = None
    reason = output.get("reason")
    specific = output.get("hookSpecificOutput")
    if isinstance(specific, Mapping):
        decision = _fold_specific(outcome, specific)
        if specific.get("permissionDecision") in _RANK:
            reason = specific.get("permissionDecisionReason") or reason
    if output.get("decision") == "block":
        decision = "deny"
    elif output.get("decision") == "approve" and decision is None:
        decision = "allow"
    if decision is not None and _RANK[decision] > _RANK.get(outcome.decision or "", 0):
        outcome.decision = decision  # type: ignore[assignment]
        outcome.reason = str(reason) if reason else outcome.reason
    if output.get("continue_") is False or output.get("continue") is False:
        outcome.stop = True
        outcome.stop_reason = str(output.get("stopReason") or "") or outcome.stop_reason
    if isinstance(output.get("systemMessage"), str):
        outcome.system_messages.append(output["systemMessage"])


async def run_hooks(
    hooks: Mapping[str, Sequence[HookMatcher]] | None,
    event: str,
    hook_input: dict[str, Any],
    *,
    match_value: str | None = None,
    tool_use_id: str | None = None,
) -> HookOutcome:
    """Run every callback registered for ``event`` whose matcher accepts ``match_value``."""
    outcome = HookOutcome()
    if not hooks:
        return outcome
    if tool_use_id is None:
        tool_use_id = new_uuid()
    selected = [
        (m, cb) for m in hooks.get(event, ()) if _matches(m.matcher, match_value) for cb in m.hooks
    ]
    if not selected:
        return outcome
    outputs: list[Mapping[str, Any] | None] = [None] * len(selected)

    async def call(i: int, matcher: HookMatcher, callback: HookCallback) -> None:
        try:
            with anyio.fail_after(matcher.timeout or 60):
                result: Any = await callback(
                    cast("HookInput", dict(hook_input)), tool_use_id, {"signal": None}
                )
        except Exception as exc:
            logger.warning("%s hook %r failed: %r", event, callback, exc)
            if getattr(matcher, "on_failure", None) == "block":
                outputs[i] = {"decision": "block", "reason": f"{event} hook failed: {exc}"}
            return
        if result is None and getattr(matcher, "on_failure", None) == "block":
            outputs[i] = {"decision": "block", "reason": f"{event} hook returned nothing"}
        elif isinstance(result, Mapping):
            outputs[i] = result

    if len(selected) == 1:
        await call(0, *selected[0])
    else:
        async with anyio.create_task_group() as tg:
            for i, (matcher, callback) in enumerate(selected):
                tg.start_soon(call, i, matcher, callback)
    for output in outputs:
        if output is not None:
            _fold(outcome, output)
    return outcome
