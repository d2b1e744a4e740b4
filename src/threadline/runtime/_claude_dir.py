"""What ``.claude/`` folders and plugins define: slash commands, subagents, skills, plugin
hooks and MCP servers (Claude Code 2.1.330's layout and names, checked with the bundled CLI).

Places, by setting source (``docs/settings.md``):

- ``user``: ``$CLAUDE_CONFIG_DIR/commands``, ``agents``, ``skills``;
- ``project``: ``<cwd>/.claude/commands``, ``agents``, ``skills``;
- each local plugin (``AgentOptions.plugins=[{"type": "local", "path": ...}]``, whatever
  the sources): its ``commands/``, ``agents/``, ``skills/``, ``hooks/hooks.json`` and
  ``.mcp.json``, its name from ``.claude-plugin/plugin.json`` (else the folder's name).

Names: a command is its file's path below ``commands/`` without ``.md``, folders joined
with ``:`` (``commands/sub/deep.md`` is ``/sub:deep``); an agent is its front matter's
``name`` (else the file name); a skill its ``SKILL.md`` ``name`` (else its folder). A
plugin's are prefixed ``<plugin>:``; its MCP servers are named ``plugin:<plugin>:<server>``.
On a name defined twice, project beats user beats plugin.

A slash command typed as the prompt (``/name args``) is expanded as the CLI expands it
(:func:`expand_command`): the turn records the ``<command-message>`` line, then a meta
user entry with the command's body, ``$ARGUMENTS`` replaced by the arguments and ``$0``,
``$1``... by each (0-based; an index past the last argument stays as typed); a body that
names neither gets ``\\n\\nARGUMENTS: <args>`` appended when there are arguments. A skill
typed as ``/name`` is expanded the same way, headed by its base directory.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import UserError
from ..tools import Skill
from ..tools._skills import front_matter, parse_skill
from ._subagents import AgentDefinition

if TYPE_CHECKING:
    from ._claude_types import Command, ExpandedCommand, Plugin

__all__ = [
    "Command",
    "ExpandedCommand",
    "Plugin",
    "expand_command",
    "load_agents",
    "load_commands",
    "load_plugins",
    "load_skill_set",
]

Raw = dict[str, Any]
_log = logging.getLogger("threadline.settings")
_MAX_BYTES = 1024 * 1024
_PLACEHOLDER = re.compile(r"\$ARGUMENTS(?:\[(\d+)\])?|\$(\d+)(?!\d)")


def __getattr__(name: str) -> Any:
    """``Command``, ``ExpandedCommand``, ``Plugin``: from ``_claude_types`` on first use."""
    if name in ("Command", "ExpandedCommand", "Plugin"):
        from . import _claude_types

        return getattr(_claude_types, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _read_text(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        _log.warning("skipping %s: %s", path, exc)
        return None
    if len(data) > _MAX_BYTES:
        _log.warning("skipping %s: larger than %d bytes", path, _MAX_BYTES)
        return None
    return data.decode("utf-8", errors="replace")


def _tools_list(value: Any) -> list[str] | None:
    """Comma-separated (commas inside a rule's parentheses kept) or a list."""
    if isinstance(value, str):
        names = [v.strip() for v in re.split(r",(?![^(]*\))", value)]
        return [n for n in names if n]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return None


def _md_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.md") if p.is_file())


def load_commands(roots: Iterable[tuple[Path, str]]) -> dict[str, Command]:
    """The commands under each ``(commands folder, name prefix)``; the first name wins."""
    out: dict[str, Command] = {}
    for root, prefix in roots:
        for path in _md_files(root):
            text = _read_text(path)
            if text is None:
                continue
            from ._claude_types import Command

            meta, body = front_matter(text)
            name = prefix + ":".join(path.relative_to(root).with_suffix("").parts)
            hint = meta.get("argument-hint")
            model = meta.get("model")
            out.setdefault(
                name,
                Command(
                    name=name,
                    body=body,
                    path=path,
                    description=str(meta.get("description") or ""),
                    argument_hint=str(hint) if hint else None,
                    model=str(model) if model else None,
                    allowed_tools=tuple(_tools_list(meta.get("allowed-tools")) or ()),
                ),
            )
    return out


def load_agents(roots: Iterable[tuple[Path, str]]) -> dict[str, AgentDefinition]:
    """The subagents under each ``(agents folder, name prefix)``: front matter ``name``,
    ``description``, ``tools`` (comma-separated or a list), ``disallowedTools``, ``model``
    (``inherit`` = the parent's), ``maxTurns``; the body is the prompt. First name wins."""
    out: dict[str, AgentDefinition] = {}
    for root, prefix in roots:
        for path in _md_files(root):
            text = _read_text(path)
            if text is None:
                continue
            meta, body = front_matter(text)
            name = prefix + str(meta.get("name") or path.stem).strip()
            description = str(meta.get("description") or "").strip()
            if not description:
                _log.warning("skipping agent %s: no description in its front matter", path)
                continue
            model = meta.get("model")
            turns = meta.get("maxTurns")
            out.setdefault(
                name,
                AgentDefinition(
                    description=description,
                    prompt=body.strip(),
                    tools=_tools_list(meta.get("tools")),
                    disallowedTools=_tools_list(meta.get("disallowedTools")),
                    model=str(model) if model and model != "inherit" else None,
                    maxTurns=turns if isinstance(turns, int) and turns > 0 else None,
                    effort=str(meta["effort"]) if meta.get("effort") else None,
                    permissionMode=str(meta["permissionMode"])
                    if meta.get("permissionMode")
                    else None,
                ),
            )
    return out


def load_skill_set(roots: Iterable[tuple[Path, str]]) -> dict[str, Skill]:
    """The skills under each ``(skills folder, name prefix)``; the first name wins."""
    out: dict[str, Skill] = {}
    for root, prefix in roots:
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            path = entry / "SKILL.md"
            if not path.is_file():
                continue
            try:
                skill = parse_skill(path)
            except (OSError, ValueError) as exc:
                _log.warning("skipping skill %s: %s", path, exc)
                continue
            name = prefix + skill.name
            out.setdefault(
                name,
                Skill(
                    name=name,
                    description=skill.description,
                    body=skill.body,
                    directory=skill.directory,
                    metadata=skill.metadata,
                ),
            )
    return out


def load_plugins(configs: Sequence[Any], cwd: Path) -> list[Plugin]:
    """``AgentOptions.plugins``: local plugin folders (relative to ``cwd``); other types and
    missing folders raise :class:`~threadline.UserError`."""
    plugins: list[Plugin] = []
    for config in configs:
        kind = config.get("type") if isinstance(config, Mapping) else None
        if kind != "local":
            raise UserError(
                f"AgentOptions.plugins: unsupported plugin {config!r} (only "
                '{"type": "local", "path": ...} plugins are supported)'
            )
        path = (cwd / Path(str(config.get("path", ""))).expanduser()).resolve()
        if not path.is_dir():
            raise UserError(
                f"AgentOptions.plugins: no plugin folder at {str(config.get('path'))!r}"
            )
        manifest: Raw = {}
        text = _read_text(path / ".claude-plugin" / "plugin.json")
        if text is not None:
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"AgentOptions.plugins: {path}/.claude-plugin/plugin.json: {exc}"
                ) from exc
            manifest = value if isinstance(value, dict) else {}
        name = str(manifest.get("name") or path.name)
        version = manifest.get("version")
        from ._claude_types import Plugin

        plugins.append(
            Plugin(
                name=name, path=path, version=str(version) if version else None, manifest=manifest
            )
        )
    return plugins


