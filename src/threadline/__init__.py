"""threadline: a pure-Python agent SDK whose conversations are durable sessions."""

from __future__ import annotations

from ._exceptions import (
    ConcurrentModificationError as ConcurrentModificationError,
    CorruptTranscriptError as CorruptTranscriptError,
    EmptySessionError as EmptySessionError,
    InvalidSessionIdError as InvalidSessionIdError,
    MessageNotFoundError as MessageNotFoundError,
    ProviderConnectionError as ProviderConnectionError,
    ProviderError as ProviderError,
    ProviderHTTPError as ProviderHTTPError,
    RateLimitError as RateLimitError,
    SessionError as SessionError,
    SessionNotFoundError as SessionNotFoundError,
    StorageError as StorageError,
    ThreadlineError as ThreadlineError,
    ToolError as ToolError,
    UserError as UserError,
)

__version__ = "0.1.0"
