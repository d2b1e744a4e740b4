"""``threadline sessions show ID``: the conversation, or with ``--tree`` its branches.

Everything shown comes from the transcript and is untrusted: text goes through
:func:`._safe.visible` (control characters made visible) and is written without rich's
word wrapping, so a 16 MB message costs linear time; by default each block is cut at
:data:`._safe.MAX_FIELD` characters with a marker (``--full`` shows it all).
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import click
from rich.markup import escape

from ..sessions._paths import projects_dir
from ._backend import Backend, open_backend, store_option
from ._console import echo_json, out_console, short
from ._errors import EXIT_NOT_FOUND, fail, guarded
from ._safe import MAX_FIELD, clip, visible
from ._tree import Fork, Segment, attach_forks, build_segments, find_forks, walk

__all__ = ["show_command"]

_EPILOG = """\b
Examples:
  threadline sessions show 1f0e
  threadline sessions show 1f0e --tree
  threadline sessions show 1f0e --json | jq '.[] | .message.content'
"""

_JSON_DEPTH = 100
"""Nesting depth of ``roots`` in ``--tree --json`` (deeper segments: ``{"continued": id}``)."""
_INDENT_CAP = 40


def _block_lines(block: dict[str, Any], limit: int) -> list[tuple[str, str]]:
    """(style, plain text) lines of one content block."""
    kind = block.get("type")
    if kind == "text":
        return [("", clip(str(block.get("text", "")), limit))]
    if kind == "tool_use":
        return [("dim", f"⏺ {short(str(block.get('name')), 60)}({_args(block.get('input'))})")]
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        return [("dim", f"  ⎿ {short(str(content or ''), 100)}")]
    if kind == "thinking":
        return [("dim italic", f"✻ {short(str(block.get('thinking', '')), 100)}")]
    return []


def _args(value: object) -> str:
    """A tool input as compact JSON (not a Python repr), on one line, cut short."""
    import orjson

    try:
        text = orjson.dumps(value).decode() if isinstance(value, dict) else str(value)
    except TypeError:
        text = str(value)
    return short(text, 80)


def _print_conversation(backend: Backend, session_id: str, limit: int) -> None:
    console = out_console()
    out = sys.stdout
    for m in backend.messages(session_id):
        content = m.message.get("content") if isinstance(m.message, dict) else None
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        lines: list[tuple[str, str]] = []
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, dict):
                lines.extend(_block_lines(block, limit))
        if not lines:
            continue
        style = "bold cyan" if m.type == "user" else "bold green"
        console.print(f"[{style}]{escape(m.type)}[/] [dim]{escape(visible(m.uuid))}[/]")
        for style, text in lines:
            if style:
                console.print(f"[{style}]{escape(text)}[/]", soft_wrap=True)
            else:  # plain text: no wrapping work, linear in its length
                out.write(visible(text) + "\n")
                out.flush()
        console.print()


def _text_of(entry: dict[str, Any]) -> str:
    message = entry.get("message")
    if not isinstance(message, dict):
        return str(entry.get("subtype") or entry.get("type") or "")
    content = message.get("content")
    if isinstance(content, str):
        return content
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text" and block.get("text"):
            return str(block["text"])
        if isinstance(block, dict) and block.get("type") == "tool_use":
            return f"⏺ {block.get('name')}"
        if isinstance(block, dict) and block.get("type") == "tool_result":
            return "⎿ tool result"
    return ""


def _messages(seg: Segment) -> list[dict[str, Any]]:
    return [e for e in seg.entries if e.get("type") in ("user", "assistant")]


def _segment_label(seg: Segment) -> str:
    msgs = _messages(seg)
    first = short(_text_of(msgs[0]), 40) if msgs else ""
    last = short(_text_of(msgs[-1]), 40) if len(msgs) > 1 else ""
    label = f"[bold]{len(msgs)} msg[/]"
    if first:
        label += f" «{escape(first)}»"
    if last:
        label += f" … «{escape(last)}»"
    end = escape(visible(seg.uuids[-1]))
    if seg.is_leaf:
        label += f"  [green]● leaf {end}[/]"
    else:
        label += f"  [yellow]⑂ branches at {end}[/]"
    return label


def _fork_lines(forks: list[Fork], depth: int) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    stack = [(depth, f) for f in reversed(forks)]
    while stack:
        d, fork = stack.pop()
        title = f" «{escape(short(fork.title, 40))}»" if fork.title else ""
        out.append((d, f"[magenta]⤷ fork {escape(visible(fork.session_id))}[/]{title}"))
        stack.extend((d + 1, f) for f in reversed(fork.forks))
    return out


def _segment_json(seg: Segment) -> dict[str, Any]:
    return {
        "id": seg.id,
        "parent": seg.parent,
        "first_uuid": seg.uuids[0],
        "last_uuid": seg.uuids[-1],
        "messages": len(_messages(seg)),
        "leaf": seg.is_leaf,
        "forks": [asdict(f) for f in seg.forks],
    }


def _nested(roots: list[Segment]) -> list[dict[str, Any]]:
    """``roots`` as nested dicts, built without recursion, cut at :data:`_JSON_DEPTH`."""
    top: list[dict[str, Any]] = []
    stack: list[tuple[Segment, list[dict[str, Any]], int]] = [(r, top, 0) for r in reversed(roots)]
    while stack:
        seg, into, depth = stack.pop()
        if depth >= _JSON_DEPTH:
            into.append({"continued": seg.id})
            continue
        node = {**_segment_json(seg), "children": []}
        del node["parent"]
        into.append(node)
        stack.extend((c, node["children"], depth + 1) for c in reversed(seg.children))
    return top


def _print_tree(backend: Backend, session_id: str, as_json: bool) -> None:
    roots = build_segments(backend.entries(session_id))
    forks: list[Fork] = []
    if backend.store is None:
        forks = find_forks(projects_dir(), session_id)
    unplaced = attach_forks(roots, forks)
    segments = [seg for _, seg in walk(roots)]
    if not segments and not unplaced:
        fail(f"Session {session_id} has no messages", EXIT_NOT_FOUND)
    leaves = [s.uuids[-1] for s in segments if s.is_leaf]
    branch_points = [s.uuids[-1] for s in segments if not s.is_leaf]
    if as_json:
        echo_json(
            {
                "session_id": session_id,
                "leaves": leaves,
                "branch_points": branch_points,
                "segments": [_segment_json(s) for s in segments],
                "roots": _nested(roots),
                "unplaced_forks": [asdict(f) for f in unplaced],
            }
        )
        return
    console = out_console()
    console.print(
        f"[bold]{escape(session_id)}[/]  [dim]{len(leaves)} leaf/leaves, "
        f"{len(branch_points)} branch point(s)[/]"
    )
    lines: list[tuple[int, str]] = []
    for depth, seg in walk(roots):
        lines.append((depth, _segment_label(seg)))
        lines.extend(_fork_lines(seg.forks, depth + 1))
    lines.extend(_fork_lines(unplaced, 0))
    for depth, label in lines:
        pad = "  " * min(depth, _INDENT_CAP)
        deeper = f"[dim]({depth})[/] " if depth > _INDENT_CAP else ""
        console.print(f"{pad}{'└ ' if depth else ''}{deeper}{label}", soft_wrap=True)


@click.command("show", epilog=_EPILOG)
@click.argument("session_id")
@click.option("--tree", is_flag=True, help="Draw the branch structure (branches and forks).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--full", is_flag=True, help=f"Show long messages whole (default: cut at {MAX_FIELD:,} chars)."
)
@store_option
@guarded
def show_command(
    session_id: str, tree: bool, as_json: bool, full: bool, store_url: str | None
) -> None:
    """Print the conversation of SESSION_ID (an id or a unique prefix)."""
    with open_backend(store_url) as backend:
        sid = backend.resolve(session_id)
        if tree:
            _print_tree(backend, sid, as_json)
        elif as_json:
            echo_json([asdict(m) for m in backend.messages(sid)])
        else:
            _print_conversation(backend, sid, 0 if full else MAX_FIELD)
