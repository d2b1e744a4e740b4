"""Fixtures of the long-lived session tests."""

from __future__ import annotations

import pytest

import threadline.runtime._resume as resume_mod


@pytest.fixture
def small_snapshots(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resume snapshots for sessions of any size (the threshold is 2 000 entries)."""
    monkeypatch.setattr(resume_mod, "MIN_ENTRIES", 1)
