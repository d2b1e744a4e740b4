"""The Bash sandbox: ``AgentOptions(sandbox=SandboxSettings(enabled=True, ...))`` on Linux.

Claude Code's semantics (its ``SandboxSettings`` TypedDict, keys in camelCase), enforced
with `bubblewrap <https://github.com/containers/bubblewrap>`_ (Debian/Ubuntu package
``bubblewrap``) as Claude Code's own sandbox-runtime does on Linux:

* **Filesystem.** Everything is readable; writes go only to the working directory, the
  allowed directories (``add_dirs``) and a private temporary directory (``TMPDIR``).
  Inside those, the files an attacker would plant to run code later stay read-only:
  ``.claude/`` (settings, hooks, agents, commands, skills), ``.git/hooks`` and
  ``.git/config``, ``.vscode``, ``.idea``, shell start-up files, ``.gitconfig``,
  ``.gitmodules``, ``.ripgreprc``, ``.mcp.json``. Symlinks are resolved before binding.
* **Network.** A network namespace of its own (loopback only). The way out is an HTTP
  and a SOCKS5 proxy (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` point at them) that
  admit only hosts matching ``network.allowedDomains`` and not ``network.deniedDomains``
  (see :mod:`threadline.tools._netproxy`). The host's loopback services are reachable
  only through the proxy and only if their host (``localhost``, ``127.0.0.1``) is
  allowed. Unix sockets cannot be created (seccomp), so host daemons' sockets are out of
  reach, unless ``network.allowAllUnixSockets``.
* **Processes.** A PID namespace of its own, ``--die-with-parent``, ``--new-session``.
* ``excludedCommands``: a command that is one simple command (no ``;``, ``&&``, ``|``,
  ``$(...)``, ...) whose first words match an entry (``docker``, ``git push``; a
  trailing ``:*`` or ``*`` is accepted) runs outside the sandbox, through the normal
  permission checks.
* ``dangerouslyDisableSandbox: true`` in the tool input runs the command outside the
  sandbox only when ``allowUnsandboxedCommands`` is true (the default); it is never
  auto-allowed. When false the flag is ignored and the command runs sandboxed.
* ``autoAllowBashIfSandboxed`` (default true): a sandboxed Bash call needs no permission
  prompt (deny rules still apply). The permission layer asks :meth:`Sandbox.auto_allows`.
* ``enableWeakerNestedSandbox``: no PID namespace and the host's ``/proc`` (for
  unprivileged containers where mounting a fresh ``/proc`` fails). Weaker, as it says.
* ``network.httpProxyPort``/``socksProxyPort``: your own proxy on that loopback port
  does the filtering instead.
* Accepted with no effect on Linux, as in Claude Code: ``network.allowLocalBinding``
  (binding inside the namespace always works and is never reachable from outside),
  ``network.allowMachLookup`` (macOS), ``network.allowManagedDomainsOnly`` (there are no
  managed settings in-process), ``network.allowUnixSockets`` (Claude Code's Linux sandbox
  cannot filter Unix sockets by path either: use ``allowAllUnixSockets``), and
  ``ignoreViolations`` (it only filters violation *reports*; threadline's sandbox does
  not report violations, the command just sees EPERM/EROFS or a 403 from the proxy).

Where no working bubblewrap exists (not installed, not Linux, user namespaces
disabled), :func:`open_sandbox` raises :class:`~threadline.UserError` saying what to
install: a command is never run unsandboxed because the sandbox is missing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._exceptions import UserError
from ._netproxy import DomainFilter, FilteringProxies
from ._sandbox_bridge import seccomp_program

__all__ = ["Sandbox", "SandboxConfig", "open_sandbox", "probe_bubblewrap"]

_BRIDGE = Path(__file__).with_name("_sandbox_bridge.py")
_HTTP_PORT = 3128
_SOCKS_PORT = 1080
_PROTECTED_FILES = (
    ".gitconfig",
    ".gitmodules",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".profile",
    ".ripgreprc",
    ".mcp.json",
    ".claude.json",
)
_PROTECTED_DIRS = (".vscode", ".idea")
_KNOWN_KEYS = frozenset(
    {
        "enabled",
        "autoAllowBashIfSandboxed",
        "excludedCommands",
        "allowUnsandboxedCommands",
        "network",
        "ignoreViolations",
        "enableWeakerNestedSandbox",
    }
)
_KNOWN_NETWORK_KEYS = frozenset(
    {
        "allowedDomains",
        "deniedDomains",
        "allowManagedDomainsOnly",
        "allowUnixSockets",
        "allowAllUnixSockets",
        "allowLocalBinding",
        "allowMachLookup",
        "httpProxyPort",
        "socksProxyPort",
    }
)
_INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    "bubblewrap; Arch: pacman -S bubblewrap), or turn the sandbox off "
    "(sandbox={'enabled': False})"
)


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise UserError(f"AgentOptions.sandbox: {where} must be a list of strings, not {value!r}")
    items = list(value)
    if not all(isinstance(v, str) for v in items):
        raise UserError(f"AgentOptions.sandbox: {where} must be a list of strings, not {value!r}")
    return items


def _port(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise UserError(f"AgentOptions.sandbox: {where} must be a TCP port, not {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """A validated ``SandboxSettings`` mapping."""

    enabled: bool = False
    auto_allow: bool = True
    excluded_commands: tuple[str, ...] = ()
    allow_unsandboxed: bool = True
    allowed_domains: tuple[str, ...] = ()
    denied_domains: tuple[str, ...] = ()
    allow_all_unix_sockets: bool = False
    http_proxy_port: int | None = None
    socks_proxy_port: int | None = None
    weaker_nested: bool = False
    ignore_violations: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> SandboxConfig:
        """Validate the official ``SandboxSettings`` shape; unknown keys are an error."""
        if settings is None:
            return cls()
        if not isinstance(settings, Mapping):
            raise UserError(f"AgentOptions.sandbox must be a SandboxSettings dict, not {settings!r}")
        unknown = set(settings) - _KNOWN_KEYS
        if unknown:
            raise UserError(
                f"AgentOptions.sandbox: unknown key(s) {sorted(unknown)} "
                f"(known: {sorted(_KNOWN_KEYS)})"
            )
        network = settings.get("network") or {}
        if not isinstance(network, Mapping):
            raise UserError(f"AgentOptions.sandbox: network must be a dict, not {network!r}")
        unknown = set(network) - _KNOWN_NETWORK_KEYS
        if unknown:
            raise UserError(
                f"AgentOptions.sandbox: unknown network key(s) {sorted(unknown)} "
                f"(known: {sorted(_KNOWN_NETWORK_KEYS)})"
            )
        ignore = settings.get("ignoreViolations") or {}
        if not isinstance(ignore, Mapping):
            raise UserError(f"AgentOptions.sandbox: ignoreViolations must be a dict, not {ignore!r}")
        return cls(
            enabled=bool(settings.get("enabled", False)),
            auto_allow=bool(settings.get("autoAllowBashIfSandboxed", True)),
            excluded_commands=tuple(
                _str_list(settings.get("excludedCommands"), "excludedCommands")
            ),
            allow_unsandboxed=bool(settings.get("allowUnsandboxedCommands", True)),
            allowed_domains=tuple(_str_list(network.get("allowedDomains"), "allowedDomains")),
            denied_domains=tuple(_str_list(network.get("deniedDomains"), "deniedDomains")),
            allow_all_unix_sockets=bool(network.get("allowAllUnixSockets", False)),
            http_proxy_port=_port(network.get("httpProxyPort"), "network.httpProxyPort"),
            socks_proxy_port=_port(network.get("socksProxyPort"), "network.socksProxyPort"),
            weaker_nested=bool(settings.get("enableWeakerNestedSandbox", False)),
            ignore_violations={
                str(k): _str_list(v, "ignoreViolations values") for k, v in ignore.items()
            },
        )


@functools.lru_cache(maxsize=4)
def probe_bubblewrap(weaker: bool = False) -> str | None:
    """None if bubblewrap can build this sandbox here, else why not (cached)."""
    if not sys.platform.startswith("linux"):
        return f"the Bash sandbox needs Linux with bubblewrap; this is {sys.platform}"
    if platform.machine() not in ("x86_64", "aarch64"):
        return f"the Bash sandbox supports x86_64 and aarch64, not {platform.machine()}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-net", "--die-with-parent"]
    argv += ["--ro-bind", "/proc", "/proc"] if weaker else ["--unshare-pid", "--proc", "/proc"]
    try:
        done = subprocess.run(
            [*argv, "--", "/bin/true"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not run: {exc}"
    if done.returncode != 0:
        return f"bubblewrap cannot create its namespaces here: {done.stderr.strip()}"
    return None


def _is_simple_command(command: str) -> list[str] | None:
    """The words of ``command`` if it is one simple command, else None."""
    if any(ch in command for ch in "\n;&|`$<>()"):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    return words or None


def _protected_paths(root: Path) -> list[Path]:
    """Existing paths under a writable root that stay read-only (see the module docstring)."""
    found = [root / n for n in _PROTECTED_FILES if (root / n).is_file()]
    found += [root / n for n in _PROTECTED_DIRS if (root / n).is_dir()]
    git = root / ".git"
    if git.is_dir():
        found += [p for p in (git / "hooks", git / "config") if p.exists()]
    return found


class Sandbox:
    """One session's sandbox: its write scope, proxies and command wrapper."""

    def __init__(
        self,
        config: SandboxConfig,
        *,
        cwd: str | os.PathLike[str],
        allowed_dirs: Sequence[str | os.PathLike[str]] = (),
        tmp_root: Path | None = None,
    ) -> None:
        self.config = config
        self.cwd = Path(os.path.realpath(cwd))
        roots = [self.cwd, *(Path(os.path.realpath(d)) for d in allowed_dirs)]
        self.tmpdir = Path(tempfile.mkdtemp(prefix="tl-sandbox-tmp-", dir=tmp_root))
        self.write_roots: list[Path] = [*dict.fromkeys(roots), self.tmpdir]
        self._placeholders: list[Path] = []
        self._bpf = self.tmpdir.with_name(self.tmpdir.name + ".seccomp")
        if not config.allow_all_unix_sockets:
            fd = os.open(self._bpf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(seccomp_program())
        self.proxies: FilteringProxies | None = None
        if config.allowed_domains or config.http_proxy_port or config.socks_proxy_port:
            self.proxies = FilteringProxies(
                DomainFilter(config.allowed_domains, config.denied_domains),
                http_upstream_port=config.http_proxy_port,
                socks_upstream_port=config.socks_proxy_port,
            )

    # -- decisions ---------------------------------------------------------------------

    def is_excluded(self, command: str) -> bool:
        """True if ``command`` matches ``excludedCommands`` (one simple command only)."""
        words = _is_simple_command(command)
        if words is None:
            return False
        for entry in self.config.excluded_commands:
            pattern = entry.strip().removesuffix(":*").removesuffix("*").split()
            if pattern and words[: len(pattern)] == pattern:
                return True
        return False

    def will_sandbox(self, input: Mapping[str, Any]) -> bool:
        """Whether a Bash call with this input runs sandboxed."""
        if input.get("dangerouslyDisableSandbox") and self.config.allow_unsandboxed:
            return False
        return not self.is_excluded(str(input.get("command", "")))

    def auto_allows(self, input: Mapping[str, Any]) -> bool:
        """``autoAllowBashIfSandboxed``: this call needs no permission prompt."""
        return self.config.auto_allow and self.will_sandbox(input)

    # -- wrapping ----------------------------------------------------------------------

    def _protect(self, root: Path) -> list[str]:
        args: list[str] = []
        for path in _protected_paths(root):
            args += ["--ro-bind", str(path), str(path)]
        claude = root / ".claude"
        if root != self.tmpdir:
            if not claude.exists():  # keep it from being created: an empty read-only dir
                with contextlib.suppress(OSError):
                    claude.mkdir()
                    self._placeholders.append(claude)
            if claude.is_dir():
                args += ["--ro-bind", str(claude), str(claude)]
        return args

    def wrap(self, argv: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        """The bubblewrap command line running ``argv`` sandboxed, and its environment."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:  # removed since open_sandbox checked: never run unsandboxed
            raise UserError(f"The Bash sandbox is enabled but {_INSTALL_HINT}")
        cfg = self.config
        args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/dev/shm"]
        args += ["--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
        args += ["--new-session"]
        if cfg.weaker_nested:
            args += ["--ro-bind", "/proc", "/proc"]
        else:
            args += ["--unshare-pid", "--proc", "/proc"]
        for root in self.write_roots:
            args += ["--bind", str(root), str(root)]
        for root in self.write_roots:
            args += self._protect(root)
        args += ["--chdir", str(self.cwd)]
        seccomp = not cfg.allow_all_unix_sockets
        if self.proxies is not None:  # the bridge forwards the proxies, then applies seccomp
            http, socks = str(self.proxies.http_socket), str(self.proxies.socks_socket)
            flag = "1" if seccomp else "0"
            args += ["--", sys.executable, "-I", "-S", str(_BRIDGE), http, socks, flag, "--"]
        elif seccomp:  # no network at all: bubblewrap applies the filter itself (fd 3)
            args = ["/bin/sh", "-c", 'exec 3<"$0" && exec "$@"', str(self._bpf), *args]
            args += ["--seccomp", "3", "--"]
        else:
            args += ["--"]
        args += list(argv)
        out = {
            k: v
            for k, v in env.items()
            if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
        }
        out["TMPDIR"] = str(self.tmpdir)
        out["SANDBOX_RUNTIME"] = "1"
        if self.proxies is not None:
            http_url = f"http://127.0.0.1:{_HTTP_PORT}"
            socks_url = f"socks5h://127.0.0.1:{_SOCKS_PORT}"
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                out[name] = http_url
            for name in ("ALL_PROXY", "all_proxy"):
                out[name] = socks_url
            out["GIT_SSH_COMMAND"] = (
                f"ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:{_SOCKS_PORT} %h %p'"
            )
        return args, out

    def close(self) -> None:
        """Stop the proxies and remove what the sandbox created."""
        if self.proxies is not None:
            self.proxies.close()
            self.proxies = None
        for path in self._placeholders:
            with contextlib.suppress(OSError):
                path.rmdir()  # only if still empty
        self._placeholders.clear()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._bpf.unlink()


async def open_sandbox(
    settings: Mapping[str, Any] | None,
    *,
    cwd: str | os.PathLike[str],
    allowed_dirs: Sequence[str | os.PathLike[str]] = (),
    on_close: Callable[[Callable[[], None]], Any] | None = None,
) -> Sandbox | None:
    """The session's sandbox, or None when ``settings`` does not enable it.

    Raises :class:`~threadline.UserError` for malformed settings and when the sandbox is
    enabled but cannot be had here (with what to install). ``on_close`` receives the
    sandbox's ``close`` (an exit stack's ``callback``).
    """
    import anyio

    config = SandboxConfig.from_settings(settings)
    if not config.enabled:
        return None
    problem = await anyio.to_thread.run_sync(probe_bubblewrap, config.weaker_nested)
    if problem is not None:
        raise UserError(
            f"AgentOptions.sandbox is enabled but no sandbox can be had: {problem}. "
            f"To run Bash sandboxed, {_INSTALL_HINT}. Commands are never run unsandboxed "
            "instead."
        )
    sandbox = await anyio.to_thread.run_sync(
        functools.partial(Sandbox, config, cwd=cwd, allowed_dirs=allowed_dirs)
    )
    if on_close is not None:
        on_close(sandbox.close)
    return sandbox
