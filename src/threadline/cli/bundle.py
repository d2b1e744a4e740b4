"""``threadline sessions export`` / ``import``: portable bundles (see :mod:`threadline.sessions._bundle`)."""

from __future__ import annotations

import os

import click

from ..sessions import list_sessions
from ..sessions._bundle import export_bundle, import_bundle, read_manifest
from ._console import echo_json, progress_bar, resolve_session_id
from ._errors import fail, guarded

__all__ = ["export_command", "import_command"]

_EXPORT_EPILOG = """\b
Examples:
  threadline sessions export 1f0e -o api-design.tlbundle
  threadline sessions export --all -o all-sessions.tlbundle
  threadline sessions export --all --project -o this-project.tlbundle

\b
The bundle is a gzip tar: manifest.json (SHA-256 + size of every file), the transcript,
subagent transcripts and sidecars, file-history backups, then seal.json.
"""

_IMPORT_EPILOG = """\b
Examples:
  threadline sessions import api-design.tlbundle
  threadline sessions import --check api-design.tlbundle     # verify only
  threadline sessions import --to-directory ~/src/app *.tlbundle
  threadline run --resume <id> "where were we?"              # then carry on
"""


@click.command("export", epilog=_EXPORT_EPILOG, short_help="Write sessions to a bundle.")
@click.argument("session_ids", nargs=-1)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Bundle file.")
@click.option("--all", "all_sessions", is_flag=True, help="Every session (all projects).")
@click.option("--project", "this_project", is_flag=True, help="With --all: this project only.")
@guarded
def export_command(
    session_ids: tuple[str, ...], output: str, all_sessions: bool, this_project: bool
) -> None:
    """Write sessions, with their subagents and file history, to one verified bundle."""
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise click.BadParameter(f"directory {parent!r} does not exist", param_hint="'--output'")
    if all_sessions:
        where = os.getcwd() if this_project else None
        ids = [i.session_id for i in list_sessions(directory=where)]
        if not ids:
            fail("no sessions to export", 3)
    elif session_ids:
        ids = [resolve_session_id(s) for s in session_ids]
    else:
        raise click.UsageError("give SESSION_IDS or --all")
    with progress_bar("Exporting sessions") as update:
        sessions = export_bundle(ids, output, progress=update)
    files = sum(len(s.files) for s in sessions)
    click.echo(f"Exported {len(sessions)} session(s), {files} file(s) to {output}", err=True)


@click.command("import", epilog=_IMPORT_EPILOG, short_help="Verify and restore bundles.")
@click.argument("bundles", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--to-directory",
    type=click.Path(file_okay=False),
    help="Restore into this directory's project (default: the original project key).",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")
@click.option("--check", is_flag=True, help="Only verify the bundles; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@guarded
def import_command(
    bundles: tuple[str, ...], to_directory: str | None, force: bool, check: bool, as_json: bool
) -> None:
    """Verify bundles and restore their sessions; a damaged bundle is refused whole."""
    report = []
    for path in bundles:
        if check:
            sessions = read_manifest(path)
        else:
            with progress_bar(f"Importing {os.path.basename(path)}") as update:
                sessions = import_bundle(
                    path, directory=to_directory, overwrite=force, progress=update
                )
        for s in sessions:
            report.append(
                {
                    "bundle": path,
                    "session_id": s.session_id,
                    "project_key": s.project_key,
                    "cwd": s.cwd,
                    "title": s.title,
                    "files": len(s.files),
                }
            )
    if as_json:
        echo_json(report)
        return
    verb = "Verified" if check else "Imported"
    for row in report:
        title = f"  {row['title']}" if row["title"] else ""
        click.echo(f"{verb} {row['session_id']} ({row['files']} file(s)){title}")
