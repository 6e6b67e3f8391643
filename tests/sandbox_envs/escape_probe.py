"""Test-only environments whose tools try to reach outside their sandbox.

Hosted by the sandbox tests on every backend (`--env-module escape_probe --env-path
tests/sandbox_envs`; mounted read-only into containers). Their tools report what they managed
to do instead of failing, so a test can tell "blocked" from "broken". `escape_probe` tries the
host (files, network); `hostile_probe` is what a hostile release environment would do to the
sandbox itself and to the other sessions in it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from envs.sdk import StateModel, ToolEnv, ToolError, tool


class ProbeState(StateModel):
    notes: dict[str, str] = {}


class EscapeProbe(ToolEnv):
    name = "escape_probe"
    description = "A probe that tries to write files and open connections from inside a tool."
    State = ProbeState

    @tool
    def write_note(self, key: str, text: str) -> dict:
        """Store a note in the environment's state.

        Args:
            key: The note's name.
            text: What to store.
        """
        self.state["notes"][key] = text
        return {"key": key}

    @tool
    def read_notes(self) -> dict:
        """All notes in the environment's state."""
        return dict(self.state["notes"])

    @tool
    def wipe_notes(self) -> dict:
        """Delete every note (tasks keep this tool off their allow-list)."""
        self.state["notes"] = {}
        return {"wiped": True}

    @tool
    def write_file(self, path: str, text: str) -> dict:
        """Try to write a file anywhere on the filesystem the server sees.

        Args:
            path: Absolute path of the file.
            text: Its content.
        """
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise ToolError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return {"written": path}

    @tool
    def connect(self, host: str, port: int) -> dict:
        """Try to open a TCP connection and send a few bytes.

        Args:
            host: Address to connect to.
            port: TCP port.
        """
        try:
            with socket.create_connection((host, port), timeout=2) as conn:
                conn.sendall(b"escaped")
        except OSError as exc:
            raise ToolError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
        return {"connected": f"{host}:{port}"}

    @tool
    def whereami(self) -> dict:
        """The server process's user id and network interfaces."""
        return {
            "uid": os.getuid(),
            "interfaces": sorted(name for _, name in socket.if_nameindex()),
        }


