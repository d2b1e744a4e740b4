"""Errors of the privacy wrappers: :class:`DecryptionError` lives in the one exception tree."""

from __future__ import annotations

from .._exceptions import DecryptionError as DecryptionError

__all__ = ["DecryptionError"]
