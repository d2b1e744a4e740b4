"""``AgentOptions`` (alias ``ClaudeAgentOptions``): every knob of a run, keyword-only.

Field names are the official SDK's, so ``ClaudeAgentOptions(...)`` calls written for
``claude_agent_sdk`` construct unchanged. Fields that configure the Claude Code CLI
process itself have no meaning in-process; they are accepted and ignored:

``cli_path``, ``settings``, ``add_dirs``, ``extra_args`` (except ``replay-user-messages``,
which makes each prompt come back as a ``UserMessage`` with its uuid), ``max_buffer_size``,
``debug_stderr``, ``stderr``, ``user``, ``include_hook_events``, ``forward_subagent_text``,
``verbatim_prompts`` (prompts are always delivered verbatim), ``setting_sources`` (no settings files are read), ``skills``, ``sandbox``,
``plugins``, ``permission_prompt_tool_name``, ``strict_mcp_config`` (only ``mcp_servers``
is ever used), ``fallback_model``, ``betas`` (sent as ``anthropic-beta``),
``session_store_flush`` (every step is appended
as it happens), ``load_timeout_ms``, ``resume_drops_turn``, ``task_budget``,
``client_app``, ``output_format``, ``max_budget_usd``.

Long-lived sessions (``docs/long-lived-sessions.md``): ``agents`` (subagents through the
``Agent`` tool), ``enable_file_checkpointing`` (``AgentClient.rewind_files``) and the
threadline addition ``compact_threshold_tokens`` (automatic compaction).

threadline additions: ``persist_session`` (False: nothing is written anywhere), ``redact``
(credentials are redacted before anything is stored; on by default),
``api_key`` / ``base_url`` (default ``ANTHROPIC_API_KEY`` / ``ANTHROPIC_BASE_URL``, or
``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` for the OpenAI-compatible provider, looked up in
``env`` first, then the process environment), ``retry_policy`` and ``provider``.

Provider selection (``provider``): a ready :class:`~threadline.providers.Provider` is used
as is; ``"anthropic"`` or ``"openai"`` picks that API; unset, it is Anthropic when
``ANTHROPIC_API_KEY`` or ``ANTHROPIC_AUTH_TOKEN`` is configured, else OpenAI-compatible
when ``OPENAI_BASE_URL`` or ``OPENAI_API_KEY`` is, else Anthropic (which then asks for a
key). The OpenAI-compatible provider needs a ``model`` (or ``OPENAI_MODEL``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._hooks import HookMatcher
from ._permissions import CanUseTool, PermissionMode
from .providers._retry import RetryPolicy

if TYPE_CHECKING:
    from .privacy import Redactor
    from .providers._base import Provider
    from .sessions import SessionStore

__all__ = ["DEFAULT_MODEL", "AgentOptions", "ClaudeAgentOptions"]

DEFAULT_MODEL = "claude-opus-5-5"
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
    provider: Provider | Literal["anthropic", "openai"] | None = None
    """A ready :class:`~threadline.providers.Provider` (overrides api_key/base_url), or the
    name of the API to use; see the module docstring for the rule when unset."""

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

    # -- accepted for compatibility, ignored (see the module docstring) -----------------
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
    sandbox: Mapping[str, Any] | None = None
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

    def env_value(self, name: str) -> str | None:
        """``name`` from ``env`` first, then the process environment (empty = unset)."""
        value = self.env.get(name) or os.environ.get(name)
        return value or None


ClaudeAgentOptions = AgentOptions
