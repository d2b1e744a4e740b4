"""Helpers for the CLI tests: a click runner and a real subprocess (``fake`` and
``project`` come from the top-level conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from threadline.cli import cli


def invoke(*args: str, input: str | None = None) -> Result:
    """Run ``threadline ARGS`` in-process (stderr kept apart from stdout)."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def run_tl(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """Run ``python -m threadline.cli ARGS`` as a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "threadline.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
