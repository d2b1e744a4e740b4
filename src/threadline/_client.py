"""``AgentClient`` (alias ``ClaudeSDKClient``): a multi-turn conversation, in-process.

Same surface as the official client. ``query()`` only queues a prompt; the turn runs
while the caller iterates ``receive_response()`` / ``receive_messages()``, in the caller's
own task (the client may be used from any task and across task groups). ``interrupt()``
may be called from another task while a turn runs.

Background subagents are the one exception: each runs in a task of its own (see
:class:`~threadline.runtime._subagents.BackgroundTasks`), started by the ``Agent`` tool and
stopped by ``interrupt()`` / ``disconnect()``. Their reports reach the parent this way:

- a turn is running: the report is added after its next tool batch;
- a user prompt is about to run: the report is added right after the prompt;
- otherwise the report starts a turn of its own (the CLI's task-notification turn, with
  its own ResultMessage): on the next ``receive_response()`` that finds no queued prompt,
  in ``receive_messages()`` as soon as the report arrives, and at the end of ``drain()``
  (and so of ``query()``), which waits for the running children.

The session is resolved in ``connect()``: an unknown ``resume`` id raises there, before
any model call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import anyio

from ._exceptions import CLIConnectionError, UserError
from ._ids import is_uuid
from ._messages import Message
from .runtime._assemble import open_runtime
from .runtime._compaction import CompactResult
from .runtime._context import Prompt
from .runtime._loop import NOTIFICATION_FIELDS, Runtime
from .runtime._options import AgentOptions
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

    async def disconnect(self) -> None:
        """Close the session (runs SessionEnd hooks; idempotent)."""
        runtime, stack, background = self._runtime, self._stack, self._background
        self._runtime, self._stack, self._background = None, None, None
        if runtime is None or stack is None:
            return
        self._disconnected = True
        try:
            with anyio.CancelScope(shield=True):
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

    async def _next_prompt(self, *, wait: bool) -> Prompt | Notification | None:
        """The next queued prompt, else a background report to run as its own turn.

        ``wait=False`` (``drain()``) still waits while background children run (unless
        they were interrupted), so a ``query()`` ends only after their reports.
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
            if background is not None and background.ready and (wait or not background.stopped):
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
        if self._receiving:
            raise UserError("another task is already receiving from this client")
        self._receiving = True
        try:
            while True:
                prompt = await self._next_prompt(wait=wait)
                if prompt is None:
                    return
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
        if self._receiving:
            raise UserError("compact() cannot run while a turn is being received")
        return await self._require().compact(trigger="manual", instructions=instructions)

    async def rewind_files(self, user_message_id: str) -> list[str]:
        """Restore the files changed since prompt ``user_message_id``; returns their paths.

        Needs ``enable_file_checkpointing=True``. Files created since are removed, edited
        ones get their content back. Accepts the uuid of a prompt of this session or, in a
        fork, of the prompt it was copied from.
        """
        if self._receiving:
            raise UserError("rewind_files() cannot run while a turn is being received")
        return await self._require().rewind_files(user_message_id)

    async def get_server_info(self) -> dict[str, Any] | None:
        runtime = self._require()
        return {
            "session_id": runtime.session_id,
            "model": runtime.model,
            "tools": list(runtime.tools),
        }

    async def get_mcp_status(self) -> dict[str, Any]:
        """``{"mcpServers": [...]}``: each configured MCP server's status, as the official.

        A server that failed to start or connect is ``"status": "failed"`` with its
        ``error``; connected ones carry ``serverInfo``, ``config`` and ``tools``.
        """
        return {"mcpServers": [dict(s) for s in self._require().mcp_status]}


ClaudeSDKClient = AgentClient
