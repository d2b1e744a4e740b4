"""The slash commands of ``threadline chat``."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._client import AgentClient
from .._exceptions import SessionNotFoundError, ThreadlineError
from .._ids import is_uuid
from ._backend import MIN_PREFIX, Backend
from ._console import fmt_time, short

__all__ = ["SlashCommands"]

HELP = [
    ("/help", "this list"),
    ("/sessions", "sessions of this project"),
    ("/session", "the current session id"),
    ("/rename TITLE", "set the session's title"),
    ("/tag TAG | /tag --clear", "tag the session (or clear the tag)"),
    ("/fork [TITLE]", "copy the session and continue in the copy"),
    ("/compact [INSTRUCTIONS]", "summarise older history to save context"),
    ("/rewind MESSAGE_UUID", "restore files to their state at a message"),
    ("/exit", "leave (also /quit or Ctrl-D)"),
]


class ChatSessionLike(Protocol):
    """What the commands use of the chat (``chat.ChatSession`` has it): the session, its
    store, the client, switching sessions, and running a client coroutine."""

    backend: Backend
    client: AgentClient

    @property
    def session_id(self) -> str | None: ...

    def switch_to(self, session_id: str) -> None: ...

    def call(self, func: Any, *args: Any) -> Any: ...


class SlashCommands:
    """Dispatches ``/name args`` lines; :meth:`run` returns False to leave the chat."""

    def __init__(self, session: ChatSessionLike, console: Console) -> None:
        self.session = session
        self.console = console
        self._table: dict[str, Callable[[str], None]] = {
            "help": self.help,
            "sessions": self.sessions,
            "session": self.current,
            "rename": self.rename,
            "tag": self.tag,
            "fork": self.fork,
            "compact": self.compact,
            "rewind": self.rewind,
        }

    def run(self, line: str) -> bool:
        name, _, arg = line[1:].partition(" ")
        name = name.lower()
        if name in ("exit", "quit"):
            return False
        handler = self._table.get(name)
        if handler is None:
            self.say(f"[red]unknown command /{escape(name)}[/] (try /help)")
            return True
        try:
            handler(arg.strip())
        except (ThreadlineError, OSError, ValueError) as exc:
            self.say(f"[red]✗ {escape(short(str(exc) or repr(exc), 300))}[/]")
        return True

    def say(self, markup: str) -> None:
        self.console.print(markup, soft_wrap=True)

    def _sid(self) -> str:
        sid = self.session.session_id
        if sid is None:  # pragma: no cover - always connected in the chat
            raise ThreadlineError("not connected")
        return sid

    # -- commands ------------------------------------------------------------------------

    def help(self, _arg: str) -> None:
        table = Table(box=None, show_header=False)
        for usage, text in HELP:
            table.add_row(f"[bold]{escape(usage)}[/]", text)
        self.console.print(table)

    def current(self, _arg: str) -> None:
        self.say(self._sid())

    def sessions(self, _arg: str) -> None:
        infos = self.session.backend.list_infos(os.getcwd(), 20)
        if not infos:
            self.say("No saved sessions in this project yet.")
            return
        table = Table(box=None, header_style="bold")
        for col in ("ID", "MODIFIED", "TITLE"):
            table.add_column(col, no_wrap=col != "TITLE")
        current = self.session.session_id
        for info in infos:
            marker = " *" if info.session_id == current else ""
            title = info.custom_title or info.summary or info.first_prompt or ""
            table.add_row(
                info.session_id + marker, fmt_time(info.last_modified), escape(short(title, 50))
            )
        self.console.print(table)

    def rename(self, arg: str) -> None:
        if not arg:
            self.say("usage: /rename TITLE")
            return
        try:
            self.session.backend.rename(self._sid(), arg)
        except (FileNotFoundError, SessionNotFoundError):
            self.say("Nothing saved yet: send a prompt first.")
            return
        self.say(f"Renamed to {escape(short(arg, 200))}")

    def tag(self, arg: str) -> None:
        if not arg:
            self.say("usage: /tag TAG  or  /tag --clear")
            return
        clear = arg == "--clear"
        try:
            self.session.backend.tag(self._sid(), None if clear else arg)
        except (FileNotFoundError, SessionNotFoundError):
            self.say("Nothing saved yet: send a prompt first.")
            return
        self.say("Tag cleared" if clear else f"Tagged {escape(short(arg, 200))}")

    def fork(self, arg: str) -> None:
        try:
            forked = self.session.backend.fork(self._sid(), None, arg or None)
        except (FileNotFoundError, SessionNotFoundError):
            self.say("Nothing saved yet: send a prompt first.")
            return
        old = self._sid()
        self.session.switch_to(forked)
        self.say(f"Forked {old} → now in {forked}")

    def compact(self, arg: str) -> None:
        compact = getattr(self.session.client, "compact", None)
        if compact is None:
            self.say("/compact is not available in this build of threadline")
            return
        result = self.session.call(compact, arg) if arg else self.session.call(compact)
        pre, post = getattr(result, "pre_tokens", None), getattr(result, "post_tokens", None)
        detail = f": {pre} → {post} tokens" if pre is not None and post is not None else ""
        self.say(f"Compacted{detail}")

    def rewind(self, arg: str) -> None:
        rewind = getattr(self.session.client, "rewind_files", None)
        if rewind is None:
            self.say("/rewind is not available in this build of threadline")
            return
        args = shlex.split(arg)
        if len(args) != 1:
            self._prompts()
            return
        target = self._prompt_uuid(args[0])
        if target is None:
            return
        changed = self.session.call(rewind, target)
        count = len(changed) if isinstance(changed, list) else 0
        self.say(f"Rewound {count} file(s) to their state at {escape(target)}")

    def _prompt_list(self) -> list[tuple[str, str]]:
        sid = self.session.session_id
        try:
            messages = self.session.backend.messages(sid) if sid else []
        except (FileNotFoundError, SessionNotFoundError):
            messages = []
        return [
            (m.uuid, str(m.message.get("content")))
            for m in messages
            if m.type == "user" and isinstance(m.message.get("content"), str)
        ]

    def _prompt_uuid(self, value: str) -> str | None:
        """A prompt's uuid from its uuid or a unique prefix (at least 4 characters)."""
        if is_uuid(value):
            return value
        if len(value) < MIN_PREFIX:
            self.say(f"[red]✗ give at least {MIN_PREFIX} characters of the message id[/]")
            return None
        found = [u for u, _ in self._prompt_list() if u.startswith(value.lower())]
        if len(found) != 1:
            what = "no prompt" if not found else "several prompts"
            self.say(f"[red]✗ {what} of this session start with {escape(short(value, 40))}[/]")
            return None
        return found[0]

    def _prompts(self) -> None:
        self.say("usage: /rewind MESSAGE_UUID (or a prefix), one of this session's prompts:")
        for uuid, text in self._prompt_list()[-10:]:
            self.say(f"  {uuid}  {escape(short(text, 60))}")
