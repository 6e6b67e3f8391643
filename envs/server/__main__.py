"""`python -P -m envs.server`: run the sandbox server (its control token's SHA-256 comes from the
environment, `VALUEGYM_CONTROL_TOKEN_SHA256`).

On start it prints one JSON line to stdout, `{"event": "ready", "url": ...}`, once it accepts
connections; backends that start it wait for that line. Anything printed later goes to stderr.
Run it with `-P` (or `-I`) so its working folder is not on the import path.

`--listen-fd-from PATH` (the docker backend): instead of creating a socket, connect to the Unix
socket at PATH and receive the listening socket its peer made, so the server never creates
anything in a host folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

from envs.protocol import DEFAULT_MCP_NAME, KEEP_ALIVE_S
from envs.server import confinement
from envs.server.api import CONTROL_DIGEST_ENV
from envs.server.app import SandboxServer, audit
from envs.server.sessions import SessionTable
from envs.server.workers import ForkServer, WorkerLimits


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m envs.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="TCP address to listen on.")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one.")
    parser.add_argument("--uds", type=Path, help="Listen on this Unix socket instead of TCP.")
    parser.add_argument(
        "--listen-fd-from",
        type=Path,
        help="Receive the (Unix) listening socket over the Unix socket at this path.",
    )
    parser.add_argument("--lease-s", type=float, default=900.0, help="Default session lease.")
    parser.add_argument(
        "--idle-exit-s",
        type=float,
        default=0.0,
        help="Exit after this long with no session and no request (0: never).",
    )
    parser.add_argument(
        "--mcp-name", default=DEFAULT_MCP_NAME, help="The name the MCP endpoint gives itself."
    )
    parser.add_argument(
        "--mcp-instructions",
        default=None,
        help="Instructions the MCP endpoint sends agents (default: none).",
    )
    parser.add_argument(
        "--env-module",
        action="append",
        default=[],
        help="Also host the environments of this module (repeatable).",
    )
    parser.add_argument(
        "--env-path",
        action="append",
        type=Path,
        default=[],
        help="Folder to find --env-module modules in (repeatable).",
    )
    parser.add_argument(
        "--call-timeout-s", type=float, default=60.0, help="Limit on one tool call or finalize."
    )
    parser.add_argument(
        "--spare-workers", type=int, default=2, help="Session workers forked ahead of need."
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=4 << 20,
        help="Largest agent-plane request body (413 beyond).",
    )
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=8,
        help="Most agent-plane requests one session may have in progress (429 beyond).",
    )
    parser.add_argument(
        "--keep-alive-s",
        type=int,
        default=KEEP_ALIVE_S,
        help="How long an idle connection stays open (longer than clients' pool expiry).",
    )
    parser.add_argument(
        "--require-confinement",
        action="store_true",
        help="Refuse to start unless session workers get the seccomp filter (docker does).",
    )
    parser.add_argument(
        "--parent-pid", type=int, help="Exit when this process (the orchestrator) is gone."
    )
    return parser.parse_args(argv)


class _AnnouncingServer(uvicorn.Server):
    """Prints the ready line once the listening socket accepts connections."""

    def __init__(self, config: uvicorn.Config, where: dict[str, object]) -> None:
        super().__init__(config)
        self._where = where

    async def startup(self, sockets=None) -> None:  # type: ignore[no-untyped-def]
        await super().startup(sockets)
        if not self.started:
            return
        where = dict(self._where)
        if "port" in where and self.servers:
            port = self.servers[0].sockets[0].getsockname()[1]
            where = {"url": f"http://{where['host']}:{port}"}
        print(json.dumps({"event": "ready", "pid": os.getpid(), **where}), flush=True)
        os.dup2(2, 1)  # nobody reads stdout past the ready line: later output goes to the log


def _log_audit_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("audit %(message)s"))
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False


def receive_listener(path: Path, timeout_s: float = 30.0) -> int:
    """The file descriptor of the listening Unix socket sent over the socket at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout_s)
        conn.connect(str(path))
        _, fds, _, _ = socket.recv_fds(conn, 64, 1)
    if len(fds) != 1:
        raise RuntimeError(f"{path} sent no listening socket")
    listener = socket.socket(fileno=fds[0])
    listening = listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if listener.family != socket.AF_UNIX or not listening:
        listener.close()
        raise RuntimeError(f"{path} sent something other than a listening Unix socket")
    return listener.detach()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    digest = os.environ.pop(CONTROL_DIGEST_ENV, "")
    if not digest:
        print(f"error: set {CONTROL_DIGEST_ENV} to the control token's SHA-256", file=sys.stderr)
        return 2
    confinement.not_dumpable()
    _log_audit_to_stderr()
    try:
        forks = ForkServer(
            args.env_module,
            args.env_path,
            require_confinement=args.require_confinement,
            spares=args.spare_workers,
        )
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    limits = WorkerLimits(call_timeout_s=args.call_timeout_s)
    table = SessionTable(forks, default_lease_s=args.lease_s, limits=limits)
    server: uvicorn.Server | None = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True

    app = SandboxServer(
        table,
        digest,
        idle_exit_s=args.idle_exit_s or None,
        on_idle=stop,
        parent_pid=args.parent_pid,
        mcp_name=args.mcp_name,
        mcp_instructions=args.mcp_instructions,
        max_request_bytes=args.max_request_bytes,
        max_inflight=args.max_inflight,
    ).app()
    common = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "timeout_keep_alive": args.keep_alive_s,
    }
    if args.listen_fd_from:
        try:
            fd = receive_listener(args.listen_fd_from)
        except (OSError, RuntimeError) as exc:
            print(f"error: no listening socket from {args.listen_fd_from}: {exc}", file=sys.stderr)
            forks.close()
            return 2
        config = uvicorn.Config(app, fd=fd, **common)  # type: ignore[arg-type]
        where: dict[str, object] = {"fd": fd}
    elif args.uds:
        config = uvicorn.Config(app, uds=str(args.uds), **common)  # type: ignore[arg-type]
        where = {"uds": str(args.uds)}
    else:
        config = uvicorn.Config(app, host=args.host, port=args.port, **common)  # type: ignore[arg-type]
        where = {"host": args.host, "port": args.port}
    server = _AnnouncingServer(config, where)
    try:
        server.run()
    finally:
        table.close_all()
        forks.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
