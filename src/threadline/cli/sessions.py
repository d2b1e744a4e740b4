"""``threadline sessions ...``: list and manage the sessions on this machine.

``show`` lives in :mod:`.show`, ``search`` in :mod:`.search`, ``export`` / ``import`` in
:mod:`.bundle`, ``stats`` in :mod:`.stats`; this module holds the group and the small
commands.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import asdict
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from .._ids import is_uuid
from .._results import SDKSessionInfo
from ..sessions._paths import config_dir
from ._backend import MIN_PREFIX, Backend, open_backend, store_option
from ._console import echo_json, fmt_size, fmt_time, out_console, short
from ._errors import EXIT_INVALID_ID, EXIT_NOT_FOUND, EXIT_UNAVAILABLE, EXIT_USAGE, fail, guarded
from ._safe import one_line
from .bundle import export_command, import_command
from .search import search_command
from .show import show_command
from .stats import stats_command

__all__ = ["sessions_group"]

_EPILOG = """\b
Examples:
  threadline sessions list                      # this directory's project
  threadline sessions list --all-projects --json | jq '.[].session_id'
  threadline sessions show 1f0e --tree          # ids may be shortened to a unique prefix
  threadline sessions rename 1f0e "API design"
  threadline sessions search "rate limit*"
  threadline sessions export --all -o everything.tlbundle
