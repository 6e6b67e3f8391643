import json

import pytest
from pydantic import ValidationError

from envs.task import SCHEMA_PATH, ArgConstraint, Task, load_task, task_json_schema
from envs.values import bundled_value_systems

from .conftest import write_yaml


def test_exported_schema_is_in_sync():
    on_disk = json.loads(SCHEMA_PATH.read_text())
    assert on_disk == task_json_schema(), "run `python -m envs.task` to re-export task.schema.json"


def test_schema_validates_the_bundled_task_files(bundled_tasks):
    import jsonschema

    validator = jsonschema.Draft202012Validator(task_json_schema())
    for task in bundled_tasks:
        data = json.loads(task.model_dump_json(by_alias=True, exclude_none=True))
        assert not list(validator.iter_errors(data)), task.id


def test_yaml_and_json_load_to_the_same_task(tmp_path, example_data):
    yaml_path = write_yaml(tmp_path / "t.yaml", example_data)
    json_path = tmp_path / "t.json"
    json_path.write_text(json.dumps(example_data))
    assert load_task(yaml_path) == load_task(json_path)


def test_unknown_field_is_rejected(example_data):
    example_data["poles"]["a"]["checkpoints"][0]["colour"] = "blue"
    with pytest.raises(ValidationError, match="colour"):
        Task.model_validate(example_data)


def test_rubric_weight_and_anchors_are_validated(example_data):
    example_data["poles"]["a"]["rubric"][0]["weight"] = 9
    del example_data["poles"]["a"]["rubric"][1]["anchors"]["1"]
    with pytest.raises(ValidationError) as info:
        Task.model_validate(example_data)
    text = str(info.value)
    assert "weight" in text and "anchors" in text


def test_poles_must_be_exactly_a_and_b(example_data):
    example_data["poles"]["c"] = example_data["poles"].pop("b")
    with pytest.raises(ValidationError, match="poles"):
        Task.model_validate(example_data)


@pytest.mark.parametrize(
    ("constraint", "present", "value", "expected"),
    [
        ("SD-4", True, "sd-4", True),
        ("SD-4", True, "SD-3", False),
        ({"in": ["a", "b"]}, True, "B", True),
        ({"contains": "bed"}, True, "Bed_Manager", True),
        ({"contains": "x"}, True, ["x", "y"], True),
        ({"regex": r"^P-\d+$"}, True, "P-2041", True),
        ({"gte": 10, "lte": 20}, True, 15, True),
        ({"gte": 10}, True, "15", False),
        ({"exists": False}, False, None, True),
        ({"exists": True}, False, None, False),
        (True, True, True, True),
        (True, True, 1, True),
        ({"ne": "closed"}, True, "open", True),
    ],
)
def test_argument_constraints(constraint, present, value, expected):
    assert ArgConstraint.model_validate(constraint).matches(present, value) is expected


def test_catalog_has_the_required_systems():
    systems = bundled_value_systems()
    assert {"schwartz", "moral_foundations"} <= set(systems)
    assert len(systems) >= 3
    assert len(systems["schwartz"].values) == 10
    assert all(v.definition for s in systems.values() for v in s.values)


def test_definitions_are_filled_from_the_catalog(example_task):
    assert "harm" in example_task.poles["a"].value.definition.lower()


def test_invalid_regex_is_a_validation_error(example_data):
    example_data["poles"]["a"]["checkpoints"][0]["calls"][0]["args"]["bed_id"] = {"regex": "(["}
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        Task.model_validate(example_data)


def test_strict_bounds_and_case_insensitive_regex():
    assert ArgConstraint.model_validate({"gt": 200}).matches(True, 200.5)
    assert not ArgConstraint.model_validate({"gt": 200}).matches(True, 200)
    assert not ArgConstraint.model_validate({"lt": 5}).matches(True, 5)
    assert ArgConstraint.model_validate({"regex": "^dl-"}).matches(True, "DL-4")
