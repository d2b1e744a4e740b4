"""Bookkeeping of one turn: API history helpers and the ResultMessage totals."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from .._ids import new_uuid
from .._messages import ModelUsage, ResultMessage
from ..providers import ModelResponse, cost_usd

__all__ = ["Spend", "TurnStats", "api_content", "js_number", "request_messages"]

Raw = dict[str, Any]
_USAGE_KEYS = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)
_MODEL_USAGE_KEYS = {
    "input_tokens": "inputTokens",
    "output_tokens": "outputTokens",
    "cache_read_input_tokens": "cacheReadInputTokens",
    "cache_creation_input_tokens": "cacheCreationInputTokens",
}


def api_content(content: str | Iterable[Raw]) -> list[Raw]:
    """Content as sendable API blocks (empty text and unsigned thinking dropped)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    out: list[Raw] = []
    for block in content:
        kind = block.get("type")
        if kind == "text" and not block.get("text"):
            continue
        if kind == "thinking" and not block.get("signature"):
            continue
        out.append(dict(block))
    return out


def request_messages(history: list[Raw]) -> list[Raw]:
    """History with a prompt-caching breakpoint on the last block of the last message
    (a string content becomes one text block, as the CLI sends it)."""
    if not history:
        return []
    last = history[-1]
    raw = last["content"]
    content = [{"type": "text", "text": raw}] if isinstance(raw, str) else list(raw)
    for i in range(len(content) - 1, -1, -1):
        if content[i].get("type") not in ("thinking", "redacted_thinking"):
            content[i] = {**content[i], "cache_control": {"type": "ephemeral"}}
            break
    return [*history[:-1], {"role": last["role"], "content": content}]


@dataclass(kw_only=True)
class Spend:
    """What one query has cost so far, its subagents included, and its budget.

    A top-level turn opens one; the subagents it runs add their replies to the same one, so
    ``max_budget_usd`` bounds the whole tree and the turn's ``ResultMessage`` reports it.
    """

    limit: float | None = None
    cost: float = 0.0
    model_usage: dict[str, dict[str, Any]] = field(default_factory=dict)

    def exhausted(self) -> bool:
        return self.limit is not None and self.cost >= self.limit

    def limit_text(self) -> str:
        return f"Reached maximum budget (${js_number(self.limit or 0.0)})"

    def add(self, model: str, usage: dict[str, Any], cost: float) -> None:
        self.cost += cost
        _add_model_usage(self.model_usage, model, usage, cost)


def js_number(value: float) -> str:
    """``value`` as JavaScript prints a number (``1e-7``, ``0.05``, ``5``): the CLI's texts."""
    if float(value).is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(float(value))
    mantissa, e, exponent = text.partition("e")
    if not e:
        return text
    sign = "-" if exponent.startswith("-") else "+"
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


_CONTEXT_1M = ("claude-opus-5", "claude-sonnet-5", "claude-opus-4-6", "claude-sonnet-4-6")
"""Models with a 1M-token window by default (the CLI reports 1 000 000 for these)."""


def context_window(model: str) -> int:
    """The context window the CLI assumes for ``model`` (200k unless known larger)."""
    if model.endswith("[1m]") or model.startswith(_CONTEXT_1M):
        return 1_000_000
    return 200_000


def max_output_tokens(model: str) -> int:
    """The output limit the CLI reports in ``modelUsage`` (128k for the 1M-window models)."""
    return 128_000 if model.startswith(_CONTEXT_1M) else 64_000


def _add_model_usage(
    per_model_all: dict[str, dict[str, Any]], model: str, usage: dict[str, Any], cost: float
) -> None:
    per_model = per_model_all.setdefault(
        model,
        {
            **dict.fromkeys(_MODEL_USAGE_KEYS.values(), 0),
            "webSearchRequests": 0,
            "costUSD": 0.0,
            "contextWindow": context_window(model),
            "maxOutputTokens": max_output_tokens(model),
            "thinkingTokens": 0,
            "cacheCreationEphemeral5mInputTokens": 0,
            "cacheCreationEphemeral1hInputTokens": 0,
            "canonicalModel": model.removesuffix("[1m]"),
        },
    )
    for key in _USAGE_KEYS:
        value = usage.get(key)
        if isinstance(value, int):
            per_model[_MODEL_USAGE_KEYS[key]] += value
    created = usage.get("cache_creation")
    if isinstance(created, dict):
        for key, name in (
            ("ephemeral_5m_input_tokens", "cacheCreationEphemeral5mInputTokens"),
            ("ephemeral_1h_input_tokens", "cacheCreationEphemeral1hInputTokens"),
        ):
            if isinstance(created.get(key), int):
                per_model[name] += created[key]
    server = usage.get("server_tool_use")
    if isinstance(server, dict) and isinstance(server.get("web_search_requests"), int):
        per_model["webSearchRequests"] += server["web_search_requests"]
    per_model["costUSD"] += cost