class HostileProbe(ToolEnv):
    """Environment code that attacks its sandbox, the way a hostile release environment would.

    Each tool tries one escape and reports what it achieved, so a test can assert the attempt
    failed (and was really made).
    """

    name = "hostile_probe"
    description = "Tools that try to escape the sandbox or tamper with other sessions."
    State = ProbeState

    @tool
    def symlink(self, target: str, link: str) -> dict:
        """Replace `link` by a symlink to `target`.

        Args:
            target: What the link should point to.
            link: The path to replace.
        """
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
            os.symlink(target, link)
        except OSError as exc:
            raise ToolError(f"cannot link {link}: {exc.strerror or exc}") from exc
        return {"linked": link}

    @tool
    def fill(self, path: str, megabytes: int) -> dict:
        """Write up to `megabytes` MiB into `path`; report how much got written.

        Args:
            path: The file to write.
            megabytes: How much to try.
        """
        written, error = 0, None
        try:
            with open(path, "wb") as handle:
                for _ in range(megabytes):
                    handle.write(b"\0" * (1 << 20))
                    handle.flush()
                    written += 1 << 20
        except OSError as exc:
            error = exc.strerror or str(exc)
        return {"written": written, "error": error}

    @tool
    def remove(self, path: str) -> dict:
        """Remove a file.

        Args:
            path: The file.
        """
        with contextlib.suppress(OSError):
            os.unlink(path)
        return {"removed": path}

    @tool
    def plant_module(self, folder: str, name: str) -> dict:
        """Write a Python module `name` into `folder` (created if need be); report success.

        Args:
            folder: Where to put it ('' for the working folder).
            name: The module's name.
        """
        try:
            if folder:
                os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{name}.py"), "w") as handle:
                handle.write("PLANTED = True\n")
        except OSError as exc:
            return {"planted": False, "error": exc.strerror or str(exc)}
        return {"planted": True, "cwd": os.getcwd()}

    @tool
    def import_fresh(self, name: str) -> dict:
        """Import a module and say where it came from.

        Args:
            name: The module's name.
        """
        loaded = name in sys.modules
        module = importlib.import_module(name)
        return {
            "already_loaded": loaded,
            "file": getattr(module, "__file__", None),
            "planted": bool(getattr(module, "PLANTED", False)),
        }

    @tool
    def writable_import_path(self) -> dict:
        """The import path entries this process could write into (or create)."""
        writable = []
        for entry in sys.path:
            probe = Path(entry or ".").absolute()
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            if os.access(probe, os.W_OK):
                writable.append(entry)
        return {"path": list(sys.path), "writable": writable}

    @tool
    def snoop(self, needles: list[str]) -> dict:
        """Look for `needles` in every other process's environment, command line and memory,
        and in the files under /tmp and /dev/shm; report which processes' environment,
        memory or working folder could be read at all.

        Args:
            needles: Secrets to look for.
        """
        wanted = [n.encode() for n in needles if n]
        found: set[str] = set()
        readable: dict[str, list[str]] = {}
        me = os.getpid()

        def look(where: str, data: bytes) -> None:
            for needle in wanted:
                if needle in data:
                    found.add(f"{where}: {needle.decode()[:8]}...")

        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            with contextlib.suppress(OSError):  # readable by anyone: no secret belongs there
                look(f"/proc/{entry}/cmdline", Path(f"/proc/{entry}/cmdline").read_bytes())
            with contextlib.suppress(OSError):
                look(f"/proc/{entry}/environ", Path(f"/proc/{entry}/environ").read_bytes())
                readable.setdefault(entry, []).append("environ")
            with contextlib.suppress(OSError):
                os.listdir(f"/proc/{entry}/cwd")
                readable.setdefault(entry, []).append("cwd")
            with contextlib.suppress(OSError):
                look(f"/proc/{entry}/mem", _memory(int(entry)))
                readable.setdefault(entry, []).append("mem")
        for root in ("/tmp", "/dev/shm"):
            for folder, _, files in os.walk(root):
                for file in files:
                    with contextlib.suppress(OSError):
                        look(os.path.join(folder, file), Path(folder, file).read_bytes()[: 1 << 24])
        return {"found": sorted(found), "readable": readable}

    @tool
    def tamper(self) -> dict:
        """Try to alter other sessions: patch the code that builds records, signal, trace and
        fork, reach the server's socket, enter other workers' folders."""
        import jsonpatch

        from envs.protocol import Finalized

        def empty(*args, **kwargs):
            return Finalized(final_state={}, state_diff=[], tool_log=[])

        ToolEnv.finalize = empty  # type: ignore[method-assign]
        ToolEnv.call = lambda self, name, arguments: None  # type: ignore[method-assign,assignment]
        jsonpatch.make_patch = lambda a, b: jsonpatch.JsonPatch([])  # type: ignore[assignment]
        with contextlib.suppress(ImportError):
            from envs.server import workers

            workers.WorkerSession.finalize = empty  # type: ignore[method-assign]
        report: dict[str, Any] = {"signalled": [], "memory_written": []}
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != me:
                with contextlib.suppress(OSError):
                    os.kill(int(entry), signal.SIGSTOP)
                    os.kill(int(entry), signal.SIGCONT)
                    report["signalled"].append(int(entry))
                with contextlib.suppress(OSError), open(f"/proc/{entry}/mem", "r+b"):
                    report["memory_written"].append(int(entry))
        try:
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            report["fork"] = "forked"
        except OSError as exc:
            report["fork"] = exc.strerror
        try:
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
            report["unix_socket"] = "created"
        except OSError as exc:
            report["unix_socket"] = exc.strerror
        entered = []
        for root in {Path.cwd().parent, *Path("/tmp").glob("valuegym-sessions-*")}:
            with contextlib.suppress(OSError):
                entered += [name for name in os.listdir(root) if name != Path.cwd().name]
        report["other_workers_listed"] = entered
        return report

    @tool
    def sleep(self, seconds: float) -> dict:
        """Hold the call for a while.

        Args:
            seconds: How long.
        """
        time.sleep(seconds)
        return {"slept": seconds}


def _memory(pid: int) -> bytes:
    """Up to 64 MiB of a process's readable memory (what ptrace-level access would give)."""
    chunks, total = [], 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
        for line in maps:
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            if "r" not in line.split()[1] or total > 1 << 26:
                continue
            with contextlib.suppress(OSError, ValueError, OverflowError):
                mem.seek(start)
                chunk = mem.read(min(end - start, 1 << 24))
                chunks.append(chunk)
                total += len(chunk)
    return b"".join(chunks)
