"""``threadline chat``: an interactive session in the terminal.

The agent runs on an event loop in a background thread (an anyio blocking portal); the
main thread reads lines with ``readline`` (line editing, history in
``<config>/threadline/chat_history``: 0600, credentials redacted, can be turned off) and
answers permission questions. Ctrl-C during a turn calls ``AgentClient.interrupt()``: the
turn stops, is recorded as interrupted, and the prompt comes back. Ctrl-C at the prompt
clears the line; Ctrl-D or ``/exit`` leaves. SIGTERM / SIGHUP interrupt the turn the same
way, then end the chat.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import queue
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio
import click
from rich.console import Console
from rich.markup import escape

from .._client import AgentClient
from .._exceptions import ThreadlineError
from .._messages import (
    AssistantMessage,
    Message,
    ResultMessage,
    StreamEvent,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from ..runtime._options import AgentOptions
from ..runtime._permissions import (
    PermissionResult,
    PermissionResultAllow,
    PermissionResultDeny,
    ToolPermissionContext,
)
from ..sessions._paths import config_dir
from ._agent import Terminated, agent_flags, build_options, flags_from, interruptible, wait_for
from ._backend import Backend, open_backend
from ._console import short
from ._errors import CliError, handle_errors
from ._safe import visible
from ._slash import SlashCommands
from .run import tool_args

__all__ = ["ChatSession", "Permissions", "chat_command"]

PROMPT = "> "

_EPILOG = """\b
Examples:
  threadline chat
  threadline chat -c                      # continue this directory's newest session
  threadline chat -r 1f0e... --fork       # branch off an old session

\b
In the chat: /help lists the slash commands; Ctrl-C stops the answer; Ctrl-D exits.
"""


class _Renderer:
    """Streams one turn to the terminal (runs on the event-loop thread).

    All of it is untrusted (the model's text, tool names, inputs and results): control
    characters are made visible before they reach the terminal.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.at_line_start = True

    def write(self, text: str) -> None:
        if text:
            sys.stdout.write(visible(text))
            sys.stdout.flush()
            self.at_line_start = text.endswith("\n")

    def line(self, markup: str) -> None:
        if not self.at_line_start:
            self.write("\n")
        self.console.print(markup, soft_wrap=True)
        self.at_line_start = True

    def handle(self, msg: Message) -> None:
        if isinstance(msg, StreamEvent):
            event = msg.event
            delta = event.get("delta") or {}
            if event.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
                self.write(str(delta.get("text", "")))
        elif isinstance(msg, AssistantMessage):
            for block in msg.content:
                if isinstance(block, ToolUseBlock):
                    self.line(
                        f"[dim]⏺ {escape(short(block.name, 60))}({escape(tool_args(block.input))})[/]"
                    )
        elif isinstance(msg, UserMessage) and isinstance(msg.content, list):
            for block in msg.content:
                if isinstance(block, ToolResultBlock):
                    text = block.content if isinstance(block.content, str) else str(block.content)
                    self.line(f"[dim]  ⎿ {escape(short(text, 90))}[/]")
        elif isinstance(msg, ResultMessage):
            self._result(msg)

    def _result(self, msg: ResultMessage) -> None:
        if not self.at_line_start:
            self.write("\n")
        reason = msg.terminal_reason or ""
        if msg.is_error and reason.startswith("aborted"):
            self.line("[yellow]⏹ interrupted[/]")
        elif msg.is_error:
            text = (msg.errors or [msg.result or msg.subtype])[0]
            self.line(f"[red]✗ {escape(short(str(text), 300))}[/]")


@dataclass
class _Ask:
    """A permission question from the agent's loop, answered by the main thread."""

    tool: str
    input: dict[str, Any]
    answer: concurrent.futures.Future[PermissionResult] = field(
        default_factory=concurrent.futures.Future
    )


class Permissions:
    """``can_use_tool`` for the chat: asks in the terminal (once / always / deny).

    The question is put in a queue by the agent's loop and answered by the main thread
    (which owns the terminal), while the loop waits without blocking.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.always: set[str] = set()
        self.pending: queue.Queue[_Ask] = queue.Queue()

    async def can_use_tool(
        self, tool: str, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> PermissionResult:
        if tool in self.always:
            return PermissionResultAllow()
        ask = _Ask(tool, tool_input)
        self.pending.put(ask)
        try:
            return await anyio.to_thread.run_sync(ask.answer.result, abandon_on_cancel=True)
        finally:
            ask.answer.cancel()  # interrupted: the main thread does not ask any more

    def serve(self) -> None:
        """Answer the questions waiting (main thread)."""
        while True:
            try:
                ask = self.pending.get_nowait()
            except queue.Empty:
                return
            if not ask.answer.done():
                self._ask(ask)

    def deny_all(self) -> None:
        while True:
            try:
                ask = self.pending.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                ask.answer.set_result(PermissionResultDeny(message="The user interrupted."))

    def _ask(self, ask: _Ask) -> None:
        name = short(ask.tool, 60)
        self.console.print(
            f"[bold yellow]?[/] Allow [bold]{escape(name)}[/]({escape(tool_args(ask.input))})?",
            soft_wrap=True,
        )
        while True:
            try:
                reply = input(f"  [y] yes once  [a] always allow {name} in this chat  [n] no: ")
            except EOFError:
                reply = "n"
            except KeyboardInterrupt:
                self.set(ask, PermissionResultDeny(message="The user interrupted.", interrupt=True))
                raise
            choice = reply.strip().lower()[:1]
            if choice in ("y", "a", "n"):
                break
        if choice == "a":
            self.always.add(ask.tool)
        if choice == "n":
            self.set(ask, PermissionResultDeny(message=f"The user denied {ask.tool}."))
        else:
            self.set(ask, PermissionResultAllow())

    @staticmethod
    def set(ask: _Ask, result: PermissionResult) -> None:
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            ask.answer.set_result(result)


class ChatSession:
    """One chat: a connected client on the backend's loop, replaceable by /fork."""

    def __init__(
        self, options: AgentOptions, backend: Backend, console: Console, permissions: Permissions
    ) -> None:
        self.options = options
        self.backend = backend
        self.portal = backend.portal
        self.console = console
        self.permissions = permissions
        self.client = AgentClient(options)

    @property
    def session_id(self) -> str | None:
        return self.client.session_id

    def connect(self) -> None:
        self.portal.call(self.client.connect)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.portal.call(self.client.disconnect)

    def switch_to(self, session_id: str) -> None:
        """Reconnect to another session (a fork), keeping the other options."""
        self.close()
        self.options = replace(
            self.options, resume=session_id, continue_conversation=False, fork_session=False
        )
        self.client = AgentClient(self.options)
        self.connect()

    async def _turn(self, prompt: str) -> None:
        renderer = _Renderer(self.console)
        await self.client.query(prompt)
        async for msg in self.client.receive_response():
            renderer.handle(msg)

    def turn(self, prompt: str) -> None:
        """Run one turn; Ctrl-C interrupts it (the chat goes on); SIGTERM/SIGHUP end the chat."""
        future = self.portal.start_task_soon(self._turn, prompt)

        def stop(exc: BaseException) -> None:
            self.permissions.deny_all()
            self.portal.call(self.client.interrupt)

        try:
            _, interruption = wait_for(future, on_interrupt=stop, poll=self.permissions.serve)
        except (ThreadlineError, OSError) as exc:
            self.console.print(f"[red]✗ {escape(short(str(exc), 300))}[/]")
            return
        if isinstance(interruption, Terminated):
            raise interruption

    def call(self, func: Any, *args: Any) -> Any:
        """Run ``await func(*args)`` on the agent's loop."""
        return self.portal.call(func, *args)


_OFF = ("0", "off", "no", "false", "")


def history_path(enabled: bool) -> Path | None:
    """The history file, or None when turned off (``--no-history``,
    ``THREADLINE_CHAT_HISTORY=off``); the variable may also name another file."""
    setting = os.environ.get("THREADLINE_CHAT_HISTORY")
    if not enabled or (setting is not None and setting.strip().lower() in _OFF):
        return None
    if setting:
        return Path(setting).expanduser()
    return config_dir() / "threadline" / "chat_history"


def _setup_readline(path: Path | None) -> bool:
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return False
    readline.set_history_length(2000)
    if path is None:
        return True
    with contextlib.suppress(OSError):
        if path.exists():
            os.chmod(path, 0o600)  # an older threadline made it 0644
            readline.read_history_file(path)
    return True


def _remember(path: Path | None, line: str) -> None:
    """Append ``line`` to the history file, credentials redacted, in a 0600 file."""
    if path is None:
        return
    from ..privacy import Redactor

    text = Redactor().redact_text(line).replace("\n", " ")
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, (text + "\n").encode("utf-8", "surrogateescape"))
        finally:
            os.close(fd)


