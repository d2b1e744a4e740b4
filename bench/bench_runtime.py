"""threadline vs the official Claude Agent SDK, side by side, against one local fake server.

Run: ``.venv/bin/python bench/bench_runtime.py [--runs 9]``. Not part of the test suite.

1. one ``query()`` turn, call → ResultMessage (the official SDK spawns its bundled CLI);
2. resuming a 20 000-entry session, call → the first model request reaching the server:
   as in a working loop (both SDKs persist: every resume adds a turn, threadline's and the
   CLI's, so threadline reads the snapshot its previous resume left plus the lines appended
   since), and as a first resume (no snapshot: the whole transcript is read; nothing is
   written);
3. RSS growth per additional open client (1 → 20 clients, / 19) vs the RSS of the official
   client's CLI process;
4. fresh processes, as every ``threadline run`` and short-lived worker is (imports included,
   bytecode compiled as an installed package has it): one ``threadline run`` turn against
   ``claude -p`` (the official SDK's bundled CLI), wall time; the first resume of the
   20 000-entry CLI-written session of the bench corpus (``bench/_corpus.py``), process start
   → first model request, nothing written; the first resume in a new process of a
   20 000-entry session threadline wrote (its last run left the resume snapshot), process
   start → first model request; and the same CLI-written session's first resume in this
   (warm) process.

Each measurement: one warm-up, then ``--runs`` interleaved runs; medians are printed.
``--only cli`` runs only the two first resumes of the CLI-written session (fresh and warm).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from threadline._client import AgentClient  # noqa: E402
from threadline._ids import new_uuid  # noqa: E402
from threadline._messages import ResultMessage  # noqa: E402
from threadline._query import query  # noqa: E402
from threadline.runtime._options import AgentOptions  # noqa: E402
from threadline.sessions._paths import project_key_for_directory  # noqa: E402
from threadline.sessions._snapshot import SNAPSHOT_NAME  # noqa: E402
from threadline.transcript._entries import EntryFactory  # noqa: E402

MiB = 1024 * 1024

# A fresh process's first resume, process start -> first model request (the server's clock).
_FRESH_TL = r"""
import time
t0 = time.time()
import os, sys
import anyio
import threadline

async def main() -> None:
    options = threadline.AgentOptions(
        cwd=os.getcwd(), resume=sys.argv[1], persist_session=sys.argv[2] == "1"
    )
    async for _ in threadline.query(prompt="next", options=options):
        pass

anyio.run(main)
print(t0)
"""

_FRESH_SDK = r"""
import time
t0 = time.time()
import os, sys
import anyio
import claude_agent_sdk

async def main() -> None:
    extra = {} if sys.argv[2] == "1" else {"no-session-persistence": None}
    options = claude_agent_sdk.ClaudeAgentOptions(
        cwd=os.getcwd(), resume=sys.argv[1], extra_args=extra
    )
    async for _ in claude_agent_sdk.query(prompt="next", options=options):
        pass

