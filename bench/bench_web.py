"""Benchmark of ``threadline serve``: the session list and a 20 000-entry conversation.

The targets of issue 18: the first page of a 10 000-session list, and the first page of a
20 000-entry session, each served in under 1 s. Requests go to the ASGI app in process
(httpx's ASGI transport: routing, JSON and the guard included; no socket). The official
SDK has no web page; the nearest calls it offers (``list_sessions(limit=50)``,
``get_session_messages(big, limit=100)``) run in the same run on the same files for scale.

Corpus: ``bench/_corpus.py`` (the sessions benchmark's generator: one 20 000-chain-entry
session shaped like Claude Code 2.1.330 transcripts, parallel tool calls included) with
10 000 small sessions in 50 projects. Every figure is a median of ``--repeat`` runs;
"fresh process" figures run a new interpreter each time (nothing in memory; files in the
OS page cache).

Usage: python bench/bench_web.py [--repeat N] [--small N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _corpus  # noqa: E402

_FRESH = r"""
import json, sys, time
t0 = time.perf_counter()
import anyio, httpx
from threadline.web import FileSource, create_app
cfg, paths = sys.argv[1], sys.argv[2:]
async def main():
    app = create_app(FileSource(cfg))
    out = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8765") as c:
        for path in paths:
            t = time.perf_counter()
            r = await c.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            out.append(time.perf_counter() - t)
    return out
times = anyio.run(main)
print(json.dumps({"import": time.perf_counter() - t0 - sum(times), "requests": times}))
"""


def _fmt(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 10 else f"{s:.1f} s"


def _median(fn: Callable[[], float], repeat: int) -> float:
    fn()  # warm-up
    return statistics.median(fn() for _ in range(repeat))


def _cpu_median(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU seconds of this process (worker threads included) per call: on a shared,
    loaded machine this is what the wall time would be on an idle one."""
    fn()

    def one() -> float:
        t = time.process_time()
        fn()
        return time.process_time() - t

    return statistics.median(one() for _ in range(repeat))


def _fresh(cfg: Path, paths: list[str]) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", _FRESH, str(cfg), *paths], capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout)["requests"])


def _in_process(cfg: Path, paths: list[str], *, app: Any = None) -> list[float]:
    import anyio
    import httpx

    from threadline.web import FileSource, create_app

    app = app or create_app(FileSource(cfg), close_source=False)

    async def main() -> list[float]:
        out = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8765") as c:
            for path in paths:
                t = time.perf_counter()
                r = await c.get(path)
                assert r.status_code == 200, (path, r.status_code)
                out.append(time.perf_counter() - t)
        return out

    return anyio.run(main)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--small", type=int, default=10_000, help="small sessions in the corpus")
    args = ap.parse_args(argv)
    repeat = args.repeat

    corpus, fresh = _corpus.ensure_corpus(
        _corpus.CorpusParams(n_small=args.small, n_projects=50), log=lambda s: print("  " + s, flush=True)
    )
    cfg = corpus.root
    os.environ["CLAUDE_CONFIG_DIR"] = str(cfg)
    big = corpus.big_id
    print(f"== corpus {cfg} ({'generated' if fresh else 'cached'})")
    print(f"  {corpus.n_files} sessions, {corpus.total_bytes / 2**20:.0f} MiB; big session {big}: "
          f"{corpus.big_lines} lines, {corpus.big_bytes / 2**20:.1f} MiB")
    import claude_agent_sdk as official

    rows: list[tuple[str, float, str]] = []

    def row(name: str, seconds: float, note: str = "") -> None:
        rows.append((name, seconds, note))
        print(f"  {name:<62} {_fmt(seconds):>9}  {note}", flush=True)

    first_page = "/api/sessions?limit=50"
    print(f"== the session list ({repeat} repeats, medians)")
    shutil.rmtree(cfg / "threadline", ignore_errors=True)
    row("first page, fresh process, no index yet (builds it)", _fresh(cfg, [first_page])[0], "once")
    row("first page, fresh process, index on disk",
        _median(lambda: _fresh(cfg, [first_page])[0], repeat), "target < 1 s")
    row("first page, new app, index in memory",
        _median(lambda: _in_process(cfg, [first_page])[0], repeat))
    row("  the same, CPU time", _cpu_median(lambda: _in_process(cfg, [first_page]), repeat))
    listing = create_app_files(cfg)
    _in_process(cfg, [first_page], app=listing)
    row("first page again, server running",
        _median(lambda: _in_process(cfg, [first_page], app=listing)[0], repeat))
    row("page 100 sorted by title, server running",
        _median(lambda: _in_process(cfg, ["/api/sessions?limit=50&offset=5000&sort=title"], app=listing)[0], repeat))
    row("official list_sessions(limit=50) (no page; for scale)",
        _median(lambda: _timed(lambda: official.list_sessions(limit=50)), repeat))
    row("  the same, CPU time", _cpu_median(lambda: official.list_sessions(limit=50), repeat))

    print(f"== the 20 000-entry session ({repeat} repeats, medians)")
    detail, page1 = f"/api/sessions/{big}", f"/api/sessions/{big}/messages?limit=100"
    row("details + first page, fresh process", _median(lambda: sum(_fresh(cfg, [detail, page1])), repeat),
        "target < 1 s")
    row("details + first page, running server, first open",
        _median(lambda: sum(_in_process(cfg, [detail, page1])), repeat), "target < 1 s")
    row("  the same, CPU time", _cpu_median(lambda: _in_process(cfg, [detail, page1]), repeat))
    from threadline.web import FileSource, create_app

    warm = create_app(FileSource(cfg), close_source=False)
    _in_process(cfg, [detail, page1], app=warm)
    pages = iter(range(100, 7000, 100))
    row("another page, same session (parsed and laid out once)",
        _median(lambda: _in_process(cfg, [f"/api/sessions/{big}/messages?limit=100&offset={next(pages)}"], app=warm)[0], repeat))
    row("branch tree", _median(lambda: _in_process(cfg, [f"/api/sessions/{big}/tree"], app=warm)[0], repeat))
    row("usage", _median(lambda: _in_process(cfg, [f"/api/sessions/{big}/usage"], app=warm)[0], repeat))
    row("official get_session_messages(big, limit=100) (for scale)",
        _median(lambda: _timed(lambda: official.get_session_messages(big, limit=100)), repeat))
    row("  the same, CPU time", _cpu_median(lambda: official.get_session_messages(big, limit=100), repeat))

    print(f"== search ({repeat} repeats, medians)")
    shutil.rmtree(cfg / "threadline" / "search.sqlite3", ignore_errors=True)
    row("first search (builds the full-text index)", _in_process(cfg, ["/api/search?q=tests"])[0], "once")
    row("search, index current", _median(lambda: _in_process(cfg, ["/api/search?q=tests"])[0], repeat))


def create_app_files(cfg: Path) -> Any:
    from threadline.web import FileSource, create_app

    return create_app(FileSource(cfg), close_source=False)


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
