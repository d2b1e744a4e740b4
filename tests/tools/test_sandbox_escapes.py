"""Ways out of the Bash sandbox that it must close (security review findings 4, 5, 6, 8, 9)."""

from __future__ import annotations

import os
import socket
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from threadline.tools import ToolContext, run_tool
from threadline.tools._bash import BashTool
from threadline.tools._sandbox import open_sandbox, probe_bubblewrap
from threadline.tools._state import ToolState

pytestmark = pytest.mark.anyio


def _need_bwrap(weaker: bool = False) -> None:
    problem = probe_bubblewrap(weaker)
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"bubblewrap must work in CI: {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


async def _sandboxed(work: Path, settings: dict[str, Any]) -> AsyncIterator[ToolContext]:
    _need_bwrap(bool(settings.get("enableWeakerNestedSandbox")))
    sandbox = await open_sandbox({"enabled": True, **settings}, cwd=work)
    assert sandbox is not None
    try:
        yield ToolContext(
            cwd=work,
            session_id="00000000-0000-4000-8000-0000000000ab",
            state=ToolState(sandbox=sandbox),
        )
    finally:
        sandbox.close()


async def _bash(ctx: ToolContext, command: str) -> tuple[bool, str]:
    result = await run_tool(BashTool(), {"command": command}, ctx)
    return result.is_error, str(result.content)


def _py(code: str) -> str:
    """A ``python3 -c`` command line running ``code``."""
    return "python3 -c " + _quote(textwrap.dedent(code))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


# -- 6: no capabilities, so the read-only binds cannot be undone ------------------------


