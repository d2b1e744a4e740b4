"""The app's guard: headers, Host check, access token, CSRF, read-only by default; and the
``threadline serve`` command itself (a real server process on loopback)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from threadline.web import FileSource, create_app

from .conftest import BASE, WebData, make_client


def test_security_headers_on_every_response(client: TestClient, web_data: WebData) -> None:
    for path in ("/", "/api/info", "/static/app.js", "/api/sessions/not-a-uuid", "/nope"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert client.get("/api/info").headers["cache-control"] == "no-store"


def test_host_header_checked_against_dns_rebinding(client: TestClient) -> None:
    assert client.get("/api/info").status_code == 200
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765"):
        assert client.get("/api/info", headers={"host": host}).status_code == 200
    for host in ("evil.example:8765", "127.0.0.1:9999", "attacker.test"):
        r = client.get("/api/info", headers={"host": host})
        assert r.status_code == 421, host


def test_writes_refused_without_allow_writes(client: TestClient, web_data: WebData) -> None:
    sid = web_data.ids["single"]
    for action, body in (("rename", {"title": "x"}), ("tag", {"tag": "x"}), ("fork", {}), ("delete", {})):
        r = client.post(f"/api/sessions/{sid}/{action}", json=body)
        assert r.status_code == 403 and "--allow-writes" in r.json()["error"]
    assert client.post(f"/api/trash/{sid}/restore", json={}).status_code == 403
    assert client.put("/api/info").status_code == 405


def test_writes_need_csrf_token_json_and_same_origin(writable_config: Path, web_data: WebData) -> None:
    sid = web_data.ids["single"]
    with make_client(writable_config, allow_writes=True) as c:
        csrf = c.get("/api/info").json()["csrf"]
        url = f"/api/sessions/{sid}/rename"
        assert c.post(url, json={"title": "a"}).status_code == 403  # no token
        assert c.post(url, json={"title": "a"}, headers={"x-threadline-csrf": "wrong"}).status_code == 403
        ok = {"x-threadline-csrf": csrf}
        r = c.post(url, json={"title": "a"}, headers={**ok, "origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-origin" in r.json()["error"]
        r = c.post(url, json={"title": "a"}, headers={**ok, "sec-fetch-site": "cross-site"})
        assert r.status_code == 403
        r = c.post(url, content=b"title=a", headers={**ok, "content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 415
        r = c.post(url, json={"title": "a"}, headers={**ok, "origin": "http://127.0.0.1:8765", "sec-fetch-site": "same-origin"})
        assert r.status_code == 200
        assert c.get("/api/sessions", params={"q": sid}).json()["items"][0]["title"] == "a"


def test_write_actions_through_the_api(writer: TestClient, writable_config: Path, web_data: WebData) -> None:
    sid = web_data.ids["branch"]
    assert writer.post(f"/api/sessions/{sid}/rename", json={"title": "  "}).status_code == 400
    assert writer.post(f"/api/sessions/{sid}/tag", json={"tag": "keep"}).status_code == 200
    assert writer.get("/api/sessions", params={"tag": "keep"}).json()["items"][0]["session_id"] == sid
    fork = writer.post(f"/api/sessions/{sid}/fork", json={"up_to": web_data.notes["branch_at"], "title": "at the branch"}).json()
    new = fork["session_id"]
    assert writer.get(f"/api/sessions/{new}").json()["forked_from"] == sid
    assert writer.post(f"/api/sessions/{sid}/fork", json={"up_to": "not-a-uuid"}).status_code == 400
    # delete moves to the trash; restore brings it back with the same content
    before = writer.get(f"/api/sessions/{new}/messages").json()["items"]
    assert writer.post(f"/api/sessions/{new}/delete", json={}).json() == {"ok": True, "restorable": True}
    assert writer.get(f"/api/sessions/{new}").status_code == 404
    trash = writer.get("/api/trash").json()["items"]
    assert [t["session_id"] for t in trash] == [new]
    assert writer.post(f"/api/trash/{new}/restore", json={}).status_code == 200
    assert writer.get(f"/api/sessions/{new}/messages").json()["items"] == before
    assert writer.get("/api/trash").json()["items"] == []


def test_access_token_when_bound_beyond_loopback(web_data: WebData) -> None:
    app = create_app(FileSource(web_data.config), token="s3cret-token")
    with TestClient(app, base_url="http://192.0.2.10:8765", follow_redirects=False) as c:
        assert c.get("/api/info").status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/api/info", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/info", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
        assert c.get("/?token=wrong").status_code == 401
        r = c.get("/s/x?token=s3cret-token&leaf=1")
        assert r.status_code == 303 and r.headers["location"] == "/s/x?leaf=1"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert c.get("/api/info").status_code == 200  # the cookie now rides along
        assert "csrf" not in c.get("/api/info").json()


def _serve(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "threadline.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"(http://\S+)", line)
        if m:
            return proc, m.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    out = proc.stdout.read()
    _stop(proc)
    raise AssertionError(f"threadline serve did not start: {out}")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_serve_command_on_loopback(web_data: WebData) -> None:
    proc, url = _serve(["--config-dir", str(web_data.config)], dict(os.environ))
    try:
        assert url.startswith("http://127.0.0.1:") and "token" not in url
        r = httpx.get(url + "api/sessions?limit=1", timeout=10)
        assert r.status_code == 200 and r.json()["total"] >= len(web_data.ids)
        assert httpx.get(url + "api/info", headers={"host": "rebind.example"}, timeout=10).status_code == 421
        assert httpx.post(url + f"api/sessions/{web_data.ids['single']}/rename", json={"title": "x"}, timeout=10).status_code == 403
    finally:
        _stop(proc)


def test_serve_command_beyond_loopback_prints_a_token(web_data: WebData) -> None:
    proc, url = _serve(["--config-dir", str(web_data.config), "--host", "0.0.0.0"], dict(os.environ))
    try:
        m = re.match(r"http://0\.0\.0\.0:(\d+)/\?token=(\S+)$", url)
        assert m, url
        local = f"http://127.0.0.1:{m.group(1)}/"
        assert httpx.get(local + "api/info", timeout=10).status_code == 401
        ok = httpx.get(local + "api/info", headers={"authorization": f"Bearer {m.group(2)}"}, timeout=10)
        assert ok.status_code == 200
    finally:
        _stop(proc)


def test_serve_command_rejects_bad_input(web_data: WebData, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "threadline.cli", "serve", *args],
                              capture_output=True, text=True, timeout=60)

    r = run("--store", "mongodb://x", "--port", "0")
    assert r.returncode != 0 and "unknown scheme" in r.stderr
    r = run("--store", f"sqlite:///{tmp_path}/a.db", "--config-dir", str(tmp_path))
    assert r.returncode == 2 and "not both" in r.stderr
    r = run("--store", "encrypted+sqlite:///" + str(tmp_path / "e.db"), "--port", "0")
    assert r.returncode != 0 and "THREADLINE_ENCRYPTION_KEY" in r.stderr


def test_base_url_constant() -> None:
    assert BASE.startswith("http://127.0.0.1")
