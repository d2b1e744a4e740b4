"""``threadline run PROMPT``: one turn, printed as text, JSON or stream-json."""

from __future__ import annotations

import sys
from typing import Any

import anyio
import click
import orjson

from .._client import AgentClient
from .._messages import AssistantMessage, Message, ResultMessage, StreamEvent, ToolUseBlock
from ._agent import (
    Terminated,
    agent_flags,
    build_options,
    flags_from,
    interrupt_client,
    interruptible,
    wait_for,
)
from ._backend import open_backend
from ._console import short
from ._errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_PROVIDER, CliError, handle_errors
from ._safe import json_safe, visible
from ._wire import to_wire

__all__ = ["run_command"]

_EPILOG = """\b
Examples:
  threadline run "summarise README.md"
  threadline run -c "and now the tests"             # continue this directory's newest session
  threadline run -r 1f0e...c2 --fork "try another approach"
  threadline run --output-format stream-json "hi" | jq -c .type
  threadline run --base-url http://127.0.0.1:8080 --model claude-sonnet-4-5 "hi"
"""


class _TextPrinter:
    """Prints text deltas as they arrive (controls made visible); the result text if nothing
    was streamed. Tool calls, denials and the session id go to stderr: stdout stays the
    answer, for pipes."""

    def __init__(self) -> None:
        self.streamed = False
        self.at_line_start = True
        self._new_block = False

    def write(self, text: str) -> None:
        if not text:
            return
        if self._new_block and not self.at_line_start:
            sys.stdout.write("\n")
        self._new_block = False
        sys.stdout.write(visible(text))
        sys.stdout.flush()
        self.streamed = True
        self.at_line_start = text.endswith("\n")

    def note(self, text: str) -> None:
        """A line on stderr (after ending the answer's current line)."""
        if not self.at_line_start:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.at_line_start = True
        click.echo(text, err=True)

    def handle(self, msg: Message) -> None:
        if isinstance(msg, StreamEvent):
            event = msg.event
            if event.get("type") == "content_block_start":
                self._new_block = self.streamed
            delta = event.get("delta") or {}
            if event.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
                self.write(str(delta.get("text", "")))
        elif isinstance(msg, AssistantMessage):
            for block in msg.content:
                if isinstance(block, ToolUseBlock):
                    self.note(f"⏺ {short(block.name, 60)}({tool_args(block.input)})")
        elif isinstance(msg, ResultMessage):
            self._result(msg)

    def _result(self, msg: ResultMessage) -> None:
        if not msg.is_error and not self.streamed and msg.result:
            self.write(msg.result)
        if self.streamed and not self.at_line_start:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self.at_line_start = True
        for denial in msg.permission_denials or []:
            name = denial.get("tool_name") if isinstance(denial, dict) else None
            tool_input = denial.get("tool_input") if isinstance(denial, dict) else None
            self.note(
                f"✗ denied: {short(str(name), 60)}({tool_args(tool_input)}) "
                "(allow it with --allowed-tools or --permission-mode)"
            )
        aborted = (msg.terminal_reason or "").startswith("aborted")
        if msg.session_id and (aborted or not msg.is_error):  # an error is one line
            self.note(f"session {msg.session_id} (resume: threadline run -r {msg.session_id[:8]})")


def tool_args(value: object) -> str:
    """A tool input as compact JSON on one line (not a Python repr), cut short."""
    try:
        text = orjson.dumps(value).decode() if isinstance(value, dict) else str(value)
    except TypeError:
        text = str(value)
    return short(text, 80)


def _dump(obj: Any) -> str:
    return json_safe(orjson.dumps(obj, default=str).decode())


async def _run(
    client: AgentClient, prompt: str, fmt: str, partial: bool, verbose: bool
) -> ResultMessage | None:
    printer = _TextPrinter()
    collected: list[dict[str, Any]] = []
    result: ResultMessage | None = None
    await client.connect(prompt)
    try:
        async for msg in client.drain():
            if isinstance(msg, ResultMessage):
                result = msg
            if fmt == "text":
                printer.handle(msg)
            elif fmt == "stream-json":
                if isinstance(msg, StreamEvent) and not partial:
                    continue
                sys.stdout.write(_dump(to_wire(msg)) + "\n")
                sys.stdout.flush()
            elif not isinstance(msg, StreamEvent):
                collected.append(to_wire(msg))
    finally:
        with anyio.CancelScope(shield=True):
            await client.disconnect()
    if fmt == "json":
        if verbose:
            sys.stdout.write(_dump(collected) + "\n")
        elif result is not None:
            sys.stdout.write(_dump(to_wire(result)) + "\n")
    return result


def _check(result: ResultMessage | None, stop: BaseException | None) -> None:
    if stop is not None:
        code = 128 + stop.signum if isinstance(stop, Terminated) else EXIT_INTERRUPTED
        what = f"terminated ({stop})" if isinstance(stop, Terminated) else "interrupted"
        raise CliError(what, code)
    if result is None:
        raise CliError("the run ended without a result", EXIT_ERROR)
    if not result.is_error:
        return
    reason = result.terminal_reason or result.subtype
    if reason and reason.startswith("aborted"):
        raise CliError("interrupted", EXIT_INTERRUPTED)
    text = (result.errors or [result.result or reason or "error"])[0]
    code = EXIT_PROVIDER if result.terminal_reason == "api_error" else EXIT_ERROR
    raise CliError(str(text).splitlines()[0] if text else "error", code)


@click.command("run", epilog=_EPILOG, short_help="Run one prompt (text, json or stream-json).")
@click.argument("prompt", required=False)
@agent_flags
@click.option(
    "--output-format",
    "-o",
    "fmt",
    type=click.Choice(["text", "json", "stream-json"]),
    default="text",
    show_default=True,
    help="text streams the answer; json prints the result; stream-json one message per line.",
)
@click.option(
    "--include-partial-messages",
    "partial",
    is_flag=True,
    help="stream-json: also print stream_event lines (token deltas).",
)
@click.option("--verbose", is_flag=True, help="json: print every message, not only the result.")
def run_command(prompt: str | None, fmt: str, partial: bool, verbose: bool, **params: Any) -> None:
    """Run PROMPT (or stdin, when PROMPT is '-' or absent and stdin is piped) as one turn.

    The session is written under $CLAUDE_CONFIG_DIR/projects like Claude Code's; its id is
    in the init and result messages (json formats) and can be passed to --resume.
    """
    flags = flags_from(params)
    if prompt in (None, "-"):
        if sys.stdin.isatty():
            raise click.UsageError("missing PROMPT (or pipe it on stdin)")
        prompt = sys.stdin.read()
    if not prompt or not prompt.strip():
        raise click.UsageError("PROMPT is empty")
    with handle_errors(), interruptible(), open_backend(flags.store_url) as backend:
        options = build_options(flags, backend, partial=(fmt == "text" or partial))
        client = AgentClient(options)
        future = backend.portal.start_task_soon(_run, client, prompt, fmt, partial, verbose)
        result, stop = wait_for(future, on_interrupt=interrupt_client(backend, client))
    _check(result, stop)
