"""Compaction as a run step: summarise the history before the last reply and adopt it.

:meth:`~threadline.AgentClient.compact` (manual) and :func:`auto_compact` (before a model
call once the last request's input reached ``compact_threshold_tokens``) ask the model for
a summary through the run's own interruptible stream, write the boundary and summary
entries and continue from ``[summary, preserved...]``. The entries' format and how they
read back are in :mod:`threadline.transcript._compaction`; the byte-offset sidecar that
lets a resume read only the part after the boundary is in :mod:`threadline.sessions._offsets`.

Works on a :class:`~threadline.runtime._context.RunContext`, never on the loop itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio.to_thread

from .._exceptions import CompactionError as CompactionError, ProviderError, StorageError
from .._ids import new_uuid
from .._messages import Message, SystemMessage
from ..providers import ModelRequest, ModelResponse, cost_usd
from ..sessions._offsets import record_boundary
from ..transcript._api import as_blocks, chain_to_api_messages
from ..transcript._compaction import (
    Trigger,
    compaction_entries,
    compaction_request_messages,
    extract_summary,
    preserved_start,
    relink_preserved,
)
from ._context import RunContext
from ._hooks import HookOutcome

__all__ = [
    "CompactResult",
    "CompactionError",
    "auto_compact",
    "stored_input_tokens",
    "compact_boundary_message",
    "run_compaction",
]

logger = logging.getLogger("threadline.compact")

Raw = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class CompactResult:
    """What :meth:`~threadline.AgentClient.compact` did."""

    trigger: Trigger
    summary: str
    boundary_uuid: str
    summary_uuid: str
    pre_tokens: int
    post_tokens: int
    preserved_uuids: tuple[str, ...]


async def run_compaction(
    ctx: RunContext, *, trigger: Trigger, instructions: str | None = None
) -> CompactResult:
    """Summarise ``ctx``'s history before its last reply; write and adopt the result.

    Nothing is written (and the run's history is untouched) unless the summary came
    back complete: a model error, an interrupt or an empty summary raise
    :class:`CompactionError` and leave the session as it was.
    """
    start = preserved_start(await ctx.ensure_chain())
    if start is None:
        raise CompactionError("Not enough conversation to compact yet")
    hook = await ctx.hook("PreCompact", {"trigger": trigger, "custom_instructions": instructions})
    if hook.blocked:
        raise CompactionError(f"Compaction blocked by a PreCompact hook: {hook.reason or ''}")
    started = time.monotonic()
    response = await _summarise(ctx, _compaction_request(ctx, hook, instructions))
    model = str(response.message.get("model") or ctx.model)
    reply_usage = response.message.get("usage") or {}
    ctx.spend.add(model, reply_usage, cost_usd(model, reply_usage))  # the CLI counts it too
    summary = extract_summary(_reply_text(response))
    if not summary:
        raise CompactionError("Compaction failed: the model returned no summary")
    preserved = (await ctx.ensure_chain())[start:]
    usage = response.message.get("usage") or {}
    result = CompactResult(
        trigger=trigger,
        summary=summary,
        boundary_uuid="",
        summary_uuid="",
        pre_tokens=ctx.last_input_tokens or int(usage.get("input_tokens") or 0),
        post_tokens=int(usage.get("output_tokens") or 0),
        preserved_uuids=tuple(e["uuid"] for e in preserved),
    )
    return await _adopt(ctx, result, preserved, int((time.monotonic() - started) * 1000))


def _compaction_request(
    ctx: RunContext, hook: HookOutcome, instructions: str | None
) -> ModelRequest:
    """The run's next request, its history ending with the compaction instruction."""
    messages = compaction_request_messages(ctx.history)
    extra = [*hook.additional_context, *([instructions] if instructions else [])]
    if extra:
        note = {"type": "text", "text": "Additional Instructions:\n" + "\n".join(extra)}
        messages[-1] = {"role": "user", "content": [*as_blocks(messages[-1]["content"]), note]}
    return replace(ctx.new_request(), messages=messages)


async def _summarise(ctx: RunContext, request: ModelRequest) -> ModelResponse:
    """The model's reply to the compaction request (CompactionError if there is none)."""
    response: ModelResponse | None = None
    try:
        async for item in ctx.call_model(request):
            if isinstance(item, ModelResponse):
                response = item
    except ProviderError as exc:
        raise CompactionError(f"Compaction failed: {exc}") from exc
    if response is None:
        raise CompactionError("Compaction interrupted")
    return response


def _reply_text(response: ModelResponse) -> str:
    return "".join(
        str(b.get("text", ""))
        for b in response.message.get("content") or []
        if b.get("type") == "text"
    )


async def _adopt(
    ctx: RunContext, result: CompactResult, preserved: list[Raw], duration_ms: int
) -> CompactResult:
    """Write the boundary and summary, continue from them, record the resume offset."""
    path = ctx.transcript_path()
    boundary, summary_entry = compaction_entries(
        ctx.entries,
        leaf=ctx.leaf or preserved[-1]["uuid"],
        preserved=preserved,
        summary=result.summary,
        trigger=result.trigger,
        pre_tokens=result.pre_tokens,
        post_tokens=result.post_tokens,
        duration_ms=duration_ms,
        transcript_path=path,
    )
    await ctx.persist([boundary, summary_entry])
    # persist() chained both; the adopted chain is boundary, summary, preserved.
    chain = relink_preserved([boundary, summary_entry], {e["uuid"]: e for e in preserved})
    ctx.adopt_chain(chain, chain_to_api_messages(chain))
    ctx.last_input_tokens = 0
    if path is not None:
        await anyio.to_thread.run_sync(
            record_boundary, Path(path), boundary["uuid"], preserved[0]["uuid"]
        )
    return replace(result, boundary_uuid=boundary["uuid"], summary_uuid=summary_entry["uuid"])


def compact_boundary_message(session_id: str, result: CompactResult) -> SystemMessage:
    """The ``system``/``compact_boundary`` stream message the CLI emits after compacting."""
    return SystemMessage(
        subtype="compact_boundary",
        data={
            "type": "system",
            "subtype": "compact_boundary",
            "session_id": session_id,
            "uuid": new_uuid(),
            "compact_metadata": {"trigger": result.trigger, "pre_tokens": result.pre_tokens},
        },
    )


def stored_input_tokens(chain: list[Raw]) -> int:
    """Input tokens (cache reads and writes included) the last reply of ``chain`` reported."""
    for entry in reversed(chain):
        message = entry.get("message")
        if entry.get("type") != "assistant" or not isinstance(message, dict):
            continue
        usage = message.get("usage")
        if isinstance(usage, dict):
            return sum(
                int(usage.get(k) or 0)
                for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
                if isinstance(usage.get(k), (int, float))
            )
    return 0


async def auto_compact(ctx: RunContext) -> AsyncGenerator[Message, None]:
    """Compact before a model call when the last request's input reached the threshold.

    After a resume the last request is the one stored with the session's last reply: its
    usage is read from the chain before the first call (only when a threshold is set).

    A failure is logged and the turn goes on uncompacted; automatic compaction is not
    retried until the next prompt.
    """
    threshold = ctx.options.compact_threshold_tokens
    if threshold is None or ctx.auto_compact_failed:
        return
    if ctx.last_input_tokens is not None and ctx.last_input_tokens < threshold:
        return
    try:
        chain = await ctx.ensure_chain()
    except StorageError as exc:  # the transcript was replaced under a snapshot resume
        logger.warning("automatic compaction of %s skipped: %s", ctx.session_id, exc)
        ctx.auto_compact_failed = True
        return
    if ctx.last_input_tokens is None:  # resumed: what the last stored reply reported
        ctx.last_input_tokens = stored_input_tokens(chain)
        if ctx.last_input_tokens < threshold:
            return
    if preserved_start(chain) is None:
        return
    try:
        result = await run_compaction(ctx, trigger="auto")
    except CompactionError as exc:
        logger.warning("automatic compaction of %s failed: %s", ctx.session_id, exc)
        ctx.auto_compact_failed = True
        return
    yield compact_boundary_message(ctx.session_id, result)
