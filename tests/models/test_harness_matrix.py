"""Every harness that reaches the tools from outside (MCP, direct binding, a shell) reproduces
the golden tool logs, and ends `max_steps` at the budget under a policy that never stops.

Every bundled task runs for both poles on the process sandbox, striped over the harnesses (each
harness a different fifth of the suite per pole, so every task meets some harness and every
harness meets tasks of most environments); two tasks per harness run on the docker sandbox and
one in a harness container on each sandbox; all runs share one sandbox server per backend.
`benchmarks/harness_matrix.py` runs every harness on every task, the full verification."""

from __future__ import annotations

import json

import pytest

from envs.sandbox import make_sandbox
from envs.sandbox_options import SandboxOptions
from harnesses.base import HarnessConfig
from harnesses.conformance import BOXED, HARNESS_APIS, run_cell
from valuegym.cli import app
from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories

pytestmark = pytest.mark.slow  # CLI agents and SDK agents on a sandbox server
IDS = [f"{harness}-{api}" for harness, api in HARNESS_APIS]


@pytest.fixture(scope="module")
def process_sandbox():
    sandbox = make_sandbox("process", SandboxOptions.from_env())
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def docker_sandbox(docker_image):
    sandbox = make_sandbox("docker", SandboxOptions.from_env(image=docker_image))
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="module")
def one_per_environment(bundled_tasks):
    """A representative slice: the first task of each environment."""
    first = {}
    for task in bundled_tasks:
        first.setdefault(task.environment, task)
    return list(first.values())


def assert_golden(scripted, harness, api, tasks, sandbox, harness_sandbox="host"):
    for pole in ("a", "b"):
        model = scripted.endpoint(f"golden-{pole}", api)
        cell = run_cell(harness, model, tasks, sandbox, pole, harness_sandbox)
        where = f"{harness}/{api}/{sandbox.name}/{harness_sandbox}/{pole}"
        assert cell.problems == {}, where
        assert cell.matching == len(tasks), where


def assert_golden_striped(scripted, index, harness, api, tasks, sandbox):
    for pole, offset in (("a", 0), ("b", 2)):  # another harness takes each task for pole b
        stripe = [t for i, t in enumerate(tasks) if (i + offset) % len(HARNESS_APIS) == index]
        model = scripted.endpoint(f"golden-{pole}", api)
        cell = run_cell(harness, model, stripe, sandbox, pole)
        assert cell.problems == {}, f"{harness}/{api}/{sandbox.name}/{pole}"
        assert cell.matching == len(stripe) > 0


@pytest.mark.parametrize("index", range(len(HARNESS_APIS)), ids=IDS)
def test_golden_tool_logs_on_every_task_on_the_process_sandbox(
    scripted, process_sandbox, bundled_tasks, index
):
    harness, api = HARNESS_APIS[index]
    assert_golden_striped(scripted, index, harness, api, bundled_tasks, process_sandbox)


def test_the_stripes_give_every_task_both_poles_under_some_harness(bundled_tasks):
    n = len(HARNESS_APIS)
    for offset in (0, 2):
        stripes = [
            [i for i in range(len(bundled_tasks)) if (i + offset) % n == k] for k in range(n)
        ]
        assert sorted(i for s in stripes for i in s) == list(range(len(bundled_tasks)))


@pytest.mark.parametrize(("harness", "api"), HARNESS_APIS, ids=IDS)
def test_golden_tool_logs_on_the_docker_sandbox(
    scripted, docker_sandbox, one_per_environment, harness, api
):
    index = HARNESS_APIS.index((harness, api))
    tasks = [one_per_environment[(index + k) % len(one_per_environment)] for k in range(2)]
    assert_golden(scripted, harness, api, tasks, docker_sandbox)


@pytest.mark.parametrize("kind", ["process", "docker"])
@pytest.mark.parametrize(("harness", "api"), [h for h in HARNESS_APIS if h[0] in BOXED])
def test_golden_tool_logs_with_the_harness_in_a_container(
    scripted, request, docker_image, one_per_environment, kind, harness, api
):
    sandbox = request.getfixturevalue(f"{kind}_sandbox")
    assert_golden(scripted, harness, api, one_per_environment[1:2], sandbox, "docker")


@pytest.mark.parametrize(("harness", "api"), HARNESS_APIS, ids=IDS)
def test_a_policy_that_never_stops_ends_at_the_budget(
    scripted, process_sandbox, example_task, tmp_path, harness, api
):
    run_dir = tmp_path / "run"
    config = RunConfig(
        run_id="endless",
        harness=harness,
        sandbox="process",
        harness_config=HarnessConfig(max_steps=3),
        model=scripted.endpoint("endless", api),
    )
    create_run(run_dir, config, [example_task])
    execute_run(run_dir, harness, sandbox=process_sandbox)
    (episode,) = run_trajectories(run_dir)
    assert episode.status == "max_steps", episode.error
    kinds = [e.result.error_kind for e in episode.tool_log]
    assert kinds[:3] == [None, None, None] and kinds[3:] == ["budget_exhausted"], kinds
    assert episode.tool_log[-1].refused


def test_compare_shows_no_harness_pull_under_one_scripted_policy(
    scripted, process_sandbox, one_per_environment, cli, tmp_path
):
    tasks = one_per_environment[:3]
    harnesses = [("react", "chat"), *[(h, a) for h, a in HARNESS_APIS if a != "responses"]]
    runs = []
    for harness, api in harnesses:
        model = scripted.endpoint("golden-a", api)
        cell = run_cell(harness, model, tasks, process_sandbox, "a", out=tmp_path)
        assert cell.problems == {}, harness
        runs.append(str(tmp_path / f"{harness}-{api}-process-host-a"))
    result = cli.invoke(app, ["compare", *runs, "--json", "--resamples", "199"])
    assert result.exit_code == 0, result.output
    comparisons = json.loads(result.output)["comparisons"]
    assert [c["kind"] for c in comparisons] == ["harness"] * (len(harnesses) - 1)
    for comparison in comparisons:
        assert comparison["tool_logs"] == {"tasks": 3, "identical": 3, "differing": []}
        assert all(v["delta"]["value"] == 0 for v in comparison["values"]), comparison["other"]
    table = cli.invoke(app, ["compare", *runs, "--resamples", "199"]).output
    assert "Harness pull" in table and "Tasks whose tool logs differ" not in table
    rows = [line for line in table.splitlines() if "-process-host-a -> " in line]
    assert rows and all("| 3/3 |" in row for row in rows)


def test_openai_agents_makes_no_trace(scripted, process_sandbox, example_task, monkeypatch):
    from agents import add_trace_processor
    from agents.tracing import TracingProcessor

    class Seen(TracingProcessor):
        def __init__(self):
            self.events = []

        def on_trace_start(self, trace):
            self.events.append(trace)

        on_trace_end = on_span_start = on_span_end = on_trace_start

        def shutdown(self):
            pass

        def force_flush(self):
            pass

    seen = Seen()
    add_trace_processor(seen)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-key")  # with a key, traces would be sent
    for api in ("chat", "responses"):
        model = scripted.endpoint("golden-a", api)
        cell = run_cell("openai-agents", model, [example_task], process_sandbox, "a")
        assert cell.problems == {}
    assert seen.events == []
