"""Fixtures of the session-function tests."""

from __future__ import annotations

import pytest

from threadline.sessions import _mutations


@pytest.fixture(params=["simdjson", "orjson"])
def fork_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a fork test with each engine: simdjson (lines split and their heads copied, or
    their messages validated unparsed) and orjson alone (messages validated by orjson)."""
    if request.param == "orjson":
        monkeypatch.setattr(_mutations, "_USE_SIMDJSON", False)
    else:
        pytest.importorskip("simdjson", reason="the [speedups] extra is not installed")
    return str(request.param)
