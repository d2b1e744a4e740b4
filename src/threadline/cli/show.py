"""``threadline sessions show ID``: the conversation, or with ``--tree`` its branches."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import click
from rich.markup import escape
from rich.tree import Tree

from ..sessions import get_session_messages
from ..sessions._locate import locate_session
from ..sessions._paths import projects_dir
from ._console import echo_json, out_console, resolve_session_id, short
from ._errors import EXIT_NOT_FOUND, fail, guarded
from ._tree import Fork, Segment, attach_forks, build_segments, find_forks, read_entries

__all__ = ["show_command"]

_EPILOG = """\b
Examples:
  threadline sessions show 1f0e
  threadline sessions show 1f0e --tree
  threadline sessions show 1f0e --json | jq '.[] | .message.content'
"""


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "text":
        return [str(block.get("text", ""))]
    if kind == "tool_use":
        return [
            f"[dim]⏺ {escape(str(block.get('name')))}({escape(short(str(block.get('input')), 80))})[/]"
        ]
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        return [f"[dim]  ⎿ {escape(short(str(content or ''), 100))}[/]"]
    if kind == "thinking":
        return [f"[dim italic]✻ {escape(short(str(block.get('thinking', '')), 100))}[/]"]
    return []


def _print_conversation(session_id: str) -> None:
    messages = get_session_messages(session_id, strict=True)
    console = out_console()
    for m in messages:
        content = m.message.get("content") if isinstance(m.message, dict) else None
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        style = "bold cyan" if m.type == "user" else "bold green"
        rendered: list[str] = []
        for block in blocks:
            if isinstance(block, dict):
                for line in _block_lines(block):
                    rendered.append(line if line.startswith("[dim") else escape(line))
        if not rendered:
            continue
        console.print(f"[{style}]{m.type}[/] [dim]{m.uuid}[/]")
        for line in rendered:
            console.print(line)
        console.print()


def _text_of(entry: dict[str, Any]) -> str:
    message = entry.get("message")
    if not isinstance(message, dict):
        return str(entry.get("subtype") or entry.get("type") or "")
    content = message.get("content")
    if isinstance(content, str):
        return content
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text" and block.get("text"):
            return str(block["text"])
        if isinstance(block, dict) and block.get("type") == "tool_use":
            return f"⏺ {block.get('name')}"
        if isinstance(block, dict) and block.get("type") == "tool_result":
            return "⎿ tool result"
    return ""


def _segment_label(seg: Segment) -> str:
    msgs = [e for e in seg.entries if e.get("type") in ("user", "assistant")]
    first = short(_text_of(msgs[0]), 40) if msgs else ""
    last = short(_text_of(msgs[-1]), 40) if len(msgs) > 1 else ""
    label = f"[bold]{len(msgs)} msg[/]"
    if first:
        label += f" «{escape(first)}»"
    if last:
        label += f" … «{escape(last)}»"
    end = seg.uuids[-1]
    if seg.is_leaf:
        label += f"  [green]● leaf {end}[/]"
    else:
        label += f"  [yellow]⑂ branches at {end}[/]"
    return label


def _add_forks(node: Tree, forks: list[Fork]) -> None:
    for fork in forks:
        title = f" «{escape(short(fork.title, 40))}»" if fork.title else ""
        child = node.add(f"[magenta]⤷ fork {fork.session_id}[/]{title}")
        _add_forks(child, fork.forks)


def _add_segment(node: Tree, seg: Segment) -> None:
    child = node.add(_segment_label(seg))
    _add_forks(child, seg.forks)
    for sub in seg.children:
        _add_segment(child, sub)


def _tree_json(seg: Segment) -> dict[str, Any]:
    return {
        "first_uuid": seg.uuids[0],
        "last_uuid": seg.uuids[-1],
        "messages": sum(1 for e in seg.entries if e.get("type") in ("user", "assistant")),
        "leaf": seg.is_leaf,
        "forks": [asdict(f) for f in seg.forks],
        "children": [_tree_json(c) for c in seg.children],
    }


def _print_tree(session_id: str, as_json: bool) -> None:
    loc = locate_session(session_id, None)
    if loc is None:
        fail(f"Session {session_id} not found under {projects_dir()}", EXIT_NOT_FOUND)
    roots = build_segments(read_entries(loc.path))
    unplaced = attach_forks(roots, find_forks(projects_dir(), session_id))
    leaves: list[str] = []
    branch_points: list[str] = []
    stack = list(roots)
    while stack:
        seg = stack.pop()
        (leaves if seg.is_leaf else branch_points).append(seg.uuids[-1])
        stack.extend(seg.children)
    if as_json:
        echo_json(
            {
                "session_id": session_id,
                "leaves": leaves,
                "branch_points": branch_points,
                "roots": [_tree_json(r) for r in roots],
                "unplaced_forks": [asdict(f) for f in unplaced],
            }
        )
        return
    tree = Tree(
        f"[bold]{session_id}[/]  [dim]{len(leaves)} leaf/leaves, "
        f"{len(branch_points)} branch point(s)[/]"
    )
    for root in roots:
        _add_segment(tree, root)
    _add_forks(tree, unplaced)
    out_console().print(tree)


@click.command("show", epilog=_EPILOG)
@click.argument("session_id")
@click.option("--tree", is_flag=True, help="Draw the branch structure (branches and forks).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@guarded
def show_command(session_id: str, tree: bool, as_json: bool) -> None:
    """Print the conversation of SESSION_ID (an id or a unique prefix)."""
    sid = resolve_session_id(session_id)
    if tree:
        _print_tree(sid, as_json)
    elif as_json:
        echo_json([asdict(m) for m in get_session_messages(sid, strict=True)])
    else:
        _print_conversation(sid)
