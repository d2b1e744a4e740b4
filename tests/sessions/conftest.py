"""Fixtures of the session-function tests."""

from __future__ import annotations

import pytest

from threadline.sessions import _mutations


@pytest.fixture(params=["simdjson", "orjson"])
def fork_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a fork test with each validator of the unparsed message bytes (and lines sealed
    into blocks every few entries, so small transcripts exercise it too)."""
    monkeypatch.setattr(_mutations, "_SEAL_EVERY", 3)
    if request.param == "orjson":
        monkeypatch.setattr(_mutations, "_USE_SIMDJSON", False)
    else:
        pytest.importorskip("simdjson", reason="the [speedups] extra is not installed")
    return str(request.param)
