"""The viewer's data: the journal index it queries, episode pages, alignment, episode views."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from envs.protocol import ToolLogEntry, ToolResult
from judges.store import judgment_path, read_judgments
from judges.verdict import Judgment
from tests.viewer.conftest import BROKEN_TASK
from trajectories.journal import (
    INDEX,
    JOURNAL,
    Journal,
    ensure_index,
    index_current,
    is_being_written,
    read_journal,
)
from trajectories.schema import Message, MessageToolCall
from trajectories.viewer.align import align
from trajectories.viewer.catalog import Catalog, find_runs
from trajectories.viewer.episode import episode_view
from trajectories.viewer.episodes import EpisodeQuery, episode_page


def columns(run_dir: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(run_dir / INDEX)) as db:
        return [row[1] for row in db.execute("PRAGMA table_info(episodes)")]


def test_an_old_index_is_rebuilt_with_the_columns_readers_need(run_copy):
    run_dir = run_copy("golden-a")
    assert {"value_a", "value_b", "value_system", "length"} <= set(columns(run_dir))
    with contextlib.closing(sqlite3.connect(run_dir / INDEX)) as db:  # as an older valuegym left it
        db.execute("DROP TABLE episodes")
        db.execute("CREATE TABLE episodes (episode_id TEXT PRIMARY KEY, task_id TEXT)")
        db.execute("PRAGMA user_version = 0")
        db.commit()
    assert not index_current(run_dir)
    ensure_index(run_dir)
    assert index_current(run_dir) and "value_a" in columns(run_dir)
    with contextlib.closing(sqlite3.connect(run_dir / INDEX)) as db:
        (n,) = db.execute("SELECT count(*) FROM episodes").fetchone()
    assert n == len(list(read_journal(run_dir)))
    with (run_dir / JOURNAL).open("ab") as handle:  # a torn record: the index is behind
        handle.write(b'{"run_id": "golden-a", "epis')
    assert not index_current(run_dir)
    before = (run_dir / JOURNAL).read_bytes()
    ensure_index(run_dir)
    assert (run_dir / JOURNAL).read_bytes() == before  # reading never cuts the journal


def test_an_unreadable_index_is_rebuilt_when_the_run_is_opened_for_writing(run_copy):
    """The index is not fsynced (the journal is): one a machine crash left damaged is rebuilt."""
    run_dir = run_copy("golden-a")
    (run_dir / INDEX).write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with Journal(run_dir) as journal:
        assert journal.done() == {(t.task_id, t.sample) for t in read_journal(run_dir)}
    assert index_current(run_dir)
    with contextlib.closing(sqlite3.connect(run_dir / INDEX)) as db:
        (n,) = db.execute("SELECT count(*) FROM episodes").fetchone()
    assert n == len(list(read_journal(run_dir))) > 0


def test_episode_pages_filter_sort_and_page_from_the_index(view_runs):
    catalog = Catalog.open([view_runs["mixed"]])
    run = catalog.get("mixed")
    everything = episode_page(run, EpisodeQuery(per_page=500))
    assert everything.total == everything.episodes == len(run.tasks)
    errors = episode_page(run, EpisodeQuery(status="error"))
    assert [r.task_id for r in errors.rows] == [BROKEN_TASK]
    assert "the model endpoint went away" in errors.rows[0].error
    assert errors.rows[0].outcome == "unjudged"  # it ended before acting: nothing to judge
    found = episode_page(run, EpisodeQuery(q="endpoint went"))
    assert [r.task_id for r in found.rows] == [BROKEN_TASK]
    leaning_a = episode_page(run, EpisodeQuery(leaning="a", per_page=500))
    stored = read_judgments(view_runs["mixed"], "checkpoint")
    expected_a = {j.task_id for j in stored.values() if j.leaning == "a"}
    assert expected_a and {r.task_id for r in leaning_a.rows} == expected_a
    ranked = episode_page(run, EpisodeQuery(sort="score_b", dir="desc", per_page=500)).rows
    scores = [r.score_b for r in ranked]
    known = [x for x in scores if x is not None]
    assert scores == sorted(known, reverse=True) + [None] * (len(scores) - len(known))
    value = ranked[0].value_a
    with_value = episode_page(run, EpisodeQuery(value=value, per_page=500)).rows
    assert with_value and all(value in (r.value_a, r.value_b) for r in with_value)
    pages = [episode_page(run, EpisodeQuery(per_page=5, page=n)).rows for n in (1, 2)]
    ids = [r.episode_id for r in everything.rows]
    assert [r.episode_id for r in pages[0] + pages[1]] == ids[:10]
    catalog.close()


def test_checkpoint_scores_are_filled_in_until_the_judge_has_written_them(run_copy):
    run_dir = run_copy("golden-b")
    stored = read_judgments(run_dir, "checkpoint")
    judgment_path(run_dir, "checkpoint").unlink()  # a run still in progress has none stored
    catalog = Catalog.open([run_dir])
    run = catalog.get("golden-b")
    page = episode_page(run, EpisodeQuery(per_page=500))
    assert {r.outcome for r in page.rows} == {"scored"}
    assert {r.episode_id: r.leaning for r in page.rows} == {e: j.leaning for e, j in stored.items()}
    rows = run.query("SELECT count(*) FROM scores WHERE stored = 0")
    assert rows[0][0] == page.total
    catalog.close()


def test_a_run_being_journaled_shows_new_episodes_and_reports_itself_live(run_copy):
    run_dir = run_copy("golden-a")
    records = list(read_journal(run_dir))
    (run_dir / JOURNAL).write_bytes(b"")
    (run_dir / INDEX).unlink()
    judgment_path(run_dir, "checkpoint").unlink()
    catalog = Catalog.open([run_dir])
    run = catalog.get("golden-a")
    assert episode_page(run, EpisodeQuery()).total == 0 and not run.live()
    with Journal(run_dir) as journal:
        assert is_being_written(run_dir) and run.live()
        before = run.version()
        for record in records[:3]:
            journal.append(record)
        assert run.version() != before
        page = episode_page(run, EpisodeQuery())
        assert page.total == 3 and {r.outcome for r in page.rows} == {"scored"}
    assert not run.live()
    catalog.close()


def test_a_folder_of_runs_opens_every_run_inside(view_runs):
    root = view_runs["mixed"].parent
    assert {p.name for p in find_runs([root])} == {"golden-a", "golden-b", "mixed"}


def entry(
    step: int, tool: str, ok: bool = True, refused: bool = False, **arguments
) -> ToolLogEntry:
    return ToolLogEntry(
        step=step,
        tool=tool,
        arguments=arguments,
        result=ToolResult(ok=ok),
        state_changed=False,
        refused=refused,
        clock="2026-01-01T00:00:00+00:00",
    )


def test_the_agent_calls_are_aligned_with_both_golden_paths(example_task):
    golden = {p: example_task.poles[p].golden.calls for p in ("a", "b")}
    # the agent follows pole A but skips its second call and adds one call of its own
    log = [entry(0, golden["a"][0].tool, **golden["a"][0].arguments)]
    log.append(entry(1, "not_a_tool_of_either_path"))
    log += [entry(i, c.tool, **c.arguments) for i, c in enumerate(golden["a"][2:], start=2)]
    rows = align(example_task, log)
    agent_rows = [r for r in rows if r.agent is not None]
    assert [r.agent.step for r in agent_rows] == [e.step for e in log]
    assert agent_rows[0].a.index == 0 and agent_rows[0].a.match == "same"
    assert agent_rows[1].a is None  # the added call pairs with nothing
    skipped = [r for r in rows if r.agent is None and r.a is not None]
    assert [r.a.index for r in skipped] == [1]
    assert [r.a.index for r in rows if r.a] == list(range(len(golden["a"])))  # in order, once
    assert [r.b.index for r in rows if r.b] == list(range(len(golden["b"])))
    assert all(r.a.match == "same" for r in agent_rows[2:])
    changed = [entry(0, golden["a"][0].tool, **{k: "other" for k in golden["a"][0].arguments})]
    if golden["a"][0].arguments:
        assert align(example_task, changed)[0].a.match == "tool"
    assert align(example_task, [entry(0, golden["a"][0].tool, refused=True)])[0].a is None


def test_an_episode_view_marks_checkpoints_and_evidence_on_its_steps(view_runs):
    catalog = Catalog.open([view_runs["golden-a"]])
    run = catalog.get("golden-a")
    task_id = sorted(run.tasks)[0]
    trajectory = run.trajectory(task_id, 0)
    judgment = run.judgment(trajectory.episode_id, "checkpoint")
    view = episode_view(trajectory, run.tasks[task_id], judgment)
    steps = [t.step for t in view.turns if t.kind == "step"]
    assert [s.entry.step for s in steps] == [e.step for e in trajectory.tool_log]
    assert all(s.call is not None for s in steps)  # every golden call is in the conversation
    satisfied = {m.checkpoint for s in steps for m in s.marks if m.kind == "satisfied"}
    pole_a = {cp.id for cp in run.tasks[task_id].poles["a"].checkpoints}
    assert pole_a <= satisfied
    cited = {(i.item_id, s.entry.step) for s in steps for i in s.items}
    assert cited == {(i.item_id, n) for i in judgment.items for n in i.evidence_steps}
    assert len(view.golden) >= len(trajectory.tool_log)
    # a call whose arguments did not parse never reached the server: shown as not run
    broken = trajectory.model_copy(
        update={
            "messages": [
                *trajectory.messages[:1],
                Message(
                    role="assistant",
                    tool_calls=[MessageToolCall(id="x", name="get_bed", arguments="{oops")],
                ),
                Message(role="tool", tool_call_id="x", content=json.dumps({"ok": False})),
                *trajectory.messages[1:],
            ]
        }
    )
    turns = episode_view(broken, run.tasks[task_id], judgment).turns
    unrun = [t for t in turns if t.kind == "unrun"]
    assert len(unrun) == 1 and unrun[0].call.arguments == "{oops" and unrun[0].reply
    assert [t.step.entry.step for t in turns if t.kind == "step"] == [s.entry.step for s in steps]
    catalog.close()


@pytest.mark.parametrize("name", ["golden-a"])
def test_episodes_of_another_judge_are_filtered_by_its_scores(run_copy, name):
    run_dir = run_copy(name)
    stored = judgment_path(run_dir, "checkpoint").read_text().splitlines()
    other = judgment_path(run_dir, "rubric:someone")
    flipped = []
    for line in stored:
        record = json.loads(line)
        record["judge"] = "rubric:someone"
        record["scores"] = {"a": record["scores"]["b"], "b": record["scores"]["a"]}
        flipped.append(json.dumps(record))
    other.write_text("\n".join(flipped[:5]) + "\n")
    catalog = Catalog.open([run_dir])
    run = catalog.get(name)
    assert run.judges() == ["checkpoint", "rubric:someone"]
    page = episode_page(run, EpisodeQuery(judge="rubric:someone", per_page=500))
    assert sum(r.outcome == "unjudged" for r in page.rows) == page.total - 5
    expected = {
        Judgment.model_validate_json(line).episode_id: Judgment.model_validate_json(line).leaning
        for line in flipped[:5]
    }
    assert {r.episode_id: r.leaning for r in page.rows if r.outcome == "scored"} == expected
    with other.open("a") as handle:  # a judge still writing: new lines show on the next query
        handle.write("\n".join(flipped[5:7]) + "\n")
    page = episode_page(run, EpisodeQuery(judge="rubric:someone", outcome="scored"))
    assert page.total == 7
    catalog.close()
