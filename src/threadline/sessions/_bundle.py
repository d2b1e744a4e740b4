"""Portable session bundles: move sessions between hosts as one verified file.

A bundle is a gzip-compressed tar (suggested suffix ``.tlbundle``) with three kinds of
members, in this order::

    manifest.json                       what is inside, with SHA-256 and size of every file
    files/projects/<key>/<id>.jsonl     the transcript
    files/projects/<key>/<id>/...       subagent transcripts + .meta.json sidecars (if any)
    files/file-history/<id>/...         file-history backups (if any)
    seal.json                           {"manifest_sha256": ...}: written last

Paths under ``files/`` are relative to the Claude config dir, so a bundle restores the
same layout (optionally under another project key). ``manifest.json`` holds::

    {"format": "threadline-bundle", "version": 1, "created_at": ..., "threadline_version": ...,
     "sessions": [{"session_id", "project_key", "cwd", "title", "files": [path, ...]}],
     "files": {path: {"sha256": hex, "size": int}}}

Import verifies the whole bundle in a first pass that writes nothing: the seal matches the
manifest, every member is a regular file listed in the manifest with the size its tar header
and the manifest both declare and the right digest, no listed file is missing, and every
path has the expected shape (no ``..``, no absolute paths, UUID session ids, file-history
names as Claude Code makes them). The sizes the manifest declares are capped
(``max_bytes``, and the free space of the config dir's file system) before a byte is
extracted, and the stream is read through a budget (the manifest at most 16 MiB, tar
headers at most 64 KiB per member, member data at most what was declared), so a
decompression bomb is refused early with bounded memory. Only then does a second pass
extract into a staging directory inside the config dir (checking everything again, in case
the file changed), and files are renamed into place (same file system); an existing file
with different content is a :class:`BundleConflictError` unless ``overwrite``; identical
files are left alone. A truncated, tampered or oversized bundle raises :class:`BundleError`
and writes nothing.

File history (``file-history/<session>/<backup>``, the backups ``rewind_files`` restores
from) travels only when asked (``export_bundle(file_history=True)``); on import its names
must be the single-component backup names Claude Code writes (``<hash>@v<n>``).

The checksums detect corruption and edits; they are not signatures (whoever can rewrite the
manifest can rewrite the digests).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .._exceptions import SessionNotFoundError, StorageError, ThreadlineError
from .._ids import validate_session_id
from .._version import __version__
from ..transcript._fileio import atomic_file
from ._filehistory import BACKUP_NAME
from ._filelog import ensure_private_dir
from ._imported import mark_imported
from ._locate import locate_session, search_description
from ._mutations import iso_now
from ._paths import config_dir as _config_dir, project_key_for_directory
from ._snapshot import SNAPSHOT_NAME

__all__ = [
    "BundleConflictError",
    "BundleError",
    "BundleSession",
    "export_bundle",
    "import_bundle",
    "read_manifest",
]

FORMAT = "threadline-bundle"
VERSION = 1
_CHUNK = 1 << 20
_KEY_RE = re.compile(r"^[A-Za-z0-9-]{1,255}\Z")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PATH_RE = re.compile(
    rf"^(?:projects/(?P<key>[A-Za-z0-9-]+)/(?P<sid>{_UUID})(?:\.jsonl|/.+)"
    rf"|file-history/(?P<fsid>{_UUID})/(?P<backup>[^/]+))\Z"
)
MANIFEST_CAP = 16 << 20
"""Largest manifest read (it lists files; a real one is a few KiB per session)."""
_SEAL_CAP = 4096
_HEADER_ALLOWANCE = 64 << 10
"""Tar header bytes (with PAX records) allowed per member."""
VERIFY_FIRST_ABOVE = 32 << 20
"""Bundles declaring more bytes than this are verified whole before anything is extracted;
smaller ones are verified while they are extracted (at most this much is written before a
refusal, and removed)."""
_READAHEAD = 256 << 10
"""Bytes the tar reader pulls at a time (so they may run ahead of the member being read)."""
DEFAULT_MAX_BYTES = 64 << 30
"""Default cap on the bytes a bundle may declare (``import_bundle(max_bytes=)``)."""

Progress = Callable[[int, int], None]


class BundleError(ThreadlineError):
    """The file is not a valid threadline bundle (tampered, truncated or foreign)."""


class BundleConflictError(StorageError):
    """A file of the bundle already exists on this host with other content."""


@dataclass(frozen=True)
class BundleSession:
    """One session of a bundle (as exported or imported)."""

    session_id: str
    project_key: str
    cwd: str | None
    title: str | None
    files: tuple[str, ...]


# ---------------------------------------------------------------------------- export


def _walk(root: Path) -> list[Path]:
    out: list[Path] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                out.append(path)
    return out


@dataclass
class _Source:
    """One file to bundle: its first ``length`` bytes (plus a newline when ``add_newline``)."""

    path: Path
    length: int
    add_newline: bool = False
    sha256: str = ""

    @property
    def size(self) -> int:
        return self.length + self.add_newline

    def chunks(self) -> Iterator[bytes]:
        """The bytes, read in 1 MiB chunks (constant memory)."""
        left = self.length
        with open(self.path, "rb") as f:
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    raise StorageError(f"{self.path} shrank during export: try again")
                left -= len(chunk)
                yield chunk
        if self.add_newline:
            yield b"\n"


class _HashingReader(io.RawIOBase):
    """A file object over :meth:`_Source.chunks` that hashes what ``tarfile`` reads."""

    def __init__(self, source: _Source, on_bytes: Callable[[int], None]) -> None:
        self._chunks = source.chunks()
        self._buf = b""
        self.digest = hashlib.sha256()
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        out, self._buf = (self._buf, b"") if size < 0 else (self._buf[:size], self._buf[size:])
        self.digest.update(out)
        self._on_bytes(len(out))
        return out


def _transcript_source(path: Path) -> _Source:
    """The transcript up to its last complete line (a torn last line is left out)."""
    total = 0
    last_newline = -1
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                last_newline = total + cut
            total += len(chunk)
        if last_newline + 1 == total:
            return _Source(path, total)
        f.seek(last_newline + 1)
        tail = f.read(total - last_newline - 1)
    try:
        if isinstance(orjson.loads(tail), dict):
            return _Source(path, total, add_newline=True)
    except orjson.JSONDecodeError:
        pass
    return _Source(path, last_newline + 1)


def _session_files(
    cfg: Path, session_id: str, directory: str | None, file_history: bool = False
) -> tuple[BundleSession, dict[str, _Source]]:
    validate_session_id(session_id)
    loc = locate_session(session_id, directory, cfg / "projects")
    if loc is None:
        raise SessionNotFoundError(session_id, search_description(directory))
    key = loc.project_dir.name
    transcript = _transcript_source(loc.path)
    files: dict[str, _Source] = {f"projects/{key}/{session_id}.jsonl": transcript}
    side = loc.project_dir / session_id
    for path in _walk(side):
        if path.name.startswith(SNAPSHOT_NAME):
            continue  # a local cache (stale on any other host), not session data
        files[f"projects/{key}/{session_id}/{path.relative_to(side).as_posix()}"] = _Source(
            path, path.stat().st_size
        )
    history = cfg / "file-history" / session_id
    for path in _walk(history) if file_history else ():
        rel = path.relative_to(history).as_posix()
        if BACKUP_NAME.match(rel):
            files[f"file-history/{session_id}/{rel}"] = _Source(path, path.stat().st_size)
    cwd, title = _meta(transcript)
    return BundleSession(session_id, key, cwd, title, tuple(files)), files


def _meta(source: _Source) -> tuple[str | None, str | None]:
    """(first cwd, last custom title) of a transcript, read line by line."""
    cwd: str | None = None
    title: str | None = None
    left = source.length
    with open(source.path, "rb") as f:
        for line in f:
            if left <= 0:
                break
            left -= len(line)
            if b'"cwd"' not in line and b'"customTitle"' not in line:
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(entry, dict):
                continue
            if cwd is None and isinstance(entry.get("cwd"), str):
                cwd = entry["cwd"]
            if isinstance(entry.get("customTitle"), str):
                title = entry["customTitle"]
    return cwd, title


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_source(
    tar: tarfile.TarFile, rel: str, source: _Source, on_bytes: Callable[[int], None]
) -> None:
    info = tarfile.TarInfo(f"files/{rel}")
    info.size = source.size
    info.mode = 0o600
    info.mtime = int(time.time())
    reader = _HashingReader(source, on_bytes)
    tar.addfile(info, reader)
    if reader.digest.hexdigest() != source.sha256:
        raise StorageError(f"{source.path} was rewritten during export: try again")


def _hash(source: _Source, on_bytes: Callable[[int], None]) -> None:
    digest = hashlib.sha256()
    for chunk in source.chunks():
        digest.update(chunk)
        on_bytes(len(chunk))
    source.sha256 = digest.hexdigest()


def _manifest(sessions: list[BundleSession], sources: dict[str, _Source]) -> bytes:
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": _now(),
        "threadline_version": _version(),
        "sessions": [
            {
                "session_id": s.session_id,
                "project_key": s.project_key,
                "cwd": s.cwd,
                "title": s.title,
                "files": list(s.files),
            }
            for s in sessions
        ],
        "files": {rel: {"sha256": src.sha256, "size": src.size} for rel, src in sources.items()},
    }
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def export_bundle(
    session_ids: Sequence[str],
    out: str | os.PathLike[str],
    *,
    directory: str | None = None,
    config_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    file_history: bool = False,
) -> list[BundleSession]:
    """Write the sessions (with their subagents) to one bundle file at ``out``.

    ``file_history=True`` also carries the file-history backups (the contents
    ``rewind_files`` restores): file contents of the project, so off by default.

    Streams: a first pass hashes every file (the manifest comes first in the bundle), the
    second writes them, so memory stays constant whatever the sessions weigh. ``progress``
    gets ``(bytes done, bytes total)`` over both passes.
    """
    cfg = _config_dir(config_dir)
    if not session_ids:
        raise ThreadlineError("nothing to export")
    sessions: list[BundleSession] = []
    sources: dict[str, _Source] = {}
    for sid in session_ids:
        session, files = _session_files(cfg, sid, directory, file_history)
        sessions.append(session)
        sources.update(files)
    total = 2 * sum(src.size for src in sources.values())
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None and n:
            progress(done, total)

    for src in sources.values():
        _hash(src, step)
    manifest_bytes = _manifest(sessions, sources)
    # 0600 like the transcripts it holds (tarfile.open would create it 0644 by umask)
    with (
        atomic_file(Path(out)) as fd,
        open(fd, "wb", closefd=False) as raw,
        tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add(tar, "manifest.json", manifest_bytes)
        for rel, src in sources.items():
            _add_source(tar, rel, src, step)
        seal = {"manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()}
        _add(tar, "seal.json", orjson.dumps(seal))
    if progress is not None:
        progress(total, total)
    return sessions


def _now() -> str:
    return iso_now()


def _version() -> str:
    return __version__


# ---------------------------------------------------------------------------- import


def _parse_manifest(data: bytes) -> tuple[dict[str, Any], list[BundleSession]]:
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"bundle manifest is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError("not a threadline bundle (bad manifest)")
    if manifest.get("version") != VERSION:
        raise BundleError(f"unsupported bundle version {manifest.get('version')!r}")
    files = manifest.get("files")
    raw_sessions = manifest.get("sessions")
    if not isinstance(files, dict) or not isinstance(raw_sessions, list) or not raw_sessions:
        raise BundleError("bundle manifest lists no sessions")
    for rel, meta in files.items():
        m = _PATH_RE.match(rel) if isinstance(rel, str) else None
        if m is None or ".." in rel.split("/") or "\\" in rel or "\x00" in rel:
            raise BundleError(f"bundle contains an unsafe path: {rel!r}")
        if not (
            isinstance(meta, dict)
            and isinstance(meta.get("sha256"), str)
            and type(meta.get("size")) is int
            and meta["size"] >= 0
        ):
            raise BundleError(f"bundle manifest entry for {rel!r} is malformed")
        backup = m.group("backup")
        if backup is not None and not BACKUP_NAME.match(backup):
            raise BundleError(f"bundle file-history name is not a backup name: {rel!r}")
    sessions: list[BundleSession] = []
    for raw in raw_sessions:
        try:
            sid = str(raw["session_id"])
            key = str(raw["project_key"])
            listed = tuple(str(f) for f in raw["files"])
        except (KeyError, TypeError) as exc:
            raise BundleError("bundle manifest has a malformed session") from exc
        validate_session_id(sid)
        if not _KEY_RE.match(key) or f"projects/{key}/{sid}.jsonl" not in listed:
            raise BundleError(f"bundle manifest session {sid} is malformed")
        for f in listed:
            if f not in files:
                raise BundleError(f"bundle manifest session {sid} lists an unknown file {f!r}")
            if not f.startswith((f"projects/{key}/{sid}", f"file-history/{sid}/")):
                raise BundleError(
                    f"bundle manifest session {sid} lists another session's file {f!r}"
                )
        cwd = raw.get("cwd") if isinstance(raw.get("cwd"), str) else None
        title = raw.get("title") if isinstance(raw.get("title"), str) else None
        sessions.append(BundleSession(sid, key, cwd, title, listed))
    return manifest, sessions


class _Budget:
    """The decompressed tar stream, read within what the bundle may hold.

    Tar headers (and PAX records) may take :data:`_HEADER_ALLOWANCE` bytes per member; the
    rest is member data, which :func:`_scan` counts as it reads and checks against the
    manifest. ``limit`` bounds everything (before the manifest: the manifest cap).
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.total = 0
        self.data = 0
        self.members = 0
        self.limit = MANIFEST_CAP + 4 * _HEADER_ALLOWANCE

    def read(self, n: int = -1) -> bytes:
        chunk: bytes = self.raw.read(n if n is not None and n >= 0 else _CHUNK)
        self.total += len(chunk)
        if self.total - self.data > _HEADER_ALLOWANCE * (self.members + 2) + _READAHEAD:
            raise BundleError("bundle has oversized tar headers (refused before reading on)")
        if self.total > self.limit:
            raise BundleError("bundle holds more data than its manifest declares")
        return chunk

    def data_read(self, src: IO[bytes], n: int) -> bytes:
        """Read ``n`` bytes of member data (credited as data, not header, while they arrive)."""
        self.data += n
        chunk = src.read(n)
        self.data -= n - len(chunk)
        return chunk