anyio.run(main)
print(t0)
"""


class _ServerProcess:
    """``python -m threadline.testing._fake_anthropic`` in a child process."""

    def __init__(self) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "threadline.testing._fake_anthropic", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()

    def arrivals(self) -> list[float]:
        import urllib.request

        with urllib.request.urlopen(self.base_url + "/_control/arrivals") as resp:
            return [float(x) for x in json.loads(resp.read())]

    def forget(self) -> int:
        """Drop the requests the server kept (it keeps every body it parsed: a first resume's
        19.6 MiB, ≈ 150 MiB once parsed; a whole run's grew the server to 7-12 GB); the
        index of the next request in :meth:`arrivals`, 0."""
        import urllib.request

        req = urllib.request.Request(self.base_url + "/_control/clear", data=b"{}", method="POST",
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req) as resp:
            resp.read()
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.config = work / "config"
        self.project = work / "project"
        for d in (self.config, self.project, work / "home", work / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        # The fake server runs in its own process, as a real API would be: in-process it
        # would compete with threadline (but not with the official SDK's CLI) for the GIL.
        self.server = _ServerProcess()
        for name in list(os.environ):
            if name.startswith(("ANTHROPIC_", "CLAUDE", "OTEL_")):
                del os.environ[name]
        self.env = {
            "ANTHROPIC_BASE_URL": self.server.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-fake-bench",
            "CLAUDE_CONFIG_DIR": str(self.config),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "HOME": str(work / "home"),
            "TMPDIR": str(work / "tmp"),
        }
        os.environ.update(self.env)
        os.chdir(self.project)

    # -- options -------------------------------------------------------------------------

    def tl_options(self, **kw: Any) -> AgentOptions:
        return AgentOptions(cwd=str(self.project), **kw)

    def sdk_options(self, **kw: Any) -> Any:
        from claude_agent_sdk import ClaudeAgentOptions

        return ClaudeAgentOptions(cwd=str(self.project), env=dict(self.env), **kw)

    # -- 1. one turn -----------------------------------------------------------------------

    async def tl_turn(self) -> float:
        t0 = time.perf_counter()
        async for m in query(prompt="hello", options=self.tl_options()):
            if isinstance(m, ResultMessage):
                assert not m.is_error, m
        return time.perf_counter() - t0

    async def sdk_turn(self) -> float:
        import claude_agent_sdk

        t0 = time.perf_counter()
        async for m in claude_agent_sdk.query(prompt="hello", options=self.sdk_options()):
            if isinstance(m, claude_agent_sdk.ResultMessage):
                assert not m.is_error, m
        return time.perf_counter() - t0

    # -- 2. resume a 20 000-entry session ----------------------------------------------------

    def make_big_session(self, entries: int = 20_000) -> str:
        sid = new_uuid()
        factory = EntryFactory(session_id=sid, cwd=str(self.project))
        out: list[dict[str, Any]] = []
        parent: str | None = None
        for i in range(entries // 2):
            prompt = factory.prompt(f"question {i}: " + "lorem ipsum " * 8, parent)
            reply = factory.assistant(
                {
                    "id": f"msg_{i:08d}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-opus-5-5",
                    "content": [{"type": "text", "text": f"answer {i}: " + "dolor sit amet " * 8}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 10},
                },
                prompt["uuid"],
                None,
            )
            out.append(prompt)
            out.extend(reply)
            parent = reply[-1]["uuid"]
        folder = self.config / "projects" / project_key_for_directory(str(self.project))
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{sid}.jsonl").open("w") as fh:
            for e in out:
                fh.write(json.dumps(e, separators=(",", ":")) + "\n")
        return sid

    def transcript(self, sid: str) -> Path:
        return (
            self.config / "projects" / project_key_for_directory(str(self.project)) / f"{sid}.jsonl"
        )

    def drop_snapshot(self, sid: str) -> None:
        """The next resume reads the whole transcript (a first resume of this file)."""
        (self.transcript(sid).with_suffix("") / SNAPSHOT_NAME).unlink(missing_ok=True)

    async def tl_resume(self, sid: str, *, persist: bool) -> float:
        seen = self.server.forget()
        t0 = time.time()
        async for _ in query(
            prompt="next", options=self.tl_options(resume=sid, persist_session=persist)
        ):
            pass
        return self.server.arrivals()[seen] - t0

    async def sdk_resume(self, sid: str, *, persist: bool) -> float:
        import claude_agent_sdk

        seen = self.server.forget()
        extra = {} if persist else {"no-session-persistence": None}
        t0 = time.time()
        async for _ in claude_agent_sdk.query(
            prompt="next", options=self.sdk_options(resume=sid, extra_args=extra)
        ):
            pass
        return self.server.arrivals()[seen] - t0

    # -- 4. fresh processes ------------------------------------------------------------------

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return {**env, **self.env}

    def import_wall(self, code: str) -> float:
        """``python -c CODE`` in a new process: wall time (interpreter start included)."""
        return self._wall([sys.executable, "-c", code])

    def tl_run_turn(self) -> float:
        """``threadline run hello`` in a new process: wall time."""
        exe = Path(sys.executable).parent / "threadline"
        return self._wall([str(exe), "run", "hello"])

    def sdk_run_turn(self) -> float:
        """``claude -p hello`` (the official SDK's bundled CLI) in a new process: wall time."""
        from threadline.testing._claude_cli import claude_cli_path

        return self._wall([str(claude_cli_path()), "-p", "hello"])

    def _wall(self, argv: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(
            argv,
            cwd=self.project,
            env=self.child_env(),
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - t0

    def fresh_resume(self, script: str, sid: str, *, persist: bool) -> float:
        """A new process resumes ``sid``: process start -> first model request."""
        seen = self.server.forget()
        out = subprocess.run(
            [sys.executable, "-c", script, sid, "1" if persist else "0"],
            cwd=self.project,
            env=self.child_env(),
            check=True,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        t0 = float(out.stdout.strip().splitlines()[-1])
        return self.server.arrivals()[seen] - t0

    def import_cli_session(self) -> str:
        """The bench corpus's 20 000-entry CLI-shaped session, filed under this project."""
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _corpus import ensure_corpus

        corpus, _ = ensure_corpus()
        folder = self.config / "projects" / project_key_for_directory(str(self.project))
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus.big_path, folder / f"{corpus.big_id}.jsonl")
        return str(corpus.big_id)

    # -- 3. memory per open client -----------------------------------------------------------

    async def tl_rss_per_client(self) -> float:
        clients: list[AgentClient] = []

        async def open_one() -> None:
            client = AgentClient(self.tl_options())
            await client.connect()
            await client.query("hi")
            async for _ in client.receive_response():
                pass
            clients.append(client)

        await open_one()
        gc.collect()
        base = _rss_self()
        for _ in range(19):
            await open_one()
        gc.collect()
        grown = _rss_self() - base
        for c in clients:
            await c.disconnect()
        return grown / 19

    async def sdk_client_rss(self) -> float:
        from claude_agent_sdk import ClaudeSDKClient

        async with ClaudeSDKClient(self.sdk_options()) as client:
            await client.query("hi")
            async for _ in client.receive_response():
                pass
            rss = _children_rss(exclude={self.server.proc.pid})
        return float(rss)


def _rss_self() -> int:
    return _rss_of(os.getpid())


def _rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _children_rss(exclude: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    me = os.getpid()
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me and int(name) not in exclude:
            total += _rss_of(int(name))
    return total


def _median(fn: Callable[[], Any], runs: int) -> list[float]:
    return [asyncio.run(fn()) for _ in range(runs)]


def _compile_sources() -> None:
    """Bytecode for threadline's sources, as an installed package has it (an editable
    install under PYTHONDONTWRITEBYTECODE would compile every module in every process)."""
    compileall.compile_dir(str(ROOT / "src" / "threadline"), quiet=1)


def _load() -> str:
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--only",
        choices=("all", "inprocess", "fresh", "cli"),
        default="all",
        help="which part to run (cli: only the two first resumes of the CLI-written session)",
    )
    args = parser.parse_args()
    _compile_sources()
    print(f"start: {_load()}", flush=True)
    names = {
        "turn": "one query() turn, call -> ResultMessage",
        "resume": "resume 20 000 entries -> first model request",
        "resume-cold": "  same, first resume (no snapshot yet)",
        "cli-warm": "first resume, CLI-written 20 000 (warm process)",
        "import": "fresh: `import threadline` vs `import claude_agent_sdk`",
        "import-query": "fresh: `from … import query` + options class",
        "run-turn": "fresh: `threadline run` vs `claude -p`, one turn",
        "cli-fresh": "fresh: first resume, CLI-written 20 000",
        "tl-fresh": "fresh: first resume, threadline-written 20 000",
    }
    pairs: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in names}
    tl_rss = sdk_rss = 0.0
    with tempfile.TemporaryDirectory(prefix="tl-bench-") as tmp:
        bench = Bench(Path(tmp))
        big = bench.make_big_session() if args.only in ("all", "inprocess") else ""
        if args.only in ("all", "inprocess"):
            # warm-up (threadline's first persisted resume reads everything, leaves a snapshot)
            asyncio.run(bench.tl_turn())
            asyncio.run(bench.sdk_turn())
            asyncio.run(bench.tl_resume(big, persist=True))
            asyncio.run(bench.sdk_resume(big, persist=True))
            for _ in range(args.runs):
                pairs["turn"][0].append(asyncio.run(bench.tl_turn()))
                pairs["turn"][1].append(asyncio.run(bench.sdk_turn()))
                # the working loop: each resume adds a turn (threadline's, then the CLI's), so
                # threadline reads its snapshot plus the lines both appended since
                pairs["resume"][0].append(asyncio.run(bench.tl_resume(big, persist=True)))
                pairs["resume"][1].append(asyncio.run(bench.sdk_resume(big, persist=True)))
                # a session threadline has never resumed: no snapshot, nothing written
                bench.drop_snapshot(big)
                pairs["resume-cold"][0].append(asyncio.run(bench.tl_resume(big, persist=False)))
                pairs["resume-cold"][1].append(asyncio.run(bench.sdk_resume(big, persist=False)))
                asyncio.run(bench.tl_resume(big, persist=True))  # (unmeasured) the snapshot again
            tl_rss = asyncio.run(bench.tl_rss_per_client())
            sdk_rss = asyncio.run(bench.sdk_client_rss())
        if args.only in ("all", "fresh"):
            cli_sid = bench.import_cli_session()
            # a session threadline wrote: a fresh one of 20 000 entries, continued by one
            # `threadline run` (whose end leaves the resume snapshot)
            written = bench.make_big_session()
            bench.fresh_resume(_FRESH_TL, written, persist=True)
            bench.tl_run_turn()  # warm-ups: the OS's file cache, the CLI's first start
            bench.sdk_run_turn()
            for _ in range(max(args.runs, 10)):  # imports: at least 10 cold runs
                pairs["import"][0].append(bench.import_wall("import threadline"))
                pairs["import"][1].append(bench.import_wall("import claude_agent_sdk"))
                pairs["import-query"][0].append(
                    bench.import_wall("from threadline import AgentOptions, query")
                )
                pairs["import-query"][1].append(
                    bench.import_wall("from claude_agent_sdk import ClaudeAgentOptions, query")
                )
            for _ in range(args.runs):
                pairs["run-turn"][0].append(bench.tl_run_turn())
                pairs["run-turn"][1].append(bench.sdk_run_turn())
                pairs["cli-fresh"][0].append(bench.fresh_resume(_FRESH_TL, cli_sid, persist=False))
                pairs["cli-fresh"][1].append(bench.fresh_resume(_FRESH_SDK, cli_sid, persist=False))
                bench.drop_snapshot(cli_sid)
                pairs["cli-warm"][0].append(asyncio.run(bench.tl_resume(cli_sid, persist=False)))
                pairs["cli-warm"][1].append(asyncio.run(bench.sdk_resume(cli_sid, persist=False)))
                # nothing written: every run is the first resume of what threadline left
                pairs["tl-fresh"][0].append(bench.fresh_resume(_FRESH_TL, written, persist=False))
                pairs["tl-fresh"][1].append(bench.fresh_resume(_FRESH_SDK, written, persist=False))
        if args.only == "cli":
            cli_sid = bench.import_cli_session()
            bench.fresh_resume(_FRESH_TL, cli_sid, persist=False)  # warm-ups: the file cache,
            bench.fresh_resume(_FRESH_SDK, cli_sid, persist=False)  # the CLI's first start
            asyncio.run(bench.tl_resume(cli_sid, persist=False))
            asyncio.run(bench.sdk_resume(cli_sid, persist=False))
            for _ in range(args.runs):
                pairs["cli-fresh"][0].append(bench.fresh_resume(_FRESH_TL, cli_sid, persist=False))
                pairs["cli-fresh"][1].append(bench.fresh_resume(_FRESH_SDK, cli_sid, persist=False))
                pairs["cli-warm"][0].append(asyncio.run(bench.tl_resume(cli_sid, persist=False)))
                pairs["cli-warm"][1].append(asyncio.run(bench.sdk_resume(cli_sid, persist=False)))
        bench.server.stop()

    print(f"end: {_load()}")
    print(f"{'measurement':<52} {'threadline':>12} {'official':>12} {'ratio':>8}")
    for name, label in names.items():
        if not pairs[name][0]:
            continue
        ours = statistics.median(pairs[name][0])
        theirs = statistics.median(pairs[name][1])
        print(f"{label:<52} {ours * 1000:>10.1f}ms {theirs * 1000:>10.1f}ms {theirs / ours:>7.1f}x")
    if tl_rss or sdk_rss:
        print(
            f"{'RSS per additional open client (1->20)/19':<52} {tl_rss / MiB:>9.3f}MiB "
            f"{sdk_rss / MiB:>9.1f}MiB {sdk_rss / max(tl_rss, 1):>7.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
