"""``threadline chat``: an interactive session in the terminal.

The agent runs on an event loop in a background thread (an anyio blocking portal); the
main thread reads lines with ``readline`` (line editing, history in
``<config>/threadline/chat_history``). Ctrl-C during a turn calls
``AgentClient.interrupt()``: the turn stops, is recorded as interrupted, and the prompt
comes back. Ctrl-C at the prompt clears the line; Ctrl-D or ``/exit`` leaves.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from anyio.from_thread import BlockingPortal, start_blocking_portal
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
from ..sessions._paths import config_dir
from ._agent import agent_flags, build_options, flags_from
from ._console import short
from ._errors import handle_errors
from ._slash import SlashCommands

__all__ = ["ChatSession", "chat_command"]

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
    """Streams one turn to the terminal (runs on the event-loop thread)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.at_line_start = True

    def write(self, text: str) -> None:
        if text:
            sys.stdout.write(text)
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
                    args = escape(short(str(block.input), 70))
                    self.line(f"[dim]⏺ {escape(block.name)}({args})[/]")
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
            self.line(f"[red]✗ {escape(str(text))}[/]")


class ChatSession:
    """One chat: a connected client on the portal's loop, replaceable by /fork."""

    def __init__(self, options: AgentOptions, portal: BlockingPortal, console: Console) -> None:
        self.options = options
        self.portal = portal
        self.console = console
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
        """Run one turn; Ctrl-C interrupts it (the chat goes on)."""
        future = self.portal.start_task_soon(self._turn, prompt)
        while True:
            try:
                future.result(timeout=0.1)
                return
            except concurrent.futures.TimeoutError:
                continue
            except (ThreadlineError, OSError) as exc:
                self.console.print(f"[red]✗ {escape(str(exc))}[/]")
                return
            except KeyboardInterrupt:
                with contextlib.suppress(Exception):
                    self.portal.call(self.client.interrupt)

    def call(self, func: Any, *args: Any) -> Any:
        """Run ``await func(*args)`` on the agent's loop."""
        return self.portal.call(func, *args)


def _setup_readline() -> Path | None:
    try:
        import readline
    except ImportError:  # pragma: no cover - Windows without pyreadline
        return None
    path = config_dir() / "threadline" / "chat_history"
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.exists():
            readline.read_history_file(path)
    readline.set_history_length(2000)
    return path


def _remember(history: Path | None) -> None:
    if history is None:
        return
    import readline

    with contextlib.suppress(OSError):
        if not history.exists():
            history.touch(mode=0o600)
        readline.append_history_file(1, history)


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


def chat_loop(session: ChatSession, console: Console) -> None:
    history = _setup_readline()
    slash = SlashCommands(session, console)
    where = session.session_id or "?"
    console.print(f"[dim]threadline chat · session {where} · /help for commands[/]")
    while True:
        line = _read_line()
        if line is None:
            return
        text = line.strip()
        if not text:
            continue
        _remember(history)
        if text.startswith("/"):
            if not slash.run(text):
                return
            continue
        session.turn(text)


@click.command(
    "chat", epilog=_EPILOG, short_help="Interactive chat with streaming and slash commands."
)
@agent_flags
def chat_command(**params: Any) -> None:
    """Chat with the agent in this directory (streamed answers, slash commands)."""
    flags = flags_from(params)
    console = Console(highlight=False)
    with handle_errors():
        # Checkpoints make /rewind possible.
        options = replace(build_options(flags, partial=True), enable_file_checkpointing=True)
        with start_blocking_portal() as portal:
            session = ChatSession(options, portal, console)
            session.connect()
            try:
                chat_loop(session, console)
            finally:
                session.close()