def _new_usage() -> dict[str, Any]:
    """The result's ``usage``: the API's keys the CLI totals (as the CLI's result has them)."""
    return {
        **dict.fromkeys(_USAGE_KEYS, 0),
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
    }


def _add_usage(total: dict[str, Any], usage: dict[str, Any]) -> None:
    for key in _USAGE_KEYS:
        value = usage.get(key)
        if isinstance(value, int):
            total[key] += value
    for group in ("server_tool_use", "cache_creation"):
        part = usage.get(group)
        if isinstance(part, dict):
            for key, value in part.items():
                if key in total[group] and isinstance(value, int):
                    total[group][key] += value
    if isinstance(usage.get("service_tier"), str):
        total["service_tier"] = usage["service_tier"]


_UNSET: Any = object()


@dataclass(kw_only=True)
class TurnStats:
    """Totals for the ResultMessage of one turn."""

    started: float
    session_id: str
    num_turns: int = 0
    api_ms: int = 0
    cost: float = 0.0
    usage: dict[str, Any] = field(default_factory=_new_usage)
    model_usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    denials: list[Raw] = field(default_factory=list)
    last_text: str = ""
    stop_reason_api: str | None = None
    user_uuid: str | None = None
    stop: bool = False
    stop_reason: str | None = None
    hook_stop: bool = False
    """The stop came from a hook's ``continue: false``."""
    spend: Spend = field(default_factory=Spend)
    """The query's spend (shared with its subagents)."""
    top: bool = True
    """A top-level turn reports ``spend`` (its subagents included) as its cost; a
    subagent's turn reports its own replies only."""
    structured_output: Any = None

    def add_response(self, model: str, response: ModelResponse) -> None:
        message = response.message
        usage = message.get("usage") or {}
        self.api_ms += response.total_duration_ms
        name = str(message.get("model") or model)
        cost = cost_usd(name, usage)
        self.cost += cost
        self.spend.add(name, usage, cost)
        _add_model_usage(self.model_usage, name, usage, cost)
        _add_usage(self.usage, usage)
        texts = [
            str(b.get("text", "")) for b in message.get("content") or [] if b.get("type") == "text"
        ]
        if any(texts):
            self.last_text = "".join(texts)
        self.stop_reason_api = message.get("stop_reason")

    def result(
        self,
        *,
        subtype: str,
        is_error: bool,
        terminal_reason: str,
        result: str | None = _UNSET,
        errors: list[str] | None = None,
        api_error_status: int | None = None,
    ) -> ResultMessage:
        """The turn's ResultMessage (``result`` defaults to the last reply's text)."""
        cost, model_usage = (
            (self.spend.cost, self.spend.model_usage) if self.top else (self.cost, self.model_usage)
        )
        return ResultMessage(
            subtype=subtype,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            duration_api_ms=self.api_ms,
            is_error=is_error,
            num_turns=self.num_turns,
            session_id=self.session_id,
            stop_reason=self.stop_reason_api,
            total_cost_usd=round(cost, 6),
            usage=copy.deepcopy(self.usage),
            result=self.last_text if result is _UNSET else result,
            structured_output=self.structured_output,
            model_usage=cast("dict[str, ModelUsage]", _copy_usage(model_usage)),
            permission_denials=list(self.denials),
            errors=errors,
            api_error_status=api_error_status,
            uuid=new_uuid(),
            terminal_reason=terminal_reason,
            user_message_uuid=self.user_uuid,
            user_message_uuids=[self.user_uuid] if self.user_uuid else None,
        )

    def interrupted(self, reason: str) -> ResultMessage:
        """The result of an interrupted turn, shaped as the CLI's: no ``result`` text, the
        interruption in ``errors`` (the user message before it says what happened)."""
        return self.result(
            subtype="error_during_execution",
            is_error=True,
            terminal_reason=reason,
            result=None,
            errors=[
                "[ede_diagnostic] result_type=user last_content_type=n/a "
                f"stop_reason={self.stop_reason_api or 'null'}"
            ],
        )


def _copy_usage(model_usage: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {model: dict(values) for model, values in model_usage.items()}
