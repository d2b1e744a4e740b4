"""The Bash sandbox (bubblewrap): write scope, network allow-list, Unix sockets, escapes."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from threadline import UserError
from threadline.tools import ToolContext, run_tool
from threadline.tools._bash import BashTool
from threadline.tools._sandbox import Sandbox, SandboxConfig, open_sandbox, probe_bubblewrap
from threadline.tools._state import ToolState

pytestmark = pytest.mark.anyio


def _need_bwrap() -> None:
    problem = probe_bubblewrap()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"bubblewrap must work in CI: {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def loopback_server() -> Iterator[int]:
    """A plain HTTP server on 127.0.0.1 of the host; yields its port."""

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello from the host"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


async def _sandboxed(work: Path, settings: dict[str, Any]) -> AsyncIterator[ToolContext]:
    _need_bwrap()
    sandbox = await open_sandbox({"enabled": True, **settings}, cwd=work)
    assert sandbox is not None
    try:
        yield ToolContext(
            cwd=work,
            session_id="00000000-0000-4000-8000-0000000000aa",
            state=ToolState(sandbox=sandbox),
        )
    finally:
        sandbox.close()


async def _bash(ctx: ToolContext, command: str, **extra: Any) -> tuple[bool, str]:
    result = await run_tool(BashTool(), {"command": command, **extra}, ctx)
    return result.is_error, str(result.content)


_FETCH = (
    "python3 -c \"import urllib.request as u; "
    "print(u.urlopen('http://127.0.0.1:{port}/', timeout=10).read().decode())\""
)
_DIRECT = "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)\""


async def test_writes_stay_in_scope(work: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    async for ctx in _sandboxed(work, {}):
        failed, _ = await _bash(ctx, "echo inside > inside.txt && mkdir -p sub && touch sub/x")
        assert not failed
        assert (work / "inside.txt").read_text() == "inside\n"
        failed, text = await _bash(ctx, f"echo pwned > {outside}")
        assert failed and "Read-only file system" in text
        failed, text = await _bash(ctx, f"cd {work} && ln -s {tmp_path} up && echo x > up/o2")
        assert failed
        failed, text = await _bash(ctx, 'touch "$TMPDIR/scratch" && echo ok')
        assert not failed and text.strip() == "ok"
        failed, text = await _bash(ctx, "cat /etc/hostname >/dev/null && echo read-ok")
        assert not failed and "read-ok" in text  # reads are allowed
    assert not outside.exists()
    assert not (tmp_path / "o2").exists()


async def test_protected_paths_inside_the_project(work: Path) -> None:
    (work / ".git" / "hooks").mkdir(parents=True)
    (work / ".bashrc").write_text("# rc\n")
    async for ctx in _sandboxed(work, {}):
        for command in (
            "echo evil > .git/hooks/pre-commit",
            "echo evil >> .bashrc",
            "mkdir -p .claude && echo '{}' > .claude/settings.json",
        ):
            failed, _ = await _bash(ctx, command)
            assert failed, command
    assert not (work / ".git" / "hooks" / "pre-commit").exists()
    assert (work / ".bashrc").read_text() == "# rc\n"
    assert not (work / ".claude").exists()  # the placeholder is removed again


async def test_loopback_port_not_allowed(work: Path, loopback_server: int) -> None:
    async for ctx in _sandboxed(work, {"network": {"allowedDomains": ["example.com"]}}):
        failed, text = await _bash(ctx, _FETCH.format(port=loopback_server))
        assert failed and "hello from the host" not in text
        assert "403" in text  # the proxy refused it
        failed, text = await _bash(ctx, _DIRECT.format(port=loopback_server))
        assert failed and "refused" in text.lower()  # no route around the proxy


async def test_no_network_at_all_by_default(work: Path, loopback_server: int) -> None:
    async for ctx in _sandboxed(work, {}):
        failed, text = await _bash(ctx, _FETCH.format(port=loopback_server))
        assert failed and "hello from the host" not in text


async def test_loopback_port_allowed(work: Path, loopback_server: int) -> None:
    async for ctx in _sandboxed(work, {"network": {"allowedDomains": ["127.0.0.1"]}}):
        failed, text = await _bash(ctx, _FETCH.format(port=loopback_server))
        assert not failed, text
        assert "hello from the host" in text


async def test_denied_domains_win(work: Path, loopback_server: int) -> None:
    network = {"allowedDomains": ["127.0.0.1"], "deniedDomains": ["127.0.0.1"]}
    async for ctx in _sandboxed(work, {"network": network}):
        failed, text = await _bash(ctx, _FETCH.format(port=loopback_server))
        assert failed and "hello from the host" not in text


async def test_unix_sockets_blocked(work: Path, tmp_path: Path) -> None:
    import socket

    path = tmp_path / "host.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    connect = f"python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect('{path}')\""
    try:
        async for ctx in _sandboxed(work, {}):
            failed, text = await _bash(ctx, connect)
            assert failed and "Operation not permitted" in text
        async for ctx in _sandboxed(work, {"network": {"allowAllUnixSockets": True}}):
            failed, text = await _bash(ctx, connect)
            assert not failed, text
    finally:
        listener.close()


async def test_excluded_and_unsandboxed_commands(work: Path, tmp_path: Path) -> None:
    target = tmp_path / "written-outside"
    settings = {"excludedCommands": ["touch"], "allowUnsandboxedCommands": False}
    async for ctx in _sandboxed(work, settings):
        sandbox = ctx.state.sandbox if ctx.state else None
        assert sandbox is not None
        # an excluded simple command runs outside
        failed, text = await _bash(ctx, f"touch {target}")
        assert not failed, text
        assert target.exists()
        target.unlink()
        # a compound command is not "excluded" just because it starts with one
        failed, _ = await _bash(ctx, f"touch {work}/a && touch {target}")
        assert failed and not target.exists()
        # allowUnsandboxedCommands=False: the escape flag is ignored
        failed, _ = await _bash(ctx, f"echo x > {target}", dangerouslyDisableSandbox=True)
        assert failed and not target.exists()
        assert sandbox.will_sandbox({"command": "ls", "dangerouslyDisableSandbox": True})
    async for ctx in _sandboxed(work, {}):
        sandbox = ctx.state.sandbox if ctx.state else None
        assert sandbox is not None
        assert not sandbox.will_sandbox({"command": "ls", "dangerouslyDisableSandbox": True})
        assert not sandbox.auto_allows({"command": "ls", "dangerouslyDisableSandbox": True})
        assert sandbox.auto_allows({"command": "ls"})
        failed, _ = await _bash(ctx, f"echo x > {target}", dangerouslyDisableSandbox=True)
        assert not failed and target.exists()


async def test_background_command_is_sandboxed(work: Path, tmp_path: Path) -> None:
    import anyio

    async for ctx in _sandboxed(work, {}):
        result = await run_tool(
            BashTool(),
            {"command": f"touch {tmp_path}/bg-out && echo done", "run_in_background": True},
            ctx,
        )
        assert not result.is_error
        state = ctx.state
        assert state is not None
        with anyio.fail_after(20):
            while not state.shells.notices:  # noqa: ASYNC110
                await anyio.sleep(0.05)
        notice = state.shells.take()[0]
        assert notice.status == "failed"
        assert "Read-only file system" in Path(notice.output_file).read_text()
    assert not (tmp_path / "bg-out").exists()


def test_settings_are_validated() -> None:
    with pytest.raises(UserError, match="unknown key"):
        SandboxConfig.from_settings({"enabled": True, "allowWrite": ["/"]})
    with pytest.raises(UserError, match="unknown network key"):
        SandboxConfig.from_settings({"enabled": True, "network": {"allowAll": True}})
    with pytest.raises(UserError, match="list of strings"):
        SandboxConfig.from_settings({"excludedCommands": "git"})
    config = SandboxConfig.from_settings(
        {"enabled": True, "network": {"allowedDomains": ["a.com"], "httpProxyPort": 8080}}
    )
    assert config.allowed_domains == ("a.com",) and config.http_proxy_port == 8080
    assert config.auto_allow and config.allow_unsandboxed


async def test_disabled_sandbox_is_none(work: Path) -> None:
    assert await open_sandbox(None, cwd=work) is None
    assert await open_sandbox({"enabled": False}, cwd=work) is None


async def test_no_bubblewrap_raises_never_runs_unsandboxed(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threadline.tools._sandbox as sandbox_module

    monkeypatch.setattr(
        sandbox_module, "probe_bubblewrap", lambda weaker=False: "bubblewrap is not installed"
    )
    with pytest.raises(UserError, match="apt-get install bubblewrap"):
        await open_sandbox({"enabled": True}, cwd=work)


def test_domain_filter() -> None:
    from threadline.tools._netproxy import DomainFilter

    f = DomainFilter(["example.com", "*.github.com", "::1"], ["evil.github.com"])
    assert f.allows("example.com") and f.allows("EXAMPLE.com.")
    assert not f.allows("sub.example.com")
    assert f.allows("api.github.com") and not f.allows("github.com")
    assert not f.allows("evil.github.com")
    assert f.allows("[::1]") and f.allows("0:0:0:0:0:0:0:1")
    assert not DomainFilter([]).allows("example.com")


def test_sandbox_without_proxies_has_no_proxy_env(work: Path) -> None:
    _need_bwrap()
    sandbox = Sandbox(SandboxConfig(enabled=True), cwd=work)
    try:
        argv, env = sandbox.wrap(["/bin/true"], {"HTTP_PROXY": "http://corp:3128", "A": "1"})
        assert "HTTP_PROXY" not in env and env["A"] == "1"
        assert env["TMPDIR"] == str(sandbox.tmpdir)
        assert "--unshare-net" in argv and "--die-with-parent" in argv
    finally:
        sandbox.close()
    assert not sandbox.tmpdir.exists()


async def test_a_name_resolving_to_loopback_is_refused(
    work: Path, loopback_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Allowing a domain does not open the host's loopback: only naming it does."""
    import socket

    real = socket.getaddrinfo

    def fake_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "evil.example.com":  # an allowed name whose DNS points at 127.0.0.1
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    fetch = _FETCH.replace("127.0.0.1", "evil.example.com")
    async for ctx in _sandboxed(work, {"network": {"allowedDomains": ["*.example.com"]}}):
        failed, text = await _bash(ctx, fetch.format(port=loopback_server))
        assert failed and "hello from the host" not in text and "403" in text
    async for ctx in _sandboxed(work, {"network": {"allowedDomains": ["localhost"]}}):
        failed, text = await _bash(ctx, _FETCH.replace("127.0.0.1", "localhost").format(
            port=loopback_server))
        assert not failed and "hello from the host" in text


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "::",
        "169.254.169.254",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "100.64.0.1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1%1",
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
    ],
)
@pytest.mark.parametrize("allowed", [["*"], ["*.example.com"], ["evil.example.com"]])
def test_non_public_destinations_refused(
    address: str, allowed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An allowed name (or a wildcard over a literal) never reaches a non-public address.

    No packet is sent: the socket is a fake that records connects.
    """
    import socket

    from threadline.tools import _netproxy
    from threadline.tools._netproxy import DomainFilter

    connects: list[Any] = []

    class FakeSocket:
        def __init__(self, *args: Any) -> None:
            pass

        def settimeout(self, _: float) -> None:
            pass

        def connect(self, sockaddr: Any) -> None:
            connects.append(sockaddr)

        def close(self) -> None:
            pass

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sockaddr = (address, 80, 0, 0) if family == socket.AF_INET6 else (address, 80)

    def fake_dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

    monkeypatch.setattr(_netproxy.socket, "getaddrinfo", fake_dns)
    monkeypatch.setattr(_netproxy.socket, "socket", FakeSocket)
    domains = DomainFilter(allowed)
    for host in ("evil.example.com", address.split("%")[0]):
        if not domains.allows(host):
            continue
        with pytest.raises(PermissionError):
            _netproxy._connect_checked(host, 80, domains)
    assert connects == []
    # listing the address itself opens it (the caller's explicit choice)
    plain = address.split("%")[0]
    if not plain.startswith("::ffff:") and plain != "::":
        _netproxy._connect_checked(plain, 80, DomainFilter([plain]))
        assert len(connects) == 1


async def test_wildcard_does_not_open_host_loopback(work: Path, loopback_server: int) -> None:
    async for ctx in _sandboxed(work, {"network": {"allowedDomains": ["*"]}}):
        for host in ("0.0.0.0", "[::ffff:127.0.0.1]", "127.0.0.1", "localhost"):
            fetch = _FETCH.replace("127.0.0.1", host).format(port=loopback_server)
            failed, text = await _bash(ctx, fetch)
            assert failed and "hello from the host" not in text, (host, text)
