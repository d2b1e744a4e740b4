"""``threadline run PROMPT``: one turn, printed as text, JSON or stream-json."""

from __future__ import annotations

import sys
from typing import Any

import anyio
import click
import orjson

from .._exceptions import ResultError
from .._messages import Message, ResultMessage, StreamEvent
from .._query import query
from ._agent import agent_flags, build_options, flags_from
from ._errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_PROVIDER,
    CliError,
    handle_errors,
    interrupted,
)
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
    """Prints text deltas as they arrive; the result text if nothing was streamed."""

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
        sys.stdout.write(text)
        sys.stdout.flush()
        self.streamed = True
        self.at_line_start = text.endswith("\n")

    def handle(self, msg: Message) -> None:
        if isinstance(msg, StreamEvent):
            event = msg.event
            if event.get("type") == "content_block_start":
                self._new_block = self.streamed
            delta = event.get("delta") or {}
            if event.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
                self.write(str(delta.get("text", "")))
        elif isinstance(msg, ResultMessage) and not msg.is_error:
            if not self.streamed and msg.result:
                self.write(msg.result)
            if self.streamed and not self.at_line_start:
                sys.stdout.write("\n")
                sys.stdout.flush()


def _dump(obj: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


async def _run(
    prompt: str, options: Any, fmt: str, partial: bool, verbose: bool
) -> ResultMessage | None:
    printer = _TextPrinter()
    collected: list[dict[str, Any]] = []
    result: ResultMessage | None = None
    try:
        async for msg in query(prompt=prompt, options=options):
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
    except ResultError:
        if result is None:  # no result came first (an unknown --resume): a real failure
            raise
        # query() raises after an error result (as the official SDK); _check reports it
    if fmt == "json":
        if verbose:
            sys.stdout.write(_dump(collected) + "\n")
        elif result is not None:
            sys.stdout.write(_dump(to_wire(result)) + "\n")
    return result


def _check(result: ResultMessage | None) -> None:
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
    with handle_errors():
        options = build_options(flags, partial=(fmt == "text" or partial))
        try:
            result = anyio.run(_run, prompt, options, fmt, partial, verbose)
        except KeyboardInterrupt:
            interrupted()
    _check(result)