def _read_capped(src: IO[bytes], cap: int, what: str, budget: _Budget) -> bytes:
    data = budget.data_read(src, cap + 1)
    if len(data) > cap:
        raise BundleError(f"bundle {what} is larger than {cap} bytes")
    return data


def _member_chunks(
    src: IO[bytes], expected: dict[str, Any], name: str, budget: _Budget
) -> Iterator[bytes]:
    """The member's bytes in chunks; size and digest checked as they stream by."""
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = budget.data_read(src, _CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > expected["size"]:
            raise BundleError(f"bundle member {name} is larger than its manifest says")
        digest.update(chunk)
        yield chunk
    if size != expected["size"] or digest.hexdigest() != expected["sha256"]:
        raise BundleError(f"checksum mismatch for {name}: the bundle was modified or damaged")


def _check_declared(manifest: dict[str, Any], max_bytes: int | None, room: Path | None) -> int:
    """The bytes the manifest declares, refused when over the cap or the free space."""
    total = sum(int(m["size"]) for m in manifest["files"].values())
    cap = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if total > cap:
        raise BundleError(
            f"bundle declares {total} bytes of files, more than the limit of {cap} "
            "(import_bundle(max_bytes=...) raises it)"
        )
    if room is not None:
        free = shutil.disk_usage(room).free
        if total > free:
            raise StorageError(f"bundle needs {total} bytes but only {free} are free under {room}")
    return total


def _scan(  # noqa: C901 (Long: see the docstring)
    path: Path,
    staging: Path | None,
    *,
    max_bytes: int | None = None,
    manifest_only: bool = False,
) -> tuple[dict[str, Any], list[BundleSession], int]:
    """Read and verify the whole bundle; with ``staging``, also extract the members there.

    Long: one sequential pass over the tar stream, every check in stream order (state carried member
    to member).
    """
    manifest: dict[str, Any] | None = None
    manifest_bytes = b""
    seal: bytes | None = None
    seen: set[str] = set()
    try:
        with gzip.open(path, "rb") as raw:
            budget = _Budget(raw)
            with tarfile.open(fileobj=budget, mode="r|", bufsize=_READAHEAD) as tar:  # type: ignore[call-overload]
                for member in tar:
                    budget.members += 1
                    if seal is not None:
                        raise BundleError("bundle has members after its seal")
                    if not member.isreg():
                        raise BundleError(f"bundle member {member.name!r} is not a regular file")
                    src = tar.extractfile(member)
                    if src is None:  # pragma: no cover - regular files always have data
                        raise BundleError(f"bundle member {member.name!r} is unreadable")
                    if manifest is None:
                        if member.name != "manifest.json":
                            raise BundleError("not a threadline bundle (no manifest first)")
                        manifest_bytes = _read_capped(src, MANIFEST_CAP, "manifest", budget)
                        manifest, _ = _parse_manifest(manifest_bytes)
                        declared = _check_declared(manifest, max_bytes, staging)
                        if manifest_only:
                            raise _ManifestRead(declared)
                        budget.limit = (
                            len(manifest_bytes)
                            + declared
                            + _SEAL_CAP
                            + _HEADER_ALLOWANCE * (len(manifest["files"]) + 4)
                        )
                        continue
                    if member.name == "seal.json":
                        seal = _read_capped(src, _SEAL_CAP, "seal", budget)
                        continue
                    rel = member.name[len("files/") :] if member.name.startswith("files/") else ""
                    expected = manifest["files"].get(rel)
                    if expected is None or rel in seen:
                        raise BundleError(f"bundle member {member.name!r} is not in its manifest")
                    if member.size != expected["size"]:
                        raise BundleError(
                            f"bundle member {rel} is {member.size} bytes, its manifest says "
                            f"{expected['size']}"
                        )
                    seen.add(rel)
                    chunks = _member_chunks(src, expected, rel, budget)
                    if staging is None:
                        for _ in chunks:
                            pass
                    else:
                        _write_member(staging / rel, chunks)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BundleError(f"bundle is truncated or not a gzip tar ({exc})") from exc
    if manifest is None:
        raise BundleError("not a threadline bundle (empty)")
    if seal is None:
        raise BundleError("bundle is truncated (no seal)")
    try:
        sealed = orjson.loads(seal).get("manifest_sha256")
    except (orjson.JSONDecodeError, AttributeError) as exc:
        raise BundleError("bundle seal is malformed") from exc
    if sealed != hashlib.sha256(manifest_bytes).hexdigest():
        raise BundleError("bundle manifest does not match its seal: modified or damaged")
    missing = sorted(set(manifest["files"]) - seen)
    if missing:
        raise BundleError(f"bundle is truncated: {len(missing)} file(s) missing ({missing[0]})")
    parsed, sessions = _parse_manifest(manifest_bytes)
    return parsed, sessions, sum(int(m["size"]) for m in parsed["files"].values())


def _write_member(dest: Path, chunks: Iterator[bytes]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    with open(fd, "wb") as out:
        for chunk in chunks:
            out.write(chunk)


def _stage(
    path: Path, staging: Path, *, max_bytes: int | None = None
) -> tuple[dict[str, Any], list[BundleSession]]:
    """Extract into ``staging``, verifying as it goes; a bundle declaring more than
    :data:`VERIFY_FIRST_ABOVE` bytes is first verified whole in a pass that writes nothing."""
    try:
        declared = _scan(path, None, max_bytes=max_bytes, manifest_only=True)[2]
    except _ManifestRead as done:
        declared = done.declared
    if declared > VERIFY_FIRST_ABOVE:
        _scan(path, None, max_bytes=max_bytes)
    return _scan(path, staging, max_bytes=max_bytes)[:2]


class _ManifestRead(Exception):
    """Stops a manifest-only scan once the manifest is read."""

    def __init__(self, declared: int) -> None:
        self.declared = declared


def read_manifest(
    path: str | os.PathLike[str], *, max_bytes: int | None = None
) -> list[BundleSession]:
    """The sessions of a bundle, after verifying all of it (nothing is written)."""
    return _scan(Path(path), None, max_bytes=max_bytes)[1]


def _same(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
    except OSError:
        return False
    return a.read_bytes() == b.read_bytes()


def _rekeyed(rel: str, new_key: str | None) -> str:
    """A bundle path, in project ``new_key`` when given."""
    if new_key is not None and rel.startswith("projects/"):
        return f"projects/{new_key}/" + rel.split("/", 2)[2]
    return rel


def _plan_moves(
    sessions: list[BundleSession], staging: Path, cfg: Path, new_key: str | None, *, overwrite: bool
) -> list[tuple[Path, Path]]:
    """(staged file, destination) for every file to restore, main transcripts last (a crash
    mid-import never leaves a visible session without its subagent transcripts and file
    history); identical files are skipped, a different one raises unless ``overwrite``."""
    planned: list[tuple[Path, Path]] = []
    for s in sessions:
        for rel in s.files:
            src, dest = staging / rel, cfg / _rekeyed(rel, new_key)
            if dest.exists():
                if _same(src, dest):
                    continue
                if not overwrite:
                    raise BundleConflictError(
                        f"{dest} already exists with other content (use --force to overwrite)"
                    )
            planned.append((src, dest))
    planned.sort(key=lambda m: m[1].suffix == ".jsonl" and m[1].parent.parent.name == "projects")
    return planned


def _moved(s: BundleSession, new_key: str) -> BundleSession:
    return BundleSession(
        s.session_id, new_key, s.cwd, s.title, tuple(_rekeyed(f, new_key) for f in s.files)
    )


def import_bundle(
    path: str | os.PathLike[str],
    *,
    directory: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    config_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    max_bytes: int | None = None,
) -> list[BundleSession]:
    """Verify a bundle, then restore its sessions into the config dir.

    ``directory``: put the sessions in that directory's project instead of their original
    project key. ``max_bytes``: the most the bundle's files may add up to (default 64 GiB;
    never more than the free space). Nothing is written if verification fails or a file
    conflicts.
    """
    cfg = _config_dir(config_dir)
    work = cfg / "threadline"
    ensure_private_dir(work)
    staging = Path(tempfile.mkdtemp(prefix="import-", dir=work))
    try:
        _, sessions = _stage(Path(path), staging, max_bytes=max_bytes)
        new_key = project_key_for_directory(directory) if directory is not None else None
        planned = _plan_moves(sessions, staging, cfg, new_key, overwrite=overwrite)
        for done, (src, dest) in enumerate(planned, 1):
            ensure_private_dir(dest.parent, stop_at=cfg)
            os.chmod(src, 0o600)
            os.replace(src, dest)
            if progress is not None:
                progress(done, len(planned))
        mark_imported(cfg, [s.session_id for s in sessions])
        if new_key is not None:
            sessions = [_moved(s, new_key) for s in sessions]
        return sessions
    finally:
        shutil.rmtree(staging, ignore_errors=True)
