"""The slash commands of ``threadline chat``."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._exceptions import ThreadlineError
from ..sessions import (
    fork_session,
    get_session_messages,
    list_sessions,
    rename_session,
    tag_session,
)
from ._console import fmt_time, short

if TYPE_CHECKING:
    from .chat import ChatSession

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


class SlashCommands:
    """Dispatches ``/name args`` lines; :meth:`run` returns False to leave the chat."""

    def __init__(self, session: ChatSession, console: Console) -> None:
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
            self.say(f"[red]✗ {escape(str(exc).splitlines()[0] if str(exc) else repr(exc))}[/]")
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
        infos = list_sessions(directory=os.getcwd(), limit=20)
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
            table.add_row(info.session_id + marker, fmt_time(info.last_modified), short(title, 50))
        self.console.print(table)

    def rename(self, arg: str) -> None:
        if not arg:
            self.say("usage: /rename TITLE")
            return
        try:
            rename_session(self._sid(), arg)
        except FileNotFoundError:
            self.say("Nothing saved yet: send a prompt first.")
            return
        self.say(f"Renamed to {escape(arg)}")

    def tag(self, arg: str) -> None:
        if not arg:
            self.say("usage: /tag TAG  or  /tag --clear")
            return
        clear = arg == "--clear"
        try:
            tag_session(self._sid(), None if clear else arg)
        except FileNotFoundError:
            self.say("Nothing saved yet: send a prompt first.")
            return
        self.say("Tag cleared" if clear else f"Tagged {escape(arg)}")

    def fork(self, arg: str) -> None:
        try:
            result = fork_session(self._sid(), title=arg or None)
        except FileNotFoundError:
            self.say("Nothing saved yet: send a prompt first.")
            return
        old = self._sid()
        self.session.switch_to(result.session_id)
        self.say(f"Forked {old} → now in {result.session_id}")

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
        changed = self.session.call(rewind, args[0])
        count = len(changed) if isinstance(changed, list) else 0
        self.say(f"Rewound {count} file(s) to their state at {escape(args[0])}")

    def _prompts(self) -> None:
        self.say("usage: /rewind MESSAGE_UUID, one of this session's prompts:")
        sid = self.session.session_id
        prompts = [
            m
            for m in (get_session_messages(sid) if sid else [])
            if m.type == "user" and isinstance(m.message.get("content"), str)
        ]
        for m in prompts[-10:]:
            self.say(f"  {m.uuid}  {escape(short(str(m.message.get('content')), 60))}")
