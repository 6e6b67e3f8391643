"""The Ray executor on a real cluster: a head and a worker node, each its own `ray start`.

The cluster is started once for the module (Ray is heavy on 2 cores: one CPU per node, a 100
MB object store, no dashboard) and stopped at the end without `ray stop`, which would stop
every Ray process on the machine. Each node has its own endpoints file, as a GPU node with its
own model server would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
import yaml

pytest.importorskip("ray")

from harnesses.models import ModelEndpoint
from valuegym.executors import ExecutorError
from valuegym.ray_cluster import LocalRayCluster, WorkerSpec
from valuegym.ray_executor import RayExecutor

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
MODEL = ModelEndpoint(name="judge", base_url="http://driver.invalid/v1", model="m")


def _endpoints(path: Path, url: str) -> Path:
    body = {"endpoints": {"judge": {"base_url": url, "model": "m"}}}
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nodes")
    head_file = _endpoints(folder / "head.yaml", "http://head.invalid/v1")
    node_file = _endpoints(folder / "node.yaml", "http://node.invalid/v1")
    env = {"PYTHONPATH": str(REPO), "NODE_NAME": "head", "VALUEGYM_ENDPOINTS": str(head_file)}
    worker = WorkerSpec(
        num_cpus=1, env={"NODE_NAME": "worker", "VALUEGYM_ENDPOINTS": str(node_file)}
    )
    with LocalRayCluster(head_cpus=1, env=env, workers=[worker]) as running:
        yield running
    leftovers = subprocess.run(["pgrep", "-f", str(running.dir)], capture_output=True, text=True)
    assert not leftovers.stdout.strip(), "the cluster's processes outlived stop()"


@pytest.fixture(scope="module")
def executor(cluster):
    ray_executor = RayExecutor(4, cluster.address)
    yield ray_executor
    ray_executor.close()


class NodeProbe:
    """Says which node ran an item and which endpoint that node's file gives the run's model."""

    def __init__(self, delay_s: float = 0.2) -> None:
        from harnesses.models import node_endpoint

        self.delay_s = delay_s
        self.endpoint = node_endpoint(MODEL)

    def __call__(self, item: int) -> tuple[int, str, str]:
        if item < 0:
            raise ValueError(f"bad item {item}")
        if item == 13:
            os._exit(1)  # the worker process dies, like a node lost mid-item
        time.sleep(self.delay_s)
        return item * 2, os.environ["NODE_NAME"], self.endpoint.base_url

    def close(self) -> None:
        pass


def test_items_spread_over_both_nodes_each_with_its_own_endpoint(executor) -> None:
    pulled = []

    def items():
        for i in range(12):
            pulled.append(i)
            yield i

    results = []
    for result in executor.map(NodeProbe, items(), lambda item, why: (item, "lost", why)):
        results.append(result)
        assert len(pulled) <= len(results) + executor.concurrency  # pulled lazily, bounded
    assert sorted(r[0] for r in results) == [2 * i for i in range(12)]
    by_node = {node: url for _, node, url in results}
    assert by_node == {"head": "http://head.invalid/v1", "worker": "http://node.invalid/v1"}
    assert len(executor.completed) == 2


def test_a_worker_that_raises_ends_the_map_with_its_exception(executor) -> None:
    with pytest.raises(ValueError, match="bad item -1"):
        list(executor.map(NodeProbe, [1, 2, -1, 3], lambda item, why: None))


def test_an_item_whose_worker_dies_on_both_attempts_is_lost_with_both_reasons(cluster) -> None:
    single = RayExecutor(1, cluster.address)  # one at a time: only item 13 dies with its worker
    try:
        factory = partial(NodeProbe, 0.0)
        results = list(single.map(factory, [1, 13, 2], lambda item, why: (item, "lost", why)))
    finally:
        single.close()
    assert sorted(r[0] for r in results if r[1] != "lost") == [2, 4]
    (lost,) = [r for r in results if r[1] == "lost"]
    assert lost[0] == 13
    assert "lost on each of 2 attempts" in lost[2] and lost[2].count("on node") == 2


class Unbuildable:
    def __init__(self) -> None:
        raise RuntimeError("no docker daemon on this node")


def test_a_worker_that_cannot_be_built_on_a_node_names_the_node(executor) -> None:
    with pytest.raises(ExecutorError, match=r"could not build its worker.*no docker daemon"):
        list(executor.map(Unbuildable, [1], lambda item, why: None))


# --- runs and judgments on the cluster: the same as locally; faults lose nothing ---------


def test_rubric_judging_on_the_cluster_gives_the_local_judgments(
    cluster, bundled_tasks, tmp_path
) -> None:
    from harnesses.base import get_harness
    from harnesses.models import save_endpoint
    from harnesses.scripted.server import ScriptedServer
    from judges.spec import make_scorer
    from judges.store import judge_run, judgment_path, read_judgments
    from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories

    tasks = bundled_tasks[:6]
    runs = {}
    for where in ("local", "ray"):
        runs[where] = tmp_path / where / "golden-a"
        create_run(runs[where], RunConfig(run_id="golden-a", harness="golden-a"), tasks)
        execute_run(runs[where], get_harness("golden-a"))
    endpoints = tmp_path / "endpoints.yaml"
    with ScriptedServer(tasks) as server:
        save_endpoint(ModelEndpoint(name="sj", base_url=server.base_url, model="judge"), endpoints)
        scorer = make_scorer("rubric:sj", tasks, endpoints)
        local = judge_run(runs["local"], "rubric:sj", run_trajectories(runs["local"]), scorer, 2)
        command = [str(Path(sys.executable).with_name("valuegym")), "judge", str(runs["ray"])]
        command += ["--judge", "rubric:sj", "--endpoints", str(endpoints), "--executor", "ray"]
        done = subprocess.run(
            [*command, "--ray-address", cluster.address], capture_output=True, text=True
        )
    assert done.returncode == 0, done.stderr
    assert "6/6 episodes judged" in done.stderr and "ray: " in done.stderr
    on_cluster = read_judgments(runs["ray"], "rubric:sj")
    assert {e: j.model_dump(exclude={"record"}) for e, j in on_cluster.items()} == {
        e: j.model_dump(exclude={"record"}) for e, j in local.items()
    }
    assert all(j.outcome == "scored" for j in local.values())
    assert judgment_path(runs["ray"], "rubric:sj").read_text().count("\n") == 6


def _valuegym(*args: str, **kwargs) -> subprocess.Popen[str]:
    command = [str(Path(sys.executable).with_name("valuegym")), "run", "--sandbox", "process"]
    return subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def _records(run_dir: Path) -> list[dict]:
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _comparable(run_dir: Path) -> dict[str, tuple[str, str]]:
    """Per episode: its record and its checkpoint judgment, without timings."""
    judged = {}
    for line in (run_dir / "judgments" / "checkpoint.jsonl").read_text().splitlines():
        judgment = json.loads(line)
        judgment.pop("record")  # which record it judged: that record's start time
        judged[judgment["episode_id"]] = json.dumps(judgment, sort_keys=True)
    found = {}
    for record in _records(run_dir):
        for timing in ("run_id", "started_at", "duration_s"):
            record.pop(timing)
        found[record["episode_id"]] = (
            json.dumps(record, sort_keys=True),
            judged.pop(record["episode_id"]),
        )
    return found


def _wait_for(what: str, check, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_run_on_the_cluster_survives_a_lost_node_and_a_killed_driver_with_local_results(
    cluster, tmp_path
) -> None:
    """The bundled suite on the process sandbox: the worker node is killed mid-run, then the
    driver (kill -9); the resumed run has one record per episode, every tool log, final state
    and score byte-identical to the local executor's run."""
    common = ("--samples", "1", "--concurrency", "4")
    local = _valuegym("--out", str(tmp_path / "local" / "run"), *common)
    out = tmp_path / "ray" / "run"
    driver = _valuegym(
        "--out", str(out), *common, "--executor", "ray", "--ray-address", cluster.address
    )
    worker_node = cluster.nodes[1]

    def worker_node_hosts_episodes() -> bool:
        servers = subprocess.run(["pgrep", "-f", "envs.server"], capture_output=True, text=True)
        return bool(set(map(int, servers.stdout.split())) & set(worker_node.tree()))

    _wait_for("the worker node to host episodes", worker_node_hosts_episodes)
    _wait_for("a few records", lambda: len(_records(out)) >= 6)
    worker_node.kill()
    recorded = len(_records(out))
    _wait_for("records after the node loss", lambda: len(_records(out)) >= recorded + 4)
    assert driver.poll() is None, "the run ended before its driver could be killed"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    assert len(_records(out)) < 52

    resumed = _valuegym(
        "--out", str(out), "--resume", "--executor", "ray", "--ray-address", cluster.address
    )
    said, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, said
    assert "ray: " in said and "done before" in said
    local_said, _ = local.communicate(timeout=300)
    assert local.returncode == 0, local_said

    records = _records(out)
    keys = Counter((r["task_id"], r["sample"]) for r in records)
    assert len(keys) == 52 and set(keys.values()) == {1}
    assert {r["status"] for r in records} == {"finished"}
    assert _comparable(out) == _comparable(tmp_path / "local" / "run")
