"""`valuegym export`: an Inspect AI log, ATIF trajectories and Parquet tables of a run."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from inspect_ai.log import read_eval_log

from judges.store import read_judgments
from tests.viewer.conftest import BROKEN_TASK
from trajectories import exports
from trajectories.exports import ExportedRun, export_format, formats
from trajectories.exports.atif import AtifTrajectory, atif_trajectory
from trajectories.journal import read_journal
from trajectories.schema import Message, MessageToolCall
from valuegym.cli import app


def test_an_inspect_log_reads_back_with_every_episode_and_its_scores(view_runs, tmp_path, cli):
    run_dir = view_runs["mixed"]
    out = tmp_path / "mixed.eval"
    result = cli.invoke(app, ["export", str(run_dir), "--format", "inspect", "--out", str(out)])
    assert result.exit_code == 0, result.output
    log = read_eval_log(str(out))
    records = list(read_journal(run_dir))
    judgments = read_judgments(run_dir, "checkpoint")
    assert log.status == "success" and len(log.samples) == len(records)
    by_key = {(s.id, s.epoch): s for s in log.samples}
    for t in records:
        sample = by_key[(t.task_id, t.sample + 1)]
        assert sample.metadata["episode_id"] == t.episode_id
        assert sample.metadata["status"] == t.status
        assert len(sample.messages) == len(t.messages)
        j = judgments[t.episode_id]
        assert sample.scores["checkpoint"].value == (
            j.scores if j.outcome == "scored" else j.outcome
        )
        assert len(sample.metadata["tool_log"]) == len(t.tool_log)
    broken = by_key[(BROKEN_TASK, 1)]
    assert broken.error is not None and "the model endpoint went away" in broken.error.message
    assert broken.scores["checkpoint"].value == "unjudged"  # it never acted: nothing to judge
    (score,) = log.results.scores
    assert score.name == "checkpoint" and score.scored_samples == len(records) - 1


def test_parquet_tables_match_the_journal_row_for_row(view_runs, tmp_path, cli):
    run_dir = view_runs["mixed"]
    out = tmp_path / "tables"
    result = cli.invoke(app, ["export", str(run_dir), "--format", "parquet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = list(read_journal(run_dir))
    episodes = pq.read_table(out / "episodes.parquet").to_pylist()
    assert [e["episode_id"] for e in episodes] == [t.episode_id for t in records]
    for row, t in zip(episodes, records, strict=True):
        assert (row["task_id"], row["sample"], row["seed"]) == (t.task_id, t.sample, t.seed)
        assert (row["status"], row["error"], row["steps"]) == (t.status, t.error, len(t.tool_log))
        assert (row["value_a"], row["value_b"]) == (t.values["a"], t.values["b"])
        assert json.loads(row["state_diff"]) == t.state_diff
    calls = pq.read_table(out / "tool_calls.parquet").to_pylist()
    logged = [(t.episode_id, e) for t in records for e in t.tool_log]
    assert len(calls) == len(logged)
    for row, (episode, e) in zip(calls, logged, strict=True):
        assert (row["episode_id"], row["step"], row["tool"]) == (episode, e.step, e.tool)
        assert json.loads(row["arguments"]) == e.arguments and row["ok"] == e.result.ok
    judged = pq.read_table(out / "judgments.parquet").to_pylist()
    stored = read_judgments(run_dir, "checkpoint")
    assert len(judged) == len(stored) == len(records)
    for row in judged:
        j = stored[row["episode_id"]]
        assert (row["score_a"], row["score_b"]) == (j.scores.get("a"), j.scores.get("b"))
        assert row["outcome"] == j.outcome
        assert [i["item_id"] for i in row["items"]] == [i.item_id for i in j.items]


def test_atif_keeps_the_system_prompt_tool_definitions_and_call_results(view_runs, tmp_path, cli):
    run_dir = view_runs["golden-a"]
    out = tmp_path / "atif"
    result = cli.invoke(app, ["export", str(run_dir), "--format", "atif", "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = list(read_journal(run_dir))
    files = sorted(out.glob("*.json"))
    assert len(files) == len(records)
    for path in files:
        atif = AtifTrajectory.model_validate_json(path.read_text())
        assert atif.schema_version.startswith("ATIF-v1.")
        extra = atif.extra["valuegym"]
        t = next(r for r in records if r.episode_id == extra["episode_id"])
        assert [d["function"]["name"] for d in atif.agent.tool_definitions] == [
            s.name for s in t.tools
        ]
        calls = [c for s in atif.steps for c in s.tool_calls or []]
        answered = {
            r.source_call_id for s in atif.steps if s.observation for r in s.observation.results
        }
        assert [c.function_name for c in calls] == [e.tool for e in t.tool_log]
        assert {c.tool_call_id for c in calls} == answered
        assert "checkpoint" in extra["judgments"]
    # an agent harness records its system prompt first; malformed arguments are kept as text
    run = ExportedRun.load(run_dir)
    t = records[0].model_copy(
        update={
            "messages": [
                Message(role="system", content="You are an operations assistant."),
                *records[0].messages,
                Message(
                    role="assistant",
                    tool_calls=[MessageToolCall(id="bad", name="x", arguments="{nope")],
                ),
            ]
        }
    )
    atif = atif_trajectory(run, t)
    assert (atif.steps[0].source, atif.steps[0].message) == (
        "system",
        "You are an operations assistant.",
    )
    assert atif.steps[-1].extra == {"malformed_arguments": {"bad": "{nope"}}
    assert [s.step_id for s in atif.steps] == list(range(1, len(atif.steps) + 1))


def test_formats_are_functions_registered_by_name(cli, view_runs, tmp_path, monkeypatch):
    assert {"inspect", "atif", "parquet"} <= set(formats())
    monkeypatch.setattr(exports, "_FORMATS", formats())  # the format below is this test's only

    @export_format("episode-ids", "one line per episode id", "{run}-ids.txt")
    def write_ids(run, out):
        out.write_text("".join(t.episode_id + "\n" for t in run.trajectories))
        return [out]

    out = tmp_path / "ids.txt"
    result = cli.invoke(
        app, ["export", str(view_runs["golden-b"]), "--format", "episode-ids", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == len(list(read_journal(view_runs["golden-b"])))
    unknown = cli.invoke(app, ["export", str(view_runs["golden-b"]), "--format", "csv"])
    assert unknown.exit_code == 2 and "known: " in unknown.output and "atif, " in unknown.output
    missing = cli.invoke(app, ["export", str(tmp_path), "--format", "atif"])
    assert missing.exit_code == 2 and "holds no run" in missing.output
