"""Selecting tasks by id, value system, environment and the release's case lists."""

import json
from pathlib import Path

import pytest

from envs.agent_valuebench.importer import import_release
from harnesses.skills import load_skill
from valuegym.cli import app
from valuegym.selection import Selection, SelectionError, read_case_list

from .test_import import RELEASE


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sel")
    import_release(RELEASE, out)
    return out / "tasks"


def episode_tasks(run: Path) -> list[str]:
    lines = (run / "journal.jsonl").read_text().splitlines()
    return sorted(json.loads(line)["task_id"] for line in lines)


def test_case_lists_read_as_the_release_ships_them(tmp_path):
    listed = tmp_path / "ids.txt"
    listed.write_text("case_00001\n\ncase_00003\n")
    assert read_case_list(listed) == ["case_00001", "case_00003"]
    folder = tmp_path / "cases"
    folder.mkdir()
    for stem in ("case_00004", "case_00002"):
        (folder / f"{stem}.json").write_text("{}")
    assert read_case_list(folder) == ["case_00002", "case_00004"]
    with pytest.raises(SelectionError, match="cannot read"):
        Selection.build(case_lists=[tmp_path / "missing.txt"])


def test_run_selects_by_stem_case_name_system_and_environment(imported, tmp_path, cli):
    listed = tmp_path / "list.txt"
    listed.write_text("case_00001\nLibrary_hold_conflict\ncase_00002\n")
    runs = {
        "list": ["--case-list", str(listed)],
        "ids": ["--task-ids", "avb-00003,case_00004"],
        "system": ["--value-system", "workstyle"],
        "env": ["--environment", "LibraryCirculation", "--value-system", "civic"],
    }
    found = {}
    for name, options in runs.items():
        out = tmp_path / name
        result = cli.invoke(
            app,
            ["run", "--out", str(out), "--tasks", str(imported), "--harness", "golden-a", *options],
        )
        assert result.exit_code == 0, result.output
        found[name] = episode_tasks(out)
    assert found["list"] == ["avb-00001", "avb-00002"]
    assert found["ids"] == ["avb-00003", "avb-00004"]
    assert found["system"] == ["avb-00002"]
    assert found["env"] == ["avb-00001", "avb-00003"]
    config = json.loads((tmp_path / "list" / "run.json").read_text())
    assert config["task_ids"] == ["avb-00001", "avb-00002"]
    assert config["selection"]["case_lists"] == [str(listed)]


def test_check_and_calibrate_take_the_same_selection(imported, cli, tmp_path):
    checked = cli.invoke(app, ["check", str(imported), "--task-ids", "avb-00001,case_09999"])
    assert checked.exit_code == 0, checked.output
    assert "checked 1 tasks" in checked.output and "case_09999" in checked.output
    calibrated = cli.invoke(
        app, ["judge", "calibrate", "--value-system", "moral_foundations", "--json"]
    )
    assert calibrated.exit_code == 0, calibrated.output
    report = json.loads(calibrated.stdout)
    assert {r["value_system"] for r in report["rows"]} == {"moral_foundations"}
    nothing = cli.invoke(
        app, ["run", "--out", str(tmp_path / "none"), "--environment", "no-such-env"]
    )
    assert nothing.exit_code == 2 and "no valid task found selected" in nothing.output


def test_skill_variants_with_one_name_record_different_hashes(tmp_path):
    body = "---\nname: priority\ndescription: an order\n---\n1. {first}\n"
    labels = []
    for first in ("Care", "Authority"):
        folder = tmp_path / first / "priority"
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(body.format(first=first))
        labels.append(load_skill(folder).label)
    assert labels[0].startswith("priority@") and labels[1].startswith("priority@")
    assert labels[0] != labels[1]
    again = load_skill(tmp_path / "Care" / "priority")
    assert again.label == labels[0]
    (tmp_path / "Care" / "priority" / "references").mkdir()
    (tmp_path / "Care" / "priority" / "references" / "x.md").write_text("more")
    assert load_skill(tmp_path / "Care" / "priority").label != labels[0]


def test_the_release_case_lists_select_as_they_ship(imported, cli, tmp_path):
    lists = {
        "HarnessEval/civic_skill_case_ids.txt": ["avb-00001", "avb-00003", "avb-00004"],
        "LLMChoice/cases": ["avb-00001", "avb-00005"],
    }
    for name, expected in lists.items():
        out = tmp_path / name.replace("/", "-")
        result = cli.invoke(
            app,
            [
                "run",
                "--out",
                str(out),
                "--tasks",
                str(imported),
                "--case-list",
                str(RELEASE / name),
            ],
        )
        assert result.exit_code == 0, result.output
        assert episode_tasks(out) == expected
