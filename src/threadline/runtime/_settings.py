"""Claude Code's settings files, ``CLAUDE.md`` memory and ``.claude/`` definitions.

What :func:`load_settings` reads (``docs/settings.md`` says the same to users), by
setting source (``AgentOptions.setting_sources``):

=========  =============================================  ==================================
source     settings file                                  also
=========  =============================================  ==================================
user       ``$CLAUDE_CONFIG_DIR/settings.json``           ``CLAUDE.md``, ``rules/``,
           (default ``~/.claude/settings.json``)          ``agents/``, ``commands/``,
                                                          ``skills/`` in the config dir
project    ``<cwd>/.claude/settings.json``                ``CLAUDE.md`` up the tree,
                                                          ``.claude/{agents,commands,skills}``
local      ``<cwd>/.claude/settings.local.json``          ``CLAUDE.local.md`` up the tree
=========  =============================================  ==================================

``AgentOptions.settings`` (a path, relative to ``cwd``, or JSON text) is read as the CLI's
``--settings`` flag, above the three; ``/etc/claude-code/managed-settings.json`` (the
managed policy) is read last and wins. Default (``setting_sources=None``): all three,
as the official SDK 0.2.187 (which then passes no ``--setting-sources`` and the CLI loads
every source); with ``skills`` set and ``setting_sources`` unset, ``user`` and ``project``
(the SDK's rule). ``[]`` reads no file but the ``settings`` option and the policy.

Merging, as the CLI: objects merge key by key, lists are joined (duplicates dropped),
any other value of a later file replaces the earlier one. What is used:
``permissions.allow``/``deny``/``ask`` (added to ``allowed_tools``/``disallowed_tools``
and the ask rules), ``permissions.additionalDirectories`` (added to ``add_dirs``, relative
to ``cwd``), ``permissions.defaultMode`` (when ``permission_mode`` is unset), ``env`` (the
tools' environment: Bash and hooks; never the model connection), ``model`` (when ``model``
is unset), ``sandbox`` (when ``sandbox`` is unset) and ``hooks`` (command hooks,
:mod:`._settings_hooks`).

Trust: project settings run hooks and allow tools; the CLI trusts a project's files once
its folder is trusted, and the SDK's non-interactive CLI always does. So does threadline:
pass ``setting_sources=[]`` for a ``cwd`` you do not trust (a cloned repository).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from .._exceptions import UserError
from ..tools import Skill
from ._claude_dir import (
    load_agents,
    load_commands,
    load_plugins,
    load_skill_set,
    plugin_hooks,
    plugin_mcp_servers,
)

if TYPE_CHECKING:
    from ._claude_types import Command, Plugin
    from ._memory_types import MemoryFile
from ._memory import load_memory
from ._permissions import PermissionMode
from ._subagents import AgentDefinition

__all__ = [
    "MANAGED_SETTINGS",
    "SETTING_SOURCES",
    "LoadedSettings",
    "config_dir_of",
    "effective_sources",
    "load_settings",
]

Raw = dict[str, Any]
_log = logging.getLogger("threadline.settings")

SETTING_SOURCES = ("user", "project", "local")
MANAGED_SETTINGS = Path("/etc/claude-code/managed-settings.json")
_MAX_SETTINGS_BYTES = 4 * 1024 * 1024
_MODES: tuple[str, ...] = get_args(PermissionMode)


@dataclass(frozen=True)
class LoadedSettings:
    """Everything a run takes from the file system besides its options."""

    sources: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    """The settings files read, in merge order."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """The merged settings."""
    memory: Sequence[MemoryFile] = ()
    """The ``CLAUDE.md`` files, in the order they are sent."""
    commands: Mapping[str, Command] = field(default_factory=dict)
    """Slash commands (``.claude/commands``, plugins), by name."""
    agents: Mapping[str, AgentDefinition] = field(default_factory=dict)
    """Subagents (``.claude/agents``, plugins), by name."""
    skills: Mapping[str, Skill] = field(default_factory=dict)
    """Every skill found (``.claude/skills``, plugins), before the ``skills`` filter."""
    plugins: Sequence[Plugin] = ()
    mcp_servers: Mapping[str, Any] = field(default_factory=dict)
    """The project's ``.mcp.json`` servers and the plugins' (``plugin:<plugin>:<server>``)."""

    def enabled_skills(self, choice: object) -> dict[str, Skill]:
        """The skills ``AgentOptions.skills`` enables: ``None``/``"all"`` every one found,
        a list only those names."""
        if choice is None or choice == "all":
            return dict(self.skills)
        names = list(choice) if isinstance(choice, (list, tuple)) else []
        return {n: self.skills[n] for n in names if n in self.skills}

    def _permissions(self) -> Mapping[str, Any]:
        value = self.data.get("permissions")
        return value if isinstance(value, Mapping) else {}

    def _rules(self, key: str) -> list[str]:
        value = self._permissions().get(key)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    @property
    def allow(self) -> list[str]:
        return self._rules("allow")

    @property
    def deny(self) -> list[str]:
        return self._rules("deny")

    @property
    def ask(self) -> list[str]:
        return self._rules("ask")

    @property
    def additional_directories(self) -> list[str]:
        return self._rules("additionalDirectories")

    @property
    def default_mode(self) -> str | None:
        mode = self._permissions().get("defaultMode")
        return mode if isinstance(mode, str) and mode in _MODES else None

    @property
    def env(self) -> dict[str, str]:
        value = self.data.get("env")
        if not isinstance(value, Mapping):
            return {}
        return {str(k): str(v) for k, v in value.items() if isinstance(v, (str, int, float))}

    @property
    def model(self) -> str | None:
        value = self.data.get("model")
        return value if isinstance(value, str) and value else None

    @property
    def hooks(self) -> Mapping[str, Any]:
        value = self.data.get("hooks")
        return value if isinstance(value, Mapping) else {}


def effective_sources(
    setting_sources: Sequence[str] | None, skills: object = None
) -> tuple[str, ...]:
    """The sources a run reads (see the module docstring for the default)."""
    if setting_sources is None:
        return ("user", "project") if skills is not None else SETTING_SOURCES
    if isinstance(setting_sources, (str, bytes)) or not isinstance(setting_sources, (list, tuple)):
        raise UserError(
            "AgentOptions.setting_sources must be a list such as ['user', 'project'], "
            f"not {setting_sources!r}"
        )
    for source in setting_sources:
        if source not in SETTING_SOURCES:
            raise UserError(
                f"AgentOptions.setting_sources: unknown source {source!r} "
                "(use 'user', 'project' or 'local')"
            )
    return tuple(s for s in SETTING_SOURCES if s in setting_sources)


def config_dir_of(env_value: str | None) -> Path:
    """The user's config dir: ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    return Path(env_value).expanduser() if env_value else Path.home() / ".claude"


