"""A loopback TCP port relayed to a Unix socket, and the checked way to reach such a socket.

Sandbox containers have no network interface besides their own loopback; their server accepts
on a Unix socket that the orchestrator created in a private host folder (the container never
writes to the host: see `envs.docker_sandbox`). An agent that needs a URL (an external CLI
harness speaking MCP) gets one from this relay, which runs in the orchestrator and listens on
127.0.0.1 only. Every connection the relay makes goes to the socket it was given and nothing
else: the path is opened without following symlinks and must still be that very socket (same
device and inode), so even a path someone managed to swap could not lead it to, say, the host's
Docker API.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

SocketIdentity = tuple[int, int]
"""(st_dev, st_ino) of a Unix socket file."""


Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class NotOurSocket(OSError):
    """The path is not (or no longer) the Unix socket it should be."""


def socket_identity(path: str | Path) -> SocketIdentity:
    """The identity of the Unix socket at `path` (not following a symlink)."""
    info = os.lstat(path)
    if not stat.S_ISSOCK(info.st_mode):
        raise NotOurSocket(f"{path} is not a Unix socket")
    return info.st_dev, info.st_ino


def connect_unix_checked(
    path: str | Path, identity: SocketIdentity | None, *, blocking: bool = True
) -> socket.socket:
    """A connection to the Unix socket at `path`, refusing anything else.

    The final component is opened with `O_PATH | O_NOFOLLOW` (a symlink fails), checked to be a
    socket (and `identity`, when given), and the connection is made through that open file
    (`/proc/self/fd/N`), so the checked inode is the one connected to, with no window in
    between. Where there is no `O_PATH` (not Linux) it checks with `lstat` and connects by path.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(blocking)  # unblocked, a full backlog fails at once instead of waiting
    try:
        o_path = getattr(os, "O_PATH", 0)
        if not o_path:
            if identity is not None and socket_identity(path) != identity:
                raise NotOurSocket(f"{path} is no longer the sandbox's socket")
            sock.connect(str(path))
        else:
            fd = os.open(path, o_path | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                info = os.fstat(fd)
                if not stat.S_ISSOCK(info.st_mode):
                    raise NotOurSocket(f"{path} is not a Unix socket")
                if identity is not None and (info.st_dev, info.st_ino) != identity:
                    raise NotOurSocket(f"{path} is no longer the sandbox's socket")
                sock.connect(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
    except BaseException:
        sock.close()
        raise
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class ThreadedForwarder:
    """A server on its own event-loop thread that pipes each accepted connection to the
    stream `connect` opens; `start` says where it listens."""

    def __init__(
        self,
        start: Callable[[ConnectionHandler], Awaitable[asyncio.Server]],
        connect: Callable[[], Awaitable[Streams]],
    ) -> None:
        self._connect = connect
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="valuegym-relay", daemon=True
        )
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(start(self._handle), self._loop).result(
            timeout=10
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await self._connect()
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


class UnixRelay(ThreadedForwarder):
    """Accepts on `127.0.0.1:<port>` and forwards each connection to the socket at
    `socket_path`: the one that is there now (its identity is taken here), never another."""

    def __init__(self, socket_path: str, identity: SocketIdentity | None = None) -> None:
        self._path = socket_path
        self._identity = identity or socket_identity(socket_path)
        super().__init__(
            lambda handle: asyncio.start_server(handle, "127.0.0.1", 0), self._open_checked
        )
        self.port: int = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _open_checked(self) -> Streams:
        upstream = connect_unix_checked(self._path, self._identity, blocking=False)
        return await asyncio.open_unix_connection(sock=upstream)
