"""`python -P -m envs.server.forkserver --fd N`: fork one confined worker per session.

Started by `envs.server.workers.ForkServer` with one end of a socket pair as `--fd` and a clean
environment. It imports the environments once (so a worker starts in milliseconds, by `fork`),
never holds a token, and serves only that socket pair: each message carries the socket of a new
session's worker; it forks, replies with the worker's pid, reaps workers that end and removes
their working folders. When its parent goes away it kills every worker and exits.

A worker gets a private working folder (random name, in a folder nobody can list), confines
itself (`envs.server.confinement`) and only then imports the task's environment, so release
code never runs unconfined.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import secrets
import select
import shutil
import signal
import socket
import sys
import tempfile
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from envs.registry import (
    UnknownEnvironment,
    environment_for,
    environments,
    load_environment_module,
)
from envs.sdk import EnvironmentLoadError, ToolEnv, format_validation_error
from envs.server import confinement
from envs.server.workers import recv_message, send_message
from envs.task import Task


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m envs.server.forkserver", description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="The socket to the parent.")
    parser.add_argument("--env-module", action="append", default=[])
    parser.add_argument("--env-path", action="append", type=Path, default=[])
    parser.add_argument("--require-confinement", action="store_true")
    parser.add_argument("--spares", type=int, default=2, help="Workers forked ahead.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    parent = socket.socket(fileno=args.fd)
    # No parent-death signal here: it fires when the *thread* that started us ends, and the
    # in-process sandbox starts its fork server from whichever episode thread comes first.
    # The parent's death closes `parent`, and _serve returns on that EOF, killing every worker.
    confinement.not_dumpable()
    confinement.available()  # import the seccomp bindings once, before forking
    # valuegym's own release adapter (not release code, which workers import once confined):
    # imported once here rather than once per session
    import envs.agent_valuebench.adapter  # noqa: F401

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when we stop
    extra: dict[str, type[ToolEnv]] = {}
    try:
        for module in args.env_module:
            extra.update(load_environment_module(module, args.env_path))
        names = sorted({*environments(), *extra})
    except Exception as exc:
        send_message(parent, {"error": f"cannot load environments: {type(exc).__name__}: {exc}"})
        return 2
    if args.require_confinement and not confinement.available():
        send_message(parent, {"error": "libseccomp is missing: workers cannot be confined"})
        return 2
    root = Path(tempfile.mkdtemp(prefix="valuegym-sessions-"))
    root.chmod(0o300)  # workers' folders can be entered by name, never listed
    gc.freeze()  # keep the imported modules' pages shared with every worker
    send_message(parent, {"environments": names, "confined": confinement.available()})
    workers = _Workers(root, extra, args.require_confinement, args.spares)
    try:
        _serve(parent, workers)
    finally:
        workers.kill_all()
        root.chmod(0o700)
        shutil.rmtree(root, ignore_errors=True)
    return 0


class _Workers:
    """Forked workers by pid, and a few spares forked ahead so a session open does not wait
    for a fork (forking this interpreter takes ~10 ms; a spare answers in ~1)."""

    def __init__(
        self, root: Path, extra: Mapping[str, type[ToolEnv]], required: bool, spares: int
    ) -> None:
        self.root, self.extra, self.required, self.spares = root, extra, required, spares
        self.folders: dict[int, Path] = {}
        self.ready: list[tuple[int, socket.socket]] = []

    def fork(self, parent: socket.socket) -> tuple[int, socket.socket]:
        mine, theirs = socket.socketpair()
        workdir = self.root / secrets.token_hex(16)
        pid = os.fork()
        if pid == 0:
            parent.close()
            mine.close()
            for _, spare in self.ready:
                spare.close()
            _worker(theirs, workdir, self.extra, self.required)
        theirs.close()
        self.folders[pid] = workdir
        return pid, mine

    def take(self, parent: socket.socket) -> tuple[int, socket.socket]:
        return self.ready.pop(0) if self.ready else self.fork(parent)

    def refill(self, parent: socket.socket) -> None:
        if len(self.ready) < self.spares:
            self.ready.append(self.fork(parent))

    def reap(self) -> None:
        while self.folders:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            workdir = self.folders.pop(pid, None)
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
            self.ready = [(p, s) for p, s in self.ready if p != pid]

    def kill_all(self) -> None:
        for pid in self.folders:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self.folders):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _serve(parent: socket.socket, workers: _Workers) -> None:
    while True:
        idle = len(workers.ready) >= workers.spares
        readable, _, _ = select.select([parent], [], [], 0.5 if idle else 0)
        workers.reap()
        if not readable:
            workers.refill(parent)
            continue
        try:
            message = parent.recv(64)
        except OSError:
            return
        if not message:
            return  # the server is gone
        pid, channel = workers.take(parent)
        socket.send_fds(parent, [json.dumps({"pid": pid}).encode()], [channel.fileno()])
        channel.close()


# -- a worker ------------------------------------------------------------------------------------


def _worker(
    channel: socket.socket, workdir: Path, extra: Mapping[str, type[ToolEnv]], required: bool
) -> NoReturn:
    code = 0
    try:
        confinement.die_with_parent()
        workdir.mkdir(mode=0o700)
        os.chdir(workdir)
        os.environ["TMPDIR"] = str(workdir)
        tempfile.tempdir = None
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        confinement.confine_worker(required)
        _serve_session(channel, extra)
    except EOFError:
        pass  # the server closed the session
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)


def _open(message: dict[str, Any], extra: Mapping[str, type[ToolEnv]]) -> ToolEnv:
    """The task's environment, reset; `ValueError` with the reason when it cannot start."""
    task = Task.model_validate(message["task"])
    try:
        env = environment_for(task, extra)()
    except UnknownEnvironment as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:  # an imported task's release files or code
        raise ValueError(f"task {task.id}: {type(exc).__name__}: {exc}") from None
    try:
        env.reset(seed=int(message["seed"]), options={"task": task})
    except ValidationError as exc:
        problems = "; ".join(format_validation_error(exc, "initial_state"))
        raise ValueError(f"task {task.id}: {problems}") from None
    except EnvironmentLoadError as exc:
        raise ValueError(f"task {task.id}: {exc}") from None
    except Exception as exc:
        raise ValueError(f"task {task.id}: {type(exc).__name__}: {exc}") from None
    return env


def _state_message(env: ToolEnv, **extra: Any) -> bytes:
    return json.dumps({**extra, "state": env.state}, default=str).encode()


def _serve_session(channel: socket.socket, extra: Mapping[str, type[ToolEnv]]) -> None:
    try:
        env = _open(recv_message(channel), extra)
    except ValueError as exc:
        send_message(channel, {"error": str(exc)})
        return
    tools = [spec.model_dump(mode="json") for spec in env.tool_specs()]
    send_message(channel, _state_message(env, tools=tools))
    while True:
        message = recv_message(channel)
        if message.get("op") == "call":
            env.call(str(message.get("tool", "")), message.get("arguments"))
            entry = env.tool_log[-1].model_dump_json()
            send_message(channel, b'{"entry":' + entry.encode() + b"}")
        elif message.get("op") == "state":
            send_message(channel, _state_message(env))
        else:
            send_message(channel, {"error": f"unknown operation {message.get('op')!r}"})


if __name__ == "__main__":
    sys.exit(main())
