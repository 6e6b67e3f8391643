"""Byte forwarding between TCP ports and Unix sockets, for harness containers.

A harness container (`--harness-sandbox docker`) has no network; it reaches exactly the
endpoints it was given through Unix sockets mounted into it: in the orchestrator a `Relay`
listens on each socket (in a folder the container sees read-only) and connects to the
endpoint's host and port, and inside the container `python3 -m envs.forward --forward
127.0.0.1:PORT=SOCKET ...` listens on the container's loopback at the endpoint's own port, so
the endpoint's URL (its host mapped to 127.0.0.1) is unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import threading
from dataclasses import dataclass

from envs.relay import Streams, ThreadedForwarder


@dataclass(frozen=True)
class TcpAddress:
    host: str
    port: int


@dataclass(frozen=True)
class UnixAddress:
    path: str


Address = TcpAddress | UnixAddress


async def _open(address: Address) -> Streams:
    if isinstance(address, UnixAddress):
        return await asyncio.open_unix_connection(address.path)
    return await asyncio.open_connection(address.host, address.port)


class Relay(ThreadedForwarder):
    """Accepts on `listen` and forwards each connection to `target`, on its own thread."""

    def __init__(self, listen: Address, target: Address, socket_mode: int = 0o600) -> None:
        connect = functools.partial(_open, target)
        if isinstance(listen, UnixAddress):
            super().__init__(lambda handle: asyncio.start_unix_server(handle, listen.path), connect)
            os.chmod(listen.path, socket_mode)  # who may connect: the socket's mode says
            self.port = 0
        else:
            super().__init__(
                lambda handle: asyncio.start_server(handle, listen.host, listen.port), connect
            )
            self.port = self._server.sockets[0].getsockname()[1]


def _forward(spec: str) -> tuple[TcpAddress, UnixAddress]:
    where, _, path = spec.partition("=")
    host, _, port = where.rpartition(":")
    if not path or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT=SOCKET, got {spec!r}")
    return TcpAddress(host, int(port)), UnixAddress(path)


def main(argv: list[str] | None = None) -> None:
    """In a harness container: listen on loopback ports, forward to mounted sockets, and wait
    (the harness's commands are run beside this process; the container stops with it)."""
    parser = argparse.ArgumentParser(prog="python3 -m envs.forward")
    parser.add_argument("--forward", type=_forward, action="append", default=[])
    args = parser.parse_args(argv)
    relays = [Relay(listen, target) for listen, target in args.forward]
    print("relays ready", flush=True)  # the orchestrator waits for this line
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    for relay in relays:
        relay.close()


if __name__ == "__main__":
    main()
