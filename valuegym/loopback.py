"""An ASGI app served by uvicorn on a loopback socket bound before the server starts.

Binding first means the port is known (port 0 picks a free one) and connections queue from the
moment the constructor returns, so a caller can print or hand out the URL at once.
"""

from __future__ import annotations

import socket
import threading

import uvicorn
from starlette.types import ASGIApp

from envs.protocol import KEEP_ALIVE_S


class LoopbackServer:
    """`with LoopbackServer(app) as s: s.url` serves from a thread; `serve_forever()` blocks."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for
        # sockets whose protocol says TCP; without it keep-alive requests stall ~40 ms each
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(128)
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
            timeout_keep_alive=KEEP_ALIVE_S,  # clients retire idle connections, never the server
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LoopbackServer:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"loopback-{self.port}",
            daemon=True,
        )
        self._thread.start()
        waited = threading.Event()
        for _ in range(int(timeout / 0.02)):
            if self._server.started:
                return self
            waited.wait(0.02)
        self.stop()
        raise RuntimeError(f"server on {self.url} did not start in {timeout}s")

    def serve_forever(self) -> None:
        self._server.run(sockets=[self._socket])

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
