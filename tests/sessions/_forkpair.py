"""Fork one transcript with both SDKs: the shared step of the fork comparison tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import claude_agent_sdk as official

import threadline
from threadline import project_key_for_directory


def fork_pair(
    config_dir: Path,
    tmp_path: Path,
    session_id: str,
    data: bytes,
    normalize: Callable[[Path], Any],
    **kw: Any,
) -> tuple[Any, Any]:
    """Write ``data`` as session ``session_id`` of ``tmp_path``'s project, fork it with the
    official SDK and with threadline (``kw`` for both); each result is the fork file
    through ``normalize`` (the fork is then deleted), or the exception's class name."""
    folder = config_dir / "projects" / project_key_for_directory(str(tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{session_id}.jsonl").write_bytes(data)

    def run(fork: Any) -> Any:
        try:
            result = fork(session_id, **kw)
        except Exception as exc:  # both must fail the same way
            return type(exc).__name__
        path = folder / f"{result.session_id}.jsonl"
        try:
            return normalize(path)
        finally:
            path.unlink()

    return run(official.fork_session), run(threadline.fork_session)
