"""``threadline serve``: a local web page to browse, search and compare sessions.

Starlette and uvicorn come with the ``web`` extra and are imported only when the command
runs, so the rest of the CLI starts as fast without them.
"""

from __future__ import annotations

import socket
import sys
import threading
import webbrowser
from typing import Any

import click

from ._errors import EXIT_UNAVAILABLE, EXIT_USAGE, fail, guarded

__all__ = ["serve_command"]

_EPILOG = """\b
Examples:
  threadline serve                         # ~/.claude (or $CLAUDE_CONFIG_DIR), read-only
  threadline serve --open --allow-writes   # rename, tag, fork, delete from the page
  threadline serve --store sqlite:///var/lib/agents/sessions.db
  threadline serve --store postgresql://db.internal/agents?namespace=prod --host 0.0.0.0
  THREADLINE_ENCRYPTION_KEY=... threadline serve --store encrypted+sqlite:///s.db

\b
Bound to 127.0.0.1 by default (only this machine; requests naming another Host are
refused). Bound to any other address, the page needs the random access token printed
in its URL. The JSON API under /api/ is documented in docs/web.md.
"""


def _web() -> Any:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        fail("threadline serve needs the web extra: pip install 'threadline[web]'", EXIT_UNAVAILABLE)
    from .. import web

    return web


def _source(store_url: str | None, config_dir: str | None, projects: tuple[str, ...]) -> Any:
    web = _web()
    if store_url and config_dir:
        fail("give --store or --config-dir, not both", EXIT_USAGE)
    if store_url:
        from ..privacy._store_url import display_url, store_from_url

        store = store_from_url(store_url)  # encrypted+...: the key from $THREADLINE_ENCRYPTION_KEY
        return web.StoreSource(store, projects=list(projects) or None, label=display_url(store_url))
    if projects:
        fail("--project only applies to --store", EXIT_USAGE)
    return web.FileSource(config_dir)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_USAGE)
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@click.command("serve", epilog=_EPILOG, short_help="Browse, search and compare sessions in a web page.")
@click.option("--store", "store_url", metavar="URL", help="A store URL (sqlite:///, postgresql://, redis://, encrypted+...).")
@click.option("--config-dir", type=click.Path(file_okay=False), help="Claude config dir (default $CLAUDE_CONFIG_DIR or ~/.claude).")
@click.option("--project", "projects", multiple=True, metavar="KEY", help="Project keys to show (stores that cannot list theirs).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--allow-writes", is_flag=True, help="Allow rename, tag, fork, delete and restore from the page.")
@guarded
def serve_command(
    store_url: str | None,
    config_dir: str | None,
    projects: tuple[str, ...],
    host: str,
    port: int,
    open_browser: bool,
    allow_writes: bool,
) -> None:
    """Serve a local web page over your sessions (read-only unless --allow-writes)."""
    import secrets

    import uvicorn

    web = _web()
    source = _source(store_url, config_dir, projects)
    sock = _bind(host, port)
    actual = sock.getsockname()[1]
    loopback = web.is_loopback(host.strip("[]"))
    token = None if loopback else secrets.token_urlsafe(24)
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown}:{actual}/" + (f"?token={token}" if token else "")
    app = web.create_app(
        source,
        allow_writes=allow_writes,
        token=token,
        allowed_hosts=web.loopback_hosts(shown, actual) if loopback else None,
    )
    click.echo(f"threadline serve: {source.label}")
    click.echo(f"  {url}")
    click.echo(f"  {'writes allowed' if allow_writes else 'read-only'}; Ctrl-C to stop")
    if token:
        click.echo("  (bound beyond this machine: the page needs the token in that URL)", err=True)
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    if open_browser:
        threading.Timer(0.5, lambda: webbrowser.open(url)).start()
    server.run(sockets=[sock])
