"""The wire client's ``httpx2`` side: the full client, and taking over from the direct path.

:mod:`threadline.providers._anthropic_wire` posts through ``httpcore2`` alone when that is
provably what ``httpx2`` would send (see its docstring); this module, imported only when
``httpx2`` is needed, holds everything that needs it:

- :func:`http_client`: the ``httpx2.AsyncClient`` of the ``anthropic`` SDK's default
  settings, used from the start when the direct path does not apply (a proxy from the
  environment, another platform, a URL ``httpx2`` would rewrite, non-ASCII headers) and for
  every request after a take-over;
- :func:`adopt`: a reply of the direct path that ``httpx2`` must handle (a redirect, a
  cookie, a content encoding) becomes the ``httpx2.Response`` that ``AsyncClient.send`` would
  have returned for the same request: the same steps, from the transport's wrapping of the
  ``httpcore2`` response on (cookies stored in the client's jar, redirects followed);
- :func:`translate`: an ``httpcore2`` exception becomes the ``httpx2`` exception the
  transport would have raised (same class, message and cause, ``.request`` set).

The take-over uses the client's own redirect steps (``_build_redirect_request``,
``_send_handling_redirects``): ``tests/providers/test_wire_direct.py`` checks the result
against ``httpx2`` itself.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from contextlib import suppress

from ._httpx2 import load

load()  # httpx2 and httpcore2 without importlib.metadata (see _httpx2)

import httpcore2  # noqa: E402
import httpx2  # noqa: E402
from httpx2._client import BoundAsyncStream  # noqa: E402
from httpx2._transports.default import (  # noqa: E402
    AsyncResponseStream,
    map_httpcore_exceptions,
)
from httpx2._utils import get_environment_proxies  # noqa: E402

__all__ = ["adopt", "http_client", "translate"]


def http_client(
    *,
    timeout_s: float,
    verify: ssl.SSLContext | bool,
    follow_redirects: bool,
    socket_options: list[tuple[int, int, int]],
) -> httpx2.AsyncClient:
    """The SDK's default client settings (proxies from the environment included)."""
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
    mounts: dict[str, httpx2.AsyncBaseTransport | None] = {
        key: None
        if proxy is None
        else httpx2.AsyncHTTPTransport(
            proxy=proxy, verify=verify, limits=limits, socket_options=socket_options
        )
        for key, proxy in get_environment_proxies().items()
    }
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(timeout_s),
        limits=limits,
        follow_redirects=follow_redirects,
        mounts=mounts,
        transport=httpx2.AsyncHTTPTransport(
            verify=verify, limits=limits, socket_options=socket_options
        ),
    )


def _request(
    client: httpx2.AsyncClient, url: str, body: bytes, headers: Mapping[str, str]
) -> httpx2.Request:
    return client.build_request("POST", url, content=body, headers=dict(headers))


async def adopt(
    client: httpx2.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    reply: httpcore2.Response,
    start: float,
) -> httpx2.Response:
    """What ``client.send(request, stream=True)`` returns when its transport answered
    ``reply`` (``AsyncHTTPTransport.handle_async_request``, then ``_send_single_request``
    from the response on, then ``_send_handling_redirects``). The log line of
    ``_send_single_request`` was written by the direct path."""
    request = _request(client, url, body, headers)
    response = httpx2.Response(
        status_code=reply.status,
        headers=reply.headers,
        stream=AsyncResponseStream(reply.stream),  # type: ignore[arg-type]
        extensions=reply.extensions,
    )
    response.request = request
    response.stream = BoundAsyncStream(response.stream, start=start)  # type: ignore[arg-type]
    client.cookies.extract_cookies(response)
    response.default_encoding = client._default_encoding
    if not response.has_redirect_location:
        return response
    try:
        if not client.follow_redirects:
            with suppress(httpx2.RemoteProtocolError):
                response.next_request = client._build_redirect_request(request, response)
            return response
        next_request = client._build_redirect_request(request, response)
        await response.aread()
        return await client._send_handling_redirects(
            next_request, follow_redirects=True, history=[response]
        )
    except BaseException:
        await response.aclose()
        raise


def translate(
    exc: BaseException,
    client: httpx2.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
) -> BaseException:
    """The exception ``httpx2``'s transport raises for ``httpcore2``'s ``exc`` (``exc`` itself
    when it maps none), with ``.request`` set as ``AsyncClient.send`` sets it."""
    try:
        with map_httpcore_exceptions():
            raise exc
    except httpx2.RequestError as mapped:
        mapped.request = _request(client, url, body, headers)
        return mapped
    except BaseException as other:  # not an httpcore2 exception the transport maps
        return other
