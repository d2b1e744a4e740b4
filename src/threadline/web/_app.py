"""The ASGI app: pages, static assets and the JSON API over one source.

Pages are one HTML shell (``static/index.html``) whose script draws the page the URL
names; assets ship in the wheel (no CDN, nothing fetched from elsewhere).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .._exceptions import ThreadlineError
from ..sessions._url import mask_credentials
from ._api import JSON, Api, error_status
from ._guard import Guard, GuardConfig
from ._source import Source

__all__ = ["STATIC", "create_app"]

log = logging.getLogger("threadline.web")
STATIC = Path(__file__).parent / "static"
_PAGES = ("/", "/s/{sid}", "/s/{sid}/tree", "/s/{sid}/usage", "/diff", "/trash")


async def _page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


def _guarded(handler: Any) -> Any:
    async def run(request: Request) -> Response:
        try:
            response: Response = await handler(request)
            return response
        except (ThreadlineError, ValueError, LookupError) as exc:
            status = error_status(exc)
            if status == 500:
                log.exception("request failed: %s", request.url.path)
            text = mask_credentials(str(exc))  # a store URL in an error: never its password
            return JSON({"error": text, "status": status}, status_code=status)

    return run


def create_app(
    source: Source,
    *,
    allow_writes: bool = False,
    token: str | None = None,
    allowed_hosts: set[str] | None = None,
    close_source: bool = True,
) -> Guard:
    """The app serving ``source`` (long only because it holds the route table).

    Args:
        source: a :class:`FileSource` or :class:`StoreSource`.
        allow_writes: enable rename, tag, fork, delete and restore (CSRF-protected).
        token: require this access token on every request (see :mod:`._guard`).
        allowed_hosts: serve only these ``Host`` values (``host:port``, lower case).
        close_source: close the source when the app shuts down.
    """
    guard = GuardConfig(
        token=token,
        allowed_hosts=allowed_hosts,
        allow_writes=allow_writes,
        csrf=secrets.token_urlsafe(32),
    )
    api = Api(source, guard)
    g = _guarded
    routes = [
        Route("/api/info", g(api.info)),
        Route("/api/sessions", g(api.sessions)),
        Route("/api/sessions/{sid}", g(api.session)),
        Route("/api/sessions/{sid}/messages", g(api.messages)),
        Route("/api/sessions/{sid}/entries/{uuid}", g(api.entry)),
        Route("/api/sessions/{sid}/image/{uuid}/{path:path}", g(api.image)),
        Route("/api/sessions/{sid}/tree", g(api.tree)),
        Route("/api/sessions/{sid}/usage", g(api.usage)),
        Route("/api/sessions/{sid}/subagents", g(api.subagents)),
        Route("/api/sessions/{sid}/subagents/{aid}", g(api.subagent)),
        Route("/api/search", g(api.search)),
        Route("/api/diff", g(api.diff)),
        Route("/api/trash", g(api.trash)),
        Route("/api/sessions/{sid}/rename", g(api.rename), methods=["POST"]),
        Route("/api/sessions/{sid}/tag", g(api.tag), methods=["POST"]),
        Route("/api/sessions/{sid}/fork", g(api.fork), methods=["POST"]),
        Route("/api/sessions/{sid}/delete", g(api.delete), methods=["POST"]),
        Route("/api/trash/{sid}/restore", g(api.restore), methods=["POST"]),
        Route("/api/{rest:path}", _not_found),
        *[Route(p, _page) for p in _PAGES],
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_source:
                await source.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.api = api
    return Guard(app, guard)


async def _not_found(request: Request) -> Response:
    return JSON({"error": f"no API route {request.url.path}", "status": 404}, status_code=404)
