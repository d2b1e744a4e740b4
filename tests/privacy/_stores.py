"""Store factories shared by the store tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadline import FileStore, MemoryStore
from threadline.privacy import EncryptedStore, RedactingStore, generate_key

KEY = generate_key()


def factories(tmp_path: Path) -> dict[str, Callable[[], Any]]:
    n = itertools.count()

    def file() -> FileStore:
        return FileStore(tmp_path / f"cfg{next(n)}")

    return {
        "redacting-memory": lambda: RedactingStore(MemoryStore()),
        "redacting-file": lambda: RedactingStore(file()),
        "encrypted-memory": lambda: EncryptedStore(MemoryStore(), key=KEY),
        "encrypted-file": lambda: EncryptedStore(file(), key=KEY),
        "encrypted-memory-v2": lambda: EncryptedStore(MemoryStore(), key=KEY, format="v2"),
        "encrypted-file-raw": lambda: EncryptedStore(file(), key=KEY, compress=False),
        "encrypted-memory-v1": lambda: EncryptedStore(MemoryStore(), key=KEY, format="v1"),
        "encrypted-file-v1": lambda: EncryptedStore(file(), key=KEY, format="v1"),
        "both-file": lambda: RedactingStore(EncryptedStore(file(), key=KEY)),
    }
