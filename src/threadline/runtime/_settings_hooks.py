"""Command hooks defined in settings files (``"hooks"`` of ``settings.json``).

The format is Claude Code's::

    {"hooks": {"PreToolUse": [{"matcher": "Bash|Write",
                               "hooks": [{"type": "command", "command": "./check.sh",
                                          "timeout": 30}]}]}}

Each command runs as Claude Code runs it: through ``/bin/sh -c`` in ``cwd``, with the hook
input JSON on stdin (the same dict a Python hook callback receives), the tools'
environment plus ``CLAUDE_PROJECT_DIR``, in a process group of its own that is killed
when its ``timeout`` (seconds, default 60) runs out. Its result:

- exit 0: stdout that is a JSON object is the hook's output (``decision``, ``reason``,
  ``continue``, ``stopReason``, ``systemMessage``, ``hookSpecificOutput`` with
  ``permissionDecision``, ``updatedInput``, ``additionalContext``...); other stdout of a
  ``UserPromptSubmit`` or ``SessionStart`` hook is added as context, otherwise ignored;
- exit 2: a blocking error: the call (or prompt, or stop) is blocked; the model reads
  ``PreToolUse:<tool> hook error: [<command>]: <stderr>`` as the tool result, or
  ``Stop hook feedback:\n[<command>]: <stderr>`` and the turn goes on, as in the CLI;
- any other exit, a timeout, or a command that cannot start: a non-blocking error,
  logged; the run goes on.

``type: "prompt"`` hooks ask the model, as the CLI does: the hook's ``prompt`` with
``$ARGUMENTS`` replaced by the hook input JSON is sent (``model`` of the hook, else the
session's; with Anthropic, a JSON schema output format) and the answer is
``{"ok": bool, "reason": str}``. ``ok: false`` blocks: a tool call's model reads
``PreToolUse:<tool> hook error: [<prompt>]: <reason>`` and the turn stops
(``terminal_reason="hook_stopped"``), as in the CLI; a prompt or a stop is blocked with the
reason. No usable answer, a failed request or the ``timeout`` (default 30 s) decide nothing
(logged), as in the CLI. ``agent`` hooks are skipped with a warning, as are events
threadline does not fire. Output is capped at 1 MiB a stream.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import warnings
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from anyio.abc import Process

from .._ids import new_uuid
from ._hooks import HOOK_EVENT_SINK, HookMatcher
from ._options import HOOK_EVENTS

__all__ = ["PromptEvaluator", "command_hook", "prompt_hook", "settings_hooks"]

Raw = dict[str, Any]
_log = logging.getLogger("threadline.hooks")
_MAX_OUTPUT = 1024 * 1024
_DEFAULT_TIMEOUT = 60.0
_CONTEXT_EVENTS = frozenset({"UserPromptSubmit", "SessionStart"})


async def _read_all(stream: Any, sink: bytearray) -> None:
    if stream is None:
        return
    async for chunk in stream:
        if len(sink) < _MAX_OUTPUT:
            sink.extend(chunk[: _MAX_OUTPUT - len(sink)])


def _kill(process: Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            process.kill()
        except ProcessLookupError:
            pass


async def run_command(
    command: str, payload: bytes, *, cwd: str, env: Mapping[str, str], limit_s: float
) -> tuple[int | None, str, str]:
    """Run ``command`` with ``payload`` on stdin: (exit code or None on timeout, out, err)."""
    out, err = bytearray(), bytearray()
    process = await anyio.open_process(
        ["/bin/sh", "-c", command], cwd=cwd, env=dict(env), start_new_session=True
    )
    code: int | None = None
    try:
        with anyio.move_on_after(limit_s):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_read_all, process.stdout, out)
                tg.start_soon(_read_all, process.stderr, err)
                if process.stdin is not None:
                    try:
                        await process.stdin.send(payload)
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                        pass
                    await process.stdin.aclose()
                code = await process.wait()
    finally:
        if code is None:
            _kill(process)
            with anyio.CancelScope(shield=True):
                await process.wait()
        await process.aclose()
    text = out.decode("utf-8", errors="replace")
    return code, text, err.decode("utf-8", errors="replace")


def _output(
    event: str, code: int | None, out: str, err: str, command: str, hook_input: Raw
) -> Raw | None:
    if code is None:
        _log.warning("%s hook command %r timed out", event, command)
        return None
    if code == 2:  # the CLI's wording: the model reads it
        reason = f"[{command}]: {err or 'No stderr output'}"
        if event == "PreToolUse":
            reason = f"PreToolUse:{hook_input.get('tool_name')} hook error: {reason}"
        return {"decision": "block", "reason": reason}
    if code != 0:
        _log.warning("%s hook command %r failed (exit %s): %s", event, command, code, err[:500])
        return None
    text = out.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
    if text and event in _CONTEXT_EVENTS:
        return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}}
    return None


class _Report:
    """The CLI's ``hook_started`` / ``hook_response`` events of one command hook run, sent
    to :data:`HOOK_EVENT_SINK` when the run streams hook events."""

    def __init__(self, event: str, hook_input: Raw) -> None:
        self.sink = HOOK_EVENT_SINK.get()
        tool = hook_input.get("tool_name")
        self.base: Raw = {
            "type": "system",
            "hook_id": new_uuid(),
            "hook_name": f"{event}:{tool}" if tool else event,
            "hook_event": event,
        }
        self._send({"subtype": "hook_started"})

    def _send(self, fields: Raw) -> None:
        if self.sink is not None:
            self.sink({**self.base, **fields, "uuid": new_uuid()})

    def done(self, code: int | None, out: str, err: str) -> None:
        outcome = "success" if code == 0 else ("blocking" if code == 2 else "error")
        self._send(
            {
                "subtype": "hook_response",
                "output": out + err,
                "stdout": out,
                "stderr": err,
                "exit_code": code,
                "outcome": outcome if code is not None else "cancelled",
            }
        )


def command_hook(
    event: str, command: str, *, cwd: str, env: Mapping[str, str], timeout: float
) -> Any:
    """A hook callback that runs ``command`` (see the module docstring)."""

    async def callback(hook_input: Any, tool_use_id: str | None, context: Any) -> Raw:
        data = dict(hook_input)
        payload = json.dumps(data, default=str).encode()
        full_env = {**os.environ, **env, "CLAUDE_PROJECT_DIR": cwd}
        report = _Report(event, data)
        try:
            code, out, err = await run_command(
                command, payload, cwd=cwd, env=full_env, limit_s=timeout
            )
        except OSError as exc:
            _log.warning("%s hook command %r could not start: %s", event, command, exc)
            report.done(None, "", str(exc))
            return {}
        report.done(code, out, err)
        return _output(event, code, out, err, command, data) or {}

    callback.__qualname__ = f"settings hook {command!r}"
    return callback


PromptEvaluator = Callable[[str, "str | None", float], Awaitable[str]]
"""``(prompt text, model or None, timeout s)`` → the model's answer text."""

