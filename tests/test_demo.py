"""The README's first command runs examples/demo.py: keep it working."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--config-dir", str(tmp_path / "cfg")],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "GraphQL instead" in proc.stdout
    assert proc.stdout.count("result: success") == 3
    assert len(list((tmp_path / "cfg" / "projects").glob("*/*.jsonl"))) == 2
