"""Hostile transcripts in ``threadline serve``: deep nesting, and images (findings 10, 11)."""

from __future__ import annotations

import base64
from pathlib import Path

from threadline.web._guard import CSP

from . import _sessions
from .conftest import make_client


def _nested(depth: int) -> str:
    """A marker the file gets ``depth`` levels of nesting in place of (no encoder recurses)."""
    return f"__DEEP_{depth}__"


def _nested_text(depth: int) -> str:
    opens, closes = [], []
    for i in range(depth):
        opens.append("[" if i % 2 else '{"k":')
        closes.append("]" if i % 2 else "}")
    return "".join(reversed(opens)) + '"bottom"' + "".join(closes)


def _deep_session(config: Path) -> tuple[str, list[str]]:
    w = _sessions.Writer()
    uuids = [w.user("go deep")]
    for depth in (200, 600, 990, 1100, 5000):
        uuids.append(w.assistant([
            {"type": "text", "text": f"depth {depth}"},
            {"type": "tool_use", "id": f"toolu_{depth}", "name": "Mystery", "input": {"x": _nested(depth)}},
        ]))
        uuids.append(w.user([
            {"type": "tool_result", "tool_use_id": f"toolu_{depth}", "content": [_nested(depth)]},
        ]))
        uuids.append(w.user([{"type": "mystery", "payload": _nested(depth)}]))
    w.text("made it to the end")
    path = w.write(config)
    text = path.read_text()
    for depth in (200, 600, 990, 1100, 5000):
        text = text.replace(f'"{_nested(depth)}"', _nested_text(depth))
    path.write_text(text)
    return w.sid, uuids


def test_deeply_nested_entries_render(tmp_path: Path) -> None:
    writable_config = tmp_path / "config"
    sid, uuids = _deep_session(writable_config)
    with make_client(writable_config) as c:
        c.raise_server_exceptions = False  # type: ignore[attr-defined]
        for url in (
            "/api/sessions",
            f"/api/sessions/{sid}",
            f"/api/sessions/{sid}/messages?limit=500",
            f"/api/sessions/{sid}/tree",
            f"/api/sessions/{sid}/usage",
            f"/api/sessions/{sid}/subagents",
            "/api/search?q=bottom",
            "/api/search?q=made+it",
            *[f"/api/sessions/{sid}/entries/{u}" for u in uuids],
        ):
            r = c.get(url)
            assert r.status_code in (200, 404), (url, r.status_code, r.text[:300])
        page = c.get(f"/api/sessions/{sid}/messages?limit=500").text
        assert "made it to the end" in page


def test_images_raster_only_and_no_external_loads() -> None:
    csp = dict(
        part.strip().split(" ", 1) for part in CSP.split(";") if part.strip()
    )
    for directive in ("img-src", "default-src", "connect-src", "media-src", "font-src"):
        sources = csp.get(directive, csp["default-src"])
        for bad in ("data:", "http:", "https:", "*", "blob:"):
            assert bad not in sources.split(), (directive, sources)
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"


def test_svg_image_is_not_served(tmp_path: Path) -> None:
    writable_config = tmp_path / "config"
    w = _sessions.Writer()
    svg = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>").decode()
    html = base64.b64encode(b"<html><script>alert(1)</script></html>").decode()
    u1 = w.user([{"type": "image", "source": {"type": "base64", "media_type": "image/svg+xml", "data": svg}}])
    u2 = w.user([{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": html}}])
    u3 = w.user([{"type": "image", "source": {"type": "url", "url": "https://evil.example/x.png"}}])
    w.write(writable_config)
    with make_client(writable_config) as c:
        assert c.get(f"/api/sessions/{w.sid}/image/{u1}/0").status_code == 404
        assert c.get(f"/api/sessions/{w.sid}/image/{u3}/0").status_code == 404
        r = c.get(f"/api/sessions/{w.sid}/image/{u2}/0")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert "sandbox" in r.headers["content-security-policy"]
        messages = c.get(f"/api/sessions/{w.sid}/messages").text
        assert "evil.example/x.png" not in messages or "src" not in messages
