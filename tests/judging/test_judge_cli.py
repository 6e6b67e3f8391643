"""`valuegym judge`, `judge calibrate`, `compare` and `report` files, on the bundled suite."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from judges.store import judgment_path
from trajectories.journal import JOURNAL
from valuegym.cli import app


@pytest.fixture
def run_copy(golden_dirs, tmp_path):
    """A private copy of the golden-a run, free to be judged."""
    return shutil.copytree(golden_dirs["golden-a"], tmp_path / "golden-a")


def invoke(cli, *args: str, code: int = 0):
    result = cli.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def test_rescoring_adds_scores_beside_the_old_ones_and_resumes(cli, run_copy, judge_endpoints):
    journal = (run_copy / JOURNAL).read_bytes()
    invoke(cli, "judge", run_copy, "--judge", "checkpoint")
    checkpoint = judgment_path(run_copy, "checkpoint").read_bytes()
    out = invoke(
        cli, "judge", run_copy, "--judge", "rubric:scripted-judge", "--endpoints", judge_endpoints
    ).output
    rubric = judgment_path(run_copy, "rubric:scripted-judge")
    episodes = len(journal.splitlines())
    assert f"{episodes}/{episodes} episodes judged by rubric:scripted-judge" in out
    assert (run_copy / JOURNAL).read_bytes() == journal  # episodes untouched
    assert judgment_path(run_copy, "checkpoint").read_bytes() == checkpoint  # old scores kept
    # a killed judge left half its file and a torn line: the next run finishes it, no duplicates
    lines = rubric.read_bytes().splitlines(keepends=True)
    rubric.write_bytes(b"".join(lines[: episodes // 2]) + lines[episodes // 2][:40])
    rescore = [
        "judge",
        run_copy,
        "--judge",
        "rubric:scripted-judge",
        "--endpoints",
        judge_endpoints,
    ]
    invoke(cli, *rescore)
    ids = [json.loads(line)["episode_id"] for line in rubric.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == episodes
    args = ["report", run_copy, "--judge", "rubric:scripted-judge", "--json", "--resamples", "999"]
    report = json.loads(invoke(cli, *args).stdout)
    assert report["judge"] == "rubric:scripted-judge" and report["outcomes"]["scored"] == episodes
    assert report["judge_stats"]["swap_disagreement"] == 0


def test_judging_errors_are_clear(cli, run_copy, judge_endpoints):
    out = invoke(cli, "judge", run_copy, "--judge", "llm:x", code=2).output
    assert "expected 'checkpoint', 'rubric:" in out
    rubric = ["judge", run_copy, "--endpoints", judge_endpoints, "--concurrency", "1", "--judge"]
    out = invoke(cli, *rubric, "rubric:missing", code=2).output
    assert "no model endpoint named 'missing'" in out
    out = invoke(cli, *rubric, "rubric:nobody", code=1).output
    assert "nobody" in out and "resume" in out
    out = invoke(cli, "report", run_copy, "--judge", "rubric:scripted-judge", code=2).output
    assert "score it first" in out


@pytest.mark.parametrize("judge", ["checkpoint", "rubric:scripted-judge"])
def test_calibration_reaches_the_accuracy_bar(cli, judge, judge_endpoints, tmp_path_factory):
    out = tmp_path_factory.getbasetemp() / "calibration"  # replays shared by both judges
    args = ["judge", "calibrate", "--judge", judge, "--endpoints", judge_endpoints, "--out", out]
    # two environments keep CI quick; benchmarks/probes.py and the closing note cover all tasks
    args += ["--environment", "hospital_ops", "--environment", "education"]
    report = json.loads(invoke(cli, *args, "--json", "--resamples", "999").stdout)
    assert report["accuracy"] >= 0.98 and report["unscorable"] == 0
    assert report["episodes"] == 2 * report["tasks"]
    assert report["checkpoint"]["leaning_equal"] == 1.0
    checks = {c["name"]: c for c in report["checks"]}
    assert set(checks) == {"pole accuracy", "order flips", "hedging", "degradation"}
    assert all(c["passed"] for c in checks.values()), checks
    assert {p["probe"] for p in report["probes"]} >= {"noop", "read-only", "a-then-b", "undo-b"}
    if judge.startswith("rubric"):
        assert report["judge_stats"]["swap_disagreement"] == 0


def test_compare_golden_a_with_golden_b_reverses_every_profile(cli, golden_dirs, tmp_path):
    md, html = tmp_path / "compare.md", tmp_path / "compare.html"
    a, b = golden_dirs["golden-a"], golden_dirs["golden-b"]
    args = ["compare", a, b, "--markdown", md, "--html", html, "--resamples", "999"]
    result = json.loads(invoke(cli, *args, "--json").stdout)
    (comparison,) = result["comparisons"]
    assert comparison["kind"] == "harness" and comparison["common_tasks"] > 0
    assert comparison["settings"] == [
        {"name": "harness", "baseline": "golden-a", "other": "golden-b"}
    ]
    for system in comparison["systems"]:
        assert system["correlation"]["value"] == -1
        # a handful of tasks per value: "flipped" wherever the data can carry a verdict
        if not system["too_little_data"] and not system["no_profile"]:
            assert system["verdict"] == "flipped", system
        assert system["verdict"] in ("flipped", "too little data", "no profile"), system
    text = md.read_text()
    for system in comparison["systems"]:
        assert re.search(
            rf"\| {system['value_system']} \| \d+ \| -1\.00 .*\| {system['verdict']}", text
        )
    assert "Holm-adjusted" in text and "sign-flip" in text
    # each run's adherence split by the written rule's side, so a compliance effect shows
    pulls = {
        p["run"]["label"]: {s["value_system"]: s["procedural_pull"]["value"] for s in p["systems"]}
        for p in result["runs"]
    }
    assert pulls["golden-a"] and all(  # every task's winner swaps, so the pull's sign does
        pull * pulls["golden-b"][s] <= 0 for s, pull in pulls["golden-a"].items()
    )
    assert "## Adherence by procedural side" in text
    side = re.findall(r"^\| (\w+) \| ([^|]+) \| (procedural|discretion|no default) \|", text, re.M)
    assert {s for s, _, _ in side} == set(pulls["golden-a"])
    assert {role for _, _, role in side} == {"procedural", "discretion", "no default"}
    page = html.read_text()
    assert page.count("<svg") == 3 and "Harness pull" in page
    assert not re.search(r"<(script|link|img)\b", page)  # one file, nothing fetched


def test_report_writes_markdown_and_html(cli, golden_dirs, bundled_tasks, tmp_path):
    md, html = tmp_path / "run.md", tmp_path / "run.html"
    args = ["--markdown", md, "--html", html, "--resamples", "999"]
    invoke(cli, "report", golden_dirs["golden-a"], *args)
    text = md.read_text()
    assert "## Value adherence" in text and "## Value priority" in text
    assert "strength [95% CI]" in text
    assert html.read_text().count("<svg") == 2
    # per system, the procedural pull and every value's adherence by the written rule's side
    systems = {t.value_system for t in bundled_tasks}
    pull = re.findall(r"^\| (\w+) \| [+-]\d+\.\d\d \[.*\] \| (\d+) \| (\d+) \| 0 \|$", text, re.M)
    assert {s for s, _, _ in pull} == systems
    assert all(int(none) >= 0.25 * (int(ruled) + int(none)) for _, ruled, none in pull)
    values = {(t.value_system, p.value.name) for t in bundled_tasks for p in t.poles.values()}
    assert "**Value adherence by procedural side**" in text
    split = re.findall(
        r"^\| (\w+) \| ([^|]+) \| ([^|]+\(\d+\)|-) \| ([^|]+) \| ([^|]+) \|$", text, re.M
    )
    assert {(s, v) for s, v, *_ in split} == values
    for *_, procedural, discretion, no_default in split:  # every value in >= 3 tasks
        cells = (procedural, discretion, no_default)
        assert sum(int(n) for cell in cells for n in re.findall(r"\((\d+)\)$", cell)) >= 3


def _rewrite_lines(path, edit) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(edit(d) or d) + "\n" for d in lines))


def _rewrite_tasks(run_dir, edit) -> None:
    """Edit a run's task snapshot; run.json loses its seals, as a run written before them."""
    _rewrite_lines(run_dir / "tasks.jsonl", edit)
    config = json.loads((run_dir / "run.json").read_text())
    del config["checksum"], config["tasks_sha256"]
    (run_dir / "run.json").write_text(json.dumps(config))


