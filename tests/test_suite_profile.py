"""The suite design bar: coverage, comparison graphs and procedural balance per value system."""

from __future__ import annotations

from envs.task import Task
from envs.values import ValueSystem
from valuegym.suite_profile import SuiteRequirements, profile_suite

SYSTEM = ValueSystem.model_validate(
    {
        "id": "toy",
        "name": "Toy",
        "values": [{"value": v, "definition": f"{v} first."} for v in ("P", "Q", "R")],
    }
)


def _task(example_task: Task, index: int, a: str, b: str, procedural: str | None) -> Task:
    poles = {
        key: pole.model_copy(update={"value": pole.value.model_copy(update={"name": name})})
        for (key, pole), name in zip(example_task.poles.items(), (a, b), strict=True)
    }
    metadata = {} if procedural is None else {"procedural_pole": procedural}
    return example_task.model_copy(
        update={"id": f"t{index}", "value_system": "toy", "poles": poles, "metadata": metadata}
    )


def _suite(example_task: Task, rows: list[tuple[str, str, str | None]]) -> list[Task]:
    return [_task(example_task, i, *row) for i, row in enumerate(rows)]


def _problems(tasks: list[Task]) -> list[str]:
    return SuiteRequirements().problems(profile_suite(tasks, {"toy": SYSTEM}))


def test_a_balanced_connected_suite_has_no_shortfall(example_task):
    tasks = _suite(
        example_task,
        [
            ("P", "Q", "a"),
            ("Q", "P", "a"),
            ("Q", "R", "none"),
            ("R", "P", "b"),
            ("P", "R", "b"),
            ("R", "Q", "none"),
        ],
    )
    profile = profile_suite(tasks, {"toy": SYSTEM})["toy"]
    assert profile.values["P"].model_dump() == {
        "tasks": 4,
        "procedural": 2,
        "discretion": 2,
        "neither": 0,
        "opponents": ["Q", "R"],
    }
    assert profile.components == [["P", "Q", "R"]]
    assert profile.procedural_letters == {"a": 2, "b": 2, "none": 2}
    assert _problems(tasks) == []


def test_an_unseen_value_breaks_coverage_and_the_graph(example_task):
    tasks = _suite(example_task, [("P", "Q", "none")] * 3)
    problems = _problems(tasks)
    assert "toy: comparison graph is not connected: P, Q | R" in problems
    assert "toy: R is in 0 task(s), fewer than 3" in problems
    assert "toy: P is only ever paired with Q" in problems


def test_a_value_always_on_the_procedural_side_is_a_compliance_confound(example_task):
    tasks = _suite(
        example_task,
        [
            ("P", "Q", "a"),
            ("P", "R", "a"),
            ("Q", "P", "b"),
            ("Q", "R", "none"),
            ("R", "Q", "none"),
            ("R", "P", "b"),
        ],
    )
    problems = _problems(tasks)
    confound = "tasks that have one, so its priority cannot be told apart from compliance"
    assert problems == [
        f"toy: P is the procedural pole in all 4 {confound}",
        f"toy: Q is the discretionary pole in all 2 {confound}",
        f"toy: R is the discretionary pole in all 2 {confound}",
    ]


def test_too_few_tasks_without_a_procedural_default_and_unlabelled_tasks(example_task):
    tasks = _suite(
        example_task,
        [
            ("P", "Q", "a"),
            ("Q", "P", "a"),
            ("Q", "R", "b"),
            ("R", "Q", "b"),
            ("P", "R", "a"),
            ("R", "P", None),
        ],
    )
    problems = _problems(tasks)
    assert "toy: t5 has no metadata.procedural_pole (a, b or none)" in problems
    assert "toy: 0 of 6 tasks have no procedural default, fewer than 25%" in problems


def test_check_rejects_a_malformed_procedural_pole(tmp_path, example_data):
    from envs.values import bundled_value_systems
    from tests.conftest import write_yaml
    from valuegym.check import check_paths

    example_data["metadata"] = {"procedural_pole": "B pole", "pole_costs": ["a", "b"]}
    path = write_yaml(tmp_path / "task.yaml", example_data)
    lines = [p.line() for p in check_paths([path], bundled_value_systems()).errors]
    assert lines == [
        f"error: {path}: metadata.procedural_pole: 'B pole' is not one of a, b, none "
        "(the pole the written rules favour)",
        f"error: {path}: metadata.pole_costs: expected a mapping with keys a and b",
    ]


def test_check_suite_prints_the_profile_and_fails_on_shortfalls(cli, tmp_path, example_data):
    from tests.conftest import write_yaml
    from valuegym.cli import app

    example_data["metadata"] = {"procedural_pole": "b"}
    write_yaml(tmp_path / "one.yaml", example_data)
    plain = cli.invoke(app, ["check", str(tmp_path)])
    assert plain.exit_code == 0, plain.output
    result = cli.invoke(app, ["check", "--suite", str(tmp_path)])
    assert result.exit_code == 1
    assert "moral_foundations: 1 tasks; procedural pole a 0, b 1, none 0 (0%)" in result.output
    assert "suite: moral_foundations: Sanctity is in 0 task(s), fewer than 3" in result.output
