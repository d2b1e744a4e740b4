"""``AgentClient`` (alias ``ClaudeSDKClient``): a multi-turn conversation, in-process.

Same surface as the official client. ``query()`` queues a prompt and the turn starts at
once, in a task of the client's own (a plain asyncio task, not a task group entered by the
caller, so the client may be used from any task and across task groups): its messages
wait in the client's buffer until ``receive_response()`` / ``receive_messages()`` reads
them, as the official client buffers the CLI's output. Breaking out of a receive loop
leaves the rest in the buffer for the next one. ``interrupt()`` may be called from any
task while a turn runs. Under an event loop other than asyncio (trio) turns run while
the caller iterates, in the caller's task.

Background subagents run in tasks of their own too (see
:class:`~threadline.runtime._subagents.BackgroundTasks`), started by the ``Agent`` tool and
stopped by ``interrupt()`` / ``stop_task()`` / ``disconnect()``. Their reports reach the
parent this way:

- a turn is running: the report is added after its next tool batch;
- a user prompt is about to run: the report is added right after the prompt;
- otherwise the report starts a turn of its own (the CLI's task-notification turn, with
  its own ResultMessage) as soon as it arrives; ``drain()`` (and so ``query()``) waits
  for the running children.

The session is resolved in ``connect()``: an unknown ``resume`` id raises there, before
any model call.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, cast

import anyio

from ._config_types import ContextUsageResponse, McpStatusResponse
from ._exceptions import CLIConnectionError, UserError
from ._ids import is_uuid
from ._messages import Message, ResultMessage, system_message
from .runtime import _control
from .runtime._assemble import open_runtime
from .runtime._compaction import CompactResult
from .runtime._context import Prompt
from .runtime._loop import NOTIFICATION_FIELDS, Runtime
from .runtime._options import AgentOptions
from .runtime._permissions import PermissionMode
from .runtime._shadowing import check_can_use_tool
from .runtime._subagents import BackgroundTasks, Notification

__all__ = ["AgentClient", "ClaudeSDKClient", "check_prompt", "prompt_from_message"]


def check_prompt(prompt: object, *, optional: bool = False) -> None:
    """Reject a prompt no turn can run: not a str / async iterable, or an empty string."""
    if prompt is None and optional:
        return
    if isinstance(prompt, str):
        if not prompt.strip():
            raise UserError("The prompt is empty: give the text of the user's message")
        return
    if not hasattr(prompt, "__aiter__"):
        raise UserError(
            "prompt must be a str or an async iterable of user-message dicts "
            '({"type": "user", "message": {"role": "user", "content": ...}}), '
            f"not {type(prompt).__name__}"
        )


def prompt_from_message(message: Mapping[str, Any]) -> Prompt:
    """An official streaming-input dict (``{"type": "user", "message": {...}}``) as a Prompt."""
    if not isinstance(message, Mapping):
        raise UserError(
            "each streamed prompt must be a user-message dict "
            f'({{"type": "user", "message": {{"role": "user", "content": ...}}}}), not {message!r}'
        )
    inner = message.get("message")
    content = inner.get("content") if isinstance(inner, Mapping) else message.get("content")
    if not isinstance(content, (str, list)):
        raise UserError(f"a user message needs message.content (str or list), got {message!r}")
    if not content or (isinstance(content, str) and not content.strip()):
        raise UserError(f"a user message has empty content: {message!r}")
    uuid = message.get("uuid")
    return Prompt(content=content, uuid=uuid if is_uuid(uuid) else None)


class AgentClient:
    """Bidirectional, multi-turn conversation with the agent."""

    def __init__(self, options: AgentOptions | None = None, transport: Any = None) -> None:
        if transport is not None:
            raise UserError("threadline runs in-process: custom transports are not supported")
        self.options = options or AgentOptions()
        self._runtime: Runtime | None = None
        self._background: BackgroundTasks | None = None
        self._stack: AsyncExitStack | None = None
        self._queue: deque[Prompt] = deque()
        self._source: AsyncIterator[Any] | None = None
        self._wakeup = anyio.Event()
        self._receiving = False
        self._disconnected = False
        self._outbox: deque[Message | BaseException] = deque()
        """Messages of turns run by the pump, until a receiver reads them."""
        self._arrived = anyio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._busy = False
        """A turn (or compaction, or rewind) is running."""

    # -- connection ------------------------------------------------------------------------

    async def connect(self, prompt: str | AsyncIterable[dict[str, Any]] | None = None) -> None:
        """Open the session (resolving resume/continue/fork) and queue ``prompt`` if given."""
        if self._runtime is not None:
            return
        check_prompt(prompt, optional=True)
        check_can_use_tool(self.options)
        stack = AsyncExitStack()
        try:
            opened = await open_runtime(self.options, stack, on_report=self._wake)
        except BaseException:
            await stack.aclose()
            raise
        self._runtime, self._background = opened.runtime, opened.background
        self._stack = stack
        self._disconnected = False
        if isinstance(prompt, str):
            self._push(Prompt(content=prompt))
        elif prompt is not None:
            self._source = aiter(prompt)
        if BackgroundTasks.available():
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def disconnect(self) -> None:
        """Close the session (runs SessionEnd hooks; idempotent)."""
        runtime, stack, background = self._runtime, self._stack, self._background
        self._runtime, self._stack, self._background = None, None, None
        if runtime is None or stack is None:
            return
        self._disconnected = True
        try:
            with anyio.CancelScope(shield=True):
                await self._stop_pump(runtime)
                if background is not None:
                    await background.aclose()
                await runtime.close()
        finally:
            # Not inside the shield: the stack holds task groups (MCP transports) entered
            # outside it, and a cancel scope must be exited where it was entered.
            await stack.aclose()

    async def __aenter__(self) -> AgentClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        await self.disconnect()
        return False

    # -- conversation ----------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The id this client writes to (None before ``connect()``)."""
        return self._runtime.session_id if self._runtime is not None else None

    def _require(self) -> Runtime:
        if self._runtime is None:
            if self._disconnected:
                raise CLIConnectionError(
                    "Not connected: this client was disconnected. Call connect() again (it "
                    "opens a new session unless options.resume is set) or use a new client."
                )
            raise CLIConnectionError("Not connected. Call connect() first (or use 'async with').")
        return self._runtime

    def _push(self, prompt: Prompt) -> None:
        self._queue.append(prompt)
        if self._background is not None:
            self._background.stopped = False
        self._wakeup.set()

    def _wake(self) -> None:
        self._wakeup.set()
        self._arrived.set()

    # -- the pump: turns run as soon as a prompt (or a background report) is there ----------

    async def _pump(self) -> None:
        runtime = self._runtime
        assert runtime is not None
        while True:
            try:
                prompt = await self._next_prompt(wait=True)
            except Exception as exc:  # a malformed streamed prompt: the receiver raises it
                self._emit(exc)
                continue
            if prompt is None:  # pragma: no cover - wait=True never returns None
                continue
            self._busy = True
            try:
                async for message in self._turn(runtime, prompt):
                    self._emit(message)
            except Exception as exc:  # the receiver raises it, as an inline turn would
                self._emit(exc)
            finally:
                self._busy = False
                self._arrived.set()

    def _emit(self, item: Message | BaseException) -> None:
        self._outbox.append(item)
        self._arrived.set()

    async def _stop_pump(self, runtime: Runtime) -> None:
        """Interrupt the running turn (it records its interruption), then end the pump."""
        task, self._pump_task = self._pump_task, None
        if task is None:
            return
        if self._busy:
            runtime.interrupt()
            await asyncio.wait([task], timeout=5.0)
        task.cancel()
        await asyncio.wait([task])

    def _idle(self) -> bool:
        """Nothing queued, running or about to report: ``drain()`` may end."""
        if self._queue or self._source is not None or self._busy:
            return False
        background = self._background
        if background is None:
            return True
        return not background.busy and not (background.ready and not background.stopped)

    async def _turn(
        self, runtime: Runtime, prompt: Prompt | Notification
    ) -> AsyncIterator[Message]:
        if isinstance(prompt, Notification):
            for message in prompt.messages:
                yield message
            yield prompt.system_message(runtime.session_id)
            prompt = Prompt(content=prompt.text, fields=NOTIFICATION_FIELDS)
        turn = runtime.run_turn(prompt)
        try:
            async for message in turn:
                yield message
        finally:
            await turn.aclose()

    async def query(
        self, prompt: str | AsyncIterable[dict[str, Any]], session_id: str = "default"
    ) -> None:
        """Queue a prompt (or every message of a stream); ``session_id`` is a placeholder."""
        self._require()
        check_prompt(prompt)
        if isinstance(prompt, str):
            self._push(Prompt(content=prompt))
            return
        async for message in prompt:
            self._push(prompt_from_message(message))

    async def _next_prompt(
        self, *, wait: bool, inline: bool = False
    ) -> Prompt | Notification | None:
        """The next queued prompt, else a background report to run as its own turn.

        ``wait=False`` (``drain()``) still waits while background children run (unless
        they were interrupted), so a ``query()`` ends only after their reports. After an
        interrupt, reports already waiting start no turn of their own (they join the next
        prompt), except in the inline ``receive_messages()`` of a non-asyncio loop.
        """
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._source is not None:
                try:
                    return prompt_from_message(await self._source.__anext__())
                except StopAsyncIteration:
                    self._source = None
                    continue
            background = self._background
            if background is not None and background.ready and (inline or not background.stopped):
                return background.ready.popleft()
            if not wait and (background is None or not background.busy):
                return None
            self._wakeup = anyio.Event()
            await self._wakeup.wait()

    async def receive_messages(self) -> AsyncIterator[Message]:
        """Every message, turn after turn, waiting for new prompts (break out to stop)."""
        async for message in self._receive(wait=True, until_result=False):
            yield message

    async def receive_response(self) -> AsyncIterator[Message]:
        """Messages up to and including the next ResultMessage."""
        async for message in self._receive(wait=True, until_result=True):
            yield message

    async def _receive(self, *, wait: bool, until_result: bool) -> AsyncIterator[Message]:
        runtime = self._require()
        if self._pump_task is None:
            async for message in self._receive_inline(
                runtime, wait=wait, until_result=until_result
            ):
                yield message
            return
        while True:
            if self._outbox:
                item = self._outbox.popleft()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if until_result and isinstance(item, ResultMessage):
                    return
                continue
            if not wait and self._idle():
                return
            if self._pump_task is None or self._pump_task.done():
                self._require()
                return
            self._arrived = anyio.Event()
            await self._arrived.wait()

    async def _receive_inline(
        self, runtime: Runtime, *, wait: bool, until_result: bool
    ) -> AsyncIterator[Message]:
        """Without asyncio (trio): the turn runs in the receiver's task."""
        if self._receiving:
            raise UserError("another task is already receiving from this client")
        self._receiving = True
        try:
            while True:
                prompt = await self._next_prompt(wait=wait, inline=wait)
                if prompt is None:
                    return
                async for message in self._turn(runtime, prompt):
                    yield message
                if until_result:
                    return
        finally:
            self._receiving = False

    async def drain(self) -> AsyncIterator[Message]:
        """Run every queued prompt (and the connect() stream) to the end, then stop."""
        async for message in self._receive(wait=False, until_result=False):
            yield message

    async def interrupt(self) -> None:
        """Stop the turn in flight; its ResultMessage reports ``terminal_reason`` aborted_*."""
        self._require().interrupt()

    async def compact(self, instructions: str | None = None) -> CompactResult:
        """Summarise the history before the last reply now (between turns).

        Raises :class:`~threadline.CompactionError` when there is too little history, a
        ``PreCompact`` hook blocks it, or the model call fails; the session is unchanged.
        """
        if instructions is not None and not isinstance(instructions, str):
            raise UserError(f"compact() instructions must be a str or None, not {instructions!r}")
        runtime = self._require()
        if self._receiving or self._busy:
            raise UserError("compact() cannot run while a turn is running")
        self._busy = True
        try:
            return await runtime.compact(trigger="manual", instructions=instructions)
        finally:
            self._busy = False
            self._wakeup.set()

    async def rewind_files(self, user_message_id: str) -> list[str]:
        """Restore the files changed since prompt ``user_message_id``; returns their paths.

        Needs ``enable_file_checkpointing=True``. Files created since are removed, edited
        ones get their content back. Accepts the uuid of a prompt of this session or, in a
        fork, of the prompt it was copied from.
        """
        runtime = self._require()
        if self._receiving or self._busy:
            raise UserError("rewind_files() cannot run while a turn is running")
        self._busy = True
        try:
            return await runtime.rewind_files(user_message_id)
        finally:
            self._busy = False
            self._wakeup.set()

    async def get_server_info(self) -> dict[str, Any] | None:
        """The official initialize keys that mean something in-process (``commands``,
        ``agents``, ``output_style``, ``models``, ``account``, ``current_permission_mode``,
        ...), plus threadline's ``session_id``, ``model`` and ``tools``."""
        return _control.server_info(self._require(), running=self._busy)

    async def get_mcp_status(self) -> McpStatusResponse:
        """``{"mcpServers": [...]}``: each configured MCP server's status, as the official.

        A server that failed to start or connect is ``"status": "failed"`` with its
        ``error``; connected ones carry ``serverInfo``, ``config`` and ``tools``; one
        switched off by ``toggle_mcp_server`` is ``"disabled"``.
        """
        servers = [dict(s) for s in self._require().mcp_status]
        return cast("McpStatusResponse", {"mcpServers": servers})

    async def get_context_usage(self) -> ContextUsageResponse:
        """What the next request would hold, by category (the CLI's ``/context``).

        Counts are estimates (4 characters a token) until a reply reports the real input
        size, which then fixes the total; ``apiUsage`` is the last reply's ``usage``.
        """
        return cast("ContextUsageResponse", _control.context_usage(self._require()))

    async def set_permission_mode(self, mode: PermissionMode) -> None:
        """The permission mode from the next tool call on (also within a running turn)."""
        _control.set_permission_mode(self._require(), mode)

    async def set_model(self, model: str | None = None) -> None:
        """The model of the next request; None goes back to the default model."""
        _control.set_model(self._require(), model)

    async def reconnect_mcp_server(self, server_name: str) -> None:
        """Connect an MCP server again (e.g. one that failed); raises if that fails."""
        runtime = self._require()
        assert self._stack is not None
        await _control.reconnect_mcp_server(runtime, server_name, stack=self._stack)

    async def toggle_mcp_server(self, server_name: str, enabled: bool) -> None:
        """Disable a server (its tools leave the tool set) or enable it again."""
        runtime = self._require()
        assert self._stack is not None
        await _control.toggle_mcp_server(runtime, server_name, enabled, stack=self._stack)

    async def stop_task(self, task_id: str) -> None:
        """Stop a background subagent or background shell by its task id.

        Its end is reported in the stream, as the CLI reports it: a ``TaskUpdatedMessage``
        whose status is ``killed``; an unknown or finished id is no error, as officially.
        """
        runtime = self._require()
        if _control.stop_task(runtime, self._background, task_id) and self._pump_task is not None:
            self._emit(system_message(_control.task_killed(runtime, task_id)))


ClaudeSDKClient = AgentClient
