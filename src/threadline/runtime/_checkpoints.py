"""File checkpoints: ``enable_file_checkpointing=True`` and ``AgentClient.rewind_files``.

Recorded as Claude Code records them. At each prompt, and whenever a ``Write``/``Edit``
is about to touch a file the prompt's snapshot does not track yet, the session gets a
``file-history-snapshot`` entry::

    {"type": "file-history-snapshot", "messageId": <prompt uuid>, "isSnapshotUpdate": bool,
     "snapshot": {"messageId": ..., "timestamp": ...,
                  "trackedFileBackups": {<path>: {"backupFileName": "<hash>@v<n>" | null,
                                                  "version": n, "backupTime": ...}}}}

The last snapshot of a prompt holds the state of every tracked file *when that prompt was
sent*; ``backupFileName: null`` means the file did not exist. Backup contents live where the
CLI keeps them, ``<config>/file-history/<session>/<hash>@v<n>``, for a
:class:`~threadline.sessions.FileStore`; with any other store they are appended to the
store itself under the subkey ``file-history/backups`` (``file-backup`` entries, base64), so
database stores need no local files.

Rewinding to prompt M restores each file tracked at M to its backup and each file first
tracked after M to its first backup after M (the state it had before the agent first
touched it): created files are removed, edited files get their content back.

A transcript is untrusted input (it may come from a bundle or a shared store): before a
rewind changes anything, every path it would restore must resolve (symlinks included) inside
the session's working directories (``cwd`` and ``add_dirs``), and every backup name must be
a plain ``<hash>@v<n>`` name; otherwise the rewind is refused whole with
:class:`~threadline.SessionError` and no file is touched.

Forks: the official ``fork_session`` never copies snapshots. A fork made through
``AgentOptions(resume=..., fork_session=True, enable_file_checkpointing=True)`` carries
them: snapshots of copied prompts are re-keyed to the fork's uuids and their backups are
copied, so ``rewind_files`` works in the fork with either uuid of a prompt.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from .._exceptions import MessageNotFoundError, SessionError
from ..sessions import SessionKey, SessionStore, find_session_key
from ..sessions._filehistory import is_backup_name
from ..sessions._protocol import local_transcripts
from ..transcript._entries import now_iso
from ._confine import WorkingDirs, resolve_path
from ._context import RunContext

__all__ = ["EDIT_TOOLS", "Checkpointer"]

Raw = dict[str, Any]
EDIT_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
_BACKUPS_SUBPATH = "file-history/backups"


def _backup_name(path: str, version: int) -> str:
    return f"{hashlib.sha256(path.encode()).hexdigest()[:16]}@v{version}"


class _Backups:
    """Where backup contents live: the CLI's file-history dir, or the store (subkey)."""

    def __init__(self, store: SessionStore | None, key: SessionKey) -> None:
        self.store = store
        self.key = key
        files = local_transcripts(store)
        self.dir: Path | None = (
            Path(files.config_dir) / "file-history" / key["session_id"]
            if files is not None
            else None
        )
        self._memory: dict[str, bytes] = {}
        self._loaded = False

    def _subkey(self) -> SessionKey:
        return {**self.key, "subpath": _BACKUPS_SUBPATH}

    async def put(self, name: str, data: bytes) -> None:
        self._memory[name] = data
        if self.dir is not None:
            target = self.dir / name
            await anyio.to_thread.run_sync(_write_private, target, data)
        elif self.store is not None:
            entry = {
                "type": "file-backup",
                "backupFileName": name,
                "data": base64.b64encode(data).decode(),
            }
            await self.store.append(self._subkey(), [entry])  # type: ignore[list-item]

    async def get(self, name: str) -> bytes | None:
        if not is_backup_name(name):
            return None
        if name in self._memory:
            return self._memory[name]
        if self.dir is not None:
            try:
                return await anyio.to_thread.run_sync((self.dir / name).read_bytes)
            except OSError:
                return None
        if self.store is not None and not self._loaded:
            self._loaded = True
            for entry in await self.store.load(self._subkey()) or []:
                bname, data = entry.get("backupFileName"), entry.get("data")
                if isinstance(bname, str) and isinstance(data, str):
                    self._memory.setdefault(bname, base64.b64decode(data))
        return self._memory.get(name)

    def next_version(self, path: str, version: int) -> int:
        """A version whose backup name is still free (another process may have used some)."""
        while self.dir is not None and (self.dir / _backup_name(path, version)).exists():
            version += 1
        return version


