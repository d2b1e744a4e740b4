"""Options shared by ``threadline run`` and ``threadline chat``, and building AgentOptions.

Also what both need while a turn runs: retries shown as they happen (on stderr), and
SIGTERM / SIGHUP handled like Ctrl-C (the turn is interrupted, its tools killed, the
interruption recorded in the transcript) before the process exits.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import click

from .._client import AgentClient
from ..providers._registry import provider_names
from ..providers._retry import RetryEvent, RetryPolicy
from ..runtime._options import AgentOptions
from ..runtime._permissions import CanUseTool, PermissionMode
from ..sessions._protocol import SessionStore
from ._backend import Backend
from ._errors import EXIT_USAGE, fail
from ._safe import one_line

__all__ = [
    "AgentFlags",
    "Terminated",
    "agent_flags",
    "build_options",
    "flags_from",
    "interrupt_client",
    "interruptible",
    "show_retry",
    "wait_for",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto")
DEFAULT_RETRY_TIMEOUT = 60.0


@dataclass(frozen=True, kw_only=True)
class AgentFlags:
    """The command-line flags that shape a run."""

    resume: str | None = None
    continue_conversation: bool = False
    fork: bool = False
    model: str | None = None
    provider: str | None = None
    base_url: str | None = None
    allowed_tools: tuple[str, ...] = ()
    permission_mode: str | None = None
    cwd: str | None = None
    store_url: str | None = None
    max_retries: int | None = None
    retry_timeout: float | None = None


def _check_provider(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--provider``: any name in the provider registry (read when the flag is parsed)."""
    if value is not None and value not in provider_names():
        names = ", ".join(provider_names())
        raise click.BadParameter(f"{value!r} is not a registered provider (choose from {names})")
    return value


def agent_flags(func: F) -> F:
    """Add the session and model options to a click command.

    Long: a flat list of click options (data, not logic).
    """
    decorators = [
        click.option("--resume", "-r", "resume", metavar="ID", help="Resume the session ID."),
        click.option(
            "--continue",
            "-c",
            "continue_conversation",
            is_flag=True,
            help="Continue the newest session of this directory.",
        ),
        click.option(
            "--fork",
            "fork",
            is_flag=True,
            help="With --resume/--continue: write to a fork, leave the original untouched.",
        ),
        click.option("--model", "-m", metavar="NAME", help="Model name (default: the SDK's)."),
        click.option(
            "--provider",
            metavar="NAME",
            callback=_check_provider,
            help="Model API: a registered provider name (built in: "
            + ", ".join(provider_names())
            + "; default: anthropic, or openai when only OPENAI_* is configured).",
        ),
        click.option("--base-url", metavar="URL", help="API base URL (e.g. a proxy or a fake)."),
        click.option(
            "--allowed-tools",
            metavar="TOOLS",
            multiple=True,
            help="Tools allowed without asking (comma/space separated, repeatable).",
        ),
        click.option(
            "--permission-mode",
            type=click.Choice(PERMISSION_MODES),
            help="Permission mode for tool calls.",
        ),
        click.option(
            "--cwd",
            type=click.Path(exists=True, file_okay=False),
            help="Working directory of the agent (default: the current directory).",
        ),
        click.option(
            "--store",
            "store_url",
            metavar="URL",
            envvar="THREADLINE_STORE",
            help="Session store URL (default: Claude Code's files); see docs/cli.md.",
        ),
        click.option(
            "--max-retries",
            type=click.IntRange(min=0),
            envvar="THREADLINE_MAX_RETRIES",
            help="Retries of a failed model request (default 8).",
        ),
        click.option(
            "--retry-timeout",
            type=click.FloatRange(min=0),
            envvar="THREADLINE_RETRY_TIMEOUT",
            help=f"Give up retrying a model request after this many seconds "
            f"(default {DEFAULT_RETRY_TIMEOUT:g}).",
        ),
    ]
    for deco in reversed(decorators):
        func = deco(func)
    return func


def flags_from(params: dict[str, Any]) -> AgentFlags:
    """Pop the agent flags out of click's keyword arguments."""
    tools: list[str] = []
    for raw in params.pop("allowed_tools", ()) or ():
        tools.extend(t for t in raw.replace(",", " ").split() if t)
    return AgentFlags(
        resume=params.pop("resume", None),
        continue_conversation=bool(params.pop("continue_conversation", False)),
        fork=bool(params.pop("fork", False)),
        model=params.pop("model", None),
        provider=params.pop("provider", None),
        base_url=params.pop("base_url", None),
        allowed_tools=tuple(tools),
        permission_mode=params.pop("permission_mode", None),
        cwd=params.pop("cwd", None),
        store_url=params.pop("store_url", None),
        max_retries=params.pop("max_retries", None),
        retry_timeout=params.pop("retry_timeout", None),
    )


