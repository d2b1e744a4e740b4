"""The agent loop: a small state machine run once per prompt.

::

    begin ──► step: [compact] ──► call model ──► record reply ──► (tool calls?) ──► tools ──► step ...
      │                                │                │ no
      │ persist prompt                 │ persist        ▼
      ▼                                ▼ reply      Stop hooks ──► ResultMessage

Every step is appended to the session store as it happens: the prompt before the model is
called, each reply block, each tool result. History is kept as Anthropic API messages.
Each step is a short async generator (:meth:`Runtime._begin`, :meth:`Runtime._step`,
:meth:`Runtime._model_step`, :meth:`Runtime._record_reply`, :meth:`Runtime._finish`,
:meth:`Runtime._tool_step`) over one :class:`_Turn` state; ``run_turn`` only sequences them.

The loop builds nothing it runs with: the provider, the system prompt and the tools
(built-ins, MCP, the ``Agent`` tool) come assembled from :mod:`threadline.runtime._assemble`.
Compaction, checkpoints and subagents see the run through
:class:`~threadline.runtime._context.RunContext` / ``AgentParent``, which ``Runtime``
implements; the loop never imports subagents.

Interrupts: :meth:`Runtime.interrupt` cancels the cancel scope of the step in flight (a
stream read or the tool batch). No cancel scope ever spans a ``yield``, so the turn is an
ordinary async generator that the consumer drives in its own task. The only tasks that
outlive a step are background subagents; their reports (a
:class:`~threadline.runtime._context.ReportQueue`) enter the turn after a tool batch
(:meth:`Runtime._absorb_reports`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from .._exceptions import (
    ConcurrentModificationError,
    ProviderError,
    ProviderHTTPError,
    RateLimitError,
    UserError,
)
from .._ids import is_uuid, new_uuid
from .._messages import (
    AssistantMessage,
    AssistantMessageError,
    DeferredToolUse,
    Message,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    TextBlock,
    ToolResultBlock,
    UserMessage,
    block_from_api,
    system_message,
)
from ..providers import ModelRequest, ModelResponse, Provider
from ..providers._registry import resolve_model_alias
from ..sessions import ConditionalAppendStore
from ..sessions._protocol import LocalTranscripts, innermost_store, local_transcripts
from ..tools import Tool, ToolState
from ..transcript._api import merge_api_messages
from ..transcript._entries import TOOL_REJECTED, EntryFactory, threadline_version
from ..transcript._views import CHAIN_TYPES
from ._blockstream import BlockStream
from ._claude_dir import expand_command
from ._compaction import CompactResult, auto_compact, run_compaction
from ._context import AgentParent, BeforeTool, Prompt, ReportQueue
from ._hooks import HOOK_EVENT_SINK, HookOutcome, run_hooks
from ._memory import (
    NESTED_TOOLS,
    instruction_changes,
    nested_attachment,
    nested_memory,
    recorded_instructions,
    render_changes,
    render_instructions,
)
from ._mentions import mention_entries
from ._options import AgentOptions
from ._permissions import PermissionRules
from ._resume import SessionPlan, snapshot_after_run
from ._settings import LoadedSettings
from ._structured import ENFORCE_TEXT, STRUCTURED_OUTPUT, max_attempts, result_text
from ._toolrun import CallOutcome, ToolRunner
from ._turn import Spend, TurnStats, api_content, request_messages

if TYPE_CHECKING:
    from ._checkpoints import Checkpointer
    from ._memory_types import NestedFile

__all__ = ["NOTIFICATION_FIELDS", "TASK_BUDGET_BETA", "Prompt", "RunSetup", "Runtime"]

FALLBACK_AFTER = 3
"""Consecutive 529 answers after which ``fallback_model`` takes over (the CLI's count)."""
TASK_BUDGET_BETA = "task-budgets-2026-03-13"
"""The beta header ``task_budget`` needs (``output_config.task_budget``)."""

Raw = dict[str, Any]


NOTIFICATION_FIELDS: Mapping[str, Any] = {
    "origin": {"kind": "task-notification", "producer": "session-task"},
    "promptSource": "system",
    "turnOrigin": "task_notification",
}
"""How the CLI marks the user entry of a turn started by a background task's report."""


@dataclass(frozen=True, kw_only=True)
class RunSetup:
    """What a run starts with, resolved before it opens (see ``_assemble``)."""

    options: AgentOptions
    plan: SessionPlan
    provider: Provider
    model: str
    system: list[Raw]
    """The system prompt blocks."""
    mcp_names: list[str] = field(default_factory=list)
    git_branch: str = "HEAD"
    api_key_source: str = "none"
    """``apiKeySource`` of the init message."""
    tool_state: ToolState | None = None
    """The session's tool state (sandbox, background shells, tasks), shared by subagents."""
    mcp_status: list[Raw] | None = None
    """``{name, status[, error]}`` of each MCP server for the init message."""
    mcp_servers: Mapping[str, Any] = field(default_factory=dict)
    """The MCP server configs, by name (``reconnect_mcp_server`` / ``toggle_mcp_server``)."""
    settings: LoadedSettings | None = None
    """What the settings files added (ask rules, ``CLAUDE.md`` memory; see ``_settings``)."""


ToolsFor = Callable[[AgentParent], Mapping[str, Tool]]
"""The run's tools, given the run (the ``Agent`` tool needs its parent)."""


@dataclass
class _Turn:
    """The state of one ``run_turn``, shared by its steps."""

    stats: TurnStats
    stop_hook_active: bool = False
    done: bool = False
    response: ModelResponse | None = None
    calls: list[tuple[Raw, Raw]] = field(default_factory=list)
    """(``tool_use`` block, its entry) of the last reply."""
    structured_attempts: int = 0
    """``StructuredOutput`` calls so far (``output_format``)."""
    structured_error: str = ""
    """The last invalid ``StructuredOutput`` call's error."""
    structured_enforced: bool = False
    """Whether a reply without ``StructuredOutput`` was sent back once already."""
    blocks: BlockStream = field(default_factory=BlockStream)
    """The reply's blocks as they complete (``include_partial_messages``: each block's
    message goes out before its ``content_block_stop``, as the CLI yields it)."""
    held: list[StreamEvent] = field(default_factory=list)
    """The reply's closing stream events, yielded after its assistant messages (as the CLI
    orders them: the last block's message before its ``content_block_stop``)."""


DEFERRED_RESULT_MISSING = "[Tool result missing due to internal error]"
"""The CLI's result for a deferred call when the conversation goes on without it."""

_SENT_KEPT = 4096
"""How many recently appended chain uuids a run remembers (see ``_append_checked``)."""


class Runtime:
    """One open session: its store, tools, provider and history (implements ``AgentParent``)."""

    def __init__(self, setup: RunSetup, *, tools: ToolsFor) -> None:
        options, plan = setup.options, setup.plan
        self.options = options
        self.plan = plan
        self.provider = setup.provider
        self.model = setup.model
        self.base_model = setup.model
        """The model each turn starts with (``AgentClient.set_model`` changes it)."""
        self.mode = options.permission_mode or "default"
        self._init_conversation(plan)
        self.side_messages: list[Message] = []
        """Messages of subagents, yielded after the tool batch that ran them."""
        self.after_tools: list[Raw] = []
        """User content to add after the next tool batch (background subagent reports)."""
        self.background: ReportQueue | None = None
        """Reports of background subagents (set by whoever runs them: ``AgentClient``)."""
        self._setup = setup
        self.settings: LoadedSettings | None = setup.settings
        self._memory_sent = False
        self._memory_seen: set[str] = {
            f.path for f in (setup.settings.memory if setup.settings is not None else ())
        }
        self._factory = EntryFactory(
            session_id=plan.session_id, cwd=plan.cwd, git_branch=setup.git_branch
        )
        self._scope: anyio.CancelScope | None = None
        self._interrupted = False
        self._command_rules: list[Any] = []  # a slash command's allowed-tools, for its turn
        self.prompt_id: str | None = None
        """The uuid of the prompt being answered (hook inputs' ``prompt_id``)."""
        self.hook_events: list[Raw] = []
        """Command hooks' events not yet yielded (``include_hook_events``)."""
        self.deferred_calls: list[tuple[str, str]] = []
        """(call id, its entry's uuid) of calls a PreToolUse hook deferred, until answered."""
        self.tool_state: ToolState | None = setup.tool_state
        self.mcp_status: list[Raw] = (
            list(setup.mcp_status)
            if setup.mcp_status is not None
            else [{"name": n, "status": "connected"} for n in setup.mcp_names]
        )
        self.tools: Mapping[str, Tool] = dict(tools(self))
        self.disabled_tools: dict[str, list[Tool]] = {}
        """Tools of MCP servers switched off (``toggle_mcp_server``), by server."""
        self.last_usage: Raw | None = None
        """``usage`` of the last model reply (``get_context_usage()["apiUsage"]``)."""
        self._tool_defs: list[Raw] = []
        self.refresh_tool_defs()
        self.runner = self._tool_runner(setup)
        self.spend = Spend(limit=options.max_budget_usd)
        """What this session has cost (``max_budget_usd`` bounds it; a subagent's loop
        shares its parent's, see ``spawn_child``)."""
        self.is_child = False
        self.checkpoints: Checkpointer | None = None
        if options.enable_file_checkpointing:
            from ._checkpoints import Checkpointer  # only a run that keeps checkpoints

            self.checkpoints = Checkpointer(self)
            self.runner.before_tool = self.checkpoints.before_tool

    def _init_conversation(self, plan: SessionPlan) -> None:
        """The conversation the plan starts from: history, chain, what is still unwritten,
        and what this run knows of the store's head."""
        self.history: list[Raw] = list(plan.history)
        self.leaf: str | None = plan.leaf_uuid
        self._pending: list[Raw] = list(plan.pending)
        self._chain: list[Raw] | None = None if plan.chain_loader else list(plan.chain)
        self._chain_loader = plan.chain_loader
        self._chain_new: list[Raw] = list(plan.chain_new)
        """Entries chained since the resume, while the chain itself is not loaded yet."""
        self.last_input_tokens: int | None = None if plan.source == "resume" else 0
        self.auto_compact_failed = False
        self._head: str | None = None
        """The store's head when we last wrote or looked (second-writer detection)."""
        self._sent: list[str] = []
        """Chain uuids this run appended (the latest few): a conflict naming one is our own."""

    def _tool_runner(self, setup: RunSetup) -> ToolRunner:
        """The permission and hook pipeline every tool call of this session goes through."""
        options, plan = setup.options, setup.plan
        return ToolRunner(
            tools=self.tools,
            rules=PermissionRules(
                allowed=options.allowed_tools,
                disallowed=options.disallowed_tools,
                ask=setup.settings.ask if setup.settings is not None else (),
            ),
            mode=self.mode,
            cwd=plan.cwd,
            session_id=plan.session_id,
            env=dict(options.env),
            can_use_tool=options.can_use_tool,
            hooks=options.hooks,
            hook_base=self._hook_base(),
            state=setup.tool_state,
            add_dirs=list(options.add_dirs),
            permission_prompt_tool=options.permission_prompt_tool_name,
        )

    def refresh_tool_defs(self) -> None:
        """The tool definitions sent to the model, after ``tools`` changed."""
        self._tool_defs = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in self.tools.values()
        ]

    @property
    def tool_defs(self) -> list[Raw]:
        return self._tool_defs

    @property
    def system_blocks(self) -> list[Raw]:
        return self._setup.system

    @property
    def mcp_servers(self) -> Mapping[str, Any]:
        return self._setup.mcp_servers

    @property
    def api_key_source(self) -> str:
        return self._setup.api_key_source

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Before the first turn: carry a fork's checkpoints, learn the head, SessionStart."""
        plan = self.plan
        if self.checkpoints is not None:
            await self.checkpoints.start()
        if isinstance(plan.store, ConditionalAppendStore) and not plan.forked:
            self._head = await plan.store.get_head(plan.key)
        await self.hook("SessionStart", {"source": plan.source})

    async def close(self) -> None:
        await self.hook("SessionEnd", {"reason": "other"})
        if self._sent and not self.is_child:
            # a big session this run wrote without a resume snapshot gets one now, so its
            # first resume in another process is warm
            await anyio.to_thread.run_sync(snapshot_after_run, self.plan)

    @property
    def session_id(self) -> str:
        return self.plan.session_id

    @property
    def entries(self) -> EntryFactory:
        return self._factory

    @property
    def pending(self) -> list[Raw]:
        return self._pending

    @property
    def before_tool(self) -> BeforeTool | None:
        return self.runner.before_tool

    @property
    def chain(self) -> list[Raw]:
        """Raw chain entries since the last compaction (the preserved segment's source).

        A run resumed from a snapshot loads it on first use; async code calls
        :meth:`ensure_chain` first so the file is read off the event loop.
        """
        if self._chain is None:
            assert self._chain_loader is not None
            self._chain = self._chain_loader() + self._chain_new
        return self._chain

    async def ensure_chain(self) -> list[Raw]:
        if self._chain is None and self._chain_loader is not None:
            loaded = await anyio.to_thread.run_sync(self._chain_loader)
            if self._chain is None:
                self._chain = loaded + self._chain_new
        return self.chain

    def adopt_chain(self, chain: list[Raw], history: list[Raw]) -> None:
        self._chain = chain
        self.history = history
        self._memory_sent = False  # as the CLI: the next prompt carries CLAUDE.md again

    def interrupt(self) -> None:
        """Stop the turn in flight (no-op between turns) and the background subagents."""
        self._interrupted = True
        if self._scope is not None:
            self._scope.cancel()
        if self.background is not None:
            self.background.stop()

    # -- services for the steps (RunContext) -----------------------------------------------

    def transcript_path(self) -> str | None:
        files = local_transcripts(self.plan.store)
        return _path_of(files, self.plan)

    def _hook_base(self) -> Raw:
        store = innermost_store(self.plan.store)
        path = _path_of(store, self.plan) if isinstance(store, LocalTranscripts) else None
        base: Raw = {
            "session_id": self.plan.session_id,
            "transcript_path": path or "",
            "cwd": self.plan.cwd,
            "permission_mode": self.mode,
        }
        if self.prompt_id is not None:
            base["prompt_id"] = self.prompt_id
        return base

    def _effort(self) -> Raw:
        """The hook inputs' ``effort`` (tool events and Stop), when an effort is set."""
        effort = self.options.effort
        return {"effort": {"level": effort}} if effort else {}

    def _background_summary(self) -> list[Raw]:
        """Stop hooks' ``background_tasks``: the background subagents still running."""
        background = getattr(self.background, "running", None) or {}
        return [
            {
                "id": task_id,
                "type": "subagent",
                "status": "running",
                "description": run.description[:1000],
                "agent_type": run.agent_type,
            }
            for task_id, (run, _) in background.items()
        ]

    def resolve_model(self, name: str) -> str:
        """A model name as it is sent: the CLI's aliases (``sonnet``, ``haiku``, ...)
        resolved for Anthropic; other providers' names are their servers' own."""
        if self.provider.name != "anthropic":
            return name
        return resolve_model_alias(name, self.options.env_value)

    async def hook(self, event: str, extra: Raw, match: str | None = None) -> HookOutcome:
        return await run_hooks(
            self.options.hooks,
            event,
            {**self._hook_base(), "hook_event_name": event, **extra},
            match_value=match,
        )

    async def persist(self, entries: list[Raw]) -> None:
        """Append ``entries`` to the session (after any pending ones) and to the history:
        the history is always what the transcript converts to (``merge_api_messages``),
        so a resume, here or in the CLI, sends what this run sent."""
        chained = [e for e in entries if e.get("type") in CHAIN_TYPES]
        merge_api_messages(chained, self.history)
        if self._pending:
            entries, self._pending = [*self._pending, *entries], []
        store = self.plan.store
        if store is not None and entries:
            if isinstance(store, ConditionalAppendStore):
                await self._append_checked(store, entries)
            else:
                await store.append(self.plan.key, entries)  # type: ignore[arg-type]
        if self._chain is None:
            self._chain_new.extend(chained)
        else:
            self._chain.extend(chained)
        if chained:
            self.leaf = chained[-1]["uuid"]

    async def _append_checked(self, store: ConditionalAppendStore, entries: list[Raw]) -> None:
        """Append with the second-writer check, telling a lost acknowledgement from a writer.

        A commit can land and its acknowledgement be lost (a connection cut after COMMIT):
        the store then holds this client's own entries and reports them as "changed by
        another writer" on every later append. So after a failed append the head is read
        again and adopted when it is the last entry of this batch; and a conflict whose head
        is an entry this client sent earlier is its own write landing late: adopted, and the
        append retried once.
        """
        chain = [
            e["uuid"]
            for e in entries
            if e.get("type") in CHAIN_TYPES and isinstance(e.get("uuid"), str)
        ]
        self._sent.extend(chain)
        del self._sent[:-_SENT_KEPT]
        try:
            await self._append_conditional(store, entries)
        except ConcurrentModificationError as exc:
            if exc.actual is None or exc.actual not in self._sent:
                raise self._conflict(exc) from exc
            self._head = exc.actual  # our own earlier write, acknowledged late
            try:
                await self._append_conditional(store, entries)
            except ConcurrentModificationError as again:
                raise self._conflict(again) from again
        except Exception:
            if not chain or await self._head_now(store) != chain[-1]:
                raise
            # it landed: only the acknowledgement was lost
        if chain:
            self._head = chain[-1]

    async def _append_conditional(self, store: ConditionalAppendStore, entries: list[Raw]) -> None:
        await store.append_conditional(
            self.plan.key,
            entries,  # type: ignore[arg-type]
            expected_head=self._head,
        )

    async def _head_now(self, store: ConditionalAppendStore) -> str | None:
        """The store's head, or None if it cannot be read either."""
        try:
            return await store.get_head(self.plan.key)
        except Exception:
            return None

    def _conflict(self, exc: ConcurrentModificationError) -> ConcurrentModificationError:
        return ConcurrentModificationError(
            f"Session {self.session_id} was changed by another writer while this "
            "run had it open (another process or host resumed it). Nothing of this "
            "turn after the conflict was written. Resume the session again to "
            "continue from its latest state, or fork it to keep both lines.",
            expected=exc.expected,
            actual=exc.actual,
        )

    def new_request(self) -> ModelRequest:
        opts = self.options
        thinking = _thinking(opts)
        max_tokens = opts.max_tokens or 32_000
        if thinking and thinking.get("type") == "enabled":
            max_tokens = max(max_tokens, int(thinking.get("budget_tokens", 0)) + 4_096)
        extra: Raw = {"metadata": {"user_id": json.dumps({"session_id": self.session_id})}}
        betas = list(opts.betas)
        output_config: Raw = {}
        if opts.effort:
            output_config["effort"] = opts.effort
        if opts.task_budget is not None:
            output_config["task_budget"] = {"type": "tokens", "total": opts.task_budget["total"]}
            betas.append(TASK_BUDGET_BETA)
        if output_config:
            extra["output_config"] = output_config
        if thinking:
            betas.append("interleaved-thinking-2025-05-14")
        headers: dict[str, str] = {}
        client_app = opts.client_app
        if client_app is None:
            client_app = opts.env_value("CLAUDE_AGENT_SDK_CLIENT_APP")
        if client_app:
            headers["x-client-app"] = client_app
        return ModelRequest(
            model=self.model,
            messages=request_messages(self.history),
            system=self._setup.system,
            tools=self._tool_defs,
            max_tokens=max_tokens,
            thinking=thinking,
            extra_body=extra,
            betas=tuple(betas),
            session_id=self.session_id,
            headers=headers,
            overloaded_attempts=FALLBACK_AFTER
            if opts.fallback_model and self.resolve_model(opts.fallback_model) != self.model
            else None,
        )

    async def call_model(
        self, request: ModelRequest
    ) -> AsyncGenerator[StreamEvent | ModelResponse, None]:
        """The provider stream, each read interruptible; yields nothing once interrupted."""
        stream = self.provider.stream(request)
        partial = self.options.include_partial_messages
        try:
            while True:
                with anyio.CancelScope() as scope:
                    self._scope = scope
                    if self._interrupted:
                        scope.cancel()
                    try:
                        item = await stream.__anext__()
                    except StopAsyncIteration:
                        return
                    finally:
                        self._scope = None
                if scope.cancel_called:
                    return
                if isinstance(item, ModelResponse):
                    yield item
                    return
                if partial:
                    yield StreamEvent(uuid=new_uuid(), session_id=self.session_id, event=item)
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()

    # -- between turns ---------------------------------------------------------------------

    async def compact(
        self, *, trigger: Literal["auto", "manual"] = "manual", instructions: str | None = None
    ) -> CompactResult:
        """Summarise the history before the last reply (see :mod:`threadline.runtime._compaction`)."""
        if trigger == "manual":
            self._interrupted = False  # an interrupt of the previous turn must not cancel this
        return await run_compaction(self, trigger=trigger, instructions=instructions)

    async def rewind_files(self, user_message_uuid: str) -> list[str]:
        """Restore tracked files to their state at ``user_message_uuid``; the changed paths."""
        if self.checkpoints is None:
            raise UserError("rewind_files needs AgentOptions(enable_file_checkpointing=True)")
        if not is_uuid(user_message_uuid):
            raise UserError(
                "rewind_files() takes the uuid of a prompt of this session "
                f"(ResultMessage.user_message_uuid), not {user_message_uuid!r}"
            )
        return await self.checkpoints.rewind(user_message_uuid)

    def init_message(self) -> SystemMessage:
        return SystemMessage(
            subtype="init",
            data={
                "type": "system",
                "subtype": "init",
                "uuid": new_uuid(),
                "session_id": self.session_id,
                "cwd": self.plan.cwd,
                "model": self.model,
                "tools": list(self.tools),
                "mcp_servers": [
                    {k: s[k] for k in ("name", "status", "source") if k in s}
                    for s in self.mcp_status
                ],
                "permissionMode": self.mode,
                "apiKeySource": self._setup.api_key_source,
                "claude_code_version": threadline_version(),
                "slash_commands": self._slash_commands(),
                "output_style": "default",
                "agents": list(self.options.agents or {}),
                "skills": list(self.tool_state.skills) if self.tool_state is not None else [],
                "plugins": [p.init_entry() for p in self.settings.plugins]
                if self.settings is not None
                else [],
                # the CLI's other keys that mean something in-process
                "additional_directories": [str(d) for d in self.options.add_dirs],
                "original_cwd": self.plan.cwd,
                "analytics_disabled": True,
                "fast_mode_state": "off",
                "per_turn_effort_active": False,
            },
        )

    # -- the turn --------------------------------------------------------------------------

    async def run_turn(self, prompt: Prompt) -> AsyncGenerator[Message, None]:
        """Run one prompt to its ResultMessage, yielding every message on the way.

        With ``include_hook_events`` the command hooks' ``hook_started`` /
        ``hook_response`` events come before the first message that follows them."""
        self._interrupted = False
        self.model = self.base_model  # a fallback lasts for the turn it was needed in
        self._command_rules = []
        turn = _Turn(
            stats=TurnStats(
                started=time.monotonic(),
                session_id=self.session_id,
                spend=self.spend,
                top=not self.is_child,
            )
        )
        sink = self._hook_event if self.options.include_hook_events else None
        token = HOOK_EVENT_SINK.set(sink)
        try:
            yield self.init_message()
            async for message in self._begin(prompt, turn):
                for event in self._drain_hook_events():
                    yield event
                yield message
            while not turn.done:
                async for message in self._step(turn):
                    for event in self._drain_hook_events():
                        yield event
                    yield message
        finally:
            self.runner.rules.drop_allowed(self._command_rules)
            try:
                HOOK_EVENT_SINK.reset(token)
            except ValueError:  # resumed from another task's context: nothing to restore
                pass

    def _hook_event(self, data: Raw) -> None:
        self.hook_events.append(data)

    def _drain_hook_events(self) -> list[Message]:
        events, self.hook_events = self.hook_events, []
        return [system_message({**e, "session_id": self.session_id}) for e in events]

    async def _begin(self, prompt: Prompt, turn: _Turn) -> AsyncGenerator[Message, None]:
        """UserPromptSubmit hooks, then the prompt persisted and added to the history."""
        self.prompt_id = prompt_uuid = prompt.uuid or new_uuid()
        self.runner.hook_base.update(prompt_id=prompt_uuid, **self._effort())
        submit = None if prompt.fields else await self._submit_hook(prompt)
        if submit is not None and submit.blocked:
            turn.done = True
            yield turn.stats.result(
                subtype="error_during_execution",
                is_error=True,
                result=f"Operation stopped by hook: {submit.reason or 'blocked'}",
                terminal_reason="hook_blocked",
            )
            return
        content: str | list[Raw] = prompt.content
        if submit is not None and submit.additional_context:
            content = [
                *api_content(content),
                *({"type": "text", "text": c} for c in submit.additional_context),
            ]
        await self._close_deferred()
        entries = self._command_entries(prompt, content, submit, prompt_uuid)
        entry = entries[0]
        entry.update(prompt.fields or {})
        entries += await self._mentions(prompt, entries)
        instructions = await self._instructions(entries[-1]["uuid"])
        await self.persist([*entries, *instructions])
        if self.checkpoints is not None:
            await self.checkpoints.on_prompt(entry["uuid"])
        turn.stats.user_uuid = entry["uuid"]
        if "replay-user-messages" in self.options.extra_args:
            yield UserMessage(
                content=content
                if isinstance(content, str)
                else [block_from_api(b) for b in content],
                uuid=entry["uuid"],
                session_id=self.session_id,
            )
        async for message in self._absorb_reports():
            yield message

    async def _mentions(self, prompt: Prompt, entries: list[Raw]) -> list[Raw]:
        """The attachments of the prompt's ``@`` mentions (``_mentions``), unless
        ``verbatim_prompts`` or the prompt is a command or the runtime's own."""
        if self.options.verbatim_prompts or prompt.fields or len(entries) != 1:
            return []
        content = prompt.content
        text = (
            content
            if isinstance(content, str)
            else " ".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
        )
        if "@" not in text:
            return []
        return await anyio.to_thread.run_sync(
            lambda: mention_entries(
                text,
                cwd=self.plan.cwd,
                may_read=self._may_read,
                factory=self._factory,
                parent=entries[-1]["uuid"],
            )
        )

    def _may_read(self, path: str) -> bool:
        """Whether the Read tool could read ``path`` unasked (rules, mode, directories)."""
        verdict = self.runner.policy.decide("Read", {"file_path": path}, read_only=True)
        return verdict.behavior == "allow"

    def _slash_commands(self) -> list[str]:
        """The init message's ``slash_commands``: the commands, then the skills."""
        names = list(self.settings.commands) if self.settings is not None else []
        skills = list(self.tool_state.skills) if self.tool_state is not None else []
        return names + [s for s in skills if s not in names]

    def _command_entries(
        self, prompt: Prompt, content: str | list[Raw], submit: HookOutcome | None, uuid: str
    ) -> list[Raw]:
        """The prompt's entries: a typed slash command (``/name args``) of the settings'
        commands or skills becomes the CLI's two entries (``_claude_dir``; hook context
        follows the command's body), else one."""
        expanded = None
        if (
            isinstance(prompt.content, str)
            and not prompt.fields
            and not self.options.verbatim_prompts
            and self.settings is not None
        ):
            skills = self.tool_state.skills if self.tool_state is not None else {}
            expanded = expand_command(prompt.content, self.settings.commands, skills)
        if expanded is None:
            return [self._factory.prompt(content, self.leaf, uuid=uuid)]
        if expanded.command is not None:  # the front matter holds for this turn, as in the CLI
            if expanded.command.model:
                self.model = self.resolve_model(expanded.command.model)
            self._command_rules = self.runner.rules.add_allowed(expanded.command.allowed_tools)
        record = self._factory.prompt(expanded.record, self.leaf, uuid=uuid)
        context = submit.additional_context if submit is not None else []
        blocks = [{"type": "text", "text": t} for t in [expanded.body, *context]]
        body = self._factory.prompt(blocks, record["uuid"])
        body["isMeta"] = True
        return [record, body]

    async def _nested_memory(
        self, calls: list[tuple[Raw, Raw]], outcomes: list[CallOutcome | None], parent: str | None
    ) -> list[Raw]:
        """``nested_memory`` attachments for the subfolders' ``CLAUDE.md`` files that the
        batch's successful file tools reached (each file once a session), as the CLI adds."""
        settings = self.settings
        if settings is None or parent is None or not settings.sources:
            return []
        paths = [
            str(
                call.get("input", {}).get("file_path") or call.get("input", {}).get("notebook_path")
            )
            for (call, _), outcome in zip(calls, outcomes, strict=True)
            if call.get("name") in NESTED_TOOLS
            and outcome is not None
            and outcome.deferred is None
            and not outcome.block.get("is_error")
            and (
                call.get("input", {}).get("file_path") or call.get("input", {}).get("notebook_path")
            )
        ]
        if not paths:
            return []
        seen = self._memory_seen
        home = self.options.env_value("HOME")

        def find() -> list[NestedFile]:
            found: list[NestedFile] = []
            for path in paths:
                found += nested_memory(self.plan.cwd, path, settings.sources, seen, home=home)
            return found

        entries: list[Raw] = []
        for file in await anyio.to_thread.run_sync(find):
            attachment, text = nested_attachment(file, self.plan.cwd)
            entry = self._factory.new_entry("attachment", parent)
            entry["attachment"] = attachment
            entry["rendered"] = [{"content": text}]
            entry["renderedRole"] = "user"
            entries.append(entry)
            parent = entry["uuid"]
        return entries

    async def _instructions(self, parent: str) -> list[Raw]:
        """The ``CLAUDE.md`` attachment the session's first prompt carries (``_memory``):
        every file in a new session; in a resumed one, the files that changed since the
        transcript's copies."""
        if self._memory_sent or self.settings is None:
            return []
        self._memory_sent = True
        files = list(self.settings.memory)
        if not files:
            return []
        previous = None
        if self.history:
            previous = recorded_instructions(await self.ensure_chain())
        attachment: Raw
        if previous is None:
            text = render_instructions(files)
            attachment = {"type": "instructions", "files": [f.as_dict() for f in files]}
        else:
            changed, removed = instruction_changes(previous, files)
            if not changed and not removed:
                return []
            text = render_changes(changed, removed)
            attachment = {
                "type": "instructions",
                "files": [f.as_dict() for f in changed],
                "removed": removed,
                "changed": True,
                "reason": "session_start",
            }
        entry = self._factory.new_entry("attachment", parent)
        entry["attachment"] = attachment
        entry["rendered"] = [{"content": text}]
        entry["renderedRole"] = "user"
        return [entry]

    async def _submit_hook(self, prompt: Prompt) -> HookOutcome:
        content = prompt.content
        text = (
            content
            if isinstance(content, str)
            else " ".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
        )
        return await self.hook("UserPromptSubmit", {"prompt": text})

    async def _step(self, turn: _Turn) -> AsyncGenerator[Message, None]:
        """One model call and what follows it: the end of the turn, or a tool batch.

        ``num_turns`` counts as the CLI does: one, plus one for each tool batch whose results
        go back to the model, including the one that ``max_turns`` then refuses.
        """
        stats = turn.stats
        max_turns = self.options.max_turns
        if max_turns is not None and stats.num_turns >= max_turns:
            turn.done = True
            stats.num_turns += 1
            yield stats.result(
                subtype="error_max_turns",
                is_error=True,
                terminal_reason="max_turns",
                errors=[f"Reached maximum number of turns ({max_turns})"],
            )
            return
        stats.num_turns += 1
        if stats.spend.exhausted():  # a subagent spent the rest, or a budget of 0
            yield self._over_budget(turn)
            return
        async for message in auto_compact(self):
            yield message
        async for message in self._model_step(turn):
            yield message
        if turn.done:
            return
        async for message in self._record_reply(turn):
            yield message
        if stats.spend.exhausted():  # checked after every reply, as the CLI does
            yield self._over_budget(turn)
            return
        steps = self._tool_step(turn) if turn.calls else self._finish(turn)
        async for message in steps:
            yield message

    def _over_budget(self, turn: _Turn) -> Message:
        """The ``error_max_budget_usd`` result (the reply's tool calls are not run)."""
        turn.done = True
        text = turn.stats.spend.limit_text()
        return turn.stats.result(
            subtype="error_max_budget_usd",
            is_error=True,
            terminal_reason="budget_exhausted",
            result=None,
            errors=[text],
        )

    async def _model_step(self, turn: _Turn) -> AsyncGenerator[Message, None]:
        """Stream one reply into ``turn.response`` (the turn ends on an error or interrupt)."""
        turn.response = None
        while True:
            if self.options.include_partial_messages:
                yield self._status("requesting")
            turn.blocks.reset()
            try:
                async for item in self.call_model(self.new_request()):
                    if isinstance(item, ModelResponse):
                        turn.response = item
                    elif (block := turn.blocks.feed(item.event)) is not None:
                        yield self._early_message(turn.blocks, block)
                        yield item
                    else:
                        if grew := turn.blocks.thinking_tokens(item.event):
                            yield self._thinking_tokens(turn.blocks.thought, grew)
                        for event in _hold_closing(turn.held, item):
                            yield event
            except ProviderError as exc:
                for event in _released(turn.held):
                    yield event
                fallback = self._fallback(exc)
                if fallback is not None:
                    yield fallback
                    continue
                turn.done = True
                async for message in self._model_failed(exc, turn.stats):
                    yield message
                return
            break
        if turn.response is None:
            for event in _released(turn.held):
                yield event
            async for message in self._end_interrupted(turn, for_tool=False):
                yield message
            return
        turn.stats.add_response(self.model, turn.response)
        usage = turn.response.message.get("usage") or {}
        self.last_usage = dict(usage)
        self.last_input_tokens = sum(
            int(usage.get(k) or 0)
            for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        )

    def _early_message(self, blocks: BlockStream, block: Raw) -> AssistantMessage:
        """A block's message while its reply streams (``message_start``'s usage, no
        ``stop_reason`` yet, as the CLI's); its entry is recorded under the same uuid."""
        uuid = new_uuid()
        blocks.uuids.append(uuid)
        start = blocks.start
        return AssistantMessage(
            content=[block_from_api(block)],
            model=str(start.get("model", self.model)),
            usage=start.get("usage"),
            message_id=start.get("id"),
            stop_reason=None,
            session_id=self.session_id,
            uuid=uuid,
        )

    async def _record_reply(self, turn: _Turn) -> AsyncGenerator[Message, None]:
        """Persist the reply (one entry per block), yield the blocks not yielded while it
        streamed, collect its tool calls."""
        assert turn.response is not None
        reply: Raw = turn.response.message
        entries = self._factory.assistant(reply, self.leaf, turn.response.request_id)
        early = _adopt_early(turn.blocks, reply, entries)
        await self.persist(entries)
        turn.calls = []
        for i, (block, e) in enumerate(zip(reply.get("content") or [], entries, strict=True)):
            if block.get("type") == "tool_use":
                turn.calls.append((block, e))
            if i < early:
                continue
            yield AssistantMessage(
                content=[block_from_api(block)],
                model=str(reply.get("model", self.model)),
                usage=reply.get("usage"),
                message_id=reply.get("id"),
                stop_reason=reply.get("stop_reason"),
                session_id=self.session_id,
                uuid=e["uuid"],
            )
        for event in _released(turn.held):
            yield event

    async def _close_deferred(self) -> None:
        """Answer the calls a PreToolUse hook deferred in the last turn, as the CLI does when
        the next prompt comes (the model is told the result is missing; the call never runs)."""
        calls, self.deferred_calls = self.deferred_calls, []
        entries = [
            self._factory.tool_result(
                {
                    "type": "tool_result",
                    "tool_use_id": call_id,
                    "content": DEFERRED_RESULT_MISSING,
                    "is_error": True,
                },
                tool_use_entry=entry_uuid,
                structured=f"Error: {DEFERRED_RESULT_MISSING}",
            )
            for call_id, entry_uuid in calls
        ]
        if entries:
            await self.persist(entries)

    def _thinking_tokens(self, total: int, grew: int) -> SystemMessage:
        """The CLI's ``thinking_tokens`` estimate, before each thinking delta's event."""
        data: Raw = {"type": "system", "subtype": "thinking_tokens", "estimated_tokens": total}
        data.update(estimated_tokens_delta=grew, session_id=self.session_id, uuid=new_uuid())
        return SystemMessage(subtype="thinking_tokens", data=data)

    def _status(self, status: str) -> SystemMessage:
        """The CLI's ``status`` system message (sent before each model request when partial
        messages are on)."""
        return SystemMessage(
            subtype="status",
            data={
                "type": "system",
                "subtype": "status",
                "status": status,
                "session_id": self.session_id,
                "uuid": new_uuid(),
            },
        )

    async def _finish(self, turn: _Turn) -> AsyncGenerator[Message, None]:
        """No tool calls: Stop hooks may send the model back to work, else the turn ends."""
        stats = turn.stats
        if self.options.output_format is not None and not turn.structured_enforced:
            # as the CLI: a reply without StructuredOutput is sent back once
            turn.structured_enforced = True
            entry = self._factory.prompt(ENFORCE_TEXT, self.leaf)
            await self.persist([entry])
            yield UserMessage(
                content=[TextBlock(text=ENFORCE_TEXT)],
                uuid=entry["uuid"],
                session_id=self.session_id,
            )
            return
        stop = await self.hook(
            "Stop",
            {
                "stop_hook_active": turn.stop_hook_active,
                "last_assistant_message": stats.last_text,
                **self._effort(),
                "background_tasks": self._background_summary(),
                "session_crons": [],
            },
        )
        if stop.blocked and stop.reason and not turn.stop_hook_active:
            turn.stop_hook_active = True
            feedback = self._factory.prompt(f"Stop hook feedback:\n{stop.reason}", self.leaf)
            await self.persist([feedback])
            return
        turn.done = True
        yield stats.result(subtype="success", is_error=False, terminal_reason="completed")

    async def _tool_step(self, turn: _Turn) -> AsyncGenerator[Message, None]:
        """Run the reply's tool calls (interruptible), persist and yield their results."""
        calls, stats = turn.calls, turn.stats
        outcomes: list[CallOutcome | None] = [None] * len(calls)
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self._interrupted:
                scope.cancel()
            await self.runner.run_all([c for c, _ in calls], outcomes)
        self._scope = None
        side, self.side_messages = self.side_messages, []
        for message in side:
            yield message
        deferred = [o.deferred for o in outcomes if o is not None and o.deferred is not None]
        answered = [
            (c, o) for c, o in zip(calls, outcomes, strict=True) if o is None or o.deferred is None
        ]
        results = [self._result_entry(c, o, stats) for c, o in answered]
        nested = await self._nested_memory(
            calls, outcomes, results[-1]["uuid"] if results else None
        )
        await self.persist([*results, *nested])
        if self.after_tools:
            notes, self.after_tools = self.after_tools, []
            await self.persist([self._factory.prompt(notes, self.leaf)])
        for r, (_, outcome) in zip(results, answered, strict=True):
            for text in outcome.system_messages if outcome is not None else ():
                yield self._informational(text)
            if outcome is not None and outcome.notice is not None:
                notice = {**outcome.notice, "uuid": new_uuid(), "session_id": self.session_id}
                yield SystemMessage(subtype="permission_denied", data=notice)
            yield self._result_message(r)
        ended = None
        if self.options.output_format is not None and not scope.cancel_called:
            ended = self._structured_end(turn, outcomes)
        if ended is not None:
            turn.done = True
            yield ended
        elif scope.cancel_called:
            async for message in self._end_interrupted(turn, for_tool=True):
                yield message
        elif deferred:  # a PreToolUse hook deferred a call: the turn stops before it runs
            yield self._end_deferred(turn, outcomes)
        elif stats.stop and stats.hook_stop:  # a hook's continue: false, as the CLI ends it
            turn.done = True
            yield stats.result(
                subtype="success", is_error=False, terminal_reason="hook_stopped", result=""
            )
        elif stats.stop:
            turn.done = True
            yield stats.result(
                subtype="success",
                is_error=False,
                terminal_reason="stopped",
                result=stats.stop_reason or stats.last_text,
            )
        else:
            async for message in self._absorb_reports():
                yield message

    def _end_deferred(self, turn: _Turn, outcomes: list[CallOutcome | None]) -> Message:
        """The ``tool_deferred`` result; the deferred calls are answered at the next prompt."""
        deferred = [o.deferred for o in outcomes if o is not None and o.deferred is not None]
        self.deferred_calls = [
            (str(block.get("id", "")), str(entry["uuid"]))
            for (block, entry), outcome in zip(turn.calls, outcomes, strict=True)
            if outcome is not None and outcome.deferred is not None
        ]
        turn.done = True
        turn.stats.stop_reason_api = "tool_deferred"
        result = turn.stats.result(
            subtype="success", is_error=False, terminal_reason="tool_deferred", result=""
        )
        result.deferred_tool_use = DeferredToolUse(**deferred[0])
        return result

    async def _end_interrupted(
        self, turn: _Turn, *, for_tool: bool
    ) -> AsyncGenerator[Message, None]:
        """The interruption entry, yielded as the CLI yields it ("[Request interrupted by
        user]" as a user message), then the ``error_during_execution`` result."""
        turn.done = True
        entry = self._factory.interrupted(self.leaf, for_tool=for_tool)
        await self.persist([entry])
        yield UserMessage(
            content=[block_from_api(b) for b in entry["message"]["content"]],
            uuid=entry["uuid"],
            session_id=self.session_id,
        )
        turn.stats.num_turns += 1  # the CLI counts the interruption as a turn
        yield turn.stats.interrupted("aborted_tools" if for_tool else "aborted_streaming")

    def _structured_end(
        self, turn: _Turn, outcomes: list[CallOutcome | None]
    ) -> ResultMessage | None:
        """After a tool batch with ``output_format``: the result when a ``StructuredOutput``
        call was valid (the turn ends, as the CLI's), or when the attempts are spent."""
        stats, value, called = turn.stats, None, False
        for (block, _entry), outcome in zip(turn.calls, outcomes, strict=True):
            if block.get("name") != STRUCTURED_OUTPUT or outcome is None:
                continue
            called = True
            turn.structured_attempts += 1
            if outcome.block.get("is_error"):
                turn.structured_error = str(outcome.block.get("content"))
            else:
                value = block.get("input")
        if not called:
            return None
        limit = max_attempts(self.options.env_value("MAX_STRUCTURED_OUTPUT_RETRIES"))
        if value is not None:
            stats.num_turns += 1  # the CLI counts the batch that ended the turn
            stats.structured_output = value
            return stats.result(
                subtype="success",
                is_error=False,
                terminal_reason="completed",
                result=result_text(value),
            )
        if turn.structured_attempts < limit:
            return None
        stats.num_turns += 1
        return stats.result(
            subtype="error_max_structured_output_retries",
            is_error=True,
            terminal_reason="structured_output_retry_exhausted",
            result=None,
            errors=[
                f"Failed to provide valid structured output after {turn.structured_attempts} "
                f"attempts \u2014 last StructuredOutput error: {turn.structured_error}"
            ],
        )

    def _result_entry(
        self, call: tuple[Raw, Raw], outcome: CallOutcome | None, stats: TurnStats
    ) -> Raw:
        """The transcript entry answering one call (a call never answered was rejected)."""
        block, call_entry = call
        if outcome is None:
            outcome = CallOutcome(
                block={
                    "type": "tool_result",
                    "tool_use_id": block.get("id"),
                    "content": TOOL_REJECTED,
                    "is_error": True,
                }
            )
        if outcome.denial is not None:
            stats.denials.append(outcome.denial)
        stats.stop = stats.stop or outcome.stop
        stats.stop_reason = stats.stop_reason or outcome.stop_reason
        stats.hook_stop = stats.hook_stop or outcome.hook_stop
        return self._factory.tool_result(
            outcome.block, tool_use_entry=call_entry["uuid"], structured=outcome.structured
        )

    def _result_message(self, entry: Raw) -> UserMessage:
        """A tool result as the CLI streams it: ``tool_use_result`` is the tool's structured
        output (a dict for built-ins, the content blocks for MCP tools, "Error: ..." for a
        failed or refused call)."""
        structured = entry.get("toolUseResult")
        block = entry["message"]["content"][0]
        return UserMessage(
            content=[ToolResultBlock(**{k: v for k, v in block.items() if k != "type"})],
            uuid=entry["uuid"],
            tool_use_result=structured if isinstance(structured, (dict, list, str)) else None,  # type: ignore[arg-type]
            session_id=self.session_id,
        )

    def _informational(self, text: str) -> SystemMessage:
        """A hook's ``systemMessage``, as the CLI's ``informational`` system message."""
        return SystemMessage(
            subtype="informational",
            data={
                "type": "system",
                "subtype": "informational",
                "content": text,
                "level": "notice",
                "uuid": new_uuid(),
                "session_id": self.session_id,
            },
        )

    async def _absorb_reports(self) -> AsyncGenerator[Message, None]:
        """Add the reports of finished background subagents to the running turn.

        Each becomes a user entry (``origin.kind: task-notification``) after the prompt or
        the tool results, merged into that user message for the model. The child's
        messages and a ``task_notification`` system message are yielded first.
        """
        if self.background is None:
            return
        for note in self.background.take():
            for message in note.messages:
                yield message
            yield note.system_message(self.session_id)
            entry = self._factory.prompt(note.text, self.leaf)
            entry["origin"] = dict(NOTIFICATION_FIELDS["origin"])
            await self.persist([entry])

    def _fallback(self, exc: ProviderError) -> SystemMessage | None:
        """Switch to ``fallback_model`` for the rest of the turn when the model is overloaded
        (3 consecutive 529s: ``FALLBACK_AFTER``), unavailable (404) or failing (5xx), as the
        CLI does; the ``model_fallback`` system message says so. ``None``: no fallback."""
        fallback = self.options.fallback_model and self.resolve_model(self.options.fallback_model)
        status = exc.status_code if isinstance(exc, ProviderHTTPError) else None
        if not fallback or fallback == self.model or status is None:
            return None
        if status == 529:
            trigger, why = "overloaded", "due to high demand for"
        elif status == 404:
            trigger, why = "model_not_found", "because {} is not available"
        elif status >= 500:
            trigger, why = "server_error", "due to high demand for"
        else:
            return None
        original, self.model = self.model, fallback
        because = why.format(original) if "{}" in why else f"{why} {original}"
        return SystemMessage(
            subtype="model_fallback",
            data={
                "type": "system",
                "subtype": "model_fallback",
                "uuid": new_uuid(),
                "trigger": trigger,
                "original_model": original,
                "fallback_model": fallback,
                "content": f"Switched to {fallback} {because}",
                "session_id": self.session_id,
            },
        )

    async def _model_failed(
        self, exc: ProviderError, stats: TurnStats
    ) -> AsyncGenerator[Message, None]:
        status = exc.status_code if isinstance(exc, ProviderHTTPError) else None
        kind = _error_kind(exc)
        text = str(exc) if str(exc).startswith("API Error") else f"API Error: {exc}"
        entry = self._factory.api_error(self.leaf, text, status=status, error=kind)
        await self.persist([entry])
        yield AssistantMessage(
            content=[block_from_api(entry["message"]["content"][0])],
            model="<synthetic>",
            error=kind,
            message_id=entry["message"]["id"],
            stop_reason="stop_sequence",
            session_id=self.session_id,
            uuid=entry["uuid"],
        )
        yield stats.result(
            subtype="success",
            is_error=True,
            terminal_reason="api_error",
            result=text,
            api_error_status=status,
            errors=[text],
        )


