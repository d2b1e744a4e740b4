"""Compaction: summarising older history, written exactly as Claude Code writes it.

Writing (:func:`compaction_entries`). A compaction appends two entries:

1. ``system/compact_boundary`` with ``parentUuid: null`` (the chain restarts here),
   ``logicalParentUuid`` (the leaf before the cut) and ``compactMetadata`` with
   ``trigger``, ``preTokens``, ``postTokens``, ``durationMs`` and
   ``preservedSegment {headUuid, anchorUuid, tailUuid}`` (+ ``preservedMessages``);
2. the summary: a ``user`` entry with ``isCompactSummary`` and
   ``isVisibleInTranscriptOnly``, chained to the boundary (it is the *anchor*).

The preserved segment is the last model reply and everything after it (its tool results,
a prompt that is waiting for an answer). Its entries stay where they are in the file;
the next entry written after the summary hangs off the summary, as in the CLI.

Reading (:func:`relink_preserved`). A plain ``parentUuid`` walk from the leaf stops at the
boundary and misses the preserved segment (that is what the official
``get_session_messages`` returns). The ``claude`` CLI re-links the segment between the
summary and what follows it, and sends the model ``[summary, preserved..., newer...]``;
threadline's resume does the same, so both send the same messages.

Resume cost (:func:`load_tail`). After a compaction only the part of the file from the
preserved segment's head onwards matters. Its byte offset is kept in a small sidecar,
``<session>/threadline-compact.json`` (beside the ``subagents/`` folder, which official
tools ignore), written after each compaction and learned after a full parse of a file the
CLI compacted. A resume reads from that offset; if the sidecar is missing or stale (the
file was rewritten, the line there is not the boundary) or the chain read from there does
not reach the boundary, it falls back to parsing the whole file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from .._exceptions import CompactionError as CompactionError, StorageError
from ..transcript._entries import EntryFactory
from ..transcript._jsonl import gc_paused, iter_objects

if TYPE_CHECKING:
    from .._messages import Message, SystemMessage
    from ._loop import Runtime

__all__ = [
    "COMPACT_PROMPT",
    "CompactResult",
    "CompactionError",
    "compaction_entries",
    "compaction_request_messages",
    "extract_summary",
    "boundary_info",
    "is_rooted",
    "load_tail",
    "preserved_start",
    "record_boundary",
    "resume_leaf",
    "relink_preserved",
    "summary_text",
]

logger = logging.getLogger("threadline.compact")

Raw = dict[str, Any]
Trigger = Literal["auto", "manual"]

SIDECAR_NAME = "threadline-compact.json"
_SCAN_CHUNK = 1 << 20

COMPACT_PROMPT = """CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.

- Do NOT use Read, Bash, Grep, Glob, Edit, Write, or ANY other tool.
- You already have all the context you need in the conversation above.
- Your entire response must be plain text: an <analysis> block followed by a <summary> block.

Your task is to create a detailed summary of the conversation so far, paying close attention to the user's explicit requests and your previous actions.
This summary should be thorough in capturing technical details, code patterns, and architectural decisions that would be essential for continuing development work without losing context.

Your summary should include the following sections:

