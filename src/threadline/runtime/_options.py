"""``AgentOptions`` (alias ``ClaudeAgentOptions``): every knob of a run, keyword-only.

Field names are the official SDK's, so ``ClaudeAgentOptions(...)`` calls written for
``claude_agent_sdk`` construct unchanged. Every official field has an effect
(``tests/runtime/test_every_option.py`` walks them), except the few that configured the Claude
Code CLI process and have no meaning in-process: ``cli_path``, ``max_buffer_size``,
``debug_stderr`` (accepted, type-checked) and ``session_store_flush`` (threadline appends each
entry as it happens: "eager" or stricter).
``verbatim_prompts=False`` (the default) expands typed ``@path`` mentions
(:mod:`threadline.runtime._mentions`) and slash commands as the CLI does; ``True`` delivers
prompts as written.

The CLI process (``docs/porting.md``, "Settings and the CLI process"): ``stderr`` receives
threadline's log records and stdio MCP servers' stderr; ``extra_args`` takes
``replay-user-messages`` (each prompt comes back as a ``UserMessage`` with its uuid) and
``debug-to-stderr``, any other flag raises; ``user`` may only name the user this process
runs as; ``forward_subagent_text`` adds subagents' text to the stream; ``resume_drops_turn``
refuses a truncating resume that would discard more than that turn; ``betas`` are sent as
``anthropic-beta``.

Settings (``docs/settings.md``, :mod:`threadline.runtime._settings`): ``setting_sources``
(``None``: user, project and local, as the official SDK) and ``settings`` (a path or JSON
text) load Claude Code's settings files and ``CLAUDE.md`` memory: permission rules,
``additionalDirectories``, ``defaultMode``, ``model``, ``env`` (tools only), command hooks;
``.claude/commands`` (typed slash commands are expanded unless ``verbatim_prompts``),
``.claude/agents``, ``.claude/skills`` (filtered by ``skills``) and local ``plugins``.

Limits (``docs/porting.md``, "Limits and output"): ``max_budget_usd`` (checked after every
reply against the session's cost, subagents included: ``error_max_budget_usd``),
``max_turns`` (``num_turns`` counted as the CLI does), ``task_budget`` (sent as
``output_config.task_budget``; Anthropic only), ``fallback_model`` (on 529/404/5xx, for the
rest of the turn, with a ``model_fallback`` system message), ``load_timeout_ms`` (each
``session_store`` read while resuming) and ``client_app`` (the ``x-client-app`` header).
``output_format`` (a JSON schema): the ``StructuredOutput`` tool, validated with
``jsonschema``, retried and reported as the CLI does (:mod:`threadline.runtime._structured`).

Permissions (``docs/permissions.md``): ``permission_mode``, ``allowed_tools``,
``disallowed_tools``, ``can_use_tool``, ``permission_prompt_tool_name`` (an MCP tool answers
the prompts; combined with ``can_use_tool`` it raises ``ValueError`` at connect, as the official
SDK does) and ``add_dirs`` (directories besides ``cwd`` that file tools and read-only Bash
commands may use unasked; each must exist).

Long-lived sessions (``docs/long-lived-sessions.md``): ``agents`` (subagents through the
``Agent`` tool), ``enable_file_checkpointing`` (``AgentClient.rewind_files``) and the
threadline addition ``compact_threshold_tokens`` (automatic compaction).

threadline additions: ``persist_session`` (False: nothing is written anywhere), ``redact``
(credentials are redacted before anything is stored; on by default),
``api_key`` / ``base_url`` (default ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``, or
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` for the OpenAI-compatible provider, looked up in
``env`` first, then the process environment), ``retry_policy``, ``provider``, ``web_search``
(a :class:`~threadline.tools.SearchBackend` for ``WebSearch``) and
``web_fetch_allow_private``.

Tools (``docs/tools.md``): ``sandbox`` runs Bash in a bubblewrap sandbox on Linux; names in
``tools``/``allowed_tools``/``disallowed_tools`` that no tool answers to warn at connect;
``strict_mcp_config`` ("only the servers in ``mcp_servers``") leaves out the project's
``.mcp.json`` servers and the plugins' (``docs/settings.md``); the ``claude_code`` system-prompt
preset is threadline's own prompt (Claude Code's text is not shipped).

Provider selection (``provider``): a ready :class:`~threadline.providers.Provider` is used
as is; a name (``"anthropic"``, ``"openai"``, or one given to
:func:`~threadline.providers.register_provider`) picks that registry entry; unset, it is Anthropic when
``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN`` is configured, else OpenAI-compatible
when ``OPENAI_BASE_URL`` or ``OPENAI_API_KEY`` is, else Anthropic (which then asks for a
key). The OpenAI-compatible provider needs a ``model`` (or ``OPENAI_MODEL``).

Validation: values no run could use (an unknown ``permission_mode`` or hook event,
``max_turns`` below 1, a string where a list of tool names belongs, a ``can_use_tool`` that
is not callable, ...) raise :class:`~threadline.UserError` at construction. Combinations and
the file system are checked when the session opens, before anything is read, written or
sent (:func:`check_run`): ``cwd`` must be an existing directory, ``fork_session`` needs
``resume`` or ``continue_conversation``, and ``session_id`` combines with those only
together with ``fork_session``.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from .._exceptions import UserError
from ..providers._registry import DEFAULT_MODEL, provider_names
from ..providers._retry import RetryPolicy
from ._hooks import HookMatcher
from ._permissions import CanUseTool, PermissionMode
from ._structured import check_output_format

if TYPE_CHECKING:
    from ..privacy import Redactor
    from ..providers._base import Provider
    from ..sessions import SessionStore
    from ..tools import SearchBackend

__all__ = ["DEFAULT_MODEL", "HOOK_EVENTS", "AgentOptions", "ClaudeAgentOptions", "check_run"]

"""The model the bundled Claude Code CLI uses when none is given."""


@dataclass(kw_only=True)
class AgentOptions:
    """Options of :func:`~threadline.query` and :class:`~threadline.AgentClient`."""

    # -- model ---------------------------------------------------------------------------
    model: str | None = None
    system_prompt: str | Mapping[str, Any] | None = None
    max_tokens: int | None = None
    thinking: Mapping[str, Any] | None = None
    max_thinking_tokens: int | None = None
    effort: str | None = None
    betas: list[str] = field(default_factory=list)
    include_partial_messages: bool = False
    api_key: str | None = None
    base_url: str | None = None
    retry_policy: RetryPolicy | None = None
    provider: Provider | str | None = None
    """A ready :class:`~threadline.providers.Provider` (overrides api_key/base_url), or the
    name registered in :mod:`threadline.providers` (``"anthropic"``, ``"openai"``, ...); see the module docstring for the rule when unset."""

    # -- tools and permissions -----------------------------------------------------------
    tools: list[str] | Mapping[str, Any] | None = None
    allowed_tools: list[str] = field(default_factory=list)
    disallowed_tools: list[str] = field(default_factory=list)
    permission_mode: PermissionMode | None = None
    can_use_tool: CanUseTool | None = None
    mcp_servers: Mapping[str, Any] | str | Path = field(default_factory=dict)
    hooks: Mapping[str, list[HookMatcher]] | None = None
    max_turns: int | None = None
    cwd: str | Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    sandbox: Mapping[str, Any] | None = None
    """Claude Code's ``SandboxSettings``: with ``enabled`` Bash runs in a bubblewrap sandbox
    (Linux; connect raises if none can be had). See ``docs/tools.md``."""
    web_search: SearchBackend | None = None
    """threadline addition: the backend ``WebSearch`` asks (none: the tool is not sent by
    default and answers with a clear error if named)."""
    web_fetch_allow_private: bool = False
    """threadline addition: let ``WebFetch`` fetch loopback and private-network addresses."""

    # -- sessions ------------------------------------------------------------------------
    resume: str | None = None
    continue_conversation: bool = False
    fork_session: bool = False
    session_id: str | None = None
    resume_session_at: str | None = None
    persist_session: bool = True
    redact: bool | Redactor = True
    """Redact credentials from every entry before it is stored (on by default).

    ``True`` uses the built-in rules, a :class:`~threadline.Redactor` customises them,
    ``False`` stores text as is. The running turn always uses the original text; what is
    stored, and so what a later resume sends, is the redacted text.
    """
    session_store: SessionStore | None = None
    compact_threshold_tokens: int | None = None
    """Compact automatically once a request's input tokens reach this (None: never).

    See ``docs/long-lived-sessions.md``; ``AgentClient.compact()`` compacts on demand."""

    # -- the rest of the official fields (see the module docstring) ----------------------
    fallback_model: str | None = None
    permission_prompt_tool_name: str | None = None
    cli_path: str | Path | None = None
    settings: str | None = None
    add_dirs: list[str | Path] = field(default_factory=list)
    extra_args: dict[str, str | None] = field(default_factory=dict)
    max_buffer_size: int | None = None
    debug_stderr: Any = sys.stderr
    stderr: Any = None
    user: str | None = None
    include_hook_events: bool = False
    forward_subagent_text: bool = False
    verbatim_prompts: bool = False
    agents: Mapping[str, Any] | None = None
    setting_sources: list[str] | None = None
    skills: list[str] | str | None = None
    plugins: list[Any] = field(default_factory=list)
    strict_mcp_config: bool = False
    max_budget_usd: float | None = None
    output_format: Mapping[str, Any] | None = None
    enable_file_checkpointing: bool = False
    session_store_flush: str = "batched"
    load_timeout_ms: int = 60_000
    resume_drops_turn: str | None = None
    task_budget: Mapping[str, Any] | None = None
    client_app: str | None = None

    def __post_init__(self) -> None:
        _check_values(self)

    def env_value(self, name: str) -> str | None:
        """``name`` from ``env`` first, then the process environment (empty = unset)."""
        value = self.env.get(name) or os.environ.get(name)
        return value or None


ClaudeAgentOptions = AgentOptions

HOOK_EVENTS = frozenset(
    {
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "UserPromptSubmit",
        "Stop",
        "SubagentStart",
        "SubagentStop",
        "PreCompact",
        "Notification",
        "PermissionRequest",
        "SessionStart",
        "SessionEnd",
    }
)
"""Hook event names ``AgentOptions.hooks`` accepts (the official ones and Claude Code's)."""

_PERMISSION_MODES: tuple[str, ...] = get_args(PermissionMode)
_EFFORTS = ("low", "medium", "high", "xhigh", "max")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(o: AgentOptions, name: str, *, minimum: int = 1) -> None:
    value = getattr(o, name)
    if value is not None and (not _is_int(value) or value < minimum):
        raise UserError(f"AgentOptions.{name} must be an int >= {minimum} or None, not {value!r}")


def _names(o: AgentOptions, name: str, *, mapping_ok: bool = False) -> None:
    value = getattr(o, name)
    if value is None or (mapping_ok and isinstance(value, Mapping)):
        return
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise UserError(
            f"AgentOptions.{name} must be a list of names (e.g. [{'Read'!r}, {'Bash'!r}]), "
            f"not {value!r}"
        )
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise UserError(f"AgentOptions.{name} must hold strings, not {bad[0]!r}")


def _check_hooks(hooks: object) -> None:
    if hooks is None:
        return
    if not isinstance(hooks, Mapping):
        raise UserError(
            f"AgentOptions.hooks must map event names to HookMatcher lists, not {hooks!r}"
        )
    for event, matchers in hooks.items():
        if event not in HOOK_EVENTS:
            # accepted as the official SDK accepts it (the CLI knows more events); never fired
            warnings.warn(
                f"AgentOptions.hooks: threadline never fires hook event {event!r}; its "
                f"callbacks are passed over (known: {', '.join(sorted(HOOK_EVENTS))})",
                UserWarning,
                stacklevel=4,
            )
            continue
        if isinstance(matchers, (str, bytes)) or not isinstance(matchers, (list, tuple)):
            raise UserError(
                f"AgentOptions.hooks[{event!r}] must be a list of HookMatcher, not {matchers!r}"
            )
        for m in matchers:
            callbacks = getattr(m, "hooks", None)
            if not isinstance(callbacks, (list, tuple)) or not all(
                callable(cb) for cb in callbacks
            ):
                raise UserError(
                    f"AgentOptions.hooks[{event!r}] must hold HookMatcher(matcher=..., "
                    f"hooks=[async callbacks]), not {m!r}"
                )
            matcher = getattr(m, "matcher", None)
            if matcher is not None and not isinstance(matcher, str):
                raise UserError(
                    f"AgentOptions.hooks[{event!r}]: HookMatcher.matcher must be a str or None, "
                    f"not {matcher!r}"
                )


def _check_values(o: AgentOptions) -> None:
    """Reject values no run could use (types and ranges); raised at construction."""
    _check_scalars(o)
    _check_shapes(o)
    _check_plugged(o)
    _check_limits(o)
    _check_process(o)
    check_output_format(o.output_format)
    _check_provider(o.provider)


def _check_scalars(o: AgentOptions) -> None:
    """Modes, numbers, names and plain strings."""
    if o.permission_mode is not None and o.permission_mode not in _PERMISSION_MODES:
        raise UserError(
            f"Unknown permission_mode {o.permission_mode!r}: use one of "
            + ", ".join(repr(m) for m in _PERMISSION_MODES)
        )
    _positive(o, "max_turns")
    _positive(o, "max_tokens")
    _positive(o, "compact_threshold_tokens")
    _positive(o, "max_thinking_tokens", minimum=0)
    _names(o, "allowed_tools")
    _names(o, "disallowed_tools")
    _names(o, "betas")
    _names(o, "tools", mapping_ok=True)
    if o.cwd is not None and not isinstance(o.cwd, (str, os.PathLike)):
        raise UserError(f"AgentOptions.cwd must be a path, not {o.cwd!r}")
    if not isinstance(o.env, Mapping):
        raise UserError(f"AgentOptions.env must be a dict of variables, not {o.env!r}")
    for name in ("resume", "session_id", "resume_session_at", "model"):
        value = getattr(o, name)
        if value is not None and not isinstance(value, str):
            raise UserError(f"AgentOptions.{name} must be a str or None, not {value!r}")
    if o.effort is not None and o.effort not in _EFFORTS:
        raise UserError(
            f"Unknown effort {o.effort!r}: use one of " + ", ".join(repr(e) for e in _EFFORTS)
        )


def _check_shapes(o: AgentOptions) -> None:
    """Callbacks and the dict-shaped settings."""
    if o.can_use_tool is not None and not callable(o.can_use_tool):
        raise UserError(
            f"AgentOptions.can_use_tool must be an async callable "
            f"(tool_name, input, context) -> PermissionResult, not {o.can_use_tool!r}"
        )
    _check_hooks(o.hooks)
    if not isinstance(o.mcp_servers, (Mapping, str, os.PathLike)):
        raise UserError(
            "AgentOptions.mcp_servers must map server names to configs, or be a path to / "
            f"the text of an MCP JSON config, not {o.mcp_servers!r}"
        )
    if o.system_prompt is not None and not isinstance(o.system_prompt, (str, Mapping)):
        raise UserError(
            "AgentOptions.system_prompt must be a str or a dict such as "
            f"{{'type': 'preset', 'preset': 'claude_code'}}, not {o.system_prompt!r}"
        )
    if o.thinking is not None and not isinstance(o.thinking, Mapping):
        raise UserError(
            "AgentOptions.thinking must be a dict such as "
            f"{{'type': 'enabled', 'budget_tokens': 4096}}, not {o.thinking!r}"
        )
    if not isinstance(o.redact, bool):
        from ..privacy import Redactor

        if not isinstance(o.redact, Redactor):
            raise UserError(
                f"AgentOptions.redact must be True, False or a Redactor, not {o.redact!r}"
            )


def _check_plugged(o: AgentOptions) -> None:
    """The objects a caller plugs in: the session store and the subagent definitions."""
    store = o.session_store
    if store is not None and not (
        callable(getattr(store, "append", None)) and callable(getattr(store, "load", None))
    ):
        raise UserError(
            "AgentOptions.session_store must be a SessionStore (with async append() and "
            f"load()), not {store!r}"
        )
    if o.agents is not None:
        if not isinstance(o.agents, Mapping):
            raise UserError(
                f"AgentOptions.agents must map names to AgentDefinition, not {o.agents!r}"
            )
        for name, definition in o.agents.items():
            if not isinstance(definition, Mapping) and not hasattr(definition, "prompt"):
                raise UserError(
                    f"AgentOptions.agents[{name!r}] must be an AgentDefinition(description=..., "
                    f"prompt=...), not {definition!r}"
                )


def _check_provider(provider: object) -> None:
    """A name in the provider registry, or an object with the Provider protocol."""
    if isinstance(provider, str) and provider not in provider_names():
        names = ", ".join(repr(n) for n in provider_names())
        raise UserError(
            f"Unknown provider {provider!r}: use one of {names}, a Provider instance, "
            "or register_provider()"
        )
    if (
        provider is not None
        and not isinstance(provider, str)
        and not callable(getattr(provider, "stream", None))
    ):
        raise UserError(
            f"AgentOptions.provider must be a registered name or a Provider, not {provider!r}"
        )


def _check_limits(o: AgentOptions) -> None:
    """Budgets, fallback model, timeouts and identifiers (see ``docs/limits.md``)."""
    budget = o.max_budget_usd
    if budget is not None and (
        not isinstance(budget, (int, float))
        or isinstance(budget, bool)
        or not math.isfinite(budget)
        or budget < 0
    ):
        raise UserError(
            f"AgentOptions.max_budget_usd must be a number of US dollars >= 0 or None, "
            f"not {budget!r}"
        )
    task = o.task_budget
    if task is not None:
        total = task.get("total") if isinstance(task, Mapping) else None
        if not _is_int(total) or total < 1:  # type: ignore[operator]
            raise UserError(
                f"AgentOptions.task_budget must be {{'total': <tokens, an int >= 1>}}, not {task!r}"
            )
    if o.fallback_model is not None:
        if not isinstance(o.fallback_model, str) or not o.fallback_model:
            raise UserError(
                f"AgentOptions.fallback_model must be a model name, not {o.fallback_model!r}"
            )
        if o.fallback_model == o.model:
            raise UserError(
                "Fallback model cannot be the same as the main model. Please specify a "
                "different model for fallback_model."
            )
    if not _is_int(o.load_timeout_ms) or o.load_timeout_ms < 0:
        raise UserError(
            f"AgentOptions.load_timeout_ms must be an int >= 0 (milliseconds), "
            f"not {o.load_timeout_ms!r}"
        )
    app = o.client_app
    if app is not None and (
        not isinstance(app, str)
        or any(ord(c) > 0xFF or (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in app)
    ):
        raise UserError(
            "AgentOptions.client_app must be a str valid in an HTTP header (no control "
            f"characters, nothing above U+00FF), e.g. 'my-app/1.0.0', not {app!r}"
        )


_EXTRA_ARGS = {
    "replay-user-messages": "each prompt comes back as a UserMessage with its uuid",
    "debug-to-stderr": "threadline's debug log goes to the stderr callback",
}
"""The CLI flags ``extra_args`` may name: the ones with a meaning in-process."""


def _current_user() -> set[str]:
    """The names this process runs as (user name and uid), for ``AgentOptions.user``."""
    import getpass  # (here: only an option that names a user needs it)

    names = {str(os.getuid())} if hasattr(os, "getuid") else set()
    try:
        names.add(getpass.getuser())
    except Exception:  # no name for this uid (containers): the uid still matches
        pass
    return names


def _check_process(o: AgentOptions) -> None:
    """The fields that configured the CLI process (``docs/porting.md``, "No meaning
    in-process"): accepted where threadline does the same, refused where it cannot."""
    for name in ("verbatim_prompts", "forward_subagent_text", "strict_mcp_config"):
        if not isinstance(getattr(o, name), bool):
            raise UserError(f"AgentOptions.{name} must be True or False, not {getattr(o, name)!r}")
    if o.stderr is not None and not callable(o.stderr):
        raise UserError(f"AgentOptions.stderr must be a callable(line: str), not {o.stderr!r}")
    if o.user is not None:
        if not isinstance(o.user, str) or not o.user:
            raise UserError(f"AgentOptions.user must be a user name, not {o.user!r}")
        if o.user not in _current_user():
            raise UserError(
                f"AgentOptions.user={o.user!r}: threadline runs in this process, as "
                f"{' / '.join(sorted(_current_user())) or 'the current user'}; it cannot "
                "switch user (the official SDK starts its CLI as that user). Run the Python "
                "process as that user, or leave user unset."
            )
    if o.session_store_flush not in ("batched", "eager"):
        raise UserError(
            f"AgentOptions.session_store_flush must be 'batched' or 'eager', "
            f"not {o.session_store_flush!r}"
        )
    if not isinstance(o.extra_args, Mapping):
        raise UserError(f"AgentOptions.extra_args must be a dict of flags, not {o.extra_args!r}")
    unknown = sorted(str(k) for k in o.extra_args if k not in _EXTRA_ARGS)
    if unknown:
        known = "; ".join(f"{k!r} ({why})" for k, why in _EXTRA_ARGS.items())
        raise UserError(
            f"AgentOptions.extra_args: threadline has no Claude Code CLI to pass "
            f"{', '.join(repr(k) for k in unknown)} to. Flags with a meaning in-process: {known}"
        )
    if o.max_buffer_size is not None and (not _is_int(o.max_buffer_size) or o.max_buffer_size < 1):
        raise UserError(
            f"AgentOptions.max_buffer_size must be an int >= 1 or None, not {o.max_buffer_size!r}"
        )
    if o.resume_drops_turn is not None:
        if not isinstance(o.resume_drops_turn, str):
            raise UserError(
                f"AgentOptions.resume_drops_turn must be a prompt uuid, not {o.resume_drops_turn!r}"
            )
        if o.resume_session_at is None:
            raise UserError(
                "AgentOptions.resume_drops_turn needs resume_session_at (it names the turn "
                "that truncating resume discards)"
            )


def check_run(o: AgentOptions) -> None:
    """Everything a run checks before it touches a store or a model.

    The value checks again (fields may have been assigned since construction), then the
    combinations and the file system: ``cwd`` must be an existing directory; ``fork_session``
    needs ``resume`` or ``continue_conversation``; ``session_id`` combines with them only
    together with ``fork_session`` (the Claude Code CLI's rule).
    """
    _check_values(o)
    if o.cwd is not None:
        path = Path(o.cwd)
        if not path.exists():
            raise UserError(f"AgentOptions.cwd does not exist: {os.fspath(o.cwd)!r}")
        if not path.is_dir():
            raise UserError(f"AgentOptions.cwd is not a directory: {os.fspath(o.cwd)!r}")
    if o.can_use_tool is not None and o.permission_prompt_tool_name:
        raise UserError(
            "can_use_tool callback cannot be used with permission_prompt_tool_name. "
            "Please use one or the other."
        )
    for d in o.add_dirs:
        if not Path(d).expanduser().is_dir():
            raise UserError(f"AgentOptions.add_dirs: not an existing directory: {os.fspath(d)!r}")
    resuming = o.resume is not None or o.continue_conversation
    if o.fork_session and not resuming:
        raise UserError(
            "fork_session=True needs resume=<session id> or continue_conversation=True "
            "(there is nothing to fork)"
        )
    if o.session_id is not None and resuming and not o.fork_session:
        raise UserError(
            "session_id can be combined with resume/continue_conversation only when "
            "fork_session=True (it names the fork)"
        )
