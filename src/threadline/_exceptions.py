"""threadline's one exception tree, rooted in the official SDK's ``ClaudeSDKError``.

Code written for ``claude_agent_sdk`` catches the official classes; every one of them is
here, with the official constructor, so ``except ClaudeSDKError`` catches every error
threadline raises on purpose and ``except X`` catches what the official SDK raises as ``X``
in the same situation. threadline's own classes sit under ``ThreadlineError`` and also
derive from the built-in the official session functions raise (``ValueError``,
``FileNotFoundError``), so both spellings of a handler work.

::

    ClaudeSDKError                              official base
    └── ThreadlineError                         every error threadline raises on purpose
        ├── CLIConnectionError                  official: a client used before connect()
        │   └── CLINotFoundError                official; never raised (no CLI in-process)
        ├── ProcessError                        official; only as the base of ResultError
        │   └── ResultError                     query() ended on an error result (max_turns,
        │                                       budget, API error, unknown resume)
        ├── CLIJSONDecodeError                  official; never raised (no CLI output to parse)
        ├── MessageParseError                   official (not exported there): a malformed message
        ├── UserError (ValueError)              misuse: bad arguments, bad options
        │   └── InvalidSessionIdError           not a UUID, or a path-traversal attempt
        ├── SessionError
        │   ├── CompactionError                 compaction failed; the session is unchanged
        │   ├── SessionNotFoundError            no transcript for that id
        │   │   │   (FileNotFoundError, LookupError)
        │   │   └── ResumeNotFoundError         ``resume`` names no session (also a ResultError,
        │   │                                   as the official SDK raises there)
        │   ├── EmptySessionError (ValueError)  the session has no messages
        │   └── MessageNotFoundError            ``up_to_message_id`` / ``resume_session_at`` absent
        │       (ValueError, LookupError)
        ├── StorageError                        a store failed (driver errors are chained)
        │   ├── ConcurrentModificationError     a second writer changed the session
        │   ├── CorruptTranscriptError          a transcript cannot be read at all
        │   └── DecryptionError                 wrong/unknown key or tampered ciphertext
        ├── ProviderError                       the model API failed
        │   ├── ProviderConnectionError         network failure / dropped stream
        │   └── ProviderHTTPError               non-2xx answer (``status_code``, ``retryable``)
        │       └── RateLimitError              429 / 529 after retries
        └── ToolError                           a tool failed in a way the model must not see

    CanUseToolShadowedWarning (UserWarning)     official: ``can_use_tool`` will not be asked
                                                for some calls (``allowed_tools`` / bypass mode)

Driver and HTTP-client errors are translated at the boundary and re-raised ``from`` the
original, so the cause is never lost. Messages keep the official wording where programs
may match on it (``Invalid session_id: ...``, ``Session ... not found``, ``Claude Code
returned an error result: ...``) and add where threadline looked or what to do.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CLIConnectionError",
    "CLIJSONDecodeError",
    "CLINotFoundError",
    "CanUseToolShadowedWarning",
    "ClaudeSDKError",
    "CompactionError",
    "ConcurrentModificationError",
    "CorruptTranscriptError",
    "DecryptionError",
    "EmptySessionError",
    "InvalidSessionIdError",
    "MessageNotFoundError",
    "MessageParseError",
    "ProcessError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "RateLimitError",
    "ResultError",
    "ResumeNotFoundError",
    "SessionError",
    "SessionNotFoundError",
    "StorageError",
    "ThreadlineError",
    "ToolError",
    "UserError",
    "result_error_text",
]


# -- the official classes (claude_agent_sdk._errors, 0.2.187) ---------------------------------


class ClaudeSDKError(Exception):
    """Base exception for all Claude SDK errors (the official root of the tree)."""


class ThreadlineError(ClaudeSDKError):
    """Base class of every error threadline raises on purpose."""


class CLIConnectionError(ThreadlineError):
    """The client is not connected (``query()`` / ``receive_*()`` before ``connect()``)."""


class CLINotFoundError(CLIConnectionError):
    """Official: the Claude Code CLI is missing. threadline runs in-process and never raises it."""

    def __init__(self, message: str = "Claude Code not found", cli_path: str | None = None):
        if cli_path:
            message = f"{message}: {cli_path}"
        super().__init__(message)


class ProcessError(ThreadlineError):
    """Official: the CLI process failed. In-process, only :class:`ResultError` is raised."""

    def __init__(self, message: str, exit_code: int | None = None, stderr: str | None = None):
        self.exit_code = exit_code
        self.stderr = stderr
        if exit_code is not None:
            message = f"{message} (exit code: {exit_code})"
        if stderr:
            message = f"{message}\nError output: {stderr}"
        super().__init__(message)


def _clean_errors(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    elif not isinstance(raw, list):
        return []
    return [e.strip() for e in raw if isinstance(e, str) and e.strip()]


def result_error_text(data: dict[str, Any]) -> str:
    """The most informative text of an error result (``errors``, else ``result``, ...)."""
    errors = _clean_errors(data.get("errors"))
    if errors:
        return "; ".join(errors)
    result = data.get("result")
    if isinstance(result, str) and result.strip():
        return result.strip()
    subtype = data.get("subtype")
    if isinstance(subtype, str) and subtype and subtype != "success":
        return subtype
    status = data.get("api_error_status")
    if status is not None:
        return f"API error (HTTP {status})"
    return "unknown error"


class ResultError(ProcessError):
    """A run ended on an error result; raised by ``query()`` after yielding that ResultMessage.

    As in the official SDK: raised when the *last* result of a ``query()`` run has
    ``is_error`` (``error_max_turns``, ``error_max_budget_usd``, ``error_during_execution``,
    an API error reported as ``subtype="success"``), and by ``connect()`` / ``query()`` for
    a ``resume`` id that names no session. ``ClaudeSDKClient`` turns do not raise it (the
    official client does not either); read ``ResultMessage.is_error`` there.

    Attributes (as official): ``subtype``, ``errors``, ``result``, ``api_error_status``,
    ``terminal_reason``, ``session_id``, ``data`` (the result in its wire form) and
    ``exit_code`` (1, the code the CLI exits with).
    """

    def __init__(
        self, message: str, data: dict[str, Any] | None = None, exit_code: int | None = None
    ):
        data = data if isinstance(data, dict) else {}
        self.data = data
        subtype = data.get("subtype")
        self.subtype: str | None = subtype if isinstance(subtype, str) else None
        self.errors: list[str] = _clean_errors(data.get("errors"))
        result = data.get("result")
        self.result: str | None = result if isinstance(result, str) else None
        status = data.get("api_error_status")
        self.api_error_status: int | None = status if isinstance(status, int) else None
        reason = data.get("terminal_reason")
        self.terminal_reason: str | None = reason if isinstance(reason, str) else None
        session_id = data.get("session_id")
        self.session_id: str | None = session_id if isinstance(session_id, str) else None
        super().__init__(message, exit_code=exit_code)

    @classmethod
    def from_result(cls, data: dict[str, Any]) -> ResultError:
        """The error the official SDK raises for this result (wire-form dict)."""
        text = result_error_text(data)
        return cls(f"Claude Code returned an error result: {text}", data=data, exit_code=1)


class CLIJSONDecodeError(ThreadlineError):
    """Official: a line of CLI output was not JSON. Never raised in-process."""

    def __init__(self, line: str, original_error: Exception):
        self.line = line
        self.original_error = original_error
        super().__init__(f"Failed to decode JSON: {line[:100]}...")


class MessageParseError(ThreadlineError):
    """A message dict could not be parsed (official ``claude_agent_sdk._errors``)."""

    def __init__(self, message: str, data: dict[str, Any] | None = None):
        self.data = data
        super().__init__(message)


class CanUseToolShadowedWarning(UserWarning):
    """``can_use_tool`` is set but some tool calls are allowed before it is asked.

    Emitted by ``query()`` / ``connect()`` when ``allowed_tools`` allows a whole tool or
    ``permission_mode="bypassPermissions"``; silence it with
    ``warnings.filterwarnings("ignore", category=CanUseToolShadowedWarning)``.
    """


# -- threadline's own classes -------------------------------------------------------------------


class UserError(ThreadlineError, ValueError):
    """The caller passed something threadline cannot accept."""


class InvalidSessionIdError(UserError):
    """A session id is not a canonical UUID (this also blocks path traversal)."""

    def __init__(self, session_id: object, what: str = "session_id") -> None:
        self.session_id = session_id
        # The official wording ("Invalid session_id: <id>"); repr() when the value could
        # carry control characters or is not a string, so nothing reaches a terminal raw.
        shown = (
            session_id
            if isinstance(session_id, str) and session_id.isprintable() and len(session_id) <= 200
            else repr(session_id)
        )
        super().__init__(
            f"Invalid {what}: {shown} (expected a UUID such as "
            "'123e4567-e89b-12d3-a456-426614174000')"
        )


class SessionError(ThreadlineError):
    """A session-level failure."""


class CompactionError(SessionError):
    """A compaction could not be done; the session is unchanged and still usable."""


class SessionNotFoundError(SessionError, FileNotFoundError, LookupError):
    """No transcript exists for a session id (where threadline looked is in the message).

    A ``FileNotFoundError``, as the official session functions raise for a missing session
    (``rename_session``, ``tag_session``, ``delete_session``, ``fork_session``, ...).
    """

    def __init__(self, session_id: str, where: str = "") -> None:
        self.session_id = session_id
        self.where = where
        msg = f"Session {session_id} not found"
        if where:
            msg += f" {where}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.session_id, self.where))


class ResumeNotFoundError(SessionNotFoundError, ResultError):  # type: ignore[misc]  # session_id: str here
    """``resume`` names no session: a :class:`SessionNotFoundError` and the official ``ResultError``.

    The official SDK reports an unknown ``resume`` id as an error result
    (``subtype="error_during_execution"``, ``errors=["No conversation found with session
    ID: <id>"]``) raised as ``ResultError`` from ``connect()`` / ``query()``; this error
    carries the same attributes.
    """

    def __init__(self, session_id: str, where: str = "") -> None:
        text = f"No conversation found with session ID: {session_id}"
        data: dict[str, Any] = {
            "type": "result",
            "subtype": "error_during_execution",
            "is_error": True,
            "num_turns": 0,
            "session_id": session_id,
            "errors": [text],
        }
        ResultError.__init__(self, "", data=data, exit_code=1)
        self.session_id = session_id
        self.where = where
        message = f"{text}: session not found"
        if where:
            message += f" {where}"
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


class EmptySessionError(SessionError, ValueError):
    """The session exists but holds nothing usable (for example nothing to fork).

    A ``ValueError``, as the official ``fork_session`` raises ("has no messages to fork").
    """


class MessageNotFoundError(SessionError, ValueError, LookupError):
    """A message uuid was not found in a session.

    A ``ValueError``, as the official ``fork_session`` raises for an ``up_to_message_id``
    that is not in the session.
    """


class StorageError(ThreadlineError):
    """A session store failed; the driver error is chained as ``__cause__``."""


class ConcurrentModificationError(StorageError):
    """Another writer appended to the session since we last read it."""

    def __init__(
        self, message: str, *, expected: str | None = None, actual: str | None = None
    ) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class CorruptTranscriptError(StorageError):
    """A transcript could not be read at all (not a skipped bad line: those are tolerated)."""


class DecryptionError(StorageError):
    """An encrypted entry could not be opened: unknown key, wrong key, or tampered data.

    Nothing is returned in that case (never partial or garbled entries) and
    nothing is written: the stored data stays as it was, so opening the store
    again with the right key gets every entry back.
    """

    def __init__(self, message: str, *, key_id: str | None = None) -> None:
        self.key_id = key_id
        super().__init__(message)


class ProviderError(ThreadlineError):
    """The model provider failed."""


class ProviderConnectionError(ProviderError):
    """The connection failed or the stream was cut."""


class ProviderHTTPError(ProviderError):
    """The provider answered with an error status."""

    def __init__(
        self, message: str, *, status_code: int, retryable: bool = False, body: object = None
    ) -> None:
        self.status_code = status_code
        self.retryable = retryable
        self.body = body
        super().__init__(message)


class RateLimitError(ProviderHTTPError):
    """429 (rate limited) or 529 (overloaded), still failing after the retries."""


class ToolError(ThreadlineError):
    """A tool failed in a way that must stop the run."""