_PROMPT_TIMEOUT = 30.0
_TOOL_EVENTS = frozenset({"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"})


def _verdict(answer: str) -> tuple[bool, str] | None:
    """``(ok, reason)`` from a prompt hook's answer, or None when it is not one."""
    text = answer.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
        return None
    reason = value.get("reason")
    return value["ok"], reason if isinstance(reason, str) else ""


def prompt_hook(
    event: str, prompt: str, *, model: str | None, timeout: float, evaluate: PromptEvaluator
) -> Any:
    """A hook callback that asks the model (see the module docstring)."""

    async def callback(hook_input: Any, tool_use_id: str | None, context: Any) -> Raw:
        data = dict(hook_input)
        arguments = json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":"))
        text = (
            prompt.replace("$ARGUMENTS", arguments)
            if "$ARGUMENTS" in prompt
            else f"{prompt}\n\n{arguments}"
        )
        try:
            answer = await evaluate(text, model, timeout)
        except Exception as exc:  # a failed or timed-out request decides nothing
            _log.warning("%s prompt hook %r failed: %s", event, prompt[:80], exc)
            return {}
        verdict = _verdict(answer)
        if verdict is None:
            _log.warning("%s prompt hook %r gave no usable answer", event, prompt[:80])
            return {}
        ok, why = verdict
        if ok:
            return {}
        reason = f"[{prompt}]: {why}"
        if event == "PreToolUse":
            reason = f"PreToolUse:{data.get('tool_name')} hook error: {reason}"
        out: Raw = {"decision": "block", "reason": reason}
        if event in _TOOL_EVENTS:
            out.update({"continue": False, "stopReason": ""})
        return out

    callback.__qualname__ = f"settings prompt hook {prompt[:40]!r}"
    return callback


def _timeout(spec: Mapping[str, Any], default: float) -> float:
    raw = spec.get("timeout")
    return float(raw) if isinstance(raw, (int, float)) and raw > 0 else default


def settings_hooks(
    config: Mapping[str, Any],
    *,
    cwd: str,
    env: Mapping[str, str],
    evaluate: PromptEvaluator | None = None,
) -> dict[str, list[HookMatcher]]:
    """The ``hooks`` of merged settings as ``AgentOptions.hooks`` matchers (``evaluate``
    answers ``prompt`` hooks; without it they are skipped with a warning)."""
    out: dict[str, list[HookMatcher]] = {}
    for event, groups in config.items():
        if event not in HOOK_EVENTS:
            warnings.warn(
                f"settings hooks: event {event!r} is not one threadline fires (skipped)",
                UserWarning,
                stacklevel=4,
            )
            continue
        if not isinstance(groups, list):
            continue
        for group in groups:
            if not isinstance(group, Mapping) or not isinstance(group.get("hooks"), list):
                continue
            matcher = group.get("matcher")
            matcher = matcher if isinstance(matcher, str) and matcher else None
            for spec in group["hooks"]:
                if not isinstance(spec, Mapping):
                    continue
                command, kind = spec.get("command"), spec.get("type", "command")
                if kind == "prompt" and isinstance(spec.get("prompt"), str) and evaluate:
                    timeout = _timeout(spec, _PROMPT_TIMEOUT)
                    model = spec.get("model") if isinstance(spec.get("model"), str) else None
                    callback = prompt_hook(
                        event, spec["prompt"], model=model, timeout=timeout, evaluate=evaluate
                    )
                elif kind == "command" and isinstance(command, str):
                    timeout = _timeout(spec, _DEFAULT_TIMEOUT)
                    callback = command_hook(event, command, cwd=cwd, env=env, timeout=timeout)
                else:
                    warnings.warn(
                        f"settings hooks: {event} hook of type {kind!r} skipped (threadline "
                        "runs command and prompt hooks)",
                        UserWarning,
                        stacklevel=4,
                    )
                    continue
                # the matcher's own timeout is a backstop: the command is killed first
                out.setdefault(event, []).append(
                    HookMatcher(matcher=matcher, hooks=[callback], timeout=timeout + 5)
                )
    return out
