"""threadline's one exception tree.

::

    ThreadlineError
    ├── UserError (ValueError)               misuse: bad arguments, bad options
    │   └── InvalidSessionIdError            not a UUID, or a path-traversal attempt
    ├── SessionError
    │   ├── CompactionError                     compaction failed; the session is unchanged
    │   ├── SessionNotFoundError (LookupError)  no transcript for that id
    │   ├── EmptySessionError                   the session has no messages
    │   └── MessageNotFoundError (LookupError)  ``up_to_message_id`` / ``resume_session_at`` absent
    ├── StorageError                         a store failed (driver errors are chained)
    │   ├── ConcurrentModificationError      a second writer changed the session
    │   ├── CorruptTranscriptError           a transcript cannot be read at all
    │   └── DecryptionError                  wrong/unknown key or tampered ciphertext
    ├── ProviderError                        the model API failed
    │   ├── ProviderConnectionError          network failure / dropped stream
    │   └── ProviderHTTPError                non-2xx answer (``status_code``, ``retryable``)
    │       └── RateLimitError               429 / 529 after retries
    └── ToolError                            a tool failed in a way the model must not see

Driver and HTTP-client errors are translated at the boundary and re-raised
``from`` the original, so the cause is never lost.
"""

from __future__ import annotations

__all__ = [
    "CompactionError",
    "ConcurrentModificationError",
    "CorruptTranscriptError",
    "DecryptionError",
    "EmptySessionError",
    "InvalidSessionIdError",
    "MessageNotFoundError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "RateLimitError",
    "SessionError",
    "SessionNotFoundError",
    "StorageError",
    "ThreadlineError",
    "ToolError",
    "UserError",
]


class ThreadlineError(Exception):
    """Base class of every error threadline raises on purpose."""


class UserError(ThreadlineError, ValueError):
    """The caller passed something threadline cannot accept."""


class InvalidSessionIdError(UserError):
    """A session id is not a canonical UUID (this also blocks path traversal)."""

    def __init__(self, session_id: object, what: str = "session_id") -> None:
        self.session_id = session_id
        super().__init__(
            f"Invalid {what}: {session_id!r} (expected a UUID such as "
            "'123e4567-e89b-12d3-a456-426614174000')"
        )


class SessionError(ThreadlineError):
    """A session-level failure."""


class CompactionError(SessionError):
    """A compaction could not be done; the session is unchanged and still usable."""


class SessionNotFoundError(SessionError, LookupError):
    """No transcript exists for a session id (where threadline looked is in the message)."""

    def __init__(self, session_id: str, where: str = "") -> None:
        self.session_id = session_id
        self.where = where
        msg = f"Session {session_id} not found"
        if where:
            msg += f" {where}"
        super().__init__(msg)


class EmptySessionError(SessionError):
    """The session exists but holds nothing usable (for example nothing to fork)."""


class MessageNotFoundError(SessionError, LookupError):
    """A message uuid was not found in a session."""


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