"""

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group("sessions", epilog=_EPILOG)
def sessions_group() -> None:
    """List, inspect, search, move and clean up sessions."""


def _title(info: SDKSessionInfo) -> str:
    return info.custom_title or info.summary or info.first_prompt or ""


@sessions_group.command(
    "list",
    short_help="Sessions, newest first.",
    epilog="\b\nExample:\n  threadline sessions list -a -n 20",
)
@click.option("--all-projects", "-a", is_flag=True, help="Every project, not only this one.")
@click.option(
    "--limit", "-n", type=click.IntRange(min=0), default=0, help="At most N sessions (0: all)."
)
@click.option("--directory", "-d", type=click.Path(file_okay=False), help="Project directory.")
@json_option
@store_option
@guarded
def list_command(
    all_projects: bool, limit: int, directory: str | None, as_json: bool, store_url: str | None
) -> None:
    """Sessions, newest first (default: the current directory's project)."""
    where = None if all_projects else (directory or os.getcwd())
    with open_backend(store_url) as backend:
        infos = backend.list_infos(where, limit or None)
    if as_json:
        echo_json([asdict(i) for i in infos])
        return
    console = out_console()
    if not infos:
        scope = "any project" if all_projects else f"the project of {where}"
        console.print(one_line(f"No sessions in {scope}."), markup=False)
        return
    table = Table(box=None, header_style="bold")
    table.add_column("ID", no_wrap=True)
    table.add_column("MODIFIED", no_wrap=True)
    table.add_column("TITLE")
    table.add_column("TAG")
    table.add_column("SIZE", justify="right", no_wrap=True)
    if all_projects:
        table.add_column("CWD")
    for info in infos:
        row = [
            info.session_id,
            fmt_time(info.last_modified),
            escape(short(_title(info), 60)),
            escape(one_line(info.tag or "")),
            fmt_size(info.file_size),
        ]
        if all_projects:
            row.append(escape(one_line(info.cwd or "")))
        table.add_row(*row)
    console.print(table)


@sessions_group.command("rename")
@click.argument("session_id")
@click.argument("title")
@store_option
@guarded
def rename_command(session_id: str, title: str, store_url: str | None) -> None:
    """Set the title of SESSION_ID."""
    with open_backend(store_url) as backend:
        sid = backend.resolve(session_id)
        backend.rename(sid, title)
    click.echo(f"Renamed {sid}: {one_line(title)}")


@sessions_group.command("tag")
@click.argument("session_id")
@click.argument("tag", required=False)
@click.option("--clear", is_flag=True, help="Remove the tag.")
@store_option
@guarded
def tag_command(session_id: str, tag: str | None, clear: bool, store_url: str | None) -> None:
    """Tag SESSION_ID (or --clear its tag)."""
    if not clear and not tag:
        raise click.UsageError("give a TAG or --clear")
    with open_backend(store_url) as backend:
        sid = backend.resolve(session_id)
        backend.tag(sid, None if clear else tag)
    click.echo(f"Cleared the tag of {sid}" if clear else f"Tagged {sid}: {one_line(tag or '')}")


@sessions_group.command("rm")
@click.argument("session_ids", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@store_option
@guarded
def rm_command(session_ids: tuple[str, ...], yes: bool, store_url: str | None) -> None:
    """Delete sessions (transcript and subagent directory). This cannot be undone."""
    with open_backend(store_url) as backend:
        ids = [backend.resolve(s) for s in session_ids]
        if not yes:
            click.confirm(f"Delete {len(ids)} session(s) for good?", abort=True, err=True)
        for sid in ids:
            backend.delete(sid)
            click.echo(f"Deleted {sid}")


@sessions_group.command("fork")
@click.argument("session_id")
@click.option(
    "--at", "up_to", metavar="MESSAGE", help="Copy up to this message (its uuid or a prefix)."
)
@click.option("--title", help="Title of the fork (default: '<title> (fork)').")
@json_option
@store_option
@guarded
def fork_command(
    session_id: str, up_to: str | None, title: str | None, as_json: bool, store_url: str | None
) -> None:
    """Copy SESSION_ID into a new session (the original is untouched)."""
    with open_backend(store_url) as backend:
        sid = backend.resolve(session_id)
        at = resolve_message(backend, sid, up_to, "--at") if up_to else None
        forked = backend.fork(sid, at, title)
    if as_json:
        echo_json({"session_id": forked, "forked_from": sid})
    else:
        click.echo(forked)


def resolve_message(backend: Backend, session_id: str, value: str, what: str) -> str:
    """A message uuid of ``session_id`` from its uuid or a unique prefix of it."""
    if is_uuid(value):
        return value
    prefix = value.lower()
    if len(prefix.replace("-", "")) < MIN_PREFIX or any(
        c not in "0123456789abcdef-" for c in prefix
    ):
        fail(
            f"{what}: {value!r} is not a message uuid or a prefix of at least {MIN_PREFIX} "
            "hex characters",
            EXIT_INVALID_ID,
        )
    uuids = {
        str(e["uuid"])
        for e in backend.entries(session_id)
        if e.get("type") in ("user", "assistant") and str(e.get("uuid", "")).startswith(prefix)
    }
    if not uuids:
        fail(f"{what}: no message {value!r} in session {session_id}", EXIT_NOT_FOUND)
    if len(uuids) > 1:
        fail(
            f"{what}: message prefix {value!r} is ambiguous: {', '.join(sorted(uuids)[:5])}",
            EXIT_USAGE,
        )
    return uuids.pop()


def _retention() -> Any:
    try:
        return importlib.import_module("threadline.sessions._retention")
    except ImportError:
        fail(
            "session cleanup is not available in this build (no retention module)", EXIT_UNAVAILABLE
        )


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "older_than_days": report.older_than_days,
        "removed": [
            {
                "session_id": t.session_id,
                "project_key": t.project_key,
                "last_modified": int(t.last_modified * 1000),
                "size": t.size,
            }
            for t in report.removed
        ],
        "kept": report.kept,
        "purged": report.purged,
    }


def _print_report(report: Any, *, asking: bool = False) -> None:
    """The report; ``asking``: a preview before the question, not a finished dry run."""
    console = out_console()
    verb = "Would move" if report.dry_run else "Moved"
    done = " (dry run: nothing changed)" if report.dry_run and not asking else ""
    console.print(
        f"{verb} {len(report.removed)} session(s) older than {report.older_than_days:g} days "
        f"to the trash{done}"
    )
    if report.removed:
        table = Table(box=None, header_style="bold")
        for col in ("ID", "PROJECT", "MODIFIED", "SIZE"):
            table.add_column(col, no_wrap=True)
        for t in report.removed:
            table.add_row(
                t.session_id, t.project_key, fmt_time(int(t.last_modified * 1000)), fmt_size(t.size)
            )
        console.print(table)
    for sid, why in report.kept.items():
        console.print(escape(one_line(f"kept {sid}: {why}")))
    for sid in report.purged:
        console.print(f"{'would purge' if report.dry_run else 'purged'} {sid} from the trash")


def _trashed_id(module: Any, value: str) -> str:
    """The full id of a trashed session from its id or a unique prefix."""
    if is_uuid(value):
        return value
    prefix = value.lower()
    if len(prefix.replace("-", "")) < MIN_PREFIX or any(
        c not in "0123456789abcdef-" for c in prefix
    ):
        fail(
            f"--restore: {value!r} is not a session id or a prefix of at least {MIN_PREFIX} "
            "hex characters",
            EXIT_INVALID_ID,
        )
    trash = module.trash_dir(config_dir())
    ids: set[str] = {str(p.stem) for p in trash.glob(f"*/{prefix}*.jsonl") if is_uuid(p.stem)}
    if not ids:
        fail(f"--restore: no session {value!r} in the trash ({trash})", EXIT_NOT_FOUND)
    if len(ids) > 1:
        fail(f"--restore: prefix {value!r} is ambiguous: {', '.join(sorted(ids)[:5])}", EXIT_USAGE)
    return ids.pop()


@sessions_group.command(
    "cleanup",
    short_help="Move old sessions to the trash (retention).",
    epilog="""\b
Examples:
  threadline sessions cleanup --dry-run --older-than 60
  threadline sessions cleanup --older-than 60 --yes
  threadline sessions cleanup --restore 1f0e...c2
""",
)
@click.option(
    "--older-than",
    "days",
    type=click.FloatRange(min=0),
    help="Age limit in days (default: settings).",
)
@click.option(
    "--grace-days",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Trash purge age.",
)
@click.option("--dry-run", is_flag=True, help="Only show what would be moved.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--restore", "restore_id", metavar="ID", help="Bring a trashed session back (id or prefix)."
)
@json_option
@store_option
@guarded
def cleanup_command(
    days: float | None,
    grace_days: float,
    dry_run: bool,
    yes: bool,
    restore_id: str | None,
    as_json: bool,
    store_url: str | None,
) -> None:
    """Move sessions not modified for a while to the trash (tagged sessions are kept).

    Delegates to threadline.sessions._retention: trashed sessions can be restored with
    --restore until the grace period has passed. Retention applies to Claude Code's files;
    a store (--store) keeps its sessions until they are deleted (sessions rm).
    """
    if store_url:
        with open_backend(store_url) as backend:
            if backend.store is not None:
                fail(
                    f"cleanup moves Claude Code's files to the trash; {backend.where} keeps "
                    "sessions until they are deleted: use 'threadline sessions rm --store URL ID'",
                    EXIT_USAGE,
                )
    module = _retention()
    if restore_id:
        restore_id = _trashed_id(module, restore_id)
        path = module.restore_session(restore_id)
        if as_json:
            echo_json({"session_id": restore_id, "path": str(path)})
        else:
            click.echo(f"Restored {restore_id}")
        return
    preview = module.cleanup_sessions(days, dry_run=True, grace_days=grace_days)
    if dry_run or not (preview.removed or preview.purged):
        echo_json(_report_json(preview)) if as_json else _print_report(preview)
        return
    if not yes:
        _print_report(preview, asking=True)
        click.confirm("Go ahead?", abort=True, err=True)
    report = module.cleanup_sessions(days, dry_run=False, grace_days=grace_days)
    echo_json(_report_json(report)) if as_json else _print_report(report)


for _command in (show_command, search_command, export_command, import_command, stats_command):
    sessions_group.add_command(_command)
