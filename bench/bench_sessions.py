"""Side-by-side benchmark: threadline vs the official ``claude_agent_sdk`` session functions.

Both implementations run in the SAME process on the SAME synthetic corpus
(``bench/_corpus.py``); every measurement is 1 warm-up then N repeats with the
two implementations interleaved (the order alternates each repeat), and the
median is reported with the ratio official / threadline. Results are also
compared for equality (``dataclasses.asdict``) and any difference is printed.

Usage: python bench/bench_sessions.py [--quick] [--repeat N] [--json OUT] [--profile]
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import datetime as _dt
import gc
import json
import os
import platform
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

import orjson  # noqa: E402

import _corpus  # noqa: E402

# ----------------------------------------------------------------------------- helpers


def _fmt_t(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.0f} us"


def _machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    try:
        from importlib.metadata import version

        info["claude_agent_sdk"] = version("claude-agent-sdk")
        info["orjson"] = version("orjson")
    except Exception:  # pragma: no cover
        pass
    try:  # read-only
        info["threadline_git"] = subprocess.run(
            ["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except Exception:
        pass
    return info


def _asdicts(res: Any) -> Any:
    if res is None:
        return None
    if isinstance(res, list):
        return [dataclasses.asdict(x) if dataclasses.is_dataclass(x) else x for x in res]
    if dataclasses.is_dataclass(res):
        return dataclasses.asdict(res)
    return res


def _small_diff(a: Any, b: Any, limit: int = 3) -> list[str]:
    """A few human-readable differences between two asdict structures."""
    out: list[str] = []

    def short(v: Any) -> str:
        s = repr(v)
        return s if len(s) <= 160 else s[:157] + "..."

    def walk(x: Any, y: Any, path: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(x, dict) and isinstance(y, dict):
            for k in list(dict.fromkeys([*x, *y])):
                if k not in x or k not in y:
                    out.append(f"{path}.{k}: only in {'official' if k in x else 'threadline'}")
                elif x[k] != y[k]:
                    walk(x[k], y[k], f"{path}.{k}")
                if len(out) >= limit:
                    return
        elif isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                out.append(f"{path}: len official={len(x)} threadline={len(y)}")
            for i, (p, q) in enumerate(zip(x, y)):
                if p != q:
                    walk(p, q, f"{path}[{i}]")
                if len(out) >= limit:
                    return
        else:
            out.append(f"{path}: official={short(x)} threadline={short(y)}")

    walk(a, b, "")
    return out


@dataclasses.dataclass
class Row:
    name: str
    official: float | None
    threadline: float | None
    target: str = ""
    target_ratio: float | None = None  # official/threadline must be >= this
    equal: str = ""  # "OK" / "MISMATCH" / ""
    note: str = ""
    off_all: list[float] = dataclasses.field(default_factory=list)
    tl_all: list[float] = dataclasses.field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.official and self.threadline:
            return self.official / self.threadline
        return None


class Bench:
    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        self.rows: list[Row] = []
        self.mismatches: list[dict[str, Any]] = []

    def pair(
        self,
        name: str,
        official: Callable[[], Any],
        threadline: Callable[[], Any],
        *,
        target: float | None = None,
        after: Callable[[Any], None] | None = None,
        compare: Callable[[Any, Any], tuple[bool, list[str]]] | None = None,
        repeat: int | None = None,
    ) -> tuple[Row, Any, Any]:
        n = repeat or self.repeat
        fns = {"official": official, "threadline": threadline}
        times: dict[str, list[float]] = {"official": [], "threadline": []}
        last: dict[str, Any] = {}
        # warm-up (also the result used for the equality check)
        for who in ("official", "threadline"):
            last[who] = fns[who]()
        eq_ok, diff = (compare or _default_compare)(last["official"], last["threadline"])
        for who in ("official", "threadline"):
            if after:
                after(last[who])
        summary = {who: (len(v) if isinstance(v, list) else v) for who, v in last.items()}
        # Drop the warm-up results before timing: keeping ~20k parsed messages
        # alive would make every GC pass during the timed calls slower.
        last.clear()
        for i in range(n):
            order = ("official", "threadline") if i % 2 == 0 else ("threadline", "official")
            for who in order:
                gc.collect()
                t0 = time.perf_counter()
                r = fns[who]()
                dt = time.perf_counter() - t0
                times[who].append(dt)
                if after:
                    after(r)
                del r
        row = Row(
            name,
            statistics.median(times["official"]),
            statistics.median(times["threadline"]),
            target=f">= {target:g}x" if target else "",
            target_ratio=target,
            equal="OK" if eq_ok else "MISMATCH",
            off_all=times["official"],
            tl_all=times["threadline"],
        )
        if not eq_ok:
            self.mismatches.append({"measurement": name, "diff": diff})
        self.rows.append(row)
        print(
            f"  {name:<44} official {_fmt_t(row.official):>10}  threadline {_fmt_t(row.threadline):>10}  x{row.ratio:.1f}  {row.equal}",
            flush=True,
        )
        return row, summary["official"], summary["threadline"]

    def add(self, row: Row) -> None:
        self.rows.append(row)
        r = f"x{row.ratio:.1f}" if row.ratio else ""
        print(
            f"  {row.name:<44} official {_fmt_t(row.official):>10}  threadline {_fmt_t(row.threadline):>10}  {r}  {row.note}",
            flush=True,
        )


def _default_compare(a: Any, b: Any) -> tuple[bool, list[str]]:
    da, db = _asdicts(a), _asdicts(b)
    if da == db:
        return True, []
    return False, _small_diff(da, db)


# ----------------------------------------------------------------------------- fork normalisation


def _normalize_fork(path: Path) -> list[dict[str, Any]]:
    """Entries of a fork file with random parts (new uuids, session id, 'now') canonicalised."""
    entries = [orjson.loads(x) for x in path.read_bytes().split(b"\n") if x.strip()]
    mapping: dict[str, str] = {}
    for e in entries:
        u = e.get("uuid")
        if isinstance(u, str) and u not in mapping:
            mapping[u] = f"U{len(mapping)}"
    sid = entries[0].get("sessionId") if entries else None
    chain_idx = [
        i
        for i, e in enumerate(entries)
        if e.get("type") in ("user", "assistant", "system", "attachment", "progress")
    ]
    last_chain = chain_idx[-1] if chain_idx else -1
    out = []
    for i, e in enumerate(entries):
        e = dict(e)
        for k in ("uuid", "parentUuid", "logicalParentUuid"):
            if isinstance(e.get(k), str):
                e[k] = mapping.get(e[k], e[k])
        if e.get("sessionId") == sid:
            e["sessionId"] = "<new>"
        if i == last_chain or e.get("type") in ("custom-title", "content-replacement"):
            e.pop("timestamp", None)  # "now"
        out.append(e)
    return out


# ----------------------------------------------------------------------------- cold process


_COLD_SNIPPET = r"""
import json, os, sys, time
t0 = time.perf_counter()
import {mod} as m
t1 = time.perf_counter()
r = m.list_sessions()
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "list": t2 - t1, "n": len(r)}}))
"""


def _cold(mod: str, env: dict[str, str]) -> tuple[float, float, float, int]:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", _COLD_SNIPPET.format(mod=mod)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return wall, d["import"], d["list"], d["n"]


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="fewer repeats (target < 1 minute)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="timed repeats per measurement (default 7, quick 3)",
    )
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="after the run, cProfile threadline's get_session_messages and list_sessions",
    )
    ap.add_argument("--seed", type=int, default=_corpus.CorpusParams.seed)
    args = ap.parse_args(argv)
    repeat = args.repeat or (3 if args.quick else 7)
    cold_repeat = 2 if args.quick else 3

    # bytecode for threadline's sources, as an installed package has it
    compileall.compile_dir(str(HERE.parent / "src" / "threadline"), quiet=1)
    t_start = time.perf_counter()
    machine = _machine()
    print("== machine")
    for k, v in machine.items():
        print(f"  {k:<16} {v}")

    t = time.perf_counter()
    corpus, fresh = _corpus.ensure_corpus(
        _corpus.CorpusParams(seed=args.seed), log=lambda s: print("  " + s, flush=True)
    )
    gen_s = time.perf_counter() - t
    cfg = corpus.root
    print("== corpus")
    print(f"  dir              {cfg}  ({'generated' if fresh else 'cached'} in {gen_s:.1f} s)")
    print(
        f"  files            {corpus.n_files} sessions, {corpus.total_bytes / 2**20:.0f} MiB, {len(corpus.cwds)} projects"
    )
    print(
        f"  big session      {corpus.big_id}: {corpus.big_lines} lines, {corpus.big_bytes / 2**20:.1f} MiB"
    )

    # Both libraries read CLAUDE_CONFIG_DIR from the environment at call time.
    os.environ["CLAUDE_CONFIG_DIR"] = str(cfg)
    big_dir = Path(corpus.big_path).parent
    # Leftover forks from an interrupted earlier run would change the listing.
    for p in big_dir.glob("*.jsonl"):
        with open(p, "rb") as f:
            if b'"forkedFrom"' in f.readline():
                p.unlink()
    # Start threadline from a cold index: its first listing builds it.
    shutil.rmtree(cfg / "threadline", ignore_errors=True)

    import claude_agent_sdk as official

    import threadline as tl

    print("== threadline", getattr(tl, "__file__", "?"))
    b = Bench(repeat)
    print(f"== measurements (1 warm-up + {repeat} interleaved repeats, medians)")

    # --- 0. cold index (first listing in this process builds the index) ---------
    gc.collect()
    t0 = time.perf_counter()
    first = tl.list_sessions()
    tl_cold_index = time.perf_counter() - t0
    n_listed = len(first)
    del first

    # --- 1. listing --------------------------------------------------------------
    b.pair(
        "list_sessions()  [warm index, in-process]",
        official.list_sessions,
        tl.list_sessions,
        target=20,
    )
    b.pair(
        "list_sessions(limit=20)",
        lambda: official.list_sessions(limit=20),
        lambda: tl.list_sessions(limit=20),
        target=20,
    )
    d = corpus.directory_cwd
    b.pair(
        "list_sessions(directory=<project>)",
        lambda: official.list_sessions(directory=d),
        lambda: tl.list_sessions(directory=d),
        target=20,
    )
    b.add(
        Row(
            "threadline list_sessions() cold index",
            None,
            tl_cold_index,
            note=f"first call, builds index ({n_listed} sessions)",
        )
    )

    env = dict(os.environ)
    env["CLAUDE_CONFIG_DIR"] = str(cfg)
    cold: dict[str, list[tuple[float, float, float, int]]] = {"official": [], "threadline": []}
    _cold("claude_agent_sdk", env), _cold("threadline", env)  # warm-up (page cache, .pyc)
    for i in range(cold_repeat):
        for who in ("official", "threadline") if i % 2 == 0 else ("threadline", "official"):
            cold[who].append(_cold("claude_agent_sdk" if who == "official" else "threadline", env))

    def med(who: str, k: int) -> float:
        return statistics.median(x[k] for x in cold[who])

    b.add(
        Row(
            "cold process: list_sessions() only [warm idx]",
            med("official", 2),
            med("threadline", 2),
            target=">= 20x",
            target_ratio=20,
            note=f"fresh python, {cold_repeat} runs",
        )
    )
    b.add(Row("cold process: import", med("official", 1), med("threadline", 1)))
    b.add(
        Row("cold process: wall (spawn+import+list+exit)", med("official", 0), med("threadline", 0))
    )

    # --- 2. messages ------------------------------------------------------------
    big = corpus.big_id
    _, n_msgs, _ = b.pair(
        "get_session_messages(big)",
        lambda: official.get_session_messages(big),
        lambda: tl.get_session_messages(big),
        target=2,
    )

    big_path = corpus.big_path

    def orjson_only() -> int:
        with open(big_path, "rb") as f:
            data = f.read()
        loads = orjson.loads
        n = 0
        for line in data.split(b"\n"):
            if line:
                loads(line)
                n += 1
        return n

    def orjson_keep() -> list[Any]:
        with open(big_path, "rb") as f:
            data = f.read()
        loads = orjson.loads
        return [loads(line) for line in data.split(b"\n") if line]

    def median_of(fn: Callable[[], Any]) -> float:
        fn()
        ts = []
        for _ in range(repeat):
            gc.collect()
            t0 = time.perf_counter()
            r = fn()
            ts.append(time.perf_counter() - t0)
            del r
        return statistics.median(ts)

    orj = median_of(orjson_only)
    orj_keep = median_of(orjson_keep)
    msgs_row = next(r for r in b.rows if r.name == "get_session_messages(big)")
    b.add(
        Row(
            "orjson.loads every line of big (parse only)",
            None,
            orj,
            note=f"reference; threadline/this = {msgs_row.threadline / orj:.2f} (target <= 1.3)",
        )
    )
    b.add(
        Row(
            "orjson.loads every line, keeping the list",
            None,
            orj_keep,
            note=f"reference; threadline/this = {msgs_row.threadline / orj_keep:.2f}",
        )
    )
    b.pair(
        "get_session_messages(big, limit=50, offset=100)",
        lambda: official.get_session_messages(big, limit=50, offset=100),
        lambda: tl.get_session_messages(big, limit=50, offset=100),
    )

    # --- 3. info ----------------------------------------------------------------
    b.pair(
        "get_session_info(big)",
        lambda: official.get_session_info(big),
        lambda: tl.get_session_info(big),
    )
    small = corpus.small_id
    b.pair(
        "get_session_info(small)",
        lambda: official.get_session_info(small),
        lambda: tl.get_session_info(small),
    )
    sc = corpus.small_cwd
    b.pair(
        "get_session_info(small, directory=<its cwd>)",
        lambda: official.get_session_info(small, directory=sc),
        lambda: tl.get_session_info(small, directory=sc),
    )

    # --- 4. fork ----------------------------------------------------------------
    def rm_fork(res: Any) -> None:
        p = big_dir / f"{res.session_id}.jsonl"
        p.unlink(missing_ok=True)
        shutil.rmtree(big_dir / res.session_id, ignore_errors=True)

    fork_files: dict[str, list[dict[str, Any]]] = {}

    def compare_forks(a: Any, c: Any) -> tuple[bool, list[str]]:
        fa = _normalize_fork(big_dir / f"{a.session_id}.jsonl")
        fc = _normalize_fork(big_dir / f"{c.session_id}.jsonl")
        # the fork must also read back the same through the official reader
        ma = _asdicts(official.get_session_messages(a.session_id))
        mc = _asdicts(official.get_session_messages(c.session_id))
        for m in (*ma, *mc):
            m["uuid"] = m["session_id"] = None
        fork_files["official"], fork_files["threadline"] = fa, fc
        ok = fa == fc and ma == mc
        return ok, ([] if ok else _small_diff(fa, fc) + _small_diff(ma, mc))

    b.pair(
        "fork_session(big)",
        lambda: official.fork_session(big),
        lambda: tl.fork_session(big),
        target=6,
        after=rm_fork,
        compare=compare_forks,
    )

    total = time.perf_counter() - t_start
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    # ----------------------------------------------------------------------------- table
    print()
    print(
        f"== results: medians of {repeat} (cold process: {cold_repeat}); ratio = official / threadline"
    )
    hdr = f"{'measurement':<46} {'official':>10} {'threadline':>11} {'ratio':>8}  {'target':<8} {'met':<4} {'equal':<8}"
    print(hdr)
    print("-" * len(hdr))
    for r in b.rows:
        ratio = f"{r.ratio:.1f}x" if r.ratio else ""
        met = ""
        if r.target_ratio and r.ratio:
            met = "yes" if r.ratio >= r.target_ratio else "NO"
        print(
            f"{r.name:<46} {_fmt_t(r.official):>10} {_fmt_t(r.threadline):>11} {ratio:>8}  {r.target:<8} {met:<4} {r.equal:<8}{('  ' + r.note) if r.note else ''}"
        )
    ratio_orj = msgs_row.threadline / orj
    print("-" * len(hdr))
    print(
        f"threadline get_session_messages / orjson parse-only = {ratio_orj:.2f}  (target <= 1.3: {'yes' if ratio_orj <= 1.3 else 'NO'});  {n_msgs} messages from {corpus.big_lines} lines"
    )
    print(f"total run time {total:.0f} s")

    if b.mismatches:
        print()
        print(f"== MISMATCHES ({len(b.mismatches)})")
        for m in b.mismatches:
            print(f"  {m['measurement']}:")
            for line in m["diff"] or ["(no structural diff found)"]:
                print(f"    {line}")
        print(
            f"  reproduce: CLAUDE_CONFIG_DIR={cfg} and call both implementations with the arguments above"
        )
    else:
        print("all results equal between implementations: OK")

    if args.json:
        out = {
            "machine": machine,
            "corpus": {
                "root": str(cfg),
                "params": dataclasses.asdict(corpus.params),
                "files": corpus.n_files,
                "bytes": corpus.total_bytes,
                "big_id": corpus.big_id,
                "big_lines": corpus.big_lines,
                "big_bytes": corpus.big_bytes,
            },
            "repeat": repeat,
            "rows": [
                {
                    "name": r.name,
                    "official_s": r.official,
                    "threadline_s": r.threadline,
                    "ratio": r.ratio,
                    "target": r.target or None,
                    "equal": r.equal or None,
                    "note": r.note or None,
                    "official_all_s": r.off_all,
                    "threadline_all_s": r.tl_all,
                }
                for r in b.rows
            ],
            "threadline_over_orjson": ratio_orj,
            "threadline_over_orjson_keep": msgs_row.threadline / orj_keep,
            "mismatches": b.mismatches,
            "total_s": total,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
        print(f"wrote {args.json}")

    if args.profile:
        import cProfile
        import pstats

        for label, fn in (
            ("get_session_messages(big)", lambda: tl.get_session_messages(big)),
            ("list_sessions() warm", tl.list_sessions),
        ):
            print()
            print(f"== cProfile threadline {label} (cumtime)")
            pr = cProfile.Profile()
            pr.enable()
            for _ in range(3):
                fn()
            pr.disable()
            pstats.Stats(pr).sort_stats("cumtime").print_stats(22)
            pstats.Stats(pr).sort_stats("tottime").print_stats(12)

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