def _substitute_root(value: Any, root: str) -> Any:
    if isinstance(value, str):
        return value.replace("${CLAUDE_PLUGIN_ROOT}", root)
    if isinstance(value, list):
        return [_substitute_root(v, root) for v in value]
    if isinstance(value, Mapping):
        return {k: _substitute_root(v, root) for k, v in value.items()}
    return value


def _json_object(path: Path) -> Raw | None:
    text = _read_text(path) if path.is_file() else None
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        warnings.warn(f"plugin file {path} skipped: {exc}", UserWarning, stacklevel=3)
        return None
    return value if isinstance(value, dict) else None


def plugin_hooks(plugin: Plugin) -> Raw:
    """The plugin's ``hooks/hooks.json`` (``${CLAUDE_PLUGIN_ROOT}`` filled in)."""
    data = _json_object(plugin.path / "hooks" / "hooks.json") or {}
    hooks = data.get("hooks", data)
    if isinstance(plugin.manifest.get("hooks"), Mapping):
        hooks = plugin.manifest["hooks"]
    return _substitute_root(hooks, str(plugin.path)) if isinstance(hooks, Mapping) else {}


def plugin_mcp_servers(plugin: Plugin) -> Raw:
    """The plugin's MCP servers (``.mcp.json`` or the manifest's ``mcpServers``), named
    ``plugin:<plugin>:<server>`` as the CLI names them."""
    data = _json_object(plugin.path / ".mcp.json") or {}
    servers = data.get("mcpServers", data)
    if isinstance(plugin.manifest.get("mcpServers"), Mapping):
        servers = plugin.manifest["mcpServers"]
    if not isinstance(servers, Mapping):
        return {}
    root = str(plugin.path)
    return {
        f"plugin:{plugin.name}:{name}": _substitute_root(config, root)
        for name, config in servers.items()
        if isinstance(config, Mapping)
    }