def test_fallback_scores_are_labelled_and_kept_out_of_priorities(cli, run_copy):
    def no_goldens(task):  # as an imported release case: checkpoints but no golden trajectory
        for pole in task["poles"].values():
            pole["golden"] = None

    _rewrite_tasks(run_copy, no_goldens)
    report = json.loads(invoke(cli, "report", run_copy, "--json").stdout)
    tasks = len(report["systems"]) and sum(s["tasks"] for s in report["systems"])
    assert report["fallback_tasks"] == tasks and not report["fallback_in_priorities"]
    assert report["priorities"] == [] and "rubric" in report["fallback_note"]
    assert all(v["fallback_tasks"] == v["tasks"] for v in report["values"])
    included = json.loads(invoke(cli, "report", run_copy, "--json", "--include-fallback").stdout)
    assert included["fallback_in_priorities"] and len(included["priorities"]) == len(
        report["systems"]
    )
    text = cli.invoke(app, ["report", str(run_copy)], env={"COLUMNS": "400"}).stdout
    assert "(fallback)" in text and "--judge rubric:<endpoint>" in text
    compared = json.loads(invoke(cli, "compare", run_copy, run_copy, "--json").stdout)
    (comparison,) = compared["comparisons"]
    assert comparison["fallback_tasks"] == tasks
    assert all(s["baseline"] is None for s in comparison["strengths"])  # no ranked task left
    assert {s["verdict"] for s in comparison["systems"]} == {"no data"}
    assert all(v["fallback_tasks"] == v["tasks"] for v in comparison["values"])


