"""A real Ray cluster on this machine: a head and worker nodes, each its own `ray start` process.

For trying `--executor ray` without machines, and for the tests and benchmarks that need a
cluster: every node is started by the `ray` command as on a real cluster (not `ray.init()` in
this process), small (few CPUs, a 100 MB object store, no dashboard), in a temporary folder of
its own and on a free port, so several clusters on one machine never meet. `ray stop` would
stop every Ray process of the machine, everyone's; `stop()` ends only this cluster's processes:
the `ray start` processes, everything they started, and anything else naming its folder.

    with LocalRayCluster(workers=[WorkerSpec(num_cpus=1)]) as cluster:
        cluster.add_node(num_cpus=2, env={"VALUEGYM_ENDPOINTS": "node-2.yaml"})
        ...  # valuegym run --executor ray --ray-address {cluster.address}
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

OBJECT_STORE_BYTES = 100 * 1024 * 1024
STARTED = "Ray runtime started"


class ClusterError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, found, stack = _children(), [], [pid]
    while stack:
        for child in tree.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _naming(text: str) -> list[int]:
    """Processes whose command line mentions `text` (this cluster's folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


@dataclass
class WorkerSpec:
    """A worker node to start with the head: its CPUs, custom resources and environment."""

    num_cpus: int = 1
    resources: Mapping[str, float] | None = None
    env: Mapping[str, str] | None = None


@dataclass
class Node:
    """One `ray start --block` process (a node) and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tree(self) -> list[int]:
        return [self.process.pid, *_descendants(self.process.pid)]

    def kill(self) -> None:
        """SIGKILL the node's every process: its raylet, its workers, what they started."""
        pids = self.tree()
        _kill(pids, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


class LocalRayCluster:
    """A head node started on entry; `add_node` adds workers; everything stops on exit."""

    def __init__(
        self,
        head_cpus: int = 1,
        head_resources: Mapping[str, float] | None = None,
        env: Mapping[str, str] | None = None,
        workers: list[WorkerSpec] | None = None,
        start_timeout_s: float = 180.0,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vg-ray-"))  # short: socket paths live here
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"}
        self.env.pop("RAY_ADDRESS", None)
        self.start_timeout_s = start_timeout_s
        self.nodes: list[Node] = []
        self._head_args = self._resources(head_cpus, head_resources)
        self._workers: list[tuple[str, list[str], list[str], dict[str, str]]] = []
        for spec in workers or []:
            self._workers.append(self._worker(spec.num_cpus, spec.resources, spec.env))

    @staticmethod
    def _resources(cpus: int, resources: Mapping[str, float] | None) -> list[str]:
        args = ["--num-cpus", str(cpus), "--object-store-memory", str(OBJECT_STORE_BYTES)]
        return args + (["--resources", json.dumps(dict(resources))] if resources else [])

    def __enter__(self) -> LocalRayCluster:
        try:
            self._start(
                "head",
                ["--head", "--port", str(self.port), "--include-dashboard", "false"],
                self._head_args,
                self.env,
            )
            workers = [self._start(*spec, wait=False) for spec in self._workers]
            for node in workers:  # started beside the head: they wait for it by themselves
                self._wait(node)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_node(
        self,
        num_cpus: int = 1,
        resources: Mapping[str, float] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Node:
        """A worker node joined to the head, with its own environment (e.g. its endpoints)."""
        return self._start(*self._worker(num_cpus, resources, env))

    def _worker(
        self, num_cpus: int, resources: Mapping[str, float] | None, env: Mapping[str, str] | None
    ) -> tuple[str, list[str], list[str], dict[str, str]]:
        name = f"worker-{len(self.nodes) + len(self._workers)}"
        role = ["--address", self.address]
        return name, role, self._resources(num_cpus, resources), {**self.env, **(env or {})}

    def _start(
        self, name: str, role: list[str], resources: list[str], env, wait: bool = True
    ) -> Node:
        ray = str(Path(sys.executable).with_name("ray"))
        command = [ray, "start", "--block", *role, *resources, "--temp-dir", str(self.dir)]
        command += ["--disable-usage-stats", "--include-log-monitor", "false"]
        log = self.dir / f"{name}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, we stop it
            )
        node = Node(name, process, log)
        self.nodes.append(node)
        return self._wait(node) if wait else node

    def _wait(self, node: Node) -> Node:
        deadline = time.monotonic() + self.start_timeout_s
        while STARTED not in node.log.read_text(errors="replace"):
            if node.process.poll() is not None or time.monotonic() > deadline:
                tail = node.log.read_text(errors="replace")[-2000:]
                raise ClusterError(f"ray node {node.name} did not start: {tail}")
            time.sleep(0.2)
        return node

    def stop(self) -> None:
        """End this cluster's processes (SIGTERM, then SIGKILL) and remove its folder."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [p for node in self.nodes for p in node.tree()] + _naming(str(self.dir))
            if not pids:
                break
            _kill(pids, sig)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(
                node.process.poll() is None for node in self.nodes
            ):
                time.sleep(0.1)
        for node in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)