_log = logging.getLogger(__name__)


def _adopt_early(blocks: BlockStream, reply: Raw, entries: list[Raw]) -> int:
    """Give the entries of the blocks already yielded those messages' uuids (the chain
    follows); how many there were. Each must equal the reply's own block: the provider's
    reply is what is recorded, so a difference is logged."""
    count = min(len(blocks.uuids), len(entries))
    content = reply.get("content") or []
    for i in range(count):
        if blocks.done[i] != content[i]:
            _log.warning("a streamed block differs from the reply's block %d", i)
        entries[i]["uuid"] = blocks.uuids[i]
        if i + 1 < len(entries):
            entries[i + 1]["parentUuid"] = blocks.uuids[i]
    return count


def _hold_closing(held: list[StreamEvent], item: StreamEvent) -> list[StreamEvent]:
    """The events to yield now. A ``content_block_stop`` is held until the next event says
    whether another block follows (then it goes out at once) or the reply ends
    (``message_delta``: it and the rest wait for the reply's assistant messages)."""
    kind = item.event.get("type") if isinstance(item.event, dict) else None
    if kind == "content_block_stop" or (held and kind in ("message_delta", "message_stop")):
        held.append(item)
        return []
    out = [*held, item]
    held.clear()
    return out


def _released(held: list[StreamEvent]) -> list[StreamEvent]:
    out = list(held)
    held.clear()
    return out


def _path_of(files: LocalTranscripts | None, plan: SessionPlan) -> str | None:
    if files is None:
        return None
    try:
        return str(files.path_for(plan.key))
    except Exception:  # an invalid key: no path to report (the store raises on use)
        return None


def _thinking(options: AgentOptions) -> Raw | None:
    if options.thinking is not None:
        thinking = dict(options.thinking)
        return None if thinking.get("type") == "disabled" else thinking
    if options.max_thinking_tokens:
        return {"type": "enabled", "budget_tokens": options.max_thinking_tokens}
    return None


def _error_kind(exc: ProviderError) -> AssistantMessageError:
    if isinstance(exc, RateLimitError):
        return "rate_limit"
    if isinstance(exc, ProviderHTTPError):
        if exc.status_code in (401, 403):
            return "authentication_failed"
        if exc.status_code == 400:
            return "invalid_request"
        if exc.status_code >= 500:
            return "server_error"
    return "unknown"
