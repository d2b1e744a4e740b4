"""The ``threadline`` command line (needs the ``cli`` extra: click and rich).

One click command (group) per module: :mod:`.run`, :mod:`.chat`, :mod:`.sessions`
(with :mod:`.show`, :mod:`.search` and :mod:`.bundle` adding to it). Exit codes are
listed in :mod:`._errors`.
"""

from __future__ import annotations

import click

from .chat import chat_command
from .run import run_command
from .serve import serve_command
from .sessions import sessions_group

__all__ = ["cli", "main"]

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


@click.group(epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="threadline", prog_name="threadline")
def cli() -> None:
    """threadline: run agents and manage their sessions (Claude Code transcripts)."""


cli.add_command(run_command)
cli.add_command(chat_command)
cli.add_command(sessions_group)
cli.add_command(serve_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="threadline")
