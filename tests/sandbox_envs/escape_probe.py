"""A test-only environment whose tools try to reach outside their sandbox.

Hosted by the sandbox tests on every backend (`--env-module escape_probe --env-path
tests/sandbox_envs`; mounted read-only into containers). Its tools report what they managed to
do instead of failing, so a test can tell "blocked" from "broken".
"""

from __future__ import annotations

import os
import socket

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
