"""The Bash sandbox: ``AgentOptions(sandbox=SandboxSettings(enabled=True, ...))`` on Linux.

Claude Code's semantics (its ``SandboxSettings`` TypedDict, keys in camelCase), enforced
with `bubblewrap <https://github.com/containers/bubblewrap>`_ (Debian/Ubuntu package
``bubblewrap``) as Claude Code's own sandbox-runtime does on Linux:

* **Filesystem.** Everything is readable; writes go only to the working directory, the
  allowed directories (``add_dirs``) and a private temporary directory (``TMPDIR``).
  Inside those, the files an attacker would plant to run code later stay read-only:
  ``.claude/`` (settings, hooks, agents, commands, skills), ``.vscode``, ``.idea``, shell
  start-up files, ``.gitconfig``, ``.gitmodules``, ``.ripgreprc``, ``.mcp.json``, and the
  hooks and config of every git repository found up to 3 levels down (a ``.git`` file
  too). A repository's ``.git`` is bound onto itself, so it cannot be renamed or swapped.
  Protected names that do not exist get an empty read-only stand-in while a sandboxed
  command runs (removed when none runs), so a command cannot create a ``.git`` with an
  fsmonitor or hooks, nor an agent configuration. Symlinks are resolved before binding.
* **Network.** A network namespace of its own (loopback only). The way out is an HTTP
  and a SOCKS5 proxy (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` point at them) that
  admit only hosts matching ``network.allowedDomains`` and not ``network.deniedDomains``
  (see :mod:`threadline.tools._netproxy`). The host's loopback services are reachable
  only through the proxy and only if their host (``localhost``, ``127.0.0.1``) is
  allowed. Unix sockets cannot be created (seccomp), so host daemons' sockets are out of
  reach, unless ``network.allowAllUnixSockets``.
* **Processes.** A PID namespace of its own with a fresh ``/proc``, the command (or the
  bridge) as its PID 1 (``--as-pid-1``), ``--die-with-parent``, ``--new-session``,
  ``--cap-drop ALL`` (as root bubblewrap otherwise keeps every capability, and a command
  could unmount the read-only binds), ``--unshare-user --disable-userns`` where
  available. seccomp refuses the ptrace family (``ptrace``, ``process_vm_readv``/
  ``writev``, ``kcmp``, ``pidfd_getfd``) always, even with ``allowAllUnixSockets``.
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
  unprivileged containers where mounting a fresh ``/proc`` fails), with the entries of
  this process and its ancestors hidden (their environment). Weaker, as it says.
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
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


_HARDENINGS = (
    ("--unshare-user", "--disable-userns", "--cap-drop", "ALL"),
    ("--unshare-user", "--cap-drop", "ALL"),
    ("--cap-drop", "ALL"),
)


@functools.lru_cache(maxsize=4)
def hardening_flags(weaker: bool = False) -> tuple[str, ...]:
    """The strongest of :data:`_HARDENINGS` this bubblewrap accepts here (cached).

    ``--cap-drop ALL`` always: run as root, bubblewrap otherwise keeps every capability in
    the sandbox, and a command could ``umount`` the read-only binds or remount ``/``
    read-write. ``--unshare-user`` (and ``--disable-userns``, bubblewrap >= 0.8: no nested
    user namespace to win capabilities back in) where the kernel allows them.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return _HARDENINGS[-1]
    base = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-net", "--die-with-parent"]
    base += ["--ro-bind", "/proc", "/proc"] if weaker else ["--unshare-pid", "--proc", "/proc"]
    for flags in _HARDENINGS[:-1]:
        try:
            done = subprocess.run(
                [*base, *flags, "--", "/bin/true"], capture_output=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return flags
    return _HARDENINGS[-1]


def _is_simple_command(command: str) -> list[str] | None:
    """The words of ``command`` if it is one simple command, else None."""
    if any(ch in command for ch in "\n;&|`$<>()"):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    return words or None


_SCAN_DEPTH = 3  # nested repositories and .claude folders this deep below a root are protected
_SCAN_SKIP = frozenset({"node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache"})
_MAX_PROTECTED = 512


def _scan(root: Path) -> Iterator[Path]:
    """``.git`` and ``.claude`` entries (not followed through symlinks) below ``root``."""
    stack = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.name in (".git", ".claude"):
                if depth > 0 or entry.name == ".git":
                    yield Path(entry.path)
                continue
            if depth + 1 < _SCAN_DEPTH and entry.name not in _SCAN_SKIP:
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((Path(entry.path), depth + 1))


def _git_dir_protections(git: Path) -> list[Path]:
    """What stays read-only in a git directory: hooks and config, and those of the
    submodules' and worktrees' git directories kept inside it."""
    found = [p for p in (git / "hooks", git / "config", git / "config.worktree") if p.exists()]
    for sub in ("modules", "worktrees"):
        base = git / sub
        if not base.is_dir():
            continue
        for config in sorted(base.glob("**/config"))[:64]:
            if config.is_file() and not config.is_symlink():
                found += [config]
                hooks = config.parent / "hooks"
                if hooks.is_dir():
                    found.append(hooks)
    return found


def _protected_paths(root: Path) -> tuple[list[Path], list[Path]]:
    """(read-only, pinned) paths under a writable root (see the module docstring).

    Pinned paths are bound onto themselves, still writable: a mount point cannot be
    renamed or removed, so a command cannot swap a repository's ``.git`` for one of its own.
    """
    read_only = [root / n for n in _PROTECTED_FILES if (root / n).is_file()]
    read_only += [root / n for n in _PROTECTED_DIRS if (root / n).is_dir()]
    pinned: list[Path] = []
    for path in _scan(root):
        path = Path(os.path.realpath(path))  # a bind follows links: protect the target
        if path.name == ".claude" or path.is_file():  # a .git file names the git directory
            read_only.append(path)
        elif path.is_dir() and not (path / "HEAD").exists():
            read_only.append(path)  # not a repository (yet): nothing may be put in it
        elif path.is_dir():
            pinned.append(path)
            read_only += _git_dir_protections(path)
        if len(read_only) + len(pinned) > _MAX_PROTECTED:
            break
    return read_only, pinned


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
        self._active = 0
        self._lock = threading.Lock()
        self._bpf = self.tmpdir.with_name(self.tmpdir.name + ".seccomp")
        fd = os.open(self._bpf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(seccomp_program(block_unix_sockets=not config.allow_all_unix_sockets))
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

    def _placeholder(self, path: Path, directory: bool) -> bool:
        """Create an empty stand-in at ``path`` (removed again by :meth:`release`)."""
        try:
            if directory:
                path.mkdir()
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError:
            return False
        self._placeholders.append(path)
        return True

    def _protect(self, root: Path) -> list[str]:
        args: list[str] = []
        if root != self.tmpdir:
            # names that do not exist yet get an empty read-only stand-in, so a command
            # cannot create them (a new .git with hooks, a .mcp.json, a .vscode/tasks.json)
            for name in _PROTECTED_FILES:
                if not os.path.lexists(root / name):
                    self._placeholder(root / name, directory=False)
            for name in (*_PROTECTED_DIRS, ".claude", ".git"):
                if not os.path.lexists(root / name):
                    self._placeholder(root / name, directory=True)
        read_only, pinned = _protected_paths(root)
        for path in pinned:
            args += ["--bind", str(path), str(path)]
        for path in read_only:
            args += ["--ro-bind", str(path), str(path)]
        claude = root / ".claude"
        if root != self.tmpdir and claude.is_dir():
            args += ["--ro-bind", str(claude), str(claude)]
        return args

    def _proc_masks(self) -> list[str]:
        """``enableWeakerNestedSandbox`` shares the host's /proc: hide this process and its
        ancestors (their environment holds the secrets tools never get)."""
        args: list[str] = []
        pid = os.getpid()
        seen: set[int] = set()
        while pid > 1 and pid not in seen:
            seen.add(pid)
            ids = {pid}
            with contextlib.suppress(OSError):
                ids.update(int(t) for t in os.listdir(f"/proc/{pid}/task") if t.isdigit())
            for tid in sorted(ids):
                if os.path.isdir(f"/proc/{tid}"):
                    args += ["--tmpfs", f"/proc/{tid}"]
            try:
                with open(f"/proc/{pid}/stat", encoding="latin-1") as fh:
                    pid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                break
        return args

    def wrap(self, argv: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        """The bubblewrap command line running ``argv`` sandboxed, and its environment."""
        bwrap = shutil.which("bwrap")
        if bwrap is None:  # removed since open_sandbox checked: never run unsandboxed
            raise UserError(f"The Bash sandbox is enabled but {_INSTALL_HINT}")
        cfg = self.config
        args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/dev/shm"]
        args += ["--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
        args += ["--new-session", *hardening_flags(cfg.weaker_nested)]
        if cfg.weaker_nested:
            args += ["--ro-bind", "/proc", "/proc", *self._proc_masks()]
        else:  # the command (or the bridge) is PID 1: no unfiltered bubblewrap init beside it
            args += ["--unshare-pid", "--proc", "/proc", "--as-pid-1"]
        with self._lock:
            self._active += 1
            try:
                for root in self.write_roots:
                    args += ["--bind", str(root), str(root)]
                for root in self.write_roots:
                    args += self._protect(root)
            except BaseException:
                self._release_locked()
                raise
        args += ["--chdir", str(self.cwd)]
        block_unix = not cfg.allow_all_unix_sockets
        if self.proxies is not None:  # the bridge forwards the proxies, then applies seccomp
            http, socks = str(self.proxies.http_socket), str(self.proxies.socks_socket)
            flag = "1" if block_unix else "0"
            args += ["--", sys.executable, "-I", "-S", str(_BRIDGE), http, socks, flag, "--"]
        else:  # no network at all: bubblewrap applies the filter itself (fd 3)
            args = ["/bin/sh", "-c", 'exec 3<"$0" && exec "$@"', str(self._bpf), *args]
            args += ["--seccomp", "3", "--"]
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

    def release(self) -> None:
        """A command started from :meth:`wrap` ended: once none runs, the empty stand-ins
        go (so nothing is left in the project between commands)."""
        with self._lock:
            self._release_locked()

    def _release_locked(self) -> None:
        self._active = max(0, self._active - 1)
        if self._active == 0:
            self._remove_placeholders()

    def _remove_placeholders(self) -> None:
        for path in reversed(self._placeholders):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()  # only if still empty
                elif path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
                    path.unlink()
        self._placeholders.clear()

    def close(self) -> None:
        """Stop the proxies and remove what the sandbox created."""
        if self.proxies is not None:
            self.proxies.close()
            self.proxies = None
        with self._lock:
            self._active = 0
            self._remove_placeholders()
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