def show_retry(event: RetryEvent) -> None:
    """One line on stderr per retry: attempt, wait and cause."""
    cause = one_line(str(event.error)).removeprefix("API Error: ")
    click.echo(
        f"⟳ model request failed ({cause[:200]}); retry {event.attempt}/{event.max_retries} "
        f"in {event.delay_s:.1f} s",
        err=True,
    )


def _retry_policy(flags: AgentFlags) -> RetryPolicy:
    base = RetryPolicy()
    return RetryPolicy(
        max_retries=base.max_retries if flags.max_retries is None else flags.max_retries,
        base_delay_s=base.base_delay_s,
        max_delay_s=base.max_delay_s,
        max_elapsed_s=DEFAULT_RETRY_TIMEOUT if flags.retry_timeout is None else flags.retry_timeout,
        on_retry=show_retry,
    )


def _session(flags: AgentFlags, backend: Backend) -> tuple[str | None, bool, SessionStore | None]:
    """(resume id, continue, session store) for the flags, encrypted sessions included."""
    if flags.fork and not (flags.resume or flags.continue_conversation):
        fail("--fork needs --resume ID or --continue", EXIT_USAGE)
    if flags.resume and flags.continue_conversation:
        fail("use either --resume or --continue, not both", EXIT_USAGE)
    if flags.resume is not None:
        sid = backend.resolve(flags.resume)
        routed = backend.route(sid)
        return sid, False, routed[0] if routed else None
    if flags.continue_conversation and backend.store is None:
        newest = backend.list_infos(flags.cwd or os.getcwd(), 1)
        if newest and backend.route(newest[0].session_id) is not None:
            # The newest session is encrypted: resume it through EncryptedStore.
            return newest[0].session_id, False, backend.encrypted_store(newest[0].session_id)
    return None, flags.continue_conversation, backend.store


def build_options(
    flags: AgentFlags,
    backend: Backend,
    *,
    partial: bool,
    can_use_tool: CanUseTool | None = None,
) -> AgentOptions:
    """AgentOptions for the flags (``partial``: stream text deltas)."""
    resume, continue_conversation, store = _session(flags, backend)
    return AgentOptions(
        resume=resume,
        continue_conversation=continue_conversation,
        fork_session=flags.fork,
        model=flags.model,
        base_url=flags.base_url,
        provider=flags.provider,
        allowed_tools=list(flags.allowed_tools),
        permission_mode=cast("PermissionMode | None", flags.permission_mode),
        cwd=flags.cwd,
        include_partial_messages=partial,
        session_store=store,
        retry_policy=_retry_policy(flags),
        can_use_tool=can_use_tool,
    )


class Terminated(Exception):
    """SIGTERM or SIGHUP arrived: stop like Ctrl-C, then exit ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated(signum)


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` in the main thread meanwhile."""
    names = ("SIGTERM", "SIGHUP")
    old: dict[int, Any] = {}
    try:
        for name in names:
            num = getattr(signal, name, None)
            if num is not None:
                old[num] = signal.signal(num, _raise_terminated)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass
    try:
        yield
    finally:
        for num, handler in old.items():
            signal.signal(num, handler)


def wait_for(
    future: concurrent.futures.Future[T],
    *,
    on_interrupt: Callable[[BaseException], None],
    poll: Callable[[], None] | None = None,
    grace_s: float = 15.0,
) -> tuple[T | None, BaseException | None]:
    """Wait for ``future`` in the main thread; Ctrl-C / SIGTERM / SIGHUP call ``on_interrupt``.

    After an interruption the turn gets ``grace_s`` to stop (record the interruption, kill
    its tools); a second interruption or the end of the grace cancels it. Returns (result,
    the interruption or None).
    """
    stop: BaseException | None = None
    deadline: float | None = None
    import time

    while True:
        try:
            try:
                return future.result(timeout=0.1), stop
            except concurrent.futures.TimeoutError:
                pass
            if deadline is not None and time.monotonic() > deadline:
                future.cancel()
                return None, stop
            if poll is not None and stop is None:
                poll()  # may ask the user: Ctrl-C there is an interruption too
        except concurrent.futures.CancelledError:
            return None, stop
        except (KeyboardInterrupt, Terminated) as exc:
            if stop is not None:
                future.cancel()
                return None, stop
            stop = exc
            deadline = time.monotonic() + grace_s
            try:
                on_interrupt(exc)
            except Exception as err:  # the turn may have just ended
                sys.stderr.write(f"threadline: could not interrupt cleanly: {err}\n")


def interrupt_client(backend: Backend, client: AgentClient) -> Callable[[BaseException], None]:
    def stop(_exc: BaseException) -> None:
        backend.call(client.interrupt)

    return stop
