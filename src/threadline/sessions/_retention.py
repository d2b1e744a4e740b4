"""Retention for on-disk sessions: a dry run by default, a trash, and a grace period.

:func:`cleanup_sessions` never runs by itself: threadline removes nothing unless the caller
asks with ``dry_run=False``. What it does then:

- the age limit is ``older_than_days``, else ``cleanupPeriodDays`` from Claude Code's
  ``<config>/settings.json``, else 30 days (the CLI's default); age is the transcript's
  modification time;
- sessions with a tag are kept (pin one with ``tag_session(id, "pinned")``; any tag pins);
- a removed session is *moved* to ``<config>/threadline/trash/<project>/``: the transcript,
  its ``<session>/`` folder (subagents, sidecars) and its ``file-history/<session>/``
  backups; :func:`restore_session` moves it back;
- trashed sessions older than ``grace_days`` (default 30) are purged for good by a later
  non-dry run.

Racing a live session: each transcript is moved while holding the same exclusive
``flock`` :class:`~threadline.sessions.FileStore` takes for every append, taken without
waiting; a session whose lock is held is skipped, and so is one whose modification time
changed since the scan. A writer that opened the file just before the move and appends
after it writes into the trashed copy, and its next append starts a new file; restoring
merges both (trashed lines first), so nothing is lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from .._exceptions import SessionNotFoundError, StorageError, UserError
from .._ids import validate_session_id
from ..transcript._fileio import atomic_write
from ..transcript._lite import info_from_lite, read_lite
from ._filelog import ensure_private_dir
from ._paths import config_dir as _config_dir

__all__ = [
    "CleanupReport",
    "TrashedSession",
    "cleanup_sessions",
    "restore_session",
    "trash_session",
]

DEFAULT_PERIOD_DAYS = 30.0
_DAY = 86_400.0


@dataclass(frozen=True)
class TrashedSession:
    """One session a cleanup removed (or would remove, in a dry run)."""

    session_id: str
    project_key: str
    path: Path
    last_modified: float
    size: int


@dataclass
class CleanupReport:
    """What :func:`cleanup_sessions` did (or, with ``dry_run``, would do)."""

    dry_run: bool
    older_than_days: float
    removed: list[TrashedSession] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    """session id → why it was kept although old (``"tagged: pinned"``, ``"busy"``, ...)."""
    purged: list[str] = field(default_factory=list)
    """Ids whose trash entry passed the grace period and was deleted for good."""


def trash_dir(config: Path) -> Path:
    return config / "threadline" / "trash"


def settings_period(config: Path) -> float | None:
    """``cleanupPeriodDays`` from ``<config>/settings.json`` (``None`` if unset/invalid)."""
    try:
        data = orjson.loads((config / "settings.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    value = data.get("cleanupPeriodDays") if isinstance(data, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 1:
        return float(value)
    return None


def _private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new 0600 file (never through a symlink)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _move(src: Path, dst: Path, config: Path) -> None:
    if not src.exists():
        return
    ensure_private_dir(dst.parent, stop_at=config)
    if dst.exists():
        shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
    os.replace(src, dst) if src.is_file() else shutil.move(str(src), str(dst))


def _trash_one(config: Path, path: Path, project_key: str, mtime_ns: int) -> str | None:
    """Move one session to the trash under its append lock; the reason if it was kept."""
    sid = path.stem
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return "gone"
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "busy: being written"
        st = os.fstat(fd)
        if st.st_mtime_ns != mtime_ns:
            return "busy: modified during cleanup"
        dest = trash_dir(config) / project_key
        ensure_private_dir(dest, stop_at=config)
        _private_file(
            dest / f"{sid}.trashed.json",
            orjson.dumps({"trashedAt": time.time(), "originalPath": str(path)}),
        )
        os.replace(path, dest / path.name)
    finally:
        os.close(fd)
    _move(path.with_suffix(""), dest / sid, config)
    _move(config / "file-history" / sid, dest / f"{sid}.file-history", config)
    return None


def _purge(config: Path, grace_days: float, now: float, dry_run: bool) -> list[str]:
    purged: list[str] = []
    root = trash_dir(config)
    for marker in sorted(root.glob("*/*.trashed.json")):
        try:
            trashed_at = float(orjson.loads(marker.read_bytes())["trashedAt"])
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if now - trashed_at < grace_days * _DAY:
            continue
        sid = marker.name[: -len(".trashed.json")]
        purged.append(sid)
        if dry_run:
            continue
        for victim in (
            marker.with_name(f"{sid}.jsonl"),
            marker.with_name(sid),
            marker.with_name(f"{sid}.file-history"),
        ):
            if victim.is_dir():
                shutil.rmtree(victim, ignore_errors=True)
            elif victim.exists():
                victim.unlink()
        marker.unlink()
    return purged


def cleanup_sessions(
    older_than_days: float | None = None,
    *,
    dry_run: bool = True,
    grace_days: float = 30.0,
    config_dir: str | os.PathLike[str] | None = None,
    now: float | None = None,
) -> CleanupReport:
    """Move sessions not modified for ``older_than_days`` to the trash (see the module doc).

    With ``dry_run=True`` (the default) nothing changes: the report lists what would go.
    """
    for name, value in (("older_than_days", older_than_days), ("grace_days", grace_days)):
        if value is not None and (not isinstance(value, (int, float)) or value < 0 or value != value):
            raise UserError(f"{name} must be a number of days >= 0, got {value!r}")
    config = _config_dir(config_dir)
    period = older_than_days if older_than_days is not None else settings_period(config)
    if period is None:
        period = DEFAULT_PERIOD_DAYS
    now = time.time() if now is None else now
    report = CleanupReport(dry_run=dry_run, older_than_days=period)
    cutoff = now - period * _DAY
    projects = config / "projects"
    try:
        project_dirs = sorted(p for p in projects.iterdir() if p.is_dir())
    except OSError:
        project_dirs = []
    for pdir in project_dirs:
        for path in sorted(pdir.glob("*.jsonl")):
            try:
                st = path.stat()
            except OSError:
                continue
            if st.st_mtime > cutoff:
                continue
            sid = path.stem
            lite = read_lite(path)
            info = info_from_lite(sid, lite, None) if lite is not None else None
            if info is not None and info.tag:
                report.kept[sid] = f"tagged: {info.tag}"
                continue
            item = TrashedSession(
                session_id=sid,
                project_key=pdir.name,
                path=path,
                last_modified=st.st_mtime,
                size=st.st_size,
            )
            if not dry_run:
                reason = _trash_one(config, path, pdir.name, st.st_mtime_ns)
                if reason is not None:
                    report.kept[sid] = reason
                    continue
            report.removed.append(item)
    report.purged = _purge(config, grace_days, now, dry_run)
    return report


def trash_session(session_id: str, *, config_dir: str | os.PathLike[str] | None = None) -> Path:
    """Move one session to the trash now (what a cleanup does to an old one); returns
    where its transcript went. :func:`restore_session` brings it back.

    Raises :class:`~threadline.SessionNotFoundError` if no project holds it, and
    :class:`~threadline.StorageError` if it is being written (its append lock is held)
    or changed while it was being moved.
    """
    validate_session_id(session_id)
    config = _config_dir(config_dir)
    found: list[Path] = []
    with contextlib.suppress(OSError):
        found = [
            p / f"{session_id}.jsonl"
            for p in (config / "projects").iterdir()
            if (p / f"{session_id}.jsonl").is_file()
        ]
    if not found:
        raise SessionNotFoundError(session_id, f"in any project directory under {config}")
    path = found[0]
    try:
        mtime_ns = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise SessionNotFoundError(session_id, "(deleted concurrently)") from None
    reason = _trash_one(config, path, path.parent.name, mtime_ns)
    if reason == "gone":
        raise SessionNotFoundError(session_id, "(deleted concurrently)")
    if reason is not None:
        raise StorageError(f"cannot move {session_id} to the trash: {reason}")
    return trash_dir(config) / path.parent.name / path.name


def restore_session(session_id: str, *, config_dir: str | os.PathLike[str] | None = None) -> Path:
    """Bring a trashed session back; returns its transcript path.

    If the session was written to again after it was trashed (a racing writer), the
    trashed lines and the new ones are merged, trashed first.
    """
    validate_session_id(session_id)
    config = _config_dir(config_dir)
    found = sorted(trash_dir(config).glob(f"*/{session_id}.jsonl"))
    if not found:
        raise SessionNotFoundError(session_id, "(not in the threadline trash)")
    trashed = found[-1]
    project_key = trashed.parent.name
    target = config / "projects" / project_key / trashed.name
    ensure_private_dir(target.parent, stop_at=config)
    try:
        # link, not rename: a session written again meanwhile must never be overwritten
        os.link(trashed, target, follow_symlinks=False)
    except FileExistsError:
        fd = os.open(target, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            newer = target.read_bytes()
            old = trashed.read_bytes()
            if old and not old.endswith(b"\n"):
                old += b"\n"
            # Already there (the same file linked, or a merge that completed before a
            # crash): merging again would duplicate every trashed line.
            if not newer.startswith(old):
                atomic_write(target, old + newer)
        finally:
            os.close(fd)
    except OSError as exc:  # no hard links on this file system
        if target.exists():
            raise StorageError(f"cannot restore {session_id}: {exc}") from exc
        os.replace(trashed, target)
    if trashed.exists():
        trashed.unlink()
    sub = trashed.with_name(session_id)
    if sub.is_dir():
        dest = target.with_suffix("")
        if dest.exists():
            shutil.copytree(sub, dest, dirs_exist_ok=True)
            shutil.rmtree(sub)
        else:
            shutil.move(str(sub), str(dest))
    history = trashed.with_name(f"{session_id}.file-history")
    if history.is_dir():
        _move(history, config / "file-history" / session_id, config)
    marker = trashed.with_name(f"{session_id}.trashed.json")
    if marker.exists():
        marker.unlink()
    return target