async def test_no_capabilities_and_binds_stay(work: Path) -> None:
    (work / ".git" / "hooks").mkdir(parents=True)
    (work / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    async for ctx in _sandboxed(work, {}):
        failed, text = await _bash(ctx, "grep CapEff /proc/self/status")
        assert not failed and text.split()[-1] == "0000000000000000", text
        failed, text = await _bash(
            ctx, "umount .git/hooks; mount -o remount,bind,rw / ; echo evil > .git/hooks/pre-commit"
        )
        assert failed, text
        failed, text = await _bash(ctx, "touch /etc/tl-escape-probe")
        assert failed
    assert not (work / ".git" / "hooks" / "pre-commit").exists()
    assert not Path("/etc/tl-escape-probe").exists()


# -- 4: nothing is planted for later unsandboxed use ------------------------------------


async def test_no_planting_in_new_or_nested_repositories(work: Path) -> None:
    nested = work / "lib" / "vendored"
    (nested / ".git" / "hooks").mkdir(parents=True)
    (nested / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (nested / ".git" / "config").write_text("[core]\n")
    (nested / ".claude").mkdir()
    (nested / ".claude" / "settings.json").write_text("{}")
    (work / "wt").mkdir()
    (work / "wt" / ".git").write_text("gitdir: /somewhere/real\n")  # a worktree's .git file
    async for ctx in _sandboxed(work, {}):
        attempts = [
            # the project is not a repository: make it one, with a hook and an fsmonitor
            "mkdir -p .git/hooks && echo evil > .git/hooks/pre-commit",
            "git init -q . && git config core.fsmonitor 'touch /tmp/pwned'",
            "printf '[core]\\n\\tfsmonitor = evil\\n' > .git/config",
            # the agent's (and other tools') configuration files, created fresh
            "echo '{\"mcpServers\": {}}' > .mcp.json",
            "mkdir -p .vscode && echo '{}' > .vscode/tasks.json",
            "mkdir -p .claude/commands && echo evil > .claude/commands/x.md",
            # a nested repository's hooks and config
            "echo evil > lib/vendored/.git/hooks/post-checkout",
            "echo '[core] fsmonitor = evil' >> lib/vendored/.git/config",
            "mv lib/vendored/.git lib/vendored/.git-old",
            "echo 'gitdir: /tmp/evil' > wt/.git",
            "echo x > lib/vendored/.claude/settings.json",
        ]
        for command in attempts:
            failed, text = await _bash(ctx, command)
            assert failed, f"{command!r} succeeded: {text}"
        # the nested repository still works for ordinary writes
        failed, text = await _bash(ctx, "touch lib/vendored/.git/index.probe && echo ok")
        assert not failed, text
        # nothing is left behind between commands
        assert not (work / ".git").exists() and not (work / ".mcp.json").exists()
        assert not (work / ".vscode").exists() and not (work / ".claude").exists()
    assert (nested / ".git" / "config").read_text() == "[core]\n"
    assert not (nested / ".git" / "hooks" / "post-checkout").exists()
    assert (work / "wt" / ".git").read_text() == "gitdir: /somewhere/real\n"
    assert (nested / ".claude" / "settings.json").read_text() == "{}"
    assert sorted(p.name for p in work.iterdir()) == ["lib", "wt"]


async def test_existing_repository_pinned(work: Path) -> None:
    git = work / ".git"
    (git / "hooks").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "config").write_text("[core]\n")
    async for ctx in _sandboxed(work, {}):
        for command in (
            "mv .git .git-old && mkdir .git",
            "rmdir .git",
            "mv .git/config .git/config.old",
        ):
            failed, _ = await _bash(ctx, command)
            assert failed, command
        failed, text = await _bash(ctx, "echo x > .git/ORIG_HEAD && echo ok")
        assert not failed, text
    assert (git / "config").read_text() == "[core]\n" and (git / "HEAD").exists()


# -- 5: no ptrace, no peeking into the unfiltered bridge -------------------------------

_TRACE = """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    me = os.getpid()
    hits = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        if libc.ptrace(0x4206, pid, None, None) == 0:  # PTRACE_SEIZE (does not stop it)
            hits.append(f"ptrace {pid}")
        try:
            status = open(f"/proc/{pid}/status").read()
            with open(f"/proc/{pid}/mem", "r+b", buffering=0):
                if "Seccomp:\t0" in status:  # an unfiltered process's memory
                    hits.append(f"mem {pid}")
        except OSError:
            pass
    print("HITS", hits)
"""


@pytest.mark.parametrize(
    "settings",
    [{}, {"network": {"allowedDomains": ["example.com"]}}, {"network": {"allowAllUnixSockets": True}}],
    ids=["no-network", "bridge", "unix-allowed"],
)
async def test_no_ptrace_of_other_sandbox_processes(work: Path, settings: dict[str, Any]) -> None:
    async for ctx in _sandboxed(work, settings):
        _, text = await _bash(ctx, f"sleep 30 & {_py(_TRACE)}; kill %1")
        assert "HITS []" in text, text


# -- 8: the agent's environment is not readable -----------------------------------------

_AGENT = """
import sys
from pathlib import Path
import anyio
from threadline.tools import ToolContext, run_tool
from threadline.tools._bash import BashTool
from threadline.tools._sandbox import open_sandbox
from threadline.tools._state import ToolState

async def main() -> None:
    work = Path(sys.argv[1])
    settings = {"enabled": True, "enableWeakerNestedSandbox": sys.argv[2] == "1"}
    sandbox = await open_sandbox(settings, cwd=work)
    ctx = ToolContext(cwd=work, session_id="00000000-0000-4000-8000-0000000000ac",
                      state=ToolState(sandbox=sandbox))
    result = await run_tool(BashTool(), {"command": sys.argv[3]}, ctx)
    print(result.content)
    sandbox.close()

anyio.run(main)
"""

_ENVIRONS = """
    import os
    found = []
    for name in os.listdir("/proc"):
        try:
            if b"tl-secret-4242" in open(f"/proc/{name}/environ", "rb").read():
                found.append(name)
        except OSError:
            pass
    print("FOUND", found)
"""


@pytest.mark.parametrize("weaker", [False, True], ids=["pid-namespace", "weaker-nested"])
def test_agent_environment_not_readable(work: Path, weaker: bool) -> None:
    import subprocess
    import sys

    _need_bwrap(weaker)
    env = {**os.environ, "ANTHROPIC_API_KEY": "tl-secret-4242"}
    env.pop("THREADLINE_TOOL_ENV_PASSTHROUGH", None)
    command = _py(_ENVIRONS)
    done = subprocess.run(
        [sys.executable, "-c", _AGENT, str(work), "1" if weaker else "0", command],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    # the tools' environment is scrubbed: only the agent's own block holds the key
    assert "FOUND []" in done.stdout, done.stdout + done.stderr


# -- 9: no Unix sockets to host services ------------------------------------------------


async def test_no_unix_sockets_of_any_kind(work: Path, tmp_path: Path) -> None:
    path = tmp_path / "daemon.sock"
    stream = socket.socket(socket.AF_UNIX)
    stream.bind(str(path))
    stream.listen(1)
    dgram_path = tmp_path / "daemon.dgram"
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(dgram_path))
    abstract = socket.socket(socket.AF_UNIX)
    name = f"tl-abstract-probe-{os.getpid()}-{id(abstract)}"
    abstract.bind("\0" + name)
    abstract.listen(1)
    probes = {
        "stream": f"import socket; socket.socket(socket.AF_UNIX).connect({str(path)!r})",
        "dgram": "import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
        f"s.sendto(b'x', {str(dgram_path)!r})",
        "abstract": f"import socket; socket.socket(socket.AF_UNIX).connect('\\0{name}')",
        "seqpacket": "import socket; socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)",
    }
    try:
        for settings in ({}, {"network": {"allowedDomains": ["example.com"]}}):
            async for ctx in _sandboxed(work, settings):
                for name, code in probes.items():
                    failed, text = await _bash(ctx, _py(code))
                    assert failed and "Operation not permitted" in text, (name, text)
    finally:
        for s in (stream, dgram, abstract):
            s.close()
