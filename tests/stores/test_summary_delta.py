"""Summaries folded from a batch alone and merged into the stored one (in Python, and in
PostgreSQL's append statement and ``tl_append``) equal the sequential fold over every entry."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from threadline.sessions import fold_session_summary
from threadline.sessions._db import merge_summary, summary_delta

from .conftest import Backend

KEY: Any = {"project_key": "-p", "session_id": "s"}

_text = st.sampled_from(
    ["hello", "", "  ", "<command-name>/init</command-name>", "<command-name>/x</command-name>",
     "<local-command-stdout>x", "nul \x00 here", "ünï 🎉", "second prompt"]
)


@st.composite
def _entry(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["user", "assistant", "tag", "custom-title", "system", "summary"]))
    e: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        e["uuid"] = str(uuid.uuid4())
    if kind == "user":
        content: Any = draw(_text)
        if draw(st.booleans()):
            content = [{"type": "text", "text": content}]
        if draw(st.integers(0, 5)) == 0:
            content = [{"type": "tool_result", "tool_use_id": "t", "content": "r"}]
        e["message"] = {"role": "user", "content": content}
        if draw(st.integers(0, 4)) == 0:
            e["isMeta"] = True
        if draw(st.integers(0, 4)) == 0:
            e["isCompactSummary"] = True
    if kind == "tag":
        e["tag"] = draw(st.sampled_from(["", "t1", "t2", None]))
    for field, values in (
        ("isSidechain", [True, False]),
        ("timestamp", ["2026-01-01T00:00:00.000Z", "bad", "2026-02-01T00:00:00Z"]),
        ("cwd", ["", "/a", "/b"]),
        ("gitBranch", ["main", "dev", ""]),
        ("customTitle", ["T1", "", "T2"]),
        ("aiTitle", ["A"]),
        ("lastPrompt", ["lp", "nul\x00"]),
        ("summary", ["S"]),
    ):
        if draw(st.integers(0, 3)) == 0:
            e[field] = draw(st.sampled_from(values))
    return e


_batches = st.lists(st.lists(_entry(), max_size=6), min_size=1, max_size=5)


@settings(max_examples=400, deadline=None)
@given(_batches)
def test_merged_deltas_equal_the_sequential_fold(batches: list[list[dict[str, Any]]]) -> None:
    folded: Any = None
    merged: dict[str, Any] | None = None
    for batch in batches:
        folded = fold_session_summary(folded, KEY, batch)  # type: ignore[arg-type]
        merged = merge_summary(merged, summary_delta(KEY, batch))  # type: ignore[arg-type]
        assert merged == folded["data"]


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=_batches)
async def test_postgres_merge_equals_python(backend: Backend, batches: list[list[dict[str, Any]]]) -> None:
    store = backend.make() if not backend.stores else backend.stores[0]
    key: Any = {"project_key": "-p", "session_id": str(uuid.uuid4())}
    folded: Any = None
    for batch in batches:
        await store.append(key, batch)
        folded = fold_session_summary(folded, key, batch)
    [summary] = [s for s in await store.list_session_summaries("-p") if s["session_id"] == key["session_id"]]
    assert summary["data"] == folded["data"]
