"""What the rubric judge is shown, and what it keeps for audit."""

from __future__ import annotations

import json

import pytest

from harnesses.models import resolve_endpoint
from judges.probes import replay_calls
from judges.rubric import RubricJudge, RubricOptions
from judges.rubric_prompt import PromptOptions, blocks, render_prompt, trim_state
from judges.spec import judge_key, make_scorer


def test_the_judge_sees_what_the_agent_left_behind(example_task, golden_trajectories):
    trajectory = next(t for t in golden_trajectories["golden-a"] if t.task_id == example_task.id)
    _, user, _ = render_prompt(example_task, trajectory, "ab")
    found = blocks(user)
    assert json.loads(found["state-diff"]) == trajectory.state_diff
    assert json.loads(found["final-state"]) == trajectory.final_state
    assert user.index("## What the agent did") < user.index("## What the agent left behind")


def test_matchers_are_hidden_unless_asked_for(example_task, golden_trajectories):
    trajectory = golden_trajectories["golden-a"][0]
    _, hidden, _ = render_prompt(example_task, trajectory, "ab")
    _, shown, _ = render_prompt(example_task, trajectory, "ab", PromptOptions(show_matchers=True))
    for prompt, visible in ((hidden, False), (shown, True)):
        checkpoints = json.loads(blocks(prompt)["checkpoints-value-1"])
        assert ("calls" in checkpoints[0] and "state" in checkpoints[0]) is visible
        assert checkpoints[0]["expected_signal"] == "Mr Okafor ends the episode in SD-4."
    assert '"args"' not in blocks(hidden)["checkpoints-value-2"]


def test_state_trimming_keeps_the_records_the_episode_names_first():
    state = {
        "hospital": "St Brennan's",
        "patients": {f"P-{i:04d}": {"notes": ["x" * 200]} for i in range(40)},
    }
    text, note = trim_state(state, 1500, {"P-0031", "P-0007"}, "initial state")
    kept = json.loads(text)["patients"]
    assert {"P-0031", "P-0007"} <= set(kept) and len(kept) < 40
    assert json.loads(text)["hospital"] == "St Brennan's"
    assert note.startswith("[initial state trimmed to 1500 characters") and "patients (" in note
    assert trim_state({"a": 1}, 1500, set(), "initial state") == ('{"a": 1}', "")


def test_prompt_and_raw_replies_are_kept_with_each_reading(
    judge_endpoints, golden_trajectories, bundled_tasks
):
    flaky = RubricJudge(
        [resolve_endpoint("scripted-judge-flaky", judge_endpoints)], RubricOptions()
    )
    trajectory = golden_trajectories["golden-b"][0]
    task = next(t for t in bundled_tasks if t.id == trajectory.task_id)
    verdict = flaky(task, trajectory)
    for reading in verdict.passes:
        assert [m["role"] for m in reading.prompt] == ["system", "user"]
        assert task.prompt in reading.prompt[1]["content"]
        assert len(reading.replies) == 2 and reading.replies[0].startswith("Value 1 seems")
        assert set(reading.summaries) == {"a", "b"}
    assert "B scored 10.0 of 10" in verdict.summaries["b"]


def test_a_scripted_judge_sees_an_undone_action_as_no_support(
    judge_endpoints, golden_trajectories, bundled_tasks
):
    """The outcome reaches the rubric path: the same calls, the world restored, no credit."""
    trajectory = golden_trajectories["golden-a"][0]
    task = next(t for t in bundled_tasks if t.id == trajectory.task_id)
    initial = replay_calls(task, []).final_state
    undone = trajectory.model_copy(update={"state_diff": [], "final_state": initial})
    judge = RubricJudge([resolve_endpoint("scripted-judge", judge_endpoints)])
    assert judge(task, trajectory).scores["a"] == 10.0
    assert judge(task, undone).scores["a"] < 5.0


@pytest.mark.parametrize("spec", ["rubric:scripted-judge", "rubric+matchers:scripted-judge"])
def test_the_judge_spec_says_whether_the_matchers_are_shown(
    spec, judge_endpoints, golden_trajectories, bundled_tasks
):
    trajectory = golden_trajectories["golden-a"][0]
    score = make_scorer(spec, bundled_tasks, judge_endpoints)
    verdict = score(trajectory)
    assert verdict.judge == judge_key(spec) == spec  # stored apart from the other judge's
    shown = "matchers" in spec
    for reading in verdict.passes:
        for block in ("checkpoints-value-1", "checkpoints-value-2"):
            checkpoints = json.loads(blocks(reading.prompt[1]["content"])[block])
            assert any("calls" in c or "state" in c for c in checkpoints) is shown
    assert verdict.scores["a"] == 10.0
