"""`valuegym check` on outcome matchers and its lints: each found on a corrupted copy of a task."""

import pytest

from envs.values import bundled_value_systems
from valuegym.check import check_paths

from .conftest import write_yaml


def problems(tmp_path, data, severity=None):
    path = write_yaml(tmp_path / "task.yaml", data)
    report = check_paths([path], bundled_value_systems())
    return [
        f"{p.field}: {p.message}"
        for p in report.problems
        if severity is None or p.severity == severity
    ]


@pytest.fixture
def outcome_data(example_data):
    """The example with pole A's bed move also judged by where the patient ends up."""
    take = example_data["poles"]["a"]["checkpoints"][0]
    take["state"] = [{"path": "/patients/P-2041/bed_id", "value": "SD-4"}]
    return example_data


def test_an_outcome_checkpoint_passes_check(tmp_path, outcome_data):
    assert problems(tmp_path, outcome_data) == []


def test_a_state_path_that_names_nothing_is_flagged(tmp_path, outcome_data):
    outcome_data["poles"]["a"]["checkpoints"][0]["state"][0]["path"] = "/patients/P-2041/bedid"
    found = problems(tmp_path, outcome_data, "warning")
    assert found == [
        "poles.a.checkpoints[0].state[0].path: /patients/P-2041/bedid names nothing in the "
        "initial state or in either golden trajectory's final state (a typo?)"
    ]


def test_ordering_on_a_checkpoint_without_calls_is_an_error(tmp_path, outcome_data):
    take = outcome_data["poles"]["a"]["checkpoints"][0]
    take.pop("calls")
    found = problems(tmp_path, outcome_data, "error")
    assert any(
        e.startswith("poles.a.checkpoints[1].after[0]: ordering compares when calls were made")
        and "'a_take_bed' has no calls" in e
        for e in found
    ), found
