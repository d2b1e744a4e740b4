"""The agent loop: a small state machine run once per prompt.

::

    prepare turn ──► call model ──► (tool calls?) ──► run tools ──► call model ...
         │               │                 │ no
         │ persist       │ persist          ▼
         ▼ prompt        ▼ reply        Stop hooks ──► ResultMessage

Every step is appended to the session store as it happens: the prompt before the model is
called, each reply block, each tool result. History is kept as Anthropic API messages.

Interrupts: :meth:`Runtime.interrupt` cancels the cancel scope of the step in flight (a
stream read or the tool batch). No cancel scope ever spans a ``yield``, so the turn is an
ordinary async generator that the consumer drives in its own task. The only tasks that
outlive a step are background subagents (:class:`~threadline.runtime._subagents.BackgroundTasks`);
their reports enter the turn after a tool batch (:meth:`Runtime._absorb_reports`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    Message,
    StreamEvent,
    SystemMessage,
    ToolResultBlock,
    UserMessage,
    block_from_api,
)
from ..providers import ModelRequest, ModelResponse, Provider
from ..sessions import ConditionalAppendStore
from ..tools import BUILTIN_TOOLS, Tool, open_mcp_tools
from ..transcript._entries import TOOL_REJECTED, EntryFactory, git_branch, threadline_version
from ..transcript._views import CHAIN_TYPES
from ._compaction import CompactResult, auto_compact, run_compaction
from ._hooks import run_hooks
from ._options import DEFAULT_MODEL, AgentOptions, check_run
from ._permissions import PermissionRules
from ._resume import SessionPlan, plan_session
from ._subagents import BackgroundTasks
from ._toolrun import CallOutcome, ToolRunner
from ._turn import TurnStats, add_user_content, api_content, request_messages

__all__ = ["NOTIFICATION_FIELDS", "Prompt", "Runtime"]

Raw = dict[str, Any]
_IDENTITY = "You are a Claude agent, built on Anthropic's Claude Agent SDK."


@dataclass(frozen=True)
class Prompt:
    """One user turn: API content and, optionally, the uuid to record it under."""

    content: str | list[Raw]
    uuid: str | None = None
    fields: Mapping[str, Any] | None = None
    """Extra fields of the prompt entry (a task notification's ``origin``...)."""


NOTIFICATION_FIELDS: Mapping[str, Any] = {
    "origin": {"kind": "task-notification", "producer": "session-task"},
    "promptSource": "system",
    "turnOrigin": "task_notification",
}
"""How the CLI marks the user entry of a turn started by a background task's report."""


class Runtime:
    """One open session: its store, tools, provider and history."""

    def __init__(
        self,
        *,
        options: AgentOptions,
        plan: SessionPlan,
        provider: Provider,
        tools: dict[str, Tool],
        mcp_names: list[str],
    ) -> None:
        self.options = options
        self.plan = plan
        self.provider = provider
        self.tools = tools
        self.model = _model_name(options, provider.name)
        self.mode = options.permission_mode or "default"
        self.history: list[Raw] = list(plan.history)
        self.leaf: str | None = plan.leaf_uuid
        self._pending: list[Raw] = list(plan.pending)
        self._chain: list[Raw] | None = None if plan.chain_loader else list(plan.chain)
        self._chain_loader = plan.chain_loader
        self._chain_new: list[Raw] = []
        """Entries chained since the resume, while the chain itself is not loaded yet."""
        self.last_input_tokens = 0
        self.auto_compact_failed = False
        self.side_messages: list[Message] = []
        """Messages of subagents, yielded after the tool batch that ran them."""
        self.after_tools: list[Raw] = []
        """User content to add after the next tool batch (background subagent reports)."""
        self.background: BackgroundTasks | None = None
        """Running background subagents and their reports (set by ``AgentClient``)."""
        self.checkpoints: Any = None
        self._head: str | None = None
        """The store's head when we last wrote or looked (second-writer detection)."""
        self._mcp_names = mcp_names
        self._factory = EntryFactory(
            session_id=plan.session_id, cwd=plan.cwd, git_branch=git_branch(plan.cwd)
        )
        self._scope: anyio.CancelScope | None = None
        self._interrupted = False
        self._system = _system_blocks(options, plan.cwd)
        self._tool_defs = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in tools.values()
        ]
        self.runner = ToolRunner(
            tools=tools,
            rules=PermissionRules(
                allowed=options.allowed_tools, disallowed=options.disallowed_tools
            ),
            mode=self.mode,
            cwd=plan.cwd,
            session_id=plan.session_id,
            env=dict(options.env),
            can_use_tool=options.can_use_tool,
            hooks=options.hooks,
            hook_base=self._hook_base(),
        )
        if options.enable_file_checkpointing:
            from ._checkpoints import Checkpointer

            self.checkpoints = Checkpointer(self)
            self.runner.before_tool = self.checkpoints.before_tool

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(cls, options: AgentOptions, stack: AsyncExitStack) -> Runtime:
        """Resolve the session (failing before any model call), then tools and provider."""
        check_run(options)
        plan = await plan_session(options)
        provider = _select_provider(options)
        if provider is not options.provider:
            stack.push_async_callback(provider.aclose)
        tools = _select_builtin(options)
        servers = _mcp_servers(options.mcp_servers)
        if servers:
            for tool in await open_mcp_tools(servers, stack):
                tools[tool.name] = tool
        rules = PermissionRules(disallowed=options.disallowed_tools)
        if options.agents:
            from ._subagents import AgentTool

            tools["Agent"] = AgentTool(options.agents)
        tools = {name: t for name, t in tools.items() if not rules.hides(name)}
        runtime = cls(
            options=options, plan=plan, provider=provider, tools=tools, mcp_names=list(servers)
        )
        for tool in runtime.tools.values():
            bind = getattr(tool, "bind_runtime", None)
            if callable(bind):
                bind(runtime)
        if runtime.checkpoints is not None:
            await runtime.checkpoints.start()
        if isinstance(plan.store, ConditionalAppendStore) and not plan.pending:
            runtime._head = await plan.store.get_head(plan.key)
        await runtime._hook("SessionStart", {"source": plan.source})
        return runtime

    async def close(self) -> None:
        await self._hook("SessionEnd", {"reason": "other"})

    @property
    def session_id(self) -> str:
        return self.plan.session_id

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

    @chain.setter
    def chain(self, value: list[Raw]) -> None:
        self._chain = value

    async def ensure_chain(self) -> list[Raw]:
        if self._chain is None and self._chain_loader is not None:
            loaded = await anyio.to_thread.run_sync(self._chain_loader)
            if self._chain is None:
                self._chain = loaded + self._chain_new
        return self.chain

    def interrupt(self) -> None:
        """Stop the turn in flight (no-op between turns) and the background subagents."""
        self._interrupted = True
        if self._scope is not None:
            self._scope.cancel()
        if self.background is not None:
            self.background.stop()

    # -- helpers ---------------------------------------------------------------------------

    def _hook_base(self) -> Raw:
        store = self.plan.store
        path = getattr(getattr(store, "inner", store), "path_for", None)
        transcript = ""
        if callable(path):
            try:
                transcript = str(path(self.plan.key))
            except Exception:
                transcript = ""
        return {
            "session_id": self.plan.session_id,
            "transcript_path": transcript,
            "cwd": self.plan.cwd,
            "permission_mode": self.mode,
        }

    async def _hook(self, event: str, extra: Raw, match: str | None = None) -> Any:
        return await run_hooks(
            self.options.hooks,
            event,
            {**self._hook_base(), "hook_event_name": event, **extra},
            match_value=match,
        )

    async def _persist(self, entries: list[Raw]) -> None:
        chained = [e for e in entries if e.get("type") in CHAIN_TYPES]
        if self._pending:
            entries, self._pending = [*self._pending, *entries], []
        store = self.plan.store
        if store is not None and entries:
            if isinstance(store, ConditionalAppendStore):
                try:
                    await store.append_conditional(
                        self.plan.key,
                        entries,  # type: ignore[arg-type]
                        expected_head=self._head,
                    )
                except ConcurrentModificationError as exc:
                    raise ConcurrentModificationError(
                        f"Session {self.session_id} was changed by another writer while this "
                        "run had it open (another process or host resumed it). Nothing of this "
                        "turn after the conflict was written. Resume the session again to "
                        "continue from its latest state, or fork it to keep both lines.",
                        expected=exc.expected,
                        actual=exc.actual,
                    ) from exc
                for e in entries:
                    if e.get("type") in CHAIN_TYPES and isinstance(e.get("uuid"), str):
                        self._head = e["uuid"]
            else:
                await store.append(self.plan.key, entries)  # type: ignore[arg-type]
        if self._chain is None:
            self._chain_new.extend(chained)
        else:
            self._chain.extend(chained)
        if chained:
            self.leaf = chained[-1]["uuid"]

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
        result: list[str] = await self.checkpoints.rewind(user_message_uuid)
        return result

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
                "mcp_servers": [{"name": n, "status": "connected"} for n in self._mcp_names],
                "permissionMode": self.mode,
                "apiKeySource": "ANTHROPIC_API_KEY" if _api_key(self.options) else "none",
                "claude_code_version": threadline_version(),
                "slash_commands": [],
                "output_style": "default",
                "agents": [],
                "skills": [],
                "plugins": [],
            },
        )

    def _request(self) -> ModelRequest:
        opts = self.options
        thinking = _thinking(opts)
        max_tokens = opts.max_tokens or 32_000
        if thinking and thinking.get("type") == "enabled":
            max_tokens = max(max_tokens, int(thinking.get("budget_tokens", 0)) + 4_096)
        extra: Raw = {"metadata": {"user_id": json.dumps({"session_id": self.session_id})}}
        if opts.effort:
            extra["output_config"] = {"effort": opts.effort}
        betas = list(opts.betas)
        if thinking:
            betas.append("interleaved-thinking-2025-05-14")
        return ModelRequest(
            model=self.model,
            messages=request_messages(self.history),
            system=self._system,
            tools=self._tool_defs,
            max_tokens=max_tokens,
            thinking=thinking,
            extra_body=extra,
            betas=tuple(betas),
            session_id=self.session_id,
        )

    # -- the turn --------------------------------------------------------------------------

    async def run_turn(self, prompt: Prompt) -> AsyncGenerator[Message, None]:
        """Run one prompt to its ResultMessage, yielding every message on the way."""
        self._interrupted = False
        stats = TurnStats(started=time.monotonic(), session_id=self.session_id)
        yield self.init_message()

        text = (
            prompt.content
            if isinstance(prompt.content, str)
            else " ".join(str(b.get("text", "")) for b in prompt.content if b.get("type") == "text")
        )
        submit = (
            await self._hook("UserPromptSubmit", {"prompt": text}) if not prompt.fields else None
        )
        if submit is not None and submit.blocked:
            yield stats.result(
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
        entry = self._factory.prompt(content, self.leaf, uuid=prompt.uuid)
        entry.update(prompt.fields or {})
        await self._persist([entry])
        if self.checkpoints is not None:
            await self.checkpoints.on_prompt(entry["uuid"])
        add_user_content(self.history, api_content(content))
        stats.user_uuid = entry["uuid"]
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

        stop_hook_active = False
        while True:
            if self.options.max_turns is not None and stats.num_turns >= self.options.max_turns:
                yield stats.result(
                    subtype="error_max_turns",
                    is_error=True,
                    terminal_reason="max_turns",
                    errors=[f"Reached maximum number of turns ({self.options.max_turns})"],
                )
                return
            stats.num_turns += 1

            # -- compact when the context nears the threshold
            async for message in auto_compact(self):
                yield message

            # -- call model
            response: ModelResponse | None = None
            try:
                async for item in self._stream(self._request()):
                    if isinstance(item, ModelResponse):
                        response = item
                    else:
                        yield item
            except ProviderError as exc:
                async for message in self._model_failed(exc, stats):
                    yield message
                return
            if response is None:
                await self._persist([self._factory.interrupted(self.leaf, for_tool=False)])
                yield stats.interrupted("aborted_streaming")
                return
            stats.add_response(self.model, response)
            usage = response.message.get("usage") or {}
            self.last_input_tokens = sum(
                int(usage.get(k) or 0)
                for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
            )

            # -- persist the reply
            reply: Raw = response.message
            entries = self._factory.assistant(reply, self.leaf, response.request_id)
            await self._persist(entries)
            self.history.append(
                {"role": "assistant", "content": api_content(reply.get("content") or [])}
            )
            calls: list[tuple[Raw, Raw]] = []
            for block, e in zip(reply.get("content") or [], entries, strict=True):
                yield AssistantMessage(
                    content=[block_from_api(block)],
                    model=str(reply.get("model", self.model)),
                    usage=reply.get("usage"),
                    message_id=reply.get("id"),
                    stop_reason=reply.get("stop_reason"),
                    session_id=self.session_id,
                    uuid=e["uuid"],
                )
                if block.get("type") == "tool_use":
                    calls.append((block, e))

            if not calls:
                stop = await self._hook(
                    "Stop",
                    {
                        "stop_hook_active": stop_hook_active,
                        "last_assistant_message": stats.last_text,
                    },
                )
                if stop.blocked and stop.reason and not stop_hook_active:
                    stop_hook_active = True
                    feedback = self._factory.prompt(
                        f"Stop hook feedback:\n{stop.reason}", self.leaf
                    )
                    await self._persist([feedback])
                    add_user_content(self.history, api_content(feedback["message"]["content"]))
                    continue
                yield stats.result(subtype="success", is_error=False, terminal_reason="completed")
                return

            # -- run tools
            outcomes: list[CallOutcome | None] = [None] * len(calls)
            with anyio.CancelScope() as scope:
                self._scope = scope
                if self._interrupted:
                    scope.cancel()
                await self.runner.run_all([c for c, _ in calls], outcomes)
            self._scope = None
            aborted = scope.cancel_called
            side, self.side_messages = self.side_messages, []
            for message in side:
                yield message
            results: list[Raw] = []
            for (call, call_entry), outcome in zip(calls, outcomes, strict=True):
                if outcome is None:
                    outcome = CallOutcome(
                        block={
                            "type": "tool_result",
                            "tool_use_id": call.get("id"),
                            "content": TOOL_REJECTED,
                            "is_error": True,
                        }
                    )
                result_entry = self._factory.tool_result(
                    outcome.block, tool_use_entry=call_entry["uuid"], structured=outcome.structured
                )
                results.append(result_entry)
                if outcome.denial is not None:
                    stats.denials.append(outcome.denial)
                stats.stop = stats.stop or outcome.stop
                stats.stop_reason = stats.stop_reason or outcome.stop_reason
            await self._persist(results)
            add_user_content(self.history, [r["message"]["content"][0] for r in results])
            if self.after_tools:
                notes, self.after_tools = self.after_tools, []
                note = self._factory.prompt(notes, self.leaf)
                await self._persist([note])
                add_user_content(self.history, api_content(notes))
            for r in results:
                structured = r.get("toolUseResult")
                yield UserMessage(
                    content=[
                        ToolResultBlock(
                            **{k: v for k, v in r["message"]["content"][0].items() if k != "type"}
                        )
                    ],
                    uuid=r["uuid"],
                    tool_use_result=structured if isinstance(structured, dict) else None,
                    session_id=self.session_id,
                )
            if aborted:
                await self._persist([self._factory.interrupted(self.leaf, for_tool=True)])
                yield stats.interrupted("aborted_tools")
                return
            if stats.stop:
                yield stats.result(
                    subtype="success",
                    is_error=False,
                    terminal_reason="stopped",
                    result=stats.stop_reason or stats.last_text,
                )
                return
            async for message in self._absorb_reports():
                yield message

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
            await self._persist([entry])
            add_user_content(self.history, api_content(note.text))

    async def _stream(
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

    async def _model_failed(
        self, exc: ProviderError, stats: TurnStats
    ) -> AsyncGenerator[Message, None]:
        status = exc.status_code if isinstance(exc, ProviderHTTPError) else None
        kind = _error_kind(exc)
        text = str(exc) if str(exc).startswith("API Error") else f"API Error: {exc}"
        entry = self._factory.api_error(self.leaf, text, status=status, error=kind)
        await self._persist([entry])
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


# ----------------------------------------------------------------------------- set-up


def _api_key(options: AgentOptions) -> str | None:
    return options.api_key or options.env_value("ANTHROPIC_API_KEY")


def _anthropic_provider(options: AgentOptions) -> Provider:
    key = _api_key(options)
    token = options.env_value("ANTHROPIC_AUTH_TOKEN")
    if key is None and token is None:
        raise UserError(
            "No API key: set ANTHROPIC_API_KEY (in the environment or AgentOptions.env) "
            "or pass AgentOptions(api_key=...); for an OpenAI-compatible server set "
            "OPENAI_BASE_URL or AgentOptions(provider='openai')"
        )
    headers = {"authorization": f"Bearer {token}"} if key is None and token else None
    from ..providers.anthropic import AnthropicProvider

    return AnthropicProvider(
        api_key=key or "",
        base_url=options.base_url or options.env_value("ANTHROPIC_BASE_URL"),
        retry=options.retry_policy,
        default_headers=headers,
    )


def _provider_kind(options: AgentOptions) -> str:
    """``"anthropic"`` or ``"openai"`` (the rule is documented in ``_options``)."""
    chosen = options.provider
    if isinstance(chosen, str):
        if chosen not in ("anthropic", "openai"):
            raise UserError(f"Unknown provider {chosen!r}: use 'anthropic' or 'openai'")
        return chosen
    if options.env_value("ANTHROPIC_API_KEY") or options.env_value("ANTHROPIC_AUTH_TOKEN"):
        return "anthropic"
    if options.env_value("OPENAI_BASE_URL") or options.env_value("OPENAI_API_KEY"):
        return "openai"
    return "anthropic"


def _select_provider(options: AgentOptions) -> Provider:
    if options.provider is not None and not isinstance(options.provider, str):
        return options.provider
    if _provider_kind(options) == "anthropic":
        return _anthropic_provider(options)
    from ..providers.openai import OpenAIProvider

    _model_name(options, "openai")  # fail before any model call
    base_url = options.base_url or options.env_value("OPENAI_BASE_URL")
    api_key = options.api_key or options.env_value("OPENAI_API_KEY")
    if base_url is None and api_key is None:
        raise UserError(
            "No API key: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server "
            "(in the environment or AgentOptions.env), or pass AgentOptions(api_key=...)"
        )
    return OpenAIProvider(
        api_key=api_key,
        base_url=base_url,
        retry=options.retry_policy,
        max_tokens=options.max_tokens,
    )


def _model_name(options: AgentOptions, provider_name: str) -> str:
    if provider_name == "openai":
        model = options.model or options.env_value("OPENAI_MODEL")
        if not model:
            raise UserError(
                "The OpenAI-compatible provider needs a model: AgentOptions(model=...) "
                "or OPENAI_MODEL (e.g. 'llama3.2' for Ollama)"
            )
        return model
    return options.model or options.env_value("ANTHROPIC_MODEL") or DEFAULT_MODEL


def _select_builtin(options: AgentOptions) -> dict[str, Tool]:
    selected = options.tools
    if selected is None or isinstance(selected, Mapping):
        return dict(BUILTIN_TOOLS)
    return {name: BUILTIN_TOOLS[name] for name in selected if name in BUILTIN_TOOLS}


def _mcp_servers(value: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    text = str(value)
    inline = text.lstrip().startswith("{")
    if not inline:
        path = Path(text)
        if not path.is_file():
            raise UserError(
                f"AgentOptions.mcp_servers: no MCP config file at {text!r} (give a path to a "
                "JSON file, the JSON text itself, or a dict of server configs)"
            )
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        where = "JSON text" if inline else repr(str(value))
        raise UserError(f"AgentOptions.mcp_servers: {where} is not valid JSON: {exc}") from exc
    servers = data.get("mcpServers", data) if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise UserError(
            "AgentOptions.mcp_servers: the MCP config must be a JSON object "
            '({"mcpServers": {name: config}})'
        )
    return dict(servers)


def _system_blocks(options: AgentOptions, cwd: str) -> list[Raw]:
    sp = options.system_prompt
    default = f"{_IDENTITY}\nWorking directory: {cwd}"
    if sp is None:
        text = default
    elif isinstance(sp, str):
        text = sp
    elif sp.get("type") == "preset":
        text = default + (f"\n\n{sp['append']}" if sp.get("append") else "")
    elif sp.get("type") == "file":
        try:
            text = Path(str(sp.get("path"))).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"AgentOptions.system_prompt: cannot read the prompt file {sp.get('path')!r}: "
                f"{exc.strerror or exc}"
            ) from exc
    else:
        text = str(sp.get("prompt", ""))
    if not text:
        return []
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


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
