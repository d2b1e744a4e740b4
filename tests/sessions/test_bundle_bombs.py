"""Crafted bundles against the importer (issue #15 item 12): sizes capped, checks streamed.

A 0.39 MB bundle wrote 396 MB before it was refused (a member of zeros whose digest does not
match: the digest was only compared after extracting it), and a 2.6 MB one took 1.2 GB of
memory (a huge manifest read whole). Each test here is such a bundle; the import must refuse
it having written nothing and with bounded memory.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from threadline import BundleError, import_bundle, read_manifest

SID = str(uuid.uuid4())
KEY = "-tmp-project"
TRANSCRIPT = f"projects/{KEY}/{SID}.jsonl"
BIG = 200 << 20
ZEROS = b"\0" * (1 << 20)


def _manifest(files: dict[str, dict[str, Any]], listed: list[str] | None = None) -> bytes:
    return json.dumps(
        {
            "format": "threadline-bundle",
            "version": 1,
            "sessions": [
                {"session_id": SID, "project_key": KEY, "cwd": "/tmp", "title": None,
                 "files": listed if listed is not None else list(files)}
            ],
            "files": files,
        }
    ).encode()  # fmt: skip


def _header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % 512)


def _write_bundle(path: Path, members: list[tuple[str, Any, int]], seal_of: bytes | None) -> None:
    """A gzip tar written chunk by chunk: (name, bytes or chunk iterator, size) members."""
    with gzip.open(path, "wb", compresslevel=1) as gz:
        for name, data, size in members:
            gz.write(_header(name, size))
            if isinstance(data, bytes):
                gz.write(data)
            else:
                for chunk in data:
                    gz.write(chunk)
            gz.write(_pad(size))
        if seal_of is not None:
            seal = json.dumps({"manifest_sha256": hashlib.sha256(seal_of).hexdigest()}).encode()
            gz.write(_header("seal.json", len(seal)) + seal + _pad(len(seal)))
        gz.write(b"\0" * 1024)


def _zeros(n: int) -> Iterator[bytes]:
    for _ in range(n // len(ZEROS)):
        yield ZEROS


class _DiskWatch:
    """Largest total size of the files under ``root`` seen while the block runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.peak = 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for dirpath, _, names in os.walk(self.root):
                for n in names:
                    try:
                        total += os.lstat(os.path.join(dirpath, n)).st_size
                    except OSError:
                        pass
            self.peak = max(self.peak, total)
            time.sleep(0.002)

    def __enter__(self) -> _DiskWatch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_zero_bomb_with_a_wrong_digest_is_refused_before_a_byte_is_written(
    tmp_path: Path,
) -> None:
    files = {TRANSCRIPT: {"sha256": "0" * 64, "size": BIG}}
    manifest = _manifest(files)
    bundle = tmp_path / "bomb.tlbundle"
    _write_bundle(
        bundle,
        [("manifest.json", manifest, len(manifest)), (f"files/{TRANSCRIPT}", _zeros(BIG), BIG)],
        manifest,
    )
    assert bundle.stat().st_size < 2 << 20
    cfg = tmp_path / "cfg"
    with _DiskWatch(cfg) as watch, pytest.raises(BundleError, match="checksum mismatch"):
        import_bundle(bundle, config_dir=cfg)
    assert watch.peak < 1 << 20, f"wrote {watch.peak} bytes before refusing"
    assert not any(p.is_file() for p in cfg.rglob("*"))


def test_huge_manifest_does_not_take_the_memory(tmp_path: Path) -> None:
    bundle = tmp_path / "manifest-bomb.tlbundle"
    _write_bundle(bundle, [("manifest.json", _zeros(BIG), BIG)], None)
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match="manifest is larger"):
            read_manifest(bundle)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"peak {peak} bytes"


def test_pax_header_bomb_does_not_take_the_memory(tmp_path: Path) -> None:
    files = {TRANSCRIPT: {"sha256": hashlib.sha256(b"{}\n").hexdigest(), "size": 3}}
    manifest = _manifest(files)
    bundle = tmp_path / "pax-bomb.tlbundle"
    with gzip.open(bundle, "wb", compresslevel=1) as gz:
        gz.write(_header("manifest.json", len(manifest)) + manifest + _pad(len(manifest)))
        gz.write(_header("././@PaxHeader", BIG, tarfile.XHDTYPE))
        record = b"%d comment=" % (BIG)
        gz.write(record)
        written = len(record)
        for chunk in _zeros(BIG - len(ZEROS)):
            gz.write(chunk)
            written += len(chunk)
        gz.write(b"x" * (BIG - written - 1) + b"\n")
        gz.write(_header(f"files/{TRANSCRIPT}", 3) + b"{}\n" + _pad(3))
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match="oversized tar headers"):
            read_manifest(bundle)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"peak {peak} bytes"


