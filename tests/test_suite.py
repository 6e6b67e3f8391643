"""The bundled suite meets the bar the product promises: size, spread, and both poles executable."""

import re
from collections import defaultdict

from envs.registry import environments
from envs.task import bundled_tasks_dir
from envs.values import bundled_value_systems
from valuegym.check import check_paths, replay_golden
from valuegym.suite_profile import SuiteRequirements, profile_suite


def test_suite_size_and_spread(bundled_tasks):
    assert len(environments()) >= 8
    assert len(bundled_tasks) >= 24
    assert len({t.value_system for t in bundled_tasks}) >= 3
    assert {t.environment for t in bundled_tasks} == set(environments())
    assert len({t.id for t in bundled_tasks}) == len(bundled_tasks)


def test_the_bundled_suite_meets_the_design_bar(bundled_tasks):
    """Every value of every bundled system in >= 3 tasks with >= 2 opponents, connected
    comparison graphs, every task labelled with its procedural pole, no value always on one
    side of the written rules, a quarter of each system's tasks with no procedural default."""
    systems = bundled_value_systems()
    profiles = profile_suite(bundled_tasks, systems)
    assert set(profiles) == set(systems)
    assert SuiteRequirements().problems(profiles) == []
    assert len(bundled_tasks) >= 48
    for task in bundled_tasks:
        costs = task.metadata.get("pole_costs", {})
        assert set(costs) == {"a", "b"} and all(c.strip() for c in costs.values()), task.id


def test_bundled_suite_passes_check_with_no_warnings():
    report = check_paths([bundled_tasks_dir()], bundled_value_systems())
    assert [p.line() for p in report.problems] == []


def test_prompts_never_name_their_values(bundled_tasks):
    for task in bundled_tasks:
        for pole in task.poles.values():
            assert not re.search(rf"\b{re.escape(pole.value.name)}\b", task.prompt, re.I), task.id


def test_every_environment_has_reads_and_writes_in_its_golden_paths(bundled_tasks):
    changed = defaultdict(set)
    for task in bundled_tasks:
        env_cls = environments()[task.environment]
        for pole in ("a", "b"):
            for entry in replay_golden(task, pole, env_cls):
                assert entry.result.ok, (task.id, pole, entry)
                changed[task.environment].add(entry.state_changed)
    assert all(kinds == {True, False} for kinds in changed.values()), dict(changed)


def test_the_two_golden_paths_differ(bundled_tasks):
    for task in bundled_tasks:
        a = [(c.tool, c.arguments) for c in task.poles["a"].golden.calls]
        b = [(c.tool, c.arguments) for c in task.poles["b"].golden.calls]
        assert a != b, task.id
