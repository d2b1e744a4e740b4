"""The interfaces between the agent loop and the steps that work on a running session.

Compaction, file checkpoints and subagents act on a run in progress: they read its history,
call the model through its interruptible stream, persist entries through its store (with
its second-writer check), run its hooks. They used to reach into ``Runtime``'s private
members for that, which tied five modules into one import cycle. They now see the run only
through the protocols here, which :class:`~threadline.runtime._loop.Runtime` implements:

- :class:`RunContext`: what compaction and checkpoints use;
- :class:`AgentParent`: what the ``Agent`` tool adds (where a child's messages and reports
  go, the tools and provider it inherits);
- :class:`ReportQueue` and :class:`Report`: background subagent reports waiting to enter
  the parent's turn (the loop only takes them; who runs the children is not its business);
- :class:`ChildLoop` and :data:`Spawn`: a child run, created by whoever assembled the
  parent (:mod:`threadline.runtime._assemble`), so subagents never import the loop.

Nothing here imports the loop, compaction, checkpoints or subagents.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._messages import Message, StreamEvent, SystemMessage
from ..providers import ModelRequest, ModelResponse, Provider
from ..sessions import SessionStore
from ..tools import Tool, ToolState
from ..transcript._entries import EntryFactory
from ._hooks import HookOutcome
from ._options import AgentOptions
from ._resume import SessionPlan
from ._turn import Spend

__all__ = [
    "AgentParent",
    "Prompt",
    "BeforeTool",
    "ChildLoop",
    "ChildSpec",
    "Report",
    "ReportQueue",
    "RunContext",
    "Spawn",
]

Raw = dict[str, Any]

@dataclass(frozen=True)
class Prompt:
    """One user turn: API content and, optionally, the uuid to record it under."""

    content: str | list[Raw]
    uuid: str | None = None
    fields: Mapping[str, Any] | None = None
    """Extra fields of the prompt entry (a task notification's ``origin``...)."""


BeforeTool = Callable[[str, Raw], Awaitable[None]]
"""Called with (tool name, final input) right before an allowed tool call runs."""


class RunContext(Protocol):
    """One open session, as the steps that work on it see it."""

    history: list[Raw]
    """The API messages the next request sends."""
    leaf: str | None
    """The uuid new entries hang off."""
    last_input_tokens: int | None
    """Input tokens of the last model request (the auto-compaction trigger); None after a
    resume until read from the usage stored with the session's last reply."""
    auto_compact_failed: bool
    """Set when automatic compaction failed: not retried until the next prompt."""
    spend: Spend
    """What the session has cost (compaction and subagents included): ``max_budget_usd``
    and the top-level ``total_cost_usd`` count every model call of the session."""

    @property
    def options(self) -> AgentOptions: ...

    @property
    def plan(self) -> SessionPlan: ...

    @property
    def session_id(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def entries(self) -> EntryFactory:
        """Builds this session's entries (``sessionId``, ``cwd``, ``gitBranch`` filled in)."""
        ...

    @property
    def pending(self) -> list[Raw]:
        """Entries written before the first prompt (a fork's copied history); may be extended."""
        ...

    async def ensure_chain(self) -> list[Raw]:
        """The raw chain since the last compaction (loaded off the event loop if need be)."""
        ...

    def adopt_chain(self, chain: list[Raw], history: list[Raw]) -> None:
        """Replace the chain and the API history (after a compaction)."""
        ...

    async def persist(self, entries: list[Raw]) -> None:
        """Append ``entries`` to the session (second-writer checked) and chain them."""
        ...

    async def hook(self, event: str, extra: Raw, match: str | None = None) -> HookOutcome:
        """Run the ``event`` hooks with this session's common fields plus ``extra``."""
        ...

    def new_request(self) -> ModelRequest:
        """The model request the next step of the turn would send."""
        ...

    def call_model(self, request: ModelRequest) -> AsyncIterator[StreamEvent | ModelResponse]:
        """The provider stream, each read interruptible (ends early once interrupted)."""
        ...

    def transcript_path(self) -> str | None:
        """The session's transcript file when its store keeps local files, else ``None``."""
        ...


class Report(Protocol):
    """A finished background subagent's report, waiting to reach the parent."""

    @property
    def text(self) -> str:
        """The ``<task-notification>`` user content."""
        ...

    @property
    def messages(self) -> list[Message]:
        """The child's messages, delivered with the report."""
        ...

    def system_message(self, session_id: str) -> SystemMessage:
        """The ``system``/``task_notification`` stream message."""
        ...


class ReportQueue(Protocol):
    """Background subagents' reports as the loop sees them."""

    def take(self) -> Sequence[Report]:
        """The reports that arrived since the last call (oldest first)."""
        ...

    def stop(self) -> None:
        """Interrupt the running children (returns at once)."""
        ...


class ChildLoop(Protocol):
    """A subagent's own agent loop."""

    def run_turn(self, prompt: Prompt) -> AsyncGenerator[Message, None]:
        """Run ``prompt`` to its ResultMessage."""
        ...

    def interrupt(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ChildSpec:
    """What a subagent run differs in from its parent."""

    system_prompt: str
    model: str
    max_turns: int | None
    tools: Mapping[str, Tool]
    store: SessionStore | None
    """Where the child's entries go (the parent's sidechain subkey), ``None``: nowhere."""
    effort: str | None = None
    """The agent definition's effort; ``None``: the parent's; ``""``: none sent."""
    permission_mode: str | None = None
    """The mode the child runs in; ``None``: the parent's."""


Spawn = Callable[["AgentParent", ChildSpec], ChildLoop]
"""Creates a child loop of a parent run (given to the ``Agent`` tool by the assembler)."""


class AgentParent(RunContext, Protocol):
    """What the ``Agent`` tool needs from the run that owns it."""

    side_messages: list[Message]
    """Messages to yield after the current tool batch (a foreground child's messages)."""
    after_tools: list[Raw]
    """User content to add after the current tool batch (a report of a child run inline)."""
    tool_state: ToolState | None
    """The session's tool state: children share the sandbox and background shells."""

    @property
    def provider(self) -> Provider: ...

    @property
    def tools(self) -> Mapping[str, Tool]: ...

    def resolve_model(self, name: str) -> str:
        """A model name as it is sent (the CLI's aliases resolved for Anthropic)."""
        ...

    @property
    def before_tool(self) -> BeforeTool | None:
        """The parent's pre-tool step (file checkpoints), shared with its children."""
        ...
