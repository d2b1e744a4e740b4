"""Output helpers shared by the commands: rich consoles, JSON, progress bars, ids."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
import orjson

from ._safe import json_safe, one_line

if TYPE_CHECKING:  # rich loads with the first console: `threadline run` prints without it
    from rich.console import Console

__all__ = [
    "echo_json",
    "err_console",
    "fmt_size",
    "fmt_time",
    "out_console",
    "progress_bar",
    "short",
]

_PREFIX_RE = re.compile(r"^[0-9a-fA-F-]{4,36}$")


def out_console() -> Console:
    """A console on stdout (wide when not a terminal, so tables do not fold ids)."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal:
        # Piped: wide enough that ids and paths are never cut (tables only take what they need).
        console = Console(highlight=False, width=max(console.width, 1000), no_color=True)
    return console


def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def echo_json(obj: Any) -> None:
    """``obj`` as indented JSON; control characters stay escaped (C1 and bidi ones too). Text
    that is not valid Unicode (a lone surrogate: a path with undecodable bytes, text cut
    inside a surrogate pair), which orjson refuses, is written as a ``\\udXXX`` escape."""
    try:
        text = orjson.dumps(obj, default=str, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        import json

        text = json.dumps(obj, default=str, indent=2)  # (ASCII: every such text escaped)
    click.echo(json_safe(text))


def fmt_time(epoch_ms: int | None) -> str:
    if not epoch_ms:
        return ""
    return datetime.fromtimestamp(epoch_ms / 1000).strftime("%Y-%m-%d %H:%M")


def fmt_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def short(text: str | None, width: int = 60) -> str:
    """``text`` on one line, controls made visible, cut to ``width`` characters."""
    if not text:
        return ""
    one = one_line(text[: width * 4 + 64])  # linear in width, not in len(text)
    return one if len(one) <= width else one[: width - 1] + "…"


ProgressFn = Callable[[int, int], None]


@contextmanager
def progress_bar(
    label: str, *, enabled: bool | None = None, unit: str = "items"
) -> Iterator[ProgressFn]:
    """A rich progress bar on stderr, fed as ``update(done, total)``.

    Shown only on a terminal (or with ``THREADLINE_PROGRESS=1``); otherwise a no-op.
    ``unit="bytes"`` shows sizes and a transfer speed instead of counts.
    """
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    console = err_console()
    if enabled is None:
        enabled = console.is_terminal or os.environ.get("THREADLINE_PROGRESS") == "1"
    if not enabled:
        yield lambda done, total: None
        return
    counter: Any = (
        (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
    )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *counter,
        TimeElapsedColumn(),
        console=console,
        transient=console.is_terminal,
    )
    task = progress.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield update