def test_declared_sizes_are_capped_before_extracting(tmp_path: Path) -> None:
    files = {TRANSCRIPT: {"sha256": "0" * 64, "size": 5 << 40}}  # 5 TiB
    manifest = _manifest(files)
    bundle = tmp_path / "huge.tlbundle"
    _write_bundle(bundle, [("manifest.json", manifest, len(manifest))], manifest)
    with pytest.raises(BundleError, match="more than the limit"):
        import_bundle(bundle, config_dir=tmp_path / "cfg")
    small = {TRANSCRIPT: {"sha256": "0" * 64, "size": 4096}}
    manifest = _manifest(small)
    _write_bundle(bundle, [("manifest.json", manifest, len(manifest))], manifest)
    with pytest.raises(BundleError, match="more than the limit"):
        import_bundle(bundle, config_dir=tmp_path / "cfg", max_bytes=1024)


def test_member_size_must_match_the_manifest_before_it_is_read(tmp_path: Path) -> None:
    files = {TRANSCRIPT: {"sha256": "0" * 64, "size": 10}}
    manifest = _manifest(files)
    bundle = tmp_path / "liar.tlbundle"
    _write_bundle(
        bundle,
        [("manifest.json", manifest, len(manifest)), (f"files/{TRANSCRIPT}", _zeros(BIG), BIG)],
        manifest,
    )
    cfg = tmp_path / "cfg"
    with _DiskWatch(cfg) as watch, pytest.raises(BundleError):
        import_bundle(bundle, config_dir=cfg)
    assert watch.peak < 1 << 20


@pytest.mark.parametrize(
    "name",
    ["../escape", "sub/dir@v1", "not-a-backup", "x@v1/../../y"],
)
def test_file_history_names_must_be_backup_names(tmp_path: Path, name: str) -> None:
    data = b"{}\n"
    history = f"file-history/{SID}/{name}"
    files = {
        TRANSCRIPT: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
        history: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)},
    }
    manifest = _manifest(files)
    bundle = tmp_path / "history.tlbundle"
    _write_bundle(
        bundle,
        [("manifest.json", manifest, len(manifest)), (f"files/{TRANSCRIPT}", data, len(data)),
         (f"files/{history}", data, len(data))],
        manifest,
    )  # fmt: skip
    with pytest.raises(BundleError):
        import_bundle(bundle, config_dir=tmp_path / "cfg")
    assert not (tmp_path / "cfg" / "file-history").exists()


def test_a_session_cannot_list_another_sessions_files(tmp_path: Path) -> None:
    data = b"{}\n"
    other = f"projects/{KEY}/{uuid.uuid4()}.jsonl"
    files = {
        TRANSCRIPT: {"sha256": hashlib.sha256(data).hexdigest(), "size": 3},
        other: {"sha256": hashlib.sha256(data).hexdigest(), "size": 3},
    }
    manifest = _manifest(files)
    bundle = tmp_path / "other.tlbundle"
    _write_bundle(
        bundle,
        [("manifest.json", manifest, len(manifest)), (f"files/{TRANSCRIPT}", data, 3),
         (f"files/{other}", data, 3)],
        manifest,
    )  # fmt: skip
    with pytest.raises(BundleError, match="another session"):
        read_manifest(bundle)


def test_a_good_handmade_bundle_imports(tmp_path: Path) -> None:
    data = b'{"type":"user","uuid":"u1","message":{"role":"user","content":"hi"}}\n'
    files = {TRANSCRIPT: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}
    manifest = _manifest(files)
    bundle = tmp_path / "good.tlbundle"
    _write_bundle(
        bundle,
        [("manifest.json", manifest, len(manifest)), (f"files/{TRANSCRIPT}", data, len(data))],
        manifest,
    )
    (session,) = import_bundle(bundle, config_dir=tmp_path / "cfg")
    assert session.session_id == SID
    assert (tmp_path / "cfg" / TRANSCRIPT).read_bytes() == data
