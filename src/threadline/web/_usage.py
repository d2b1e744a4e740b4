"""Token usage and cost of a session, per turn (the usage page and ``/api/.../usage``).

Every API response is counted once (the CLI repeats a response's ``usage`` on each of
its per-block entries; the last copy wins), on every branch of the file: abandoned
branches were paid for too. A turn starts at each prompt (in file order); responses
before the first prompt form turn 0. Cost comes from threadline's price table
(:mod:`threadline.providers._pricing`); the CLI's own running total (``cost-state``
entries), when present, is reported beside it.
"""

from __future__ import annotations

from typing import Any

from ..providers._pricing import cost_usd
from ._transcript import Raw, Transcript
from ._tree import is_substantive, text_of

__all__ = ["usage_of", "usage_of_entries"]

_FIELDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_input_tokens"),
    ("cache_write", "cache_creation_input_tokens"),
)


def _zero() -> dict[str, Any]:
    return {"requests": 0, "input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "cost": 0.0}


def _responses(entries: list[Raw]) -> tuple[dict[str, tuple[Raw, dict[str, Any]]], list[str]]:
    """Last (entry, usage) per response id, and the ids in first-seen order."""
    by_id: dict[str, tuple[Raw, dict[str, Any]]] = {}
    order: list[str] = []
    for e in entries:
        if e.get("type") != "assistant":
            continue
        message = e.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
            continue
        mid = message.get("id")
        key = mid if isinstance(mid, str) and mid else e["uuid"]
        if key not in by_id:
            order.append(key)
        by_id[key] = (e, message["usage"])
    return by_id, order


def _add(acc: dict[str, Any], model: str, usage: dict[str, Any]) -> None:
    acc["requests"] += 1
    for name, key in _FIELDS:
        v = usage.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            acc[name] += int(v)
    acc["cost"] += cost_usd(model, usage)


def usage_of_entries(entries: list[Raw]) -> dict[str, Any]:
    """Totals and per-model sums of a list of entries (a subagent transcript)."""
    by_id, order = _responses(entries)
    total = _zero()
    models: dict[str, dict[str, Any]] = {}
    for key in order:
        e, usage = by_id[key]
        model = str(e["message"].get("model") or "")
        _add(total, model, usage)
        _add(models.setdefault(model, _zero()), model, usage)
    return {"totals": total, "models": models}


def usage_of(t: Transcript, subagents: list[tuple[str, list[Raw]]]) -> dict[str, Any]:
    """The session's usage: totals, per model, per turn, per subagent."""
    by_id, _ = _responses(t.chain)
    counted: set[str] = set()
    turns: list[dict[str, Any]] = [{"index": 0, "uuid": None, "prompt": "", "timestamp": None, **_zero()}]
    total = _zero()
    models: dict[str, dict[str, Any]] = {}
    for e in t.chain:
        kind = e.get("type")
        if kind == "user" and is_substantive(e) and not e.get("isSidechain"):
            turns.append(
                {"index": len(turns), "uuid": e["uuid"], "prompt": text_of(e)[:120],
                 "timestamp": e.get("timestamp"), **_zero()}
            )
            continue
        if kind != "assistant":
            continue
        message = e.get("message")
        mid = message.get("id") if isinstance(message, dict) else None
        key = mid if isinstance(mid, str) and mid else e["uuid"]
        if key in counted or key not in by_id:
            continue
        counted.add(key)
        last, usage = by_id[key]
        model = str(last["message"].get("model") or "")
        _add(turns[-1], model, usage)
        _add(total, model, usage)
        _add(models.setdefault(model, _zero()), model, usage)
    if turns[0]["requests"] == 0:
        turns.pop(0)
    agents = []
    for agent_id, entries in subagents:
        u = usage_of_entries(entries)
        agents.append({"agent_id": agent_id, **u["totals"], "models": u["models"]})
    reported = None
    for cs in t.cost_states:
        v = cs.get("totalCostUSD")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            reported = float(v)
    return {
        "session_id": t.session_id,
        "totals": total,
        "models": models,
        "turns": turns,
        "subagents": agents,
        "reported_cost": reported,
    }
