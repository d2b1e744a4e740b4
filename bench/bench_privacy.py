"""Cost of redaction and encryption at rest, against the plain FileStore, on the same data.

Data: the big session of the benchmark corpus (``bench/_corpus.py``: ~22 000
lines, ~37 MB of realistic Claude Code entries), with fake credentials planted
in 1 % of the entries so the redaction path is exercised too. The corpus' text
is drawn from a small vocabulary, so it compresses better than real
transcripts (LZ4: ~3.4x); ``--text source`` replaces every string of 40+
characters (text, thinking, tool input and output...) with a same-length slice
of the Python standard library's source code (~2.8x), a harder case for the
compressed format.

Measured for each store (plain FileStore, RedactingStore(FileStore),
EncryptedStore(FileStore) in the default v3 format (compressed batches), v3
with ``compress=False``, v2 (uncompressed batches) and v1 (one envelope per
entry), RedactingStore(EncryptedStore(FileStore))):

- append: the whole session appended in batches of 50 entries (about one turn
  each) into an empty config dir;
- load: ``store.load(key)``;
- messages: ``get_session_messages_from_store`` (load + chain rebuild: the
  "resume / read a session" work of the foundation benchmark).

Each figure is the median of ``--repeat`` runs, the variants interleaved in
every round. Also: redactor throughput (MB/s) on its own.

Usage: python bench/bench_privacy.py [--repeat N] [--batch N] [--text corpus|source] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import gc
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _corpus  # noqa: E402
from threadline import FileStore, get_session_messages_from_store  # noqa: E402
from threadline.privacy import EncryptedStore, RedactingStore, Redactor, generate_key  # noqa: E402
from threadline.transcript._jsonl import iter_objects  # noqa: E402

KEY = generate_key()
VARIANTS: dict[str, Callable[[Path], Any]] = {
    "plain": lambda d: FileStore(d),
    "redact": lambda d: RedactingStore(FileStore(d)),
    "encrypt": lambda d: EncryptedStore(FileStore(d), key=KEY),
    "encrypt (raw)": lambda d: EncryptedStore(FileStore(d), key=KEY, compress=False),
    "encrypt (v2)": lambda d: EncryptedStore(FileStore(d), key=KEY, format="v2"),
    "encrypt (v1)": lambda d: EncryptedStore(FileStore(d), key=KEY, format="v1"),
    "redact+encrypt": lambda d: RedactingStore(EncryptedStore(FileStore(d), key=KEY)),
}


def _plant_secrets(entries: list[dict[str, Any]], share: float = 0.01) -> int:
    rng = random.Random(7)
    fakes = [
        "sk-ant-api03-" + "".join(rng.choice("abcdefXYZ0123456789") for _ in range(90)),
        "export GITHUB_TOKEN=ghp_" + "".join(rng.choice("abcdefXYZ0123456789") for _ in range(36)),
        "postgres://app:" + "hunter2pass" + "@db/app",
        "AKIA" + "".join(rng.choice("ABCDEFGHIJ0123456789") for _ in range(16)),
    ]
    planted = 0
    for e in entries:
        content = (e.get("message") or {}).get("content")
        if rng.random() >= share:
            continue
        if isinstance(content, str):
            e["message"]["content"] = content + "\n" + rng.choice(fakes)
            planted += 1
        elif isinstance(content, list) and content and isinstance(content[0], dict):
            block = content[0]
            for field in ("text", "content", "thinking"):
                if isinstance(block.get(field), str):
                    block[field] += "\n" + rng.choice(fakes)
                    planted += 1
                    break
    return planted


_KEEP = frozenset(
    "uuid parentUuid leafUuid type sessionId timestamp cwd id tool_use_id role name "
    "signature messageId requestId promptId sourceToolAssistantUUID".split()
)


def _source_text(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``entries`` with every string of 40+ characters replaced by stdlib source of the same length."""
    import sysconfig

    rng = random.Random(1)
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    pool = "".join(f.read_text("utf-8", "replace") for f in rng.sample(files, min(150, len(files))))

    def sub(v: Any) -> Any:
        if isinstance(v, str):
            if len(v) < 40 or len(v) >= len(pool):
                return v
            i = rng.randrange(len(pool) - len(v))
            return pool[i : i + len(v)]
        if isinstance(v, dict):
            return {k: x if k in _KEEP else sub(x) for k, x in v.items()}
        if isinstance(v, list):
            return [sub(x) for x in v]
        return v

    return [sub(e) for e in entries]


