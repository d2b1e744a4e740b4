"""``threadline sessions export`` / ``import``: portable bundles (see :mod:`threadline.sessions._bundle`)."""

from __future__ import annotations

import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import click
import orjson

from .._ids import is_uuid
from ..sessions._bundle import BundleConflictError, export_bundle, import_bundle, read_manifest
from ..sessions._locate import locate_session
from ..sessions._paths import config_dir, project_key_for_directory
from ..sessions._protocol import SessionKey, SessionStore
from ..sessions._transfer import export_session_from_store, import_sessions_to_store
from ._backend import Backend, open_backend, store_option
from ._console import echo_json, progress_bar
from ._errors import EXIT_NOT_FOUND, EXIT_USAGE, fail, guarded
from ._safe import one_line

__all__ = ["export_command", "import_command"]

_EXPORT_EPILOG = """\b
Examples:
  threadline sessions export 1f0e -o api-design.tlbundle
  threadline sessions export --all -o all-sessions.tlbundle
  threadline sessions export --all --project -o this-project.tlbundle
  threadline sessions export --store sqlite:///s.db 1f0e -o from-store.tlbundle

\b
The bundle is a gzip tar: manifest.json (SHA-256 + size of every file), the transcript,
subagent transcripts and sidecars, file-history backups (with --file-history), then
seal.json.
"""

_IMPORT_EPILOG = """\b
Examples:
  threadline sessions import api-design.tlbundle
  threadline sessions import --check api-design.tlbundle     # verify only
  threadline sessions import --to-directory ~/src/app *.tlbundle
  threadline sessions import --store postgresql://db/agents api-design.tlbundle
  threadline run --resume <id> "where were we?"              # then carry on
"""


@click.command("export", epilog=_EXPORT_EPILOG, short_help="Write sessions to a bundle.")
@click.argument("session_ids", nargs=-1)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Bundle file.")
@click.option("--all", "all_sessions", is_flag=True, help="Every session (all projects).")
@click.option("--project", "this_project", is_flag=True, help="With --all: this project only.")
@click.option(
    "--file-history",
    is_flag=True,
    help="Also carry the file-history backups (project file contents, for rewind).",
)
@store_option
@guarded
def export_command(
    session_ids: tuple[str, ...],
    output: str,
    all_sessions: bool,
    this_project: bool,
    file_history: bool,
    store_url: str | None,
) -> None:
    """Write sessions, with their subagents (and file history if asked), to one verified bundle.

    With --store the sessions are read from that store (decrypted by an encrypted+ store:
    the bundle then holds them in the clear).
    """
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise click.BadParameter(f"directory {parent!r} does not exist", param_hint="'--output'")
    if not all_sessions and not session_ids:
        raise click.UsageError("give SESSION_IDS or --all")
    with open_backend(store_url) as backend:
        if backend.store is not None:
            if file_history:
                fail("--file-history: a store keeps no file history (it lives beside "
                     "Claude Code's files)", EXIT_USAGE)
            _export_from_store(backend, session_ids, all_sessions, this_project, output)
            return
        if all_sessions:
            ids = _all_ids(os.getcwd() if this_project else None)
            if not ids:
                fail("no sessions to export", EXIT_NOT_FOUND)
        else:
            ids = [backend.resolve(s) for s in session_ids]
    with progress_bar("Exporting sessions", unit="bytes") as update:
        sessions = export_bundle(ids, output, progress=update, file_history=file_history)
    files = sum(len(s.files) for s in sessions)
    click.echo(f"Exported {len(sessions)} session(s), {files} file(s) to {output}", err=True)


def _export_from_store(
    backend: Backend, session_ids: tuple[str, ...], every: bool, this_project: bool, output: str
) -> None:
    """Copy the sessions out of the store into a private scratch config dir, bundle that."""
    if every:
        infos = backend.list_infos(os.getcwd() if this_project else None, None)
        ids = [i.session_id for i in infos]
        if not ids:
            fail(f"no sessions to export in {backend.where}", EXIT_NOT_FOUND)
    else:
        ids = [backend.resolve(s) for s in session_ids]
    with tempfile.TemporaryDirectory(prefix="threadline-export-") as scratch:
        for sid in ids:
            route = backend.route(sid)
            assert route is not None
            store, key = route
            backend.call(_copy_out, store, key, scratch)
        with progress_bar("Exporting sessions", unit="bytes") as update:
            sessions = export_bundle(ids, output, config_dir=scratch, progress=update)
    files = sum(len(s.files) for s in sessions)
    click.echo(f"Exported {len(sessions)} session(s), {files} file(s) to {output}", err=True)


async def _copy_out(store: SessionStore, key: SessionKey, scratch: str) -> None:
    await export_session_from_store(store, key, scratch)


def _all_ids(directory: str | None) -> list[str]:
    """Every session file (of ``directory``'s project, or of all), without reading them."""
    base = config_dir() / "projects"
    dirs = [base / project_key_for_directory(directory)] if directory else None
    if dirs is None:
        try:
            dirs = sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            return []
    ids: list[str] = []
    for d in dirs:
        try:
            ids.extend(sorted(p.stem for p in d.glob("*.jsonl") if is_uuid(p.stem)))
        except OSError:
            continue
    return ids