def _merge(base: Raw, over: Mapping[str, Any]) -> Raw:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, Mapping):
            out[key] = _merge(old, value)
        elif isinstance(old, list) and isinstance(value, list):
            joined = list(old)
            for item in value:
                if item not in joined:
                    joined.append(item)
            out[key] = joined
        elif isinstance(value, Mapping):
            out[key] = _merge({}, value)
        else:
            out[key] = value
    return out


def _read_json_file(path: Path) -> Raw | None:
    """A settings file's object; ``None`` when absent; a warning and ``None`` when broken."""
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_SETTINGS_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):  # absent: nothing to load
        return None
    except OSError as exc:
        warnings.warn(f"settings file {path} skipped: {exc}", UserWarning, stacklevel=4)
        return None
    if len(data) > _MAX_SETTINGS_BYTES:
        warnings.warn(f"settings file {path} skipped: too large", UserWarning, stacklevel=4)
        return None
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.warn(
            f"settings file {path} skipped: not valid JSON ({exc})", UserWarning, stacklevel=4
        )
        return None
    if not isinstance(value, dict):
        warnings.warn(f"settings file {path} skipped: not a JSON object", UserWarning, stacklevel=4)
        return None
    return value


def _flag_settings(value: str | os.PathLike[str], cwd: Path) -> tuple[Raw, str]:
    """``AgentOptions.settings``: JSON text, or a file (relative to ``cwd``); errors raise."""
    text = os.fspath(value).strip()
    if text.startswith("{") and text.endswith("}"):
        where = "settings (JSON text)"
    else:
        path = cwd / Path(text).expanduser()
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise UserError(
                f"AgentOptions.settings: cannot read the settings file {where!r}: "
                f"{exc.strerror or exc}"
            ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"AgentOptions.settings: {where} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise UserError(f"AgentOptions.settings: {where} must hold a JSON object")
    return data, where


def _global_config(config: Path, home: str | None, explicit: bool) -> Path:
    """The CLI's global state file: ``$CLAUDE_CONFIG_DIR/.claude.json``, else ``~/.claude.json``."""
    if explicit:
        return config / ".claude.json"
    return (Path(home) if home else Path.home()) / ".claude.json"


def workspace_trusted(root: Path, state: Path) -> bool:
    """Whether the CLI's trust dialog was accepted for ``root`` or a folder above it
    (``projects[<dir>].hasTrustDialogAccepted`` in the global state file ``state``)."""
    data = _read_json_file(state)
    projects = data.get("projects") if data is not None else None
    if not isinstance(projects, Mapping):
        return False
    resolved = root.resolve()
    for directory in (root, resolved, *resolved.parents):
        entry = projects.get(str(directory))
        if isinstance(entry, Mapping) and entry.get("hasTrustDialogAccepted") is True:
            return True
    return False


_UNTRUSTED_KEYS = ("allow", "additionalDirectories")


def _untrusted_project(data: Raw, root: Path, state: Path) -> Raw:
    """A project ``settings.json`` of a folder never trusted: its ``permissions.allow`` and
    ``additionalDirectories`` are dropped with the CLI's warning (deny and ask rules, hooks,
    ``env`` and ``defaultMode`` still apply, as in the CLI)."""
    permissions = data.get("permissions")
    if not isinstance(permissions, Mapping):
        return data
    kept = dict(permissions)
    for key in _UNTRUSTED_KEYS:
        value = kept.pop(key, None)
        if isinstance(value, list) and value:
            noun = "entry" if len(value) == 1 else "entries"
            warnings.warn(
                f"Ignoring {len(value)} permissions.{key} {noun} from .claude/settings.json: "
                "this workspace has not been trusted. Run Claude Code interactively here once "
                f'and accept the trust dialog, or set projects["{root}"].'
                f"hasTrustDialogAccepted: true in {state}.",
                UserWarning,
                stacklevel=5,
            )
    return {**data, "permissions": kept}


def settings_paths(sources: Sequence[str], cwd: Path, config: Path) -> list[Path]:
    """The settings files of ``sources``, lowest precedence first."""
    paths: list[Path] = []
    if "user" in sources:
        paths.append(config / "settings.json")
    if "project" in sources:
        paths.append(cwd / ".claude" / "settings.json")
    if "local" in sources:
        paths.append(cwd / ".claude" / "settings.local.json")
    return paths


def _merged_files(
    sources: Sequence[str],
    root: Path,
    config: Path,
    *,
    home: str | None,
    explicit_config: bool,
    settings: str | os.PathLike[str] | None,
    managed: Path | None,
) -> tuple[Raw, list[str]]:
    """The settings files merged in precedence order (an untrusted project's own file
    trimmed), then ``--settings`` and the managed file; and the files read."""
    merged: Raw = {}
    read: list[str] = []
    trusted: bool | None = None
    for path in settings_paths(sources, root, config):
        data = _read_json_file(path)
        if data is None:
            continue
        if path.name == "settings.json" and path.parent.parent == root:
            state = _global_config(config, home, explicit_config)
            if trusted is None:
                trusted = workspace_trusted(root, state)
            if not trusted:
                data = _untrusted_project(data, root, state)
        merged = _merge(merged, data)
        read.append(str(path))
    if settings is not None:
        data, where = _flag_settings(settings, root)
        merged = _merge(merged, data)
        read.append(where)
    if managed is not None:
        data = _read_json_file(managed)
        if data is not None:
            merged = _merge(merged, data)
            read.append(str(managed))
    return merged, read


def load_settings(
    *,
    cwd: str | os.PathLike[str],
    setting_sources: Sequence[str] | None,
    settings: str | os.PathLike[str] | None = None,
    skills: object = None,
    config_dir: str | None = None,
    home: str | None = None,
    managed: Path | None = MANAGED_SETTINGS,
    plugins: Sequence[Any] = (),
) -> LoadedSettings:
    """Read the settings of a run in ``cwd``. Blocking I/O: call it in a thread.

    ``config_dir`` is ``CLAUDE_CONFIG_DIR`` as the run sees it; ``home`` its ``HOME``.
    """
    sources = effective_sources(setting_sources, skills)
    root = Path(cwd)
    config = config_dir_of(config_dir)
    merged, read = _merged_files(
        sources,
        root,
        config,
        home=home,
        explicit_config=bool(config_dir),
        settings=settings,
        managed=managed,
    )
    memory = load_memory(root, sources, config_dir=config, home=home)
    loaded_plugins = load_plugins(list(plugins), root)
    for plugin in loaded_plugins:
        hooks = plugin_hooks(plugin)
        if hooks:
            merged = _merge(merged, {"hooks": hooks})
    places = _definition_places(sources, root, config, loaded_plugins)
    servers: Raw = _project_mcp_servers(root, merged) if "project" in sources else {}
    for plugin in loaded_plugins:
        servers.update(plugin_mcp_servers(plugin))
    return LoadedSettings(
        sources=sources,
        files=tuple(read),
        data=merged,
        memory=memory,
        commands=load_commands(places["commands"]),
        agents=load_agents(places["agents"]),
        skills=load_skill_set(places["skills"]),
        plugins=tuple(loaded_plugins),
        mcp_servers=servers,
    )


def _project_mcp_servers(cwd: Path, settings: Mapping[str, Any]) -> Raw:
    """``<cwd>/.mcp.json`` servers (the CLI's ``project`` MCP scope), less those named in
    the settings' ``disabledMcpjsonServers``. The SDK's CLI starts them unasked (checked)."""
    data = _read_json_file(cwd / ".mcp.json")
    servers = data.get("mcpServers") if data is not None else None
    if not isinstance(servers, Mapping):
        return {}
    disabled = settings.get("disabledMcpjsonServers")
    off = {d for d in disabled if isinstance(d, str)} if isinstance(disabled, list) else set()
    return {n: dict(c) for n, c in servers.items() if isinstance(c, Mapping) and n not in off}


def _definition_places(
    sources: Sequence[str], cwd: Path, config: Path, plugins: Sequence[Plugin]
) -> dict[str, list[tuple[Path, str]]]:
    """Where commands, agents and skills are looked for, first place winning a name."""
    places: dict[str, list[tuple[Path, str]]] = {}
    for kind in ("commands", "agents", "skills"):
        found: list[tuple[Path, str]] = []
        if "project" in sources:
            found.append((cwd / ".claude" / kind, ""))
        if "user" in sources:
            found.append((config / kind, ""))
        found += [(p.path / kind, f"{p.name}:") for p in plugins]
        places[kind] = found
    return places


def check_skills(skills: object) -> None:
    """``AgentOptions.skills``: ``None``, ``"all"`` or a list of exact skill names (the
    official SDK's checks, raised as :class:`~threadline.UserError` at connect)."""
    if skills is None or skills == "all":
        return
    if not isinstance(skills, list):
        hint = f" Did you mean [{skills!r}]?" if isinstance(skills, str) else ""
        raise UserError(
            f'AgentOptions.skills must be a list of skill names or "all", got {skills!r}.{hint}'
        )
    for name in skills:
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise UserError(f"AgentOptions.skills: invalid skill name {name!r}")
        if name == "*" or name.startswith("/") or any(c in name for c in "(),\n\r"):
            raise UserError(
                f"AgentOptions.skills: invalid skill name {name!r} (names are exact: a "
                "skill's directory name or 'plugin:skill'; use skills=\"all\" for every skill)"
            )


def read_for(options: Any, cwd: str) -> LoadedSettings:
    """:func:`load_settings` for a run's options (blocking: call it in a thread)."""
    check_skills(options.skills)
    return load_settings(
        cwd=cwd,
        setting_sources=options.setting_sources,
        settings=options.settings,
        skills=options.skills,
        config_dir=options.env_value("CLAUDE_CONFIG_DIR"),
        home=options.env_value("HOME"),
        plugins=options.plugins,
    )


def _existing_dirs(values: Sequence[str], cwd: str) -> list[str]:
    out: list[str] = []
    for value in values:
        path = Path(cwd) / Path(value).expanduser()
        if path.is_dir():
            out.append(str(path))
        else:
            warnings.warn(
                f"settings permissions.additionalDirectories: {value!r} is not an existing "
                "directory (skipped)",
                UserWarning,
                stacklevel=3,
            )
    return out


def apply_settings(
    options: Any, loaded: LoadedSettings, cwd: str, *, evaluate: Any = None
) -> Any:
    """``options`` with what the settings add (the options win where both set a value);
    ``evaluate`` answers ``prompt`` hooks (``_settings_hooks.PromptEvaluator``)."""
    from dataclasses import replace

    from ._settings_hooks import settings_hooks

    changes: Raw = {}
    if loaded.allow:
        changes["allowed_tools"] = [*options.allowed_tools, *loaded.allow]
    if loaded.deny:
        changes["disallowed_tools"] = [*options.disallowed_tools, *loaded.deny]
    dirs = _existing_dirs(loaded.additional_directories, cwd)
    if dirs:
        changes["add_dirs"] = [*options.add_dirs, *dirs]
    if options.permission_mode is None and loaded.default_mode is not None:
        changes["permission_mode"] = loaded.default_mode
    if options.model is None and loaded.model is not None:
        changes["model"] = loaded.model
    sandbox = loaded.data.get("sandbox")
    if options.sandbox is None and isinstance(sandbox, Mapping):
        changes["sandbox"] = dict(sandbox)  # the official SDK's sandbox= replaces the key
    if loaded.agents:
        changes["agents"] = {**loaded.agents, **(options.agents or {})}
    if options.skills is not None:  # the official SDK's rules for the Skill tool
        wanted = ["Skill"] if options.skills == "all" else [f"Skill({n})" for n in options.skills]
        extra = [r for r in wanted if r not in options.allowed_tools]
        if extra:
            changes["allowed_tools"] = [
                *changes.get("allowed_tools", options.allowed_tools),
                *extra,
            ]
    env = loaded.env
    if env:
        changes["env"] = {**options.env, **env}
    hooks = settings_hooks(loaded.hooks, cwd=cwd, env={**options.env, **env}, evaluate=evaluate)
    if hooks:
        merged: dict[str, list[Any]] = {k: list(v) for k, v in (options.hooks or {}).items()}
        for event, matchers in hooks.items():
            merged.setdefault(event, []).extend(matchers)
        changes["hooks"] = merged
    return replace(options, **changes) if changes else options