def test_terminal_report_fits_a_screen_and_names_every_episode(cli, run_copy):
    def fail(t):  # the education episodes die the same way, with different container ids
        if t["task_id"].startswith("education"):
            t.update(status="error", error=f"sandbox never opened: container {id(t):x} exited 137")

    _rewrite_lines(run_copy / JOURNAL, fail)
    (run_copy / "index.sqlite").unlink()  # the journal changed behind the index's back
    shutil.rmtree(run_copy / "judgments", ignore_errors=True)
    failed = [json.loads(line) for line in (run_copy / JOURNAL).read_text().splitlines()]
    failed = sorted(t["episode_id"] for t in failed if t["status"] == "error")
    assert len(failed) >= 2
    wide = cli.invoke(app, ["report", str(run_copy), "--top", "3"], env={"COLUMNS": "300"})
    assert wide.exit_code == 0, wide.output
    assert "more row(s): --top 0 shows all" in wide.stdout
    # one row for the one failure, counted, whatever the container ids
    (group,) = [line for line in wide.stdout.splitlines() if "sandbox never opened" in line]
    assert "container <id> exited N" in group and f" {len(failed)} " in group
    listing = cli.invoke(
        app, ["report", str(run_copy), "--episodes", "--status", "error"], env={"COLUMNS": "40"}
    ).stdout
    listed = [line.split()[0] for line in listing.splitlines() if "#" in line.split(" ")[0]]
    assert listed == failed  # every failed episode, its id whole on one line
    one = json.loads(invoke(cli, "report", run_copy, "--json", "--system", "nfcc").stdout)
    assert {v["value_system"] for v in one["values"]} == {"nfcc"}
    out = invoke(cli, "report", run_copy, "--system", "nope", code=2).output
    assert "no value system nope" in out and "nfcc" in out


def test_reports_read_the_index_and_cached_task_heads_like_the_files(run_copy):
    from judges.runs import HEADS_CACHE, load_scored_run

    from_index = load_scored_run(run_copy)
    assert (run_copy / "index.sqlite").exists() and (run_copy / HEADS_CACHE).exists()
    (run_copy / "index.sqlite").unlink()
    from_journal = load_scored_run(run_copy)
    assert from_journal.rows == from_index.rows
    assert from_journal.report().model_dump() == from_index.report().model_dump()
    assert from_index.trajectories == from_journal.trajectories  # full records on demand

    def defaults(task):  # a changed snapshot is read again, not served from the cache
        task["metadata"]["procedural_pole"] = "none"

    _rewrite_tasks(run_copy, defaults)
    report = load_scored_run(run_copy).report()
    assert all(s.no_default_tasks == s.tasks for s in report.systems)