def _fmt(s: float) -> str:
    return f"{s * 1e3:8.1f} ms"


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    gc.collect()
    t = time.perf_counter()
    await fn()
    return time.perf_counter() - t


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--text", choices=["corpus", "source"], default="corpus")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    corpus, _ = _corpus.ensure_corpus(log=lambda m: print(m, file=sys.stderr))
    raw = Path(corpus.big_path).read_bytes()
    entries: list[dict[str, Any]] = list(iter_objects(raw))
    if args.text == "source":
        entries = _source_text(entries)
    planted = _plant_secrets(entries)
    project = _corpus.project_key(corpus.big_cwd)
    key: Any = {"project_key": project, "session_id": corpus.big_id}
    mb = sum(len(orjson.dumps(e)) + 1 for e in entries) / 1e6
    print(
        f"session: {len(entries)} entries, {mb:.1f} MB ({args.text} text), "
        f"{planted} with a planted credential"
    )

    # Redactor throughput alone.
    red = Redactor()
    t = time.perf_counter()
    hits = sum(1 for e in entries if red.find_candidate(e))
    t_scan = time.perf_counter() - t
    t = time.perf_counter()
    for e in entries:
        red.redact_entry(e)
    t_red = time.perf_counter() - t
    engine = "re2" if red._pre is not None and red._pre.fast is not None else "re"
    print(
        f"redactor ({engine} pre-filter, per entry): "
        f"prefilter {t_scan * 1e3:.0f} ms ({mb / t_scan:.0f} MB/s, {hits} candidates), "
        f"redact_entry {t_red * 1e3:.0f} ms ({mb / t_red:.0f} MB/s)"
    )

    results: dict[str, dict[str, list[float]]] = {v: {"append": [], "load": [], "messages": []} for v in VARIANTS}
    sizes: dict[str, int] = {}
    root = Path(tempfile.mkdtemp(prefix="tl-bench-privacy-"))
    try:
        for rnd in range(args.repeat + 1):  # round 0 is a warm-up
            order = list(VARIANTS)
            if rnd % 2:
                order.reverse()
            for name in order:
                d = root / f"{name}-{rnd}"
                store = VARIANTS[name](d)
                batches = [copy.deepcopy(entries[i : i + args.batch]) for i in range(0, len(entries), args.batch)]

                async def append(store: Any = store, batches: list[Any] = batches) -> None:
                    for b in batches:
                        await store.append(key, b)

                t_app = await _timed(append)
                reader = VARIANTS[name](d)  # a fresh process-like store: no caches
                async def load(reader: Any = reader) -> Any:
                    return await reader.load(key)

                async def messages(reader: Any = reader) -> Any:
                    return await get_session_messages_from_store(reader, corpus.big_id, corpus.big_cwd)

                t_load = await _timed(load)
                t_msgs = await _timed(messages)
                sizes[name] = sum(p.stat().st_size for p in d.rglob("*.jsonl"))
                if rnd:
                    results[name]["append"].append(t_app)
                    results[name]["load"].append(t_load)
                    results[name]["messages"].append(t_msgs)
                shutil.rmtree(d)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    med = {v: {k: statistics.median(xs) for k, xs in r.items()} for v, r in results.items()}
    base = med["plain"]
    print(f"\n{'store':<16}{'append':>12}{'':>9}{'load':>12}{'':>9}{'messages':>12}{'':>9}{'size':>10}")
    for name, m in med.items():
        cells = []
        for op in ("append", "load", "messages"):
            over = (m[op] / base[op] - 1) * 100
            cells.append(f"{_fmt(m[op])} {over:+6.0f} %" if name != "plain" else f"{_fmt(m[op])}         ")
        print(f"{name:<16}" + "".join(cells) + f"{sizes[name] / 1e6:8.1f} MB")
    if args.json:
        args.json.write_text(json.dumps({"median_s": med, "bytes": sizes, "entries": len(entries)}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
