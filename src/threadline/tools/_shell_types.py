"""What a background command is while it runs and when it ends (split from
``tools/_shells``: a run that starts no background command does not create the classes)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["BackgroundShell", "ShellNotice", "Status"]

Status = Literal["running", "completed", "failed", "killed"]


@dataclass(frozen=True)
class ShellNotice:
    """A background command ended: what the model is told in its ``<task-notification>``."""

    task_id: str
    tool_use_id: str
    output_file: str
    status: Literal["completed", "failed", "killed"]
    description: str
    exit_code: int | None

    @property
    def summary(self) -> str:
        what = f'Background command "{self.description}"'
        if self.status == "killed":
            return f"{what} was stopped"
        return f"{what} {self.status} (exit code {self.exit_code})"

    @property
    def text(self) -> str:
        """The ``<task-notification>`` block, as the CLI writes it for a shell."""
        return (
            f"<task-notification>\n<task-id>{self.task_id}</task-id>\n"
            f"<tool-use-id>{self.tool_use_id}</tool-use-id>\n"
            f"<output-file>{self.output_file}</output-file>\n"
            f"<status>{self.status}</status>\n"
            f"<summary>{self.summary}</summary>\n</task-notification>"
        )


@dataclass(eq=False)
class BackgroundShell:
    """One background command."""

    task_id: str
    command: str
    description: str
    tool_use_id: str
    output_file: Path
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    status: Status = "running"
    exit_code: int | None = None
    stop_requested: bool = False
    cleanup: Callable[[], None] | None = None
    waiter: threading.Thread | None = None