def _write_private(target: Path, data: bytes) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


class Checkpointer:
    """Snapshots and rewinds for one run."""

    def __init__(self, rt: RunContext) -> None:
        self.rt = rt
        self.cwd = Path(rt.plan.cwd)
        self.backups = _Backups(rt.plan.store, rt.plan.key)
        self.message: str | None = None
        self.tracked: dict[str, Raw] = {}
        self._versions: dict[str, int] = {}
        self._last: dict[str, bytes | None] = {}
        self._lock = anyio.Lock()
        """Parallel Write/Edit calls record one after another, each snapshot a superset."""

    # -- keys and paths ------------------------------------------------------------------

    def _key(self, file_path: str) -> str:
        path = Path(file_path)
        path = path if path.is_absolute() else self.cwd / path
        path = Path(os.path.normpath(path))
        try:
            return str(path.relative_to(self.cwd))
        except ValueError:
            return str(path)

    def _path(self, key: str) -> Path:
        path = Path(key)
        return path if path.is_absolute() else self.cwd / path

    # -- recording -----------------------------------------------------------------------

    async def _backup(self, key: str) -> Raw:
        data = await anyio.to_thread.run_sync(_read, self._path(key))
        version = self._versions.get(key, 0)
        if key in self._last and self._last[key] == data and key in self.tracked:
            return self.tracked[key]
        version = self.backups.next_version(key, version + 1)
        self._versions[key] = version
        self._last[key] = data
        name = None
        if data is not None:
            name = _backup_name(key, version)
            await self.backups.put(name, data)
        return {"backupFileName": name, "version": version, "backupTime": now_iso()}

    def _entry(self, *, update: bool) -> Raw:
        snapshot = {
            "messageId": self.message,
            "trackedFileBackups": dict(self.tracked),
            "timestamp": now_iso(),
        }
        return {
            "type": "file-history-snapshot",
            "messageId": self.message,
            "snapshot": snapshot,
            "isSnapshotUpdate": update,
        }

    async def on_prompt(self, message_uuid: str) -> None:
        """The snapshot of a new prompt: every tracked file as it is now."""
        self.message = message_uuid
        self.tracked = {key: await self._backup(key) for key in list(self.tracked)}
        await self.rt.persist([self._entry(update=False)])

    async def before_tool(self, name: str, tool_input: Raw) -> None:
        """Back up a file before the first Write/Edit of it since the current prompt."""
        if name not in EDIT_TOOLS or self.message is None:
            return
        file_path = tool_input.get("file_path") or tool_input.get("notebook_path")
        if not isinstance(file_path, str) or not file_path:
            return
        key = self._key(file_path)
        async with self._lock:
            if key in self.tracked:
                return
            self.tracked[key] = await self._backup(key)
            await self.rt.persist([self._entry(update=True)])

    # -- forks ---------------------------------------------------------------------------

    async def start(self) -> None:
        """For a fork: carry the source's snapshots (re-keyed) and backups over."""
        pending = self.rt.pending
        origin = next((e.get("forkedFrom") for e in pending if e.get("forkedFrom")), None)
        if not isinstance(origin, dict) or self.rt.plan.store is None:
            return
        store = self.rt.plan.store
        source = await find_session_key(store, str(origin.get("sessionId")))
        if source is None:
            return
        mapping = {
            e["forkedFrom"]["messageUuid"]: e["uuid"]
            for e in pending
            if isinstance(e.get("forkedFrom"), dict)
        }
        source_backups = _Backups(store, source)
        copied: list[Raw] = []
        names: set[str] = set()
        for entry in await store.load(source) or []:
            if entry.get("type") != "file-history-snapshot":
                continue
            new_id = mapping.get(str(entry.get("messageId")))
            if new_id is None:
                continue
            snapshot: Raw = dict(entry.get("snapshot") or {})  # type: ignore[call-overload]
            snapshot["messageId"] = new_id
            files = snapshot.get("trackedFileBackups") or {}
            names.update(
                str(b["backupFileName"])
                for b in files.values()
                if isinstance(b, dict) and is_backup_name(b.get("backupFileName"))
            )
            copied.append({**entry, "messageId": new_id, "snapshot": snapshot})
        for name in sorted(names):
            data = await source_backups.get(name)
            if data is not None:
                await self.backups.put(name, data)
        pending.extend(copied)

    # -- rewinding -----------------------------------------------------------------------

    async def rewind(self, message_uuid: str) -> list[str]:
        store = self.rt.plan.store
        entries: list[Raw] = []
        if store is not None:
            entries = [dict(e) for e in await store.load(self.rt.plan.key) or []]
        entries.extend(self.rt.pending)
        target = message_uuid
        aliases = {
            e["forkedFrom"]["messageUuid"]: e["uuid"]
            for e in entries
            if isinstance(e.get("forkedFrom"), dict) and isinstance(e.get("uuid"), str)
        }
        snapshots = [e for e in entries if e.get("type") == "file-history-snapshot"]
        ids = {s.get("messageId") for s in snapshots}
        if target not in ids:
            target = aliases.get(message_uuid, message_uuid)
        mine = [i for i, s in enumerate(snapshots) if s.get("messageId") == target]
        if not mine:
            raise MessageNotFoundError(
                f"No file checkpoint for message {message_uuid} (checkpoints are taken at "
                "prompts sent with enable_file_checkpointing=True)"
            )
        state: dict[str, Raw] = {}
        for i in mine:  # the prompt's snapshot and its updates
            state.update(_tracked(snapshots[i]))
        for later in snapshots[mine[0] + 1 :]:
            if later.get("messageId") == target:
                continue
            for key, backup in _tracked(later).items():
                state.setdefault(key, backup)
        targets = self._checked(state)
        wanted: dict[str, bytes | None] = {}
        for key, backup in state.items():
            name = backup.get("backupFileName")
            want = await self.backups.get(str(name)) if name else None
            if name and want is None:
                raise MessageNotFoundError(f"Backup {name} of {key} is missing")
            wanted[key] = want
        changed: list[str] = []
        for key in state:
            path, want = targets[key], wanted[key]
            have = await anyio.to_thread.run_sync(_read, path)
            if have == want:
                continue
            if want is None:
                await anyio.to_thread.run_sync(path.unlink)
            else:
                await anyio.to_thread.run_sync(_restore, path, want)
            changed.append(str(path))
            self._last.pop(key, None)
        self.tracked = {}
        return changed

    def _checked(self, state: dict[str, Raw]) -> dict[str, Path]:
        """Where each tracked file is restored; refuses the whole rewind if any entry is forged.

        A path must resolve inside the working directories (symlinks followed), a backup name
        must be ``<hash>@v<n>`` or null.
        """
        dirs = WorkingDirs(self.cwd, self.rt.options.add_dirs)
        targets: dict[str, Path] = {}
        for key, backup in state.items():
            where = f"rewind refused: the checkpoint names {key!r}"
            if not isinstance(key, str) or not key or "\x00" in key or not isinstance(backup, dict):
                raise SessionError(f"{where}, which is not a file path; no file was changed")
            name = backup.get("backupFileName")
            if name is not None and not is_backup_name(name):
                raise SessionError(
                    f"{where} with the backup {name!r}, which is not a backup name "
                    "(<hash>@v<n>); no file was changed"
                )
            resolved = resolve_path(key, self.cwd)
            if not dirs.contains(resolved):
                raise SessionError(
                    f"{where} ({resolved.lexical}), outside the session's directories "
                    f"({dirs.describe()}); no file was changed"
                )
            targets[key] = Path(resolved.lexical)
        return targets


def _tracked(entry: Raw) -> dict[str, Any]:
    """The ``trackedFileBackups`` of a snapshot entry; a malformed one refuses the rewind."""
    snapshot = entry.get("snapshot")
    files = snapshot.get("trackedFileBackups") if isinstance(snapshot, dict) else None
    if files is None and isinstance(snapshot, dict):
        return {}
    if not isinstance(files, dict):
        raise SessionError(
            "rewind refused: a file-history snapshot is malformed; no file was changed"
        )
    return files


def _restore(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
