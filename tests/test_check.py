"""`valuegym check` names each problem once, with its file and field, and exits 1."""

import shutil

from envs.task import bundled_tasks_dir
from valuegym.cli import app

from .conftest import EXAMPLE, write_yaml


def corrupt(tmp_path, example_data):
    """One copy of the example per corruption the acceptance criteria name."""
    cases = {}

    def add(name, mutate):
        data = {**example_data, "id": f"bad-{name}"}
        import copy

        data = copy.deepcopy(data)
        mutate(data)
        cases[name] = write_yaml(tmp_path / f"{name}.yaml", data)

    add("missing", lambda d: d.pop("prompt"))
    add("tool", lambda d: d["allowed_tools"].append("teleport_patient"))
    add(
        "golden",
        lambda d: d["poles"]["a"]["golden"]["calls"].insert(
            0, {"tool": "list_staff", "arguments": {}}
        ),
    )
    add("state", lambda d: d["initial_state"]["patients"]["P-2041"].update(age="very old"))
    add("rubric", lambda d: d["poles"]["b"]["rubric"][1].update(checkpoint="b_vanished"))
    return cases


def test_bundled_suite_passes(cli):
    result = cli.invoke(app, ["check"])
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_each_corruption_is_named_with_path_and_field(tmp_path, example_data, cli):
    cases = corrupt(tmp_path, example_data)
    result = cli.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    expected = {
        "missing": "prompt: Field required",
        "tool": "allowed_tools[6]: hospital_ops has no tool 'teleport_patient'",
        "golden": "poles.a.golden.calls[0].tool: 'list_staff' is not in allowed_tools",
        "state": "initial_state.patients.P-2041.age:",
        "rubric": "poles.b.rubric[1].checkpoint: no checkpoint 'b_vanished'",
    }
    for name, fragment in expected.items():
        hits = [e for e in errors if str(cases[name]) in e and fragment in e]
        assert len(hits) == 1, (name, errors)
    assert len(errors) == len(expected), errors  # each problem once, no cascades


def test_unparsable_and_unknown_environment(tmp_path, example_data, cli):
    (tmp_path / "broken.yaml").write_text("id: [unclosed\n")
    write_yaml(tmp_path / "env.yaml", {**example_data, "id": "other", "environment": "moon_base"})
    result = cli.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "broken.yaml: (file): not valid YAML" in result.output
    assert "env.yaml: environment: no environment named 'moon_base'" in result.output


def test_golden_that_does_not_realise_its_pole_is_reported(tmp_path, example_data, cli):
    example_data["poles"]["a"]["golden"]["calls"] = [
        {"tool": "get_patient", "arguments": {"patient_id": "P-2041"}}
    ]
    write_yaml(tmp_path / "weak.yaml", example_data)
    result = cli.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 1
    assert "poles.a.golden: does not fully meet its own checkpoint 'a_take_bed'" in result.output


def test_duplicate_ids_and_cycles(tmp_path, example_data, cli):
    shutil.copy(EXAMPLE, tmp_path / "one.yaml")
    example_data["poles"]["a"]["checkpoints"][0]["after"] = ["a_handover"]
    write_yaml(tmp_path / "two.yaml", example_data)
    result = cli.invoke(app, ["check", str(tmp_path)])
    assert "id: task id 'hospital-reserved-stepdown-bed' is also used by" in result.output
    assert "checkpoint ordering has a cycle" in result.output


def test_check_defaults_to_bundled(cli):
    assert bundled_tasks_dir().exists()
    assert cli.invoke(app, ["check", "bundled"]).exit_code == 0
