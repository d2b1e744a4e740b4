"""Benchmarks for long-lived sessions: resuming after a compaction.

1. Bytes read: a 100 000-entry session compacted near its end is resumed; the bytes the
   process reads (``/proc/self/io`` ``rchar``) are compared with the file size. Measured
   for the resume itself (``plan_session``: locating the session and rebuilding its
   history) and for a full ``AgentClient.connect()``.
2. Peak RSS: a ~200 MB transcript compacted near its end is resumed in a fresh process;
   the growth of its peak RSS (``VmHWM`` after minus ``VmRSS`` before) is compared with
   the size of the part after the boundary.

Run: ``.venv/bin/python bench/bench_longlived.py`` (Linux; prints a small table).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from threadline.sessions._offsets import record_boundary
from threadline.transcript._compaction import compaction_entries
from threadline.transcript._entries import EntryFactory

PROJECT = "-bench-project"


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def build_session(
    config: Path, cwd: str, *, entries: int, boundary_at: float, text_size: int
) -> tuple[str, Path, int]:
    """A transcript of ``entries`` chain entries with a compaction at ``boundary_at``.

    Returns (session id, path, byte offset where the kept part starts).
    """
    sid = str(uuid.uuid4())
    path = config / "projects" / PROJECT / f"{sid}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    factory = EntryFactory(session_id=sid, cwd=cwd)
    filler = "lorem ipsum dolor sit amet " * (text_size // 27 + 1)
    cut = int(entries * boundary_at)
    parent: str | None = None
    chain: list[dict[str, Any]] = []
    with open(path, "wb") as f:
        for i in range(entries):
            if i == cut:
                start = next(
                    j for j in range(len(chain) - 1, -1, -1) if chain[j]["type"] == "assistant"
                )
                preserved = chain[start:]
                boundary, summary = compaction_entries(
                    factory,
                    leaf=parent or "",
                    preserved=preserved,
                    summary="Summary of everything so far.",
                    trigger="auto",
                    pre_tokens=150_000,
                    post_tokens=2_000,
                    duration_ms=1,
                    transcript_path=str(path),
                )
                f.write(orjson.dumps(boundary) + b"\n" + orjson.dumps(summary) + b"\n")
                parent = summary["uuid"]
                chain = []
            if i % 2 == 0:
                entry = factory.prompt(f"prompt {i} {filler[:text_size]}", parent)
            else:
                entry = factory.assistant(
                    {
                        "id": f"msg_{i}",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude-opus-5-5",
                        "content": [{"type": "text", "text": f"reply {i} {filler[:text_size]}"}],
                        "stop_reason": "end_turn",
                        "usage": {"input_tokens": 10, "output_tokens": 10},
                    },
                    parent,
                    f"req_{i}",
                )[0]
            f.write(orjson.dumps(entry) + b"\n")
            parent = entry["uuid"]
            chain.append(entry)
    boundary_uuid = boundary["uuid"]
    head = preserved[0]["uuid"]
    record_boundary(path, boundary_uuid, head)
    info = json.loads((path.with_suffix("") / "threadline-compact.json").read_text())
    return sid, path, int(info["start"])


async def _plan(config: Path, sid: str, cwd: str) -> int:
    from threadline.runtime._options import AgentOptions
    from threadline.runtime._resume import plan_session

    plan = await plan_session(
        AgentOptions(resume=sid, cwd=cwd, env={"CLAUDE_CONFIG_DIR": str(config)})
    )
    return len(plan.history)


async def _connect(config: Path, sid: str, cwd: str) -> None:
    from threadline._client import AgentClient
    from threadline.runtime._options import AgentOptions

    opts = AgentOptions(
        resume=sid, cwd=cwd, api_key="sk-bench", env={"CLAUDE_CONFIG_DIR": str(config)}
    )
    async with AgentClient(opts):
        pass


def bench_bytes_read(root: Path) -> dict[str, Any]:
    config = root / "config-a"
    cwd = str(root)
    t0 = time.perf_counter()
    sid, path, start = build_session(config, cwd, entries=100_000, boundary_at=0.98, text_size=300)
    built = time.perf_counter() - t0
    size = path.stat().st_size
    os.environ["CLAUDE_CONFIG_DIR"] = str(config)

    before = _rchar()
    t0 = time.perf_counter()
    messages = asyncio.run(_plan(config, sid, cwd))
    plan_s = time.perf_counter() - t0
    plan_read = _rchar() - before

    before = _rchar()
    t0 = time.perf_counter()
    asyncio.run(_connect(config, sid, cwd))
    connect_s = time.perf_counter() - t0
    connect_read = _rchar() - before

    # the fallback: no sidecar (a CLI-written compaction) → one full parse that learns it;
    # the resume snapshot the first resume left is removed too (a file threadline never saw)
    (path.with_suffix("") / "threadline-compact.json").unlink()
    (path.with_suffix("") / "threadline-resume.snap").unlink(missing_ok=True)
    before = _rchar()
    t0 = time.perf_counter()
    asyncio.run(_plan(config, sid, cwd))
    full_s = time.perf_counter() - t0
    full_read = _rchar() - before
    before = _rchar()
    asyncio.run(_plan(config, sid, cwd))
    relearned_read = _rchar() - before
    return {
        "entries": 100_000,
        "file_bytes": size,
        "kept_bytes": size - start,
        "build_s": round(built, 2),
        "resume_messages": messages,
        "resume_read_bytes": plan_read,
        "resume_read_pct": round(100 * plan_read / size, 2),
        "resume_s": round(plan_s, 3),
        "connect_read_bytes": connect_read,
        "connect_read_pct": round(100 * connect_read / size, 2),
        "connect_s": round(connect_s, 3),
        "no_sidecar_read_pct": round(100 * full_read / size, 2),
        "no_sidecar_s": round(full_s, 3),
        "after_learning_read_pct": round(100 * relearned_read / size, 2),
    }


_CHILD = """
import asyncio, json, sys
sys.path.insert(0, {bench!r})
import bench_longlived as b
import threadline.runtime._resume, threadline.runtime._loop  # imports before the baseline
base = b._status("VmRSS")
asyncio.run(b._plan(__import__("pathlib").Path({config!r}), {sid!r}, {cwd!r}))
print(json.dumps({{"baseline": base, "hwm": b._status("VmHWM")}}))
"""


def _child_growth(config: Path, sid: str, cwd: str) -> int:
    code = _CHILD.format(bench=str(Path(__file__).parent), config=str(config), sid=sid, cwd=cwd)
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(config)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return int(data["hwm"] - data["baseline"])


def bench_peak_rss(root: Path) -> dict[str, Any]:
    config = root / "config-b"
    cwd = str(root)
    sid, path, start = build_session(
        config, cwd, entries=100_000, boundary_at=0.95, text_size=1_500
    )
    size = path.stat().st_size
    tail = size - start
    growth = _child_growth(config, sid, cwd)
    # the fixed cost of any resume (worker thread, event loop, lazy imports): a tiny session
    tiny_sid, _, _ = build_session(config, cwd, entries=200, boundary_at=0.95, text_size=1_500)
    fixed = _child_growth(config, tiny_sid, cwd)
    return {
        "file_mb": round(size / 2**20, 1),
        "after_boundary_mb": round(tail / 2**20, 1),
        "peak_rss_growth_mb": round(growth / 2**20, 1),
        "growth_over_tail": round(growth / tail, 2),
        "fixed_resume_cost_mb": round(fixed / 2**20, 1),
        "growth_minus_fixed_over_tail": round((growth - fixed) / tail, 2),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-longlived-") as tmp:
        root = Path(tmp)
        a = bench_bytes_read(root)
        print("1. resume of a 100 000-entry session compacted at 98 %")
        for k, v in a.items():
            print(f"   {k:26} {v}")
        ok = a["resume_read_pct"] <= 5
        print(f"   target: resume reads <= 5 % of the file -> {'PASS' if ok else 'FAIL'}")
        b = bench_peak_rss(root)
        print("2. peak RSS while resuming a ~200 MB transcript compacted at 95 %")
        for k, v in b.items():
            print(f"   {k:26} {v}")
        ok = b["growth_over_tail"] < 2
        print(
            f"   target: peak RSS growth < 2 x the part after the boundary -> "
            f"{'PASS' if ok else 'FAIL'} (raw), "
            f"{'PASS' if b['growth_minus_fixed_over_tail'] < 2 else 'FAIL'} "
            "(without the fixed per-resume cost)"
        )


if __name__ == "__main__":
    main()
