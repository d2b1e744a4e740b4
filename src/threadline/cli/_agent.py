"""Options shared by ``threadline run`` and ``threadline chat``, and building AgentOptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import click

from .._ids import is_uuid
from ..runtime._options import AgentOptions
from ..runtime._permissions import PermissionMode
from ._console import resolve_session_id
from ._errors import fail

__all__ = ["AgentFlags", "agent_flags", "build_options"]

F = TypeVar("F", bound=Callable[..., Any])

PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions", "dontAsk", "auto")
PROVIDERS = ("anthropic", "openai")


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


def agent_flags(func: F) -> F:
    """Add the session and model options to a click command."""
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
            type=click.Choice(PROVIDERS),
            help="Model API (default: anthropic, or openai when only OPENAI_* is configured).",
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
    )


def build_options(flags: AgentFlags, *, partial: bool) -> AgentOptions:
    """AgentOptions for the flags (``partial``: stream text deltas)."""
    if flags.fork and not (flags.resume or flags.continue_conversation):
        fail("--fork needs --resume ID or --continue", 2)
    if flags.resume and flags.continue_conversation:
        fail("use either --resume or --continue, not both", 2)
    resume = flags.resume
    if resume is not None and not is_uuid(resume):
        resume = resolve_session_id(resume)  # a unique prefix, or a clear error
    return AgentOptions(
        resume=resume,
        continue_conversation=flags.continue_conversation,
        fork_session=flags.fork,
        model=flags.model,
        base_url=flags.base_url,
        provider=cast("Literal['anthropic', 'openai'] | None", flags.provider),
        allowed_tools=list(flags.allowed_tools),
        permission_mode=cast("PermissionMode | None", flags.permission_mode),
        cwd=flags.cwd,
        include_partial_messages=partial,
    )