def _redact_in_memory(line: str) -> None:
    """Replace the last readline history item by its redacted form (up-arrow shows that)."""
    try:
        import readline
    except ImportError:  # pragma: no cover
        return
    from ..privacy import Redactor

    redacted = Redactor().redact_text(line)
    n = readline.get_current_history_length()
    if redacted != line and n:
        with contextlib.suppress(ValueError):
            readline.replace_history_item(n - 1, redacted)


def _read_line() -> str | None:
    """A line from the user; None at EOF. Ctrl-C at the prompt just clears the line."""
    while True:
        try:
            return input(PROMPT)
        except KeyboardInterrupt:
            sys.stdout.write("\n")
        except EOFError:
            sys.stdout.write("\n")
            return None


def chat_loop(session: ChatSession, console: Console, history: Path | None) -> None:
    _setup_readline(history)
    slash = SlashCommands(session, console)
    where = session.session_id or "?"
    console.print(f"[dim]threadline chat · session {escape(where)} · /help for commands[/]")
    while True:
        line = _read_line()
        if line is None:
            return
        text = line.strip()
        if not text:
            continue
        _redact_in_memory(line)
        _remember(history, line)
        if text.startswith("/"):
            if not slash.run(text):
                return
            continue
        session.turn(text)


@click.command(
    "chat", epilog=_EPILOG, short_help="Interactive chat with streaming and slash commands."
)
@agent_flags
@click.option(
    "--no-history",
    is_flag=True,
    help="Keep no prompt history on disk (also THREADLINE_CHAT_HISTORY=off).",
)
def chat_command(no_history: bool, **params: Any) -> None:
    """Chat with the agent in this directory (streamed answers, slash commands).

    Tools that are not allowed up front (--allowed-tools, --permission-mode) are asked
    for: allow once, always (for the rest of the chat), or deny.
    """
    flags = flags_from(params)
    console = Console(highlight=False)
    permissions = Permissions(console)
    with handle_errors(), interruptible(), open_backend(flags.store_url) as backend:
        # Checkpoints make /rewind possible.
        options = replace(
            build_options(flags, backend, partial=True, can_use_tool=permissions.can_use_tool),
            enable_file_checkpointing=True,
        )
        session = ChatSession(options, backend, console, permissions)
        session.connect()
        try:
            chat_loop(session, console, history_path(not no_history))
        except Terminated as exc:
            console.print(f"[yellow]⏹ {exc}: the turn was interrupted; leaving[/]")
            raise CliError(f"terminated ({exc})", 128 + exc.signum) from None
        finally:
            session.close()
