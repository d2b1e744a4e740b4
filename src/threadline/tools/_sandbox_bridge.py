"""Runs *inside* the Bash sandbox (``python -I -S _sandbox_bridge.py ...``): stdlib only.

``_sandbox_bridge.py HTTP_SOCK SOCKS_SOCK SECCOMP -- ARGV...``

1. Listens on 127.0.0.1:3128 (HTTP proxy) and 127.0.0.1:1080 (SOCKS5) in the sandbox's
   own network namespace and forwards each connection to the host-side filtering proxy's
   Unix socket (``-`` for no proxy: nothing listens, the network is simply absent).
2. Starts ``ARGV`` as the leader of its own process group, with a seccomp filter that
   refuses ``ptrace``, ``process_vm_readv``/``writev``, ``kcmp``, ``pidfd_getfd`` and
   ``io_uring_setup`` with EPERM and (``SECCOMP=1``) ``socket(AF_UNIX, ...)``, so the
   command cannot talk to host daemons through Unix sockets it can see on the read-only
   filesystem (the Docker or PostgreSQL socket, say), nor build sockets behind seccomp's
   back, nor borrow this unfiltered process's. The filter is installed in the child before
   ``exec``, while this process has no threads yet; this process keeps its own Unix sockets
   for the forwarding and makes itself non-dumpable (no ``/proc/<pid>/mem`` for the command).
3. Is PID 1 of the sandbox (``bwrap --as-pid-1``): reaps orphans, and exits with the
   command's status once it ends (the PID namespace then takes anything the command left
   behind with it).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import select
import signal
import socket
import struct
import subprocess
import sys
import threading

HTTP_PORT = 3128
SOCKS_PORT = 1080

_ARCH = {  # machine -> (AUDIT_ARCH_*, __NR_socket, __NR_io_uring_setup)
    "x86_64": (0xC000003E, 41, 425),
    "aarch64": (0xC00000B7, 198, 425),
}
# ptrace and its relatives: reading or writing another process's memory, or taking its
# file descriptors, would let a command borrow an unfiltered process's syscalls (the bridge).
_DEBUG_SYSCALLS = {  # machine -> ptrace, process_vm_readv, process_vm_writev, kcmp, pidfd_getfd
    "x86_64": (101, 310, 311, 312, 438),
    "aarch64": (117, 270, 271, 272, 438),
}


def seccomp_program(block_unix_sockets: bool = True) -> bytes:
    """Classic BPF: deny the ptrace family, io_uring_setup, x32 and foreign-arch calls, and
    (``block_unix_sockets``) socket(AF_UNIX)."""
    arch, nr_socket, nr_uring = _ARCH[platform.machine()]
    denied = (nr_uring, *_DEBUG_SYSCALLS[platform.machine()])
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO|EPERM
    body: list[tuple[int, int, int, int]] = []
    # each denied number: jump to the final deny; offsets are fixed up below
    for nr in denied:
        body.append((jeq, -1, 0, nr))
    if block_unix_sockets:
        body += [
            (jeq, 0, 2, nr_socket),  # not socket() -> allow
            (ld, 0, 0, 16),  # A = low 32 bits of args[0] (the domain)
            (jeq, -1, 0, 1),  # AF_UNIX -> deny
        ]
    program = [
        (ld, 0, 0, 4),  # A = arch
        (jeq, 1, 0, arch),  # native arch -> go on, else deny (fixed up)
        (ret, 0, 0, deny),
        (ld, 0, 0, 0),  # A = nr
        (jge, -1, 0, 0x40000000),  # x32 ABI -> deny
        *body,
        (ret, 0, 0, allow),
        (ret, 0, 0, deny),
    ]
    last = len(program) - 1
    fixed = []
    for i, (code, jt, jf, k) in enumerate(program):
        if jt == -1:
            jt = last - i - 1
        fixed.append((code, jt, jf, k))
    return b"".join(struct.pack("=HBBI", *insn) for insn in fixed)


def _apply_seccomp(program: bytes) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
    buffer = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if libc.prctl(22, 2, ctypes.addressof(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP failed")


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until both directions are closed. The same loop as the host-side
    proxy's ``_netproxy._relay``, kept here on purpose: this file runs in the sandbox as
    ``python -I -S``, stdlib only, and must not import threadline."""
    peers = {a: b, b: a}
    try:
        while peers:
            readable, _, _ = select.select(list(peers), [], [], 300)
            if not readable:
                return
            for src in readable:
                dst = peers[src]
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    del peers[src]
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    continue
                dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()


def _forward(client: socket.socket, unix_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(unix_path)
    except OSError:
        client.close()
        upstream.close()
        return
    _relay(client, upstream)


def _serve(listener: socket.socket, unix_path: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_forward, args=(client, unix_path), daemon=True).start()


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    return listener


def _not_dumpable() -> None:
    """Make this process non-dumpable: with no capabilities in the sandbox, the command can
    then neither ptrace it nor open its ``/proc/<pid>/mem`` (it keeps Unix sockets and runs
    unfiltered). An ``exec`` makes the command's processes dumpable again."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "PR_SET_DUMPABLE failed")


def main(argv: list[str]) -> int:
    http_sock, socks_sock, use_seccomp, sep, *command = argv
    if sep != "--" or not command:
        print("usage: _sandbox_bridge.py HTTP SOCKS SECCOMP -- ARGV...", file=sys.stderr)
        return 2
    _not_dumpable()
    listeners = [
        (_listen(port), path)
        for port, path in ((HTTP_PORT, http_sock), (SOCKS_PORT, socks_sock))
        if path != "-"
    ]
    program = seccomp_program(block_unix_sockets=use_seccomp == "1")
    child = subprocess.Popen(
        command,
        preexec_fn=lambda: _apply_seccomp(program),
        start_new_session=True,
    )
    for listener, path in listeners:  # threads only after the fork above
        threading.Thread(target=_serve, args=(listener, path), daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda s, _f: os.killpg(child.pid, signal.SIGKILL))
    # This process is PID 1 of the sandbox: it reaps every orphan, until the command ends.
    code = 0
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child.pid:
            code = os.waitstatus_to_exitcode(status)
            child.returncode = code
            break
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGKILL)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