1. Primary Request and Intent
2. Key Technical Concepts
3. Files and Code Sections (with the important snippets)
4. Errors and fixes
5. Problem Solving
6. All user messages (every user message that is not a tool result; this summarization request is not one of them)
7. Pending Tasks
8. Current Work
9. Optional Next Step (only if it is directly in line with the user's most recent request)

Wrap your thought process in <analysis> tags and the summary itself in <summary> tags."""

_PREAMBLE = (
    "This session is being continued from a previous conversation that ran out of context. "
    "The summary below covers the earlier portion of the conversation.\n\nSummary:\n"
)
_EPILOGUE = (
    "Continue the conversation from where it left off without asking the user any further "
    "questions. Resume directly \u2014 do not acknowledge the summary, do not recap what was "
    'happening, do not preface with "I\'ll continue" or similar. Pick up the last task as if '
    "the break never happened.\n\nThe messages after this summary are the most recent "
    "messages from before compaction, kept verbatim."
)


@dataclass(frozen=True, kw_only=True)
class CompactResult:
    """What :meth:`~threadline.AgentClient.compact` did."""

    trigger: Trigger
    summary: str
    boundary_uuid: str
    summary_uuid: str
    pre_tokens: int
    post_tokens: int
    preserved_uuids: tuple[str, ...]


# ----------------------------------------------------------------------------- writing


def extract_summary(text: str) -> str:
    """The ``<summary>`` of a compaction reply (else the reply minus its ``<analysis>``)."""
    found = re.search(r"<summary>(.*?)(?:</summary>|\Z)", text, re.S)
    if found:
        return found.group(1).strip()
    return re.sub(r"<analysis>.*?</analysis>", "", text, flags=re.S).strip()


def summary_text(summary: str, transcript_path: str | None) -> str:
    """The content of the ``isCompactSummary`` user entry, worded as the CLI words it."""
    hint = (
        "If you need specific details from before compaction (like exact code snippets, error "
        "messages, or content you generated), read the full transcript at: "
        f"{transcript_path}\n"
        if transcript_path
        else ""
    )
    return f"{_PREAMBLE}{summary}\n\n{hint}{_EPILOGUE}"


def _reply_id(entry: Raw) -> str | None:
    if entry.get("type") != "assistant" or entry.get("isApiErrorMessage"):
        return None
    message = entry.get("message")
    if not isinstance(message, dict) or message.get("model") == "<synthetic>":
        return None
    mid = message.get("id")
    return mid if isinstance(mid, str) and mid else None


def preserved_start(chain: list[Raw]) -> int | None:
    """Index in ``chain`` where the preserved segment (the last model reply onwards) starts.

    ``None`` when there is no earlier history to summarise (nothing before that reply
    but the previous summary), as the CLI refuses with ``too_few_groups``.
    """
    last = next((i for i in range(len(chain) - 1, -1, -1) if _reply_id(chain[i])), None)
    if last is None:
        return None
    mid = _reply_id(chain[last])
    start = last
    while start > 0 and _reply_id(chain[start - 1]) == mid:
        start -= 1
    history = [
        e
        for e in chain[:start]
        if e.get("type") in ("user", "assistant") and not e.get("isCompactSummary")
    ]
    return start if history else None


def compaction_request_messages(history: list[Raw]) -> list[Raw]:
    """The API history with the compaction instruction appended as the last user turn."""
    instruction = {"type": "text", "text": COMPACT_PROMPT}
    messages = [dict(m) for m in history]
    if messages and messages[-1]["role"] == "user":
        messages[-1] = {"role": "user", "content": [*messages[-1]["content"], instruction]}
    else:
        messages.append({"role": "user", "content": [instruction]})
    return messages


def compaction_entries(
    factory: EntryFactory,
    *,
    leaf: str,
    preserved: list[Raw],
    summary: str,
    trigger: Trigger,
    pre_tokens: int,
    post_tokens: int,
    duration_ms: int,
    transcript_path: str | None,
) -> tuple[Raw, Raw]:
    """The boundary and summary entries of one compaction."""
    boundary = factory._base("system", None)
    summary_entry = factory.prompt(summary_text(summary, transcript_path), boundary["uuid"])
    uuids = [e["uuid"] for e in preserved]
    boundary.update(
        {
            "logicalParentUuid": leaf,
            "subtype": "compact_boundary",
            "content": "Conversation compacted",
            "level": "info",
            "isMeta": False,
            "compactMetadata": {
                "trigger": trigger,
                "preTokens": pre_tokens,
                "postTokens": post_tokens,
                "durationMs": duration_ms,
                "preservedSegment": {
                    "headUuid": uuids[0],
                    "anchorUuid": summary_entry["uuid"],
                    "tailUuid": uuids[-1],
                },
                "preservedMessages": {
                    "anchorUuid": summary_entry["uuid"],
                    "uuids": uuids,
                    "allUuids": uuids,
                },
            },
        }
    )
    summary_entry["isVisibleInTranscriptOnly"] = True
    summary_entry["isCompactSummary"] = True
    return boundary, summary_entry


# ----------------------------------------------------------------------------- reading


def _is_boundary(entry: Raw) -> bool:
    return entry.get("type") == "system" and entry.get("subtype") == "compact_boundary"


def _segment(meta: Raw, by_uuid: dict[str, Raw]) -> list[Raw] | None:
    seg = meta.get("preservedSegment")
    if not isinstance(seg, dict):
        return None
    head, tail = seg.get("headUuid"), seg.get("tailUuid")
    if not isinstance(head, str) or not isinstance(tail, str):
        return None
    listed = meta.get("preservedMessages")
    uuids = listed.get("allUuids") if isinstance(listed, dict) else None
    if isinstance(uuids, list) and uuids and all(u in by_uuid for u in uuids):
        return [by_uuid[u] for u in uuids]
    out: list[Raw] = []
    cur = by_uuid.get(tail)
    seen: set[str] = set()
    while cur is not None and cur["uuid"] not in seen:
        seen.add(cur["uuid"])
        out.append(cur)
        if cur["uuid"] == head:
            out.reverse()
            return out
        parent = cur.get("parentUuid")
        cur = by_uuid.get(parent) if isinstance(parent, str) else None
    return None


def relink_preserved(chain: list[Raw], by_uuid: dict[str, Raw]) -> list[Raw]:
    """Put a compaction's preserved segment back between its summary and what follows.

    Returns a linear chain (the re-linked entries are copies whose ``parentUuid`` reflects
    the new order), so a fork of it reads back the same conversation with the official
    readers too. New entries still hang off :func:`resume_leaf`, as the CLI writes them.
    """
    if not chain or not _is_boundary(chain[0]):
        return chain
    meta = chain[0].get("compactMetadata")
    if not isinstance(meta, dict):
        return chain
    seg = meta.get("preservedSegment")
    anchor = seg.get("anchorUuid") if isinstance(seg, dict) else None
    at = next((i for i, e in enumerate(chain) if e.get("uuid") == anchor), None)
    preserved = _segment(meta, by_uuid)
    if at is None or not preserved:
        return chain
    on_chain = {e["uuid"] for e in chain}
    preserved = [e for e in preserved if e["uuid"] not in on_chain]
    if not preserved:
        return chain
    head = dict(preserved[0], parentUuid=chain[at]["uuid"])
    out = [*chain[: at + 1], head, *preserved[1:]]
    rest = chain[at + 1 :]
    if rest:
        out.append(dict(rest[0], parentUuid=preserved[-1]["uuid"]))
        out.extend(rest[1:])
    return out


def resume_leaf(chain: list[Raw]) -> str | None:
    """The uuid new entries hang off: the chain's last entry outside a preserved segment."""
    if not chain:
        return None
    if _is_boundary(chain[0]):
        meta = chain[0].get("compactMetadata")
        listed = meta.get("preservedMessages") if isinstance(meta, dict) else None
        seg = meta.get("preservedSegment") if isinstance(meta, dict) else None
        uuids = set(listed.get("allUuids") or []) if isinstance(listed, dict) else set()
        if isinstance(seg, dict):
            uuids |= {seg.get("headUuid"), seg.get("tailUuid")}
        if uuids:
            for entry in reversed(chain):
                if entry["uuid"] not in uuids:
                    return str(entry["uuid"])
    return str(chain[-1]["uuid"])


def is_rooted(chain: list[Raw]) -> bool:
    """Whether a chain read from part of a file reaches a real root (not a cut-off parent)."""
    return bool(chain) and not chain[0].get("parentUuid")


# ----------------------------------------------------------------------------- offsets


def sidecar_path(transcript: Path) -> Path:
    return transcript.with_suffix("") / SIDECAR_NAME


def _line_start_of(fd: int, needle: bytes, end: int, floor: int = 0) -> int | None:
    """Offset of the start of the last line before ``end`` that contains ``needle``."""
    pos = end
    carry = b""
    while pos > floor:
        lo = max(floor, pos - _SCAN_CHUNK)
        buf = os.pread(fd, pos - lo, lo) + carry
        hit = buf.rfind(needle)
        if hit >= 0:
            nl = buf.rfind(b"\n", 0, hit)
            if nl >= 0 or lo == floor:
                return lo + nl + 1
            # the line starts before this chunk: keep scanning for its newline
            carry = buf[: hit + len(needle)]
            pos = lo
            while pos > floor:
                lo = max(floor, pos - _SCAN_CHUNK)
                more = os.pread(fd, pos - lo, lo)
                nl = more.rfind(b"\n")
                if nl >= 0:
                    return lo + nl + 1
                pos = lo
            return floor
        carry = buf[: len(needle)]
        pos = lo
    return None


def record_boundary(transcript: Path, boundary_uuid: str, first_uuid: str) -> bool:
    """Find the boundary (and the preserved head before it) in the file; write the sidecar."""
    try:
        fd = os.open(transcript, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        size = os.fstat(fd).st_size
        boundary = _line_start_of(fd, f'"uuid":"{boundary_uuid}"'.encode(), size)
        if boundary is None:
            return False
        start = boundary
        if first_uuid != boundary_uuid:
            found = _line_start_of(fd, f'"uuid":"{first_uuid}"'.encode(), boundary)
            start = found if found is not None else 0
    finally:
        os.close(fd)
    target = sidecar_path(transcript)
    data = orjson.dumps({"boundaryUuid": boundary_uuid, "boundary": boundary, "start": start})
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}.{os.urandom(4).hex()}")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags, 0o600)
    except OSError:
        return False
    try:
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True


def load_tail(transcript: Path) -> list[Raw] | None:
    """Entries from the recorded compaction offset to the end (``None``: no usable offset)."""
    try:
        info = orjson.loads(sidecar_path(transcript).read_bytes())
        boundary, start, uuid = info["boundary"], info["start"], info["boundaryUuid"]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not (isinstance(boundary, int) and isinstance(start, int) and isinstance(uuid, str)):
        return None
    try:
        fd = os.open(transcript, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if not 0 <= start <= boundary < size:
            return None
        first_line = os.pread(fd, min(size - boundary, 1 << 16), boundary)
        line_end = first_line.find(b"\n")
        try:
            first = orjson.loads(first_line[: line_end if line_end >= 0 else len(first_line)])
        except orjson.JSONDecodeError:
            return None
        if not isinstance(first, dict) or first.get("uuid") != uuid or not _is_boundary(first):
            return None
        if boundary and os.pread(fd, 1, boundary - 1) != b"\n":
            return None
        if start and os.pread(fd, 1, start - 1) != b"\n":
            return None
        with gc_paused():
            return _read_entries(fd, start, size)
    finally:
        os.close(fd)


def _read_entries(fd: int, start: int, size: int) -> list[Raw]:
    """Complete JSON object lines of ``fd`` in ``[start, size)``, read in 1 MiB chunks.

    Only one chunk is held as bytes at a time, so the peak stays near the parsed size.
    """
    out: list[Raw] = []
    shared: dict[str, str] = {}
    carry = b""
    pos = start
    while pos < size:
        chunk = carry + os.pread(fd, min(_SCAN_CHUNK, size - pos), pos)
        if len(chunk) == len(carry):
            break
        pos += len(chunk) - len(carry)
        cut = chunk.rfind(b"\n") + 1
        _parse_lines(memoryview(chunk)[:cut], out, shared)
        carry = chunk[cut:]
    if carry:  # a last line that lost only its newline counts, as for the other readers
        try:
            last = orjson.loads(carry)
        except orjson.JSONDecodeError:
            last = None
        if type(last) is dict:
            out.append(last)
    return out


_SHARED_FIELDS = ("type", "cwd", "sessionId", "version", "gitBranch", "userType", "entrypoint")
_SHARED_MESSAGE_FIELDS = ("role", "model", "type", "stop_reason")


def _share(obj: Raw, keys: tuple[str, ...], shared: dict[str, str]) -> None:
    for key in keys:
        v = obj.get(key)
        if type(v) is str and len(v) < 200:
            obj[key] = shared.setdefault(v, v)


def _parse_lines(view: memoryview, out: list[Raw], shared: dict[str, str]) -> None:
    """Append the JSON object lines of ``view`` to ``out`` (no per-line copies).

    Values repeated on every entry (``cwd``, ``sessionId``, ...) are shared between
    entries, which keeps a parsed tail close to its size on disk.
    """
    data = view.obj
    assert isinstance(data, (bytes, bytearray))
    pos, end = 0, len(view)
    loads = orjson.loads
    while pos < end:
        nl = data.find(b"\n", pos, end)
        stop = end if nl < 0 else nl
        if stop > pos:
            try:
                value = loads(view[pos:stop])
            except orjson.JSONDecodeError:
                value = None
            if type(value) is dict:
                _share(value, _SHARED_FIELDS, shared)
                message = value.get("message")
                if type(message) is dict:
                    _share(message, _SHARED_MESSAGE_FIELDS, shared)
                    content = message.get("content")
                    if type(content) is list:
                        for block in content:
                            if type(block) is dict:
                                _share(block, ("type",), shared)
                if out:
                    # a parentUuid usually names the previous entry: share that string
                    prev = out[-1].get("uuid")
                    if prev is not None and prev == value.get("parentUuid"):
                        value["parentUuid"] = prev
                out.append(value)
        pos = stop + 1


def boundary_info(chain: list[Raw]) -> tuple[str, str] | None:
    """(boundary uuid, preserved head uuid) when ``chain`` (before re-linking) starts at one."""
    if not chain or not _is_boundary(chain[0]):
        return None
    meta = chain[0].get("compactMetadata")
    seg = meta.get("preservedSegment") if isinstance(meta, dict) else None
    head = seg.get("headUuid") if isinstance(seg, dict) else None
    uuid = chain[0]["uuid"]
    return uuid, head if isinstance(head, str) else uuid


def relink_compacted(chain: list[Raw], chain_all: list[Raw]) -> list[Raw]:
    """:func:`relink_preserved` for a chain rebuilt from ``chain_all`` (no-op if uncompacted)."""
    if not chain or not _is_boundary(chain[0]):
        return chain
    return relink_preserved(chain, {e["uuid"]: e for e in chain_all})


def _tail_complete(entries: list[Raw]) -> bool:
    from ..transcript._chain import build_conversation_chain, chain_entries

    chain_all = chain_entries(entries)
    chain = build_conversation_chain(chain_all)
    if not is_rooted(chain):
        return False
    last = chain[-1]
    if last.get("isSidechain") or last.get("teamName") or last.get("isMeta"):
        # no main-chain leaf after the offset: a full read would pick an older one
        return False
    if not _is_boundary(chain[0]):
        return True
    meta = chain[0].get("compactMetadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("preservedSegment"), dict):
        return True
    return _segment(meta, {e["uuid"]: e for e in chain_all}) is not None


def _last_boundary(entries: list[Raw]) -> tuple[str, str] | None:
    for entry in reversed(entries):
        if _is_boundary(entry) and isinstance(entry.get("uuid"), str):
            return boundary_info([entry])
    return None


def _resume_load_sync(path: Path, record: bool = True) -> tuple[list[Raw] | None, bool]:
    """(entries, whether they came from the recorded offset). ``record=False``: the offset
    of a compaction found on the way is not written down (``persist_session=False``)."""
    tail = load_tail(path)
    if tail is not None and _tail_complete(tail):
        return tail, True
    from ..sessions._filelog import read_complete

    try:
        data = read_complete(path)
    except (FileNotFoundError, NotADirectoryError):
        return None, False
    with gc_paused():
        entries = list(iter_objects(data))
    found = _last_boundary(entries)
    if found is not None and record:
        record_boundary(path, *found)
    return entries, False


async def load_for_resume(
    store: Any, key: Any, *, at: str | None = None, record: bool = True
) -> list[Raw] | None:
    """A session's entries for a resume: only the part after the last compaction when a
    :class:`~threadline.sessions.FileStore` recorded (or can learn) where it starts.

    Other stores, ``resume_session_at`` and main transcripts without a usable offset load
    everything (``store.load``).
    """
    import anyio.to_thread

    path_for = getattr(local_file_store(store), "path_for", None)
    if at is not None or not callable(path_for) or key.get("subpath"):
        loaded = await store.load(key)
        return None if loaded is None else [dict(e) for e in loaded]
    path = path_for(key)
    entries, _ = await anyio.to_thread.run_sync(_resume_load_sync, path, record)
    return entries


# ----------------------------------------------------------------------------- running


def local_file_store(store: Any) -> Any:
    """The :class:`~threadline.sessions.FileStore` under ``store``, if entries reach its files
    unchanged (directly, or through a :class:`~threadline.privacy.RedactingStore`, which only
    alters what is written); else ``None`` (e.g. an encrypting wrapper, a database store)."""
    from ..privacy import RedactingStore

    while isinstance(store, RedactingStore):
        store = store.inner
    if callable(getattr(store, "path_for", None)) and getattr(store, "config_dir", None):
        return store
    return None


def _transcript_path(rt: Runtime) -> str | None:
    path_for = getattr(local_file_store(rt.plan.store), "path_for", None)
    if not callable(path_for):
        return None
    try:
        return str(path_for(rt.plan.key))
    except Exception:
        return None


async def run_compaction(
    rt: Runtime, *, trigger: Trigger, instructions: str | None = None
) -> CompactResult:
    """Summarise ``rt``'s history before its last reply; write and adopt the result.

    Nothing is written (and the runtime's history is untouched) unless the summary came
    back complete: a model error, an interrupt or an empty summary raise
    :class:`CompactionError` and leave the session as it was.
    """
    import time

    import anyio.to_thread

    from .._exceptions import ProviderError
    from ..providers import ModelResponse
    from ..transcript._entries import chain_to_api_messages

    start = preserved_start(await rt.ensure_chain())
    if start is None:
        raise CompactionError("Not enough conversation to compact yet")
    hook = await rt._hook("PreCompact", {"trigger": trigger, "custom_instructions": instructions})
    if hook.blocked:
        raise CompactionError(f"Compaction blocked by a PreCompact hook: {hook.reason or ''}")
    prompt_messages = compaction_request_messages(rt.history)
    extra = [*hook.additional_context, *([instructions] if instructions else [])]
    if extra:
        note = {"type": "text", "text": "Additional Instructions:\n" + "\n".join(extra)}
        prompt_messages[-1] = {
            "role": "user",
            "content": [*prompt_messages[-1]["content"], note],
        }
    request = replace(rt._request(), messages=prompt_messages)
    started = time.monotonic()
    response: ModelResponse | None = None
    try:
        async for item in rt._stream(request):
            if isinstance(item, ModelResponse):
                response = item
    except ProviderError as exc:
        raise CompactionError(f"Compaction failed: {exc}") from exc
    if response is None:
        raise CompactionError("Compaction interrupted")
    text = "".join(
        str(b.get("text", ""))
        for b in response.message.get("content") or []
        if b.get("type") == "text"
    )
    summary = extract_summary(text)
    if not summary:
        raise CompactionError("Compaction failed: the model returned no summary")

    preserved = rt.chain[start:]
    usage = response.message.get("usage") or {}
    pre_tokens = rt.last_input_tokens or int(usage.get("input_tokens") or 0)
    boundary, summary_entry = compaction_entries(
        rt._factory,
        leaf=rt.leaf or preserved[-1]["uuid"],
        preserved=preserved,
        summary=summary,
        trigger=trigger,
        pre_tokens=pre_tokens,
        post_tokens=int(usage.get("output_tokens") or 0),
        duration_ms=int((time.monotonic() - started) * 1000),
        transcript_path=_transcript_path(rt),
    )
    await rt._persist([boundary, summary_entry])
    # _persist appended both to rt.chain; the adopted chain is boundary, summary, preserved.
    rt.chain = relink_preserved([boundary, summary_entry], {e["uuid"]: e for e in preserved})
    rt.history = chain_to_api_messages(rt.chain)
    rt.last_input_tokens = 0
    path = _transcript_path(rt)
    if path is not None:
        await anyio.to_thread.run_sync(
            record_boundary, Path(path), boundary["uuid"], preserved[0]["uuid"]
        )
    return CompactResult(
        trigger=trigger,
        summary=summary,
        boundary_uuid=boundary["uuid"],
        summary_uuid=summary_entry["uuid"],
        pre_tokens=pre_tokens,
        post_tokens=int(usage.get("output_tokens") or 0),
        preserved_uuids=tuple(e["uuid"] for e in preserved),
    )


def compact_boundary_message(rt: Runtime, result: CompactResult) -> SystemMessage:
    """The ``system``/``compact_boundary`` stream message the CLI emits after compacting."""
    from .._ids import new_uuid
    from .._messages import SystemMessage

    return SystemMessage(
        subtype="compact_boundary",
        data={
            "type": "system",
            "subtype": "compact_boundary",
            "session_id": rt.session_id,
            "uuid": new_uuid(),
            "compact_metadata": {"trigger": result.trigger, "pre_tokens": result.pre_tokens},
        },
    )


async def auto_compact(rt: Runtime) -> AsyncGenerator[Message, None]:
    """Compact before a model call when the last request's input reached the threshold.

    A failure is logged and the turn goes on uncompacted; automatic compaction is not
    retried until the next prompt.
    """
    threshold = rt.options.compact_threshold_tokens
    if threshold is None or rt.auto_compact_failed or rt.last_input_tokens < threshold:
        return
    try:
        chain = await rt.ensure_chain()
    except StorageError as exc:  # the transcript was replaced under a snapshot resume
        logger.warning("automatic compaction of %s skipped: %s", rt.session_id, exc)
        rt.auto_compact_failed = True
        return
    if preserved_start(chain) is None:
        return
    try:
        result = await run_compaction(rt, trigger="auto")
    except CompactionError as exc:
        logger.warning("automatic compaction of %s failed: %s", rt.session_id, exc)
        rt.auto_compact_failed = True
        return
    yield compact_boundary_message(rt, result)