# -- expansion ---------------------------------------------------------------------------


def substitute_arguments(body: str, args: str) -> str:
    """``$ARGUMENTS``, ``$ARGUMENTS[n]`` and ``$n`` filled in as the CLI does; with no
    placeholder, ``\\n\\nARGUMENTS: <args>`` appended when there are arguments."""
    parts = args.split()
    found = False

    def fill(match: re.Match[str]) -> str:
        nonlocal found
        found = True
        index = match.group(1) or match.group(2)
        if index is None:
            return args
        i = int(index)
        return parts[i] if i < len(parts) else match.group(0)

    text = _PLACEHOLDER.sub(fill, body)
    if not found and args:
        text += f"\n\nARGUMENTS: {args}"
    return text


def _record(name: str, args: str) -> str:
    record = f"<command-message>{name}</command-message>\n<command-name>/{name}</command-name>"
    return record + (f"\n<command-args>{args}</command-args>" if args else "")


def expand_command(
    prompt: str, commands: Mapping[str, Command], skills: Mapping[str, Skill] | None = None
) -> ExpandedCommand | None:
    """``prompt`` as the CLI expands a typed slash command, or ``None`` when it is not one
    of ``commands`` / ``skills`` (a command of that name wins over a skill)."""
    if not prompt.startswith("/"):
        return None
    head, _, rest = prompt[1:].partition(" ")
    name, args = head.strip(), rest.strip()
    if "\n" in name:
        name, _, more = name.partition("\n")
        args = (more + " " + args).strip()
    if not name:
        return None
    from ._claude_types import ExpandedCommand

    command = commands.get(name)
    if command is not None:
        return ExpandedCommand(
            name=name,
            args=args,
            record=_record(name, args),
            body=substitute_arguments(command.body, args),
            command=command,
        )
    skill = (skills or {}).get(name)
    if skill is None:
        return None
    text = _read_text(skill.directory / "SKILL.md")
    body = front_matter(text)[1] if text is not None else skill.body
    head_text = f"Base directory for this skill: {skill.directory}\n\n{body}"
    return ExpandedCommand(
        name=name, args=args, record=_record(name, args), body=substitute_arguments(head_text, args)
    )
