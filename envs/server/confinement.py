"""What a session worker's environment code can no longer do once the worker is confined.

Every session's environment runs in a process of its own, as the same user as the server and
the other sessions' workers. Same-user processes can normally signal, trace and read each
other, so the confinement takes those away (Linux only):

- the process is not *dumpable*: no other process of the user can ptrace it or read its
  memory, environment, open files or working folder through `/proc`;
- a seccomp filter refuses (EPERM) signals to any other process, ptrace and cross-process
  memory access, new processes (`fork`, `vfork`, `clone` without `CLONE_THREAD`; `clone3` is
  ENOSYS so the C library falls back to `clone`, which can be checked), Unix sockets (the
  server's socket, the fork server's) and io_uring (which would bypass the filter);
- the kernel's out-of-memory killer picks it before the server (`oom_score_adj` 1000).

The server and the fork server make themselves non-dumpable too. Where libseccomp is missing
(`available()` is False) workers run with only the other two; the docker backend requires the
filter.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import sys

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
CLONE_THREAD = 0x00010000

_BLOCKED = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "fork",
    "vfork",
    "tkill",
    "pidfd_open",
    "pidfd_send_signal",
    "pidfd_getfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)
"""Refused outright."""

_OWN_PROCESS_ONLY = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
"""Allowed only with the worker's own pid as the first argument."""


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _prctl(option: int, value: int) -> bool:
    return _LIBC is not None and _LIBC.prctl(option, value, 0, 0, 0) == 0


def not_dumpable() -> bool:
    """Hide this process from the user's other processes (ptrace, `/proc/<pid>/mem`, ...)."""
    return _prctl(PR_SET_DUMPABLE, 0)


def die_with_parent() -> bool:
    """Get SIGKILL when the parent process dies, so nothing outlives its server."""
    return _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def oom_first() -> None:
    """Ask the out-of-memory killer to pick this process first (raising it needs no privilege)."""
    with contextlib.suppress(OSError):
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)


def _seccomp():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        import pyseccomp
    except (ImportError, RuntimeError, OSError):  # RuntimeError: libseccomp not found
        return None
    return pyseccomp


def available() -> bool:
    """Whether workers here get the seccomp filter (Linux with libseccomp)."""
    return _seccomp() is not None


class ConfinementUnavailable(RuntimeError):
    pass


def confine_worker(required: bool) -> bool:
    """Confine this (freshly forked, single-threaded) worker; returns whether seccomp is on.

    Raises `ConfinementUnavailable` when `required` and the filter cannot be loaded.
    """
    not_dumpable()
    oom_first()
    seccomp = _seccomp()
    if seccomp is None:
        if required:
            raise ConfinementUnavailable("libseccomp is not available to confine the worker")
        return False
    me = os.getpid()
    deny = seccomp.ERRNO(errno.EPERM)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in _BLOCKED:
        with contextlib.suppress(ValueError, OSError):  # a syscall this architecture lacks
            rules.add_rule(deny, name)
    for name in _OWN_PROCESS_ONLY:
        rules.add_rule(deny, name, seccomp.Arg(0, seccomp.NE, me))
    rules.add_rule(deny, "socket", seccomp.Arg(0, seccomp.EQ, socket.AF_UNIX))
    rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_THREAD, 0))
    with contextlib.suppress(ValueError, OSError):
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    try:
        rules.load()
    except OSError as exc:
        if required:
            raise ConfinementUnavailable(f"could not load the seccomp filter: {exc}") from exc
        return False
    return True