def _peek_manifest(path: str) -> dict[str, Any] | None:
    """The bundle's manifest (its first member), unverified: only to plan what to say."""
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            member = tar.next()
            if member is None or member.name != "manifest.json" or member.size > 64 << 20:
                return None
            f = tar.extractfile(member)
            data = orjson.loads(f.read()) if f is not None else None
    except (OSError, tarfile.TarError, orjson.JSONDecodeError, EOFError):
        return None
    return data if isinstance(data, dict) else None


def _plan(path: str, to_directory: str | None, force: bool) -> dict[str, list[tuple[Path, Any]]]:
    """For each session: its target files and their state before the import.

    Refuses (exit 6) to put a session under a second project where it already exists
    elsewhere: two copies of one id make every later resume ambiguous.
    """
    manifest = _peek_manifest(path)
    if manifest is None:
        return {}
    cfg = config_dir()
    new_key = project_key_for_directory(to_directory) if to_directory else None
    out: dict[str, list[tuple[Path, Any]]] = {}
    for s in manifest.get("sessions") or []:
        sid, key = s.get("session_id"), s.get("project_key")
        if not isinstance(sid, str) or not is_uuid(sid) or not isinstance(key, str):
            continue
        target_key = new_key or key
        found = locate_session(sid, None)
        if found is not None and found.project_dir.name != target_key and not force:
            raise BundleConflictError(
                f"session {sid} already exists in project {found.project_dir.name}: importing "
                f"it into {target_key} would make a second copy (remove one, or --force)"
            )
        files = []
        for rel in s.get("files") or []:
            if isinstance(rel, str) and new_key and rel.startswith("projects/"):
                rel = f"projects/{new_key}/" + rel.split("/", 2)[2]
            if isinstance(rel, str):
                files.append((cfg / rel, _state(cfg / rel)))
        out[sid] = files
    return out


def _state(path: Path) -> Any:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


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
@store_option
@guarded
def import_command(
    bundles: tuple[str, ...],
    to_directory: str | None,
    force: bool,
    check: bool,
    as_json: bool,
    store_url: str | None,
) -> None:
    """Verify bundles and restore their sessions; a damaged bundle is refused whole.

    With --store the sessions are verified, then appended to that store (idempotent: entries
    the store holds already are not added again).
    """
    report: list[dict[str, Any]] = []
    with open_backend(store_url) as backend:
        if backend.store is not None:
            for path in bundles:
                report.extend(_import_to_store(backend, path, to_directory, check))
            _print_import(report, as_json)
            return
    for path in bundles:
        plan: dict[str, list[tuple[Path, Any]]] = {}
        if check:
            sessions = read_manifest(path)
        else:
            plan = _plan(path, to_directory, force)
            with progress_bar(f"Importing {os.path.basename(path)}") as update:
                sessions = import_bundle(
                    path, directory=to_directory, overwrite=force, progress=update
                )
        for s in sessions:
            before = plan.get(s.session_id)
            unchanged = bool(before) and all(_state(p) == st for p, st in before or [])
            status = "verified" if check else "unchanged" if unchanged else "imported"
            report.append(_row(path, s, status))
    _print_import(report, as_json)


def _import_to_store(
    backend: Backend, path: str, to_directory: str | None, check: bool
) -> list[dict[str, Any]]:
    """Verify and restore the bundle into a private scratch config dir, then copy it in."""
    store = backend.store
    assert store is not None
    if check:
        return [_row(path, s, "verified") for s in read_manifest(path)]
    with tempfile.TemporaryDirectory(prefix="threadline-import-") as scratch:
        with progress_bar(f"Importing {os.path.basename(path)}") as update:
            sessions = import_bundle(
                path, directory=to_directory, config_dir=scratch, progress=update
            )
        keys: list[SessionKey] = [
            {"project_key": p.parent.name, "session_id": p.stem}
            for p in Path(scratch, "projects").glob("*/*.jsonl")
        ]
        before = [backend.call(_count, store, k) for k in keys]
        backend.call(_copy_in_all, store, scratch)
        after = [backend.call(_count, store, k) for k in keys]
    changed = {k["session_id"] for k, b, a in zip(keys, before, after) if a != b}
    return [
        _row(path, s, "imported" if s.session_id in changed else "unchanged") for s in sessions
    ]


async def _count(store: SessionStore, key: SessionKey) -> int:
    return len(await store.load(key) or [])


async def _copy_in_all(store: SessionStore, scratch: str) -> None:
    await import_sessions_to_store(store, config_dir=scratch)


def _row(path: str, s: Any, status: str) -> dict[str, Any]:
    return {
        "bundle": path,
        "session_id": s.session_id,
        "project_key": s.project_key,
        "cwd": s.cwd,
        "title": s.title,
        "files": len(s.files),
        "status": status,
    }


def _print_import(report: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        echo_json(report)
        return
    verbs = {"verified": "Verified", "imported": "Imported", "unchanged": "Already here"}
    for row in report:
        title = f"  {one_line(row['title'])}" if row["title"] else ""
        verb = verbs[row["status"]]
        click.echo(f"{verb} {row['session_id']} ({row['files']} file(s)){title}")
