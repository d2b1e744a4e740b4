"""A CLI command's module loads as threadline's lazy names do (threadline._lazy)."""

from __future__ import annotations

import subprocess
import sys


def test_the_cli_commands_load_with_the_gc_paused() -> None:
    """``threadline run`` imports the runtime through ``threadline._lazy.import_first``
    (the cyclic GC paused, then enabled again), not by a plain import."""
    code = (
        "import gc, importlib\n"
        "from threadline.cli import cli\n"
        "seen = []\n"
        "real = importlib.import_module\n"
        "def spy(name, package=None):\n"
        "    seen.append(gc.isenabled())\n"
        "    return real(name, package)\n"
        "importlib.import_module = spy\n"
        "cli.get_command(None, 'run')\n"
        "print(bool(seen), any(seen), gc.isenabled())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "True"]
