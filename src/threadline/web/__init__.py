"""``threadline serve``: a local web page to browse, search and compare sessions.

Needs the ``web`` extra (Starlette and uvicorn). :func:`create_app` builds the ASGI app
over a source: :class:`FileSource` (a Claude config dir, including sessions the ``claude``
CLI wrote) or :class:`StoreSource` (any ``SessionStore``). The JSON API it serves under
``/api/`` is documented in ``docs/web.md``.
"""

from __future__ import annotations

from ._app import create_app
from ._guard import is_loopback, loopback_hosts
from ._source import FileSource, Source, StoreSource

__all__ = ["FileSource", "Source", "StoreSource", "create_app", "is_loopback", "loopback_hosts"]
