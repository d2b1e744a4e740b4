"""Issue 16's fourth pass: what ``msgspec`` could take off a first resume, measured.

Run: ``.venv/bin/python bench/first_resume_variants.py [--runs 9]`` (needs ``msgspec``: the
``bench`` extra installs it; not a threadline dependency). Not part of the test suite.

The synchronous stages of a first resume of the bench corpus's 20 000-entry CLI-written
session (read, parse, rebuild with merge, tool-pair repair, the request's messages
serialised), in one process, the variants interleaved, wall time per stage:

- ``current``: threadline's path (``parse_objects``, ``_rebuild_inner``,
  ``repair_tool_pairs``, ``orjson.dumps``);
- ``light+orjson``: each line decoded by ``msgspec`` into the top-level keys the rebuild
  reads (a ``TypedDict``; the others skipped unbuilt), the object members kept as
  ``msgspec.Raw`` and parsed by ``orjson`` (exact: the same values as the general reader);
- ``light+msgspec``: the same, the object members decoded by ``msgspec`` itself (NOT exact:
  an integer beyond 64 bits is an ``int`` there, a ``float`` in ``orjson``);
- ``raw blocks``: the design with content kept as bytes: each message decoded into its
  role/id/model and a list of raw blocks, each block into the five keys merge and repair
  read (type, id, tool_use_id, text, signature), the real rebuild, merge and repair run on
  those, and the body joined from the blocks' raw bytes (an estimate: a block merge or the
  repair rewrites is serialised by ``orjson``, the counts are printed; the body differs
  from the current one where the CLI's spelling differs from ``orjson``'s).

Each variant's body is compared with the current path's. ``--fresh``: each run of each
variant in a new process instead (the stages only: imports and the decoders' setup are not
timed), the variants alternating.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import msgspec
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from threadline.runtime._resume import _rebuild_inner  # noqa: E402
from threadline.runtime._turn import request_messages  # noqa: E402
from threadline.transcript._api import repair_tool_pairs  # noqa: E402
from threadline.transcript._jsonl import gc_paused, loads_line, parse_objects  # noqa: E402

Raw = dict[str, Any]
_S = str | bool | None


class _Light(TypedDict, total=False):
    """Every top-level key the rebuild, merge, tail and cwd read of an entry."""

    type: _S
    uuid: _S
    parentUuid: _S
    logicalParentUuid: _S
    isSidechain: _S
    agentId: _S
    teamName: _S
    sessionId: _S
    timestamp: _S
    cwd: _S
    subtype: _S
    isMeta: _S
    isVirtual: _S
    isCompactSummary: _S
    isVisibleInTranscriptOnly: _S
    isApiErrorMessage: _S
    isDisplayOnly: _S
    renderedRole: _S
    sourceToolAssistantUUID: _S
    message: msgspec.Raw
    attachment: msgspec.Raw
    rendered: msgspec.Raw
    origin: msgspec.Raw
    content: msgspec.Raw
    compactMetadata: msgspec.Raw
    promptSource: msgspec.Raw


class _Block(TypedDict, total=False):
    type: _S
    id: _S
    tool_use_id: _S
    text: _S
    signature: _S


class _Message(TypedDict, total=False):
    role: _S
    id: _S
    model: _S
    content: str | list[msgspec.Raw]


_OBJECTS = ("message", "attachment", "rendered", "origin", "content", "compactMetadata")
_OBJECTS += ("promptSource",)
_KEYS = frozenset(_Light.__annotations__)
_light = msgspec.json.Decoder(_Light).decode
_message = msgspec.json.Decoder(_Message).decode
_block = msgspec.json.Decoder(_Block).decode
_generic = msgspec.json.Decoder().decode


def _general(line: bytes) -> Raw | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        value = loads_line(line)
    return {k: v for k, v in value.items() if k in _KEYS} if type(value) is dict else None


def _lines(data: bytes, each: Callable[[memoryview], Raw]) -> list[Raw]:
    out: list[Raw] = []
    view, find, pos, end = memoryview(data), data.find, 0, len(data)
    while pos < end:
        nl = find(b"\n", pos)
        nl = end if nl < 0 else nl
        if nl > pos:
            line = view[pos:nl]
            try:
                out.append(each(line))
            except (msgspec.DecodeError, orjson.JSONDecodeError):
                value = _general(bytes(line))
                if value is not None:
                    out.append(value)
        pos = nl + 1
    return out


def _parse_with(loads: Callable[[Any], Any]) -> Callable[[bytes], list[Raw]]:
    def each(line: memoryview) -> Raw:
        entry: Raw = _light(line)  # type: ignore[assignment]
        for key in _OBJECTS:
            raw = entry.get(key)
            if raw is not None:
                entry[key] = loads(raw)
        return entry

    return lambda data: _lines(data, each)


_RAWS: dict[int, msgspec.Raw] = {}


def _parse_raw_blocks(data: bytes) -> list[Raw]:
    raws = _RAWS
    raws.clear()

    def each(line: memoryview) -> Raw:
        entry: Raw = _light(line)  # type: ignore[assignment]
        for key in _OBJECTS[1:]:
            raw = entry.get(key)
            if raw is not None:
                entry[key] = orjson.loads(memoryview(raw))
        raw = entry.get("message")
        if raw is not None:
            message: Raw = _message(raw)  # type: ignore[assignment]
            content = message.get("content")
            if type(content) is list:
                blocks = []
                for piece in content:
                    block = _block(piece)
                    raws[id(block)] = piece
                    blocks.append(block)
                message["content"] = blocks
            entry["message"] = message
        return entry

    return _lines(data, each)


def _dumps_body(messages: list[Raw]) -> bytes:
    body = {"model": "m", "max_tokens": 1, "messages": request_messages(messages), "stream": True}
    return orjson.dumps(body)


def _join_body(messages: list[Raw]) -> bytes:
    """The body from the blocks' raw bytes (the last message with ``request_messages``'s
    cache breakpoint spliced into its last block that is not thinking)."""
    raws = _RAWS
    parts: list[bytes] = []
    last = len(messages) - 1
    for i, message in enumerate(messages):
        content = message["content"]
        if type(content) is str:
            content = [{"type": "text", "text": content}] if i == last else content
            if type(content) is str:
                parts.append(orjson.dumps(message))
                continue
        pieces = [
            bytes(r) if (r := raws.get(id(b))) is not None else orjson.dumps(b) for b in content
        ]
        if i == last:
            for j in range(len(content) - 1, -1, -1):
                if content[j].get("type") not in ("thinking", "redacted_thinking"):
                    pieces[j] = pieces[j][:-1] + b',"cache_control":{"type":"ephemeral"}}'
                    break
        role = message["role"].encode()
        parts.append(b'{"role":"' + role + b'","content":[' + b",".join(pieces) + b"]}")
    return b'{"model":"m","max_tokens":1,"messages":[' + b",".join(parts) + b'],"stream":true}'


VARIANTS: dict[str, tuple[Callable[[bytes], list[Raw]], Callable[[list[Raw]], bytes]]] = {
    "current": (parse_objects, _dumps_body),
    "light+orjson": (_parse_with(lambda raw: orjson.loads(memoryview(raw))), _dumps_body),
    "light+msgspec": (_parse_with(_generic), _dumps_body),
    "raw blocks": (_parse_raw_blocks, _join_body),
}
STAGES = ("read", "parse", "rebuild and merge", "repair", "serialise")


def one(path: Path, name: str) -> tuple[list[float], bytes]:
    parse, serialise = VARIANTS[name]
    marks = [time.perf_counter()]
    with open(path, "rb") as fh:
        data = fh.read()
    marks.append(time.perf_counter())
    with gc_paused():
        entries = parse(data)
    marks.append(time.perf_counter())
    with gc_paused(promote=True):
        rebuilt = _rebuild_inner(entries, None)
    marks.append(time.perf_counter())
    messages = repair_tool_pairs(rebuilt.messages)
    marks.append(time.perf_counter())
    body = serialise(messages)
    marks.append(time.perf_counter())
    return [(b - a) * 1e3 for a, b in itertools.pairwise(marks)], body


def _table(times: dict[str, list[list[float]]], runs: int) -> None:
    print(f"load {os.getloadavg()[0]:.2f}; ms, median (minimum) of {runs}")
    print(f"{'stage':<18}" + "".join(f"{name:>22}" for name in times))
    for i, stage in enumerate([*STAGES, "total"]):
        row = []
        for values_of in times.values():
            values = [sum(t) if stage == "total" else t[i] for t in values_of]
            row.append(f"{statistics.median(values):>12.1f} ({min(values):>6.1f})")
        print(f"{stage:<18}" + "".join(f"{cell:>22}" for cell in row))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--fresh", action="store_true", help="each run in a new process")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a --fresh child: one variant, once
    args = ap.parse_args()
    from _corpus import ensure_corpus

    corpus, _ = ensure_corpus()
    path = Path(corpus.big_path)
    if args.one:
        print(orjson.dumps(one(path, args.one)[0]).decode())
        return
    times: dict[str, list[list[float]]] = {name: [] for name in VARIANTS}
    print(f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB, load {os.getloadavg()[0]:.2f}")
    if args.fresh:
        for _ in range(args.runs):
            for name in VARIANTS:
                argv = [sys.executable, __file__, "--one", name]
                out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
                times[name].append(orjson.loads(out.splitlines()[-1]))
        _table(times, args.runs)
        return
    bodies: dict[str, bytes] = {}
    for run in range(args.runs + 1):  # the first round warms up
        for name in VARIANTS:
            gc.collect()
            spent, body = one(path, name)
            if run:
                times[name].append(spent)
            bodies[name] = body
    _table(times, args.runs)
    for name, body in bodies.items():
        same = body == bodies["current"]
        print(f"{name}: body {len(body)} bytes, {'same as' if same else 'DIFFERS from'} current")


if __name__ == "__main__":
    main()
