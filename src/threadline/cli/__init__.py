"""The ``threadline`` command line (needs the ``cli`` extra: click and rich).

One click command (group) per module: :mod:`.run`, :mod:`.chat`, :mod:`.sessions`
(with :mod:`.show`, :mod:`.search` and :mod:`.bundle` adding to it). Exit codes are
listed in :mod:`._errors`.
"""

from __future__ import annotations

import click

from .._lazy import import_first

__all__ = ["cli", "main"]

_COMMANDS = {
    "run": (".run", "run_command"),
    "chat": (".chat", "chat_command"),
    "sessions": (".sessions", "sessions_group"),
    "serve": (".serve", "serve_command"),
}
"""Each command's module loads when the command is asked for: ``threadline run`` does not
import the session browser, bundles or the web server."""


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*_COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, name = _COMMANDS[cmd_name]
        # as threadline's lazy names: the first import with the cyclic GC paused
        command = getattr(import_first(module, __name__), name)
        assert isinstance(command, click.Command)
        return command


_EPILOG = """\b
Examples:
  threadline run "what does this repo do?"
  threadline chat -c
  threadline sessions list --all-projects
  threadline sessions search "rate limit"
  threadline sessions export 1f0e...c2 -o session.tlbundle
  threadline serve --open

\b
Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 invalid id, 5 model/provider,
6 storage/conflict, 7 bundle rejected, 8 unavailable, 130 interrupted,
129/143 ended by SIGHUP/SIGTERM.
Sessions live under $CLAUDE_CONFIG_DIR/projects (default ~/.claude), or in the store
given by --store URL / $THREADLINE_STORE (sqlite:///x.db, postgresql://..., redis://...,
encrypted+file: with $THREADLINE_ENCRYPTION_KEY).
"""


@click.group(
    cls=_LazyGroup, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="threadline", prog_name="threadline")
def cli() -> None:
    """threadline: run agents and manage their sessions (Claude Code transcripts)."""


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="threadline")
