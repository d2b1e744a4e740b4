"""The official SessionStore conformance suite and threadline's kit, against every store."""

from __future__ import annotations

import pytest
from claude_agent_sdk.testing import run_session_store_conformance

from threadline.testing import check_session_store

from .conftest import Backend

pytestmark = pytest.mark.anyio


async def test_official_conformance(backend: Backend) -> None:
    await run_session_store_conformance(backend.make)


@pytest.mark.slow
async def test_threadline_kit(backend: Backend) -> None:
    ran = await check_session_store(backend.make, make_store_in_process=backend.recipe())
    assert {"idempotent_retry", "concurrent_appenders", "listing", "conditional_append"} <= set(ran)
    assert "find_session" in ran
    if backend.shared:
        assert {"process_appenders", "process_conditional_race"} <= set(ran)
