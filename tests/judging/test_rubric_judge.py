"""The rubric judge end to end against scripted judge policies on a loopback server."""

from __future__ import annotations

import json

import pytest

from harnesses.models import resolve_endpoint
from judges.agreement import judge_stats
from judges.rubric import InvalidReply, JudgeUnavailable, RubricJudge, parse_reply
from judges.rubric_prompt import PromptOptions, blocks, present, render_prompt
from judges.spec import JudgeSpecError, checkpoint_scorer, judge_key, parse_judge
from judges.stats import Settings
from trajectories.schema import Trajectory

SAMPLE = 6  # episodes per pole read in these tests; calibration covers the whole suite


def judge_with(endpoints_file, *names: str) -> RubricJudge:
    return RubricJudge([resolve_endpoint(n, endpoints_file) for n in names])


def episodes(golden_trajectories, bundled_tasks) -> list[tuple[object, Trajectory]]:
    by_id = {t.id: t for t in bundled_tasks}
    picked = [t for h in ("golden-a", "golden-b") for t in golden_trajectories[h][:SAMPLE]]
    return [(by_id[t.task_id], t) for t in picked]


def test_prompt_relabels_poles_and_says_when_it_trims(example_task, golden_trajectories):
    trajectory = golden_trajectories["golden-a"][0]
    big = example_task.model_copy(update={"initial_state": {"notes": ["x" * 50] * 400}})
    _, user, view = render_prompt(big, trajectory, "ba", PromptOptions(state_chars=500))
    assert "[initial state trimmed to 500 characters" in user
    first, second = big.poles["b"].value.name, big.poles["a"].value.name
    assert user.index(f"## Value 1: {first}") < user.index(f"## Value 2: {second}")
    assert f"sets Value 1 ({first}) against Value 2 ({second})" in user  # the conflict line too
    for pole in ("a", "b"):  # no id that gives a pole away reaches the judge
        for item in big.poles[pole].rubric:
            assert item.id not in user
        for cp in big.poles[pole].checkpoints:
            assert f'"{cp.id}"' not in user
    assert {i.pole for k, i in view.items.items() if k.startswith("V1.")} == {"b"}
    log = blocks(user)["tool-log"].splitlines()
    assert [json.loads(line)["step"] for line in log] == [e.step for e in trajectory.tool_log]


def test_replies_are_validated_against_the_rubric_shown(example_task):
    view = present(example_task, "ab")
    answer = [{"id": i, "score": 2, "evidence_steps": [0, 99]} for i in view.items]
    reply, notes = parse_reply("```json\n" + json.dumps({"items": answer}) + "\n```", view, {0})
    assert all(i.evidence_steps == [0] for i in reply.items) and "99" in notes[0]
    with pytest.raises(InvalidReply, match="missing items"):
        parse_reply(json.dumps({"items": answer[1:]}), view, {0})
    with pytest.raises(InvalidReply, match=r"items\.0\.score"):
        parse_reply(json.dumps({"items": [{**answer[0], "score": 3}, *answer[1:]]}), view, {0})
    with pytest.raises(InvalidReply, match="not a JSON object"):
        parse_reply("I would say value 1.", view, {0})


def test_faithful_scripted_judge_agrees_with_the_checkpoint_judge(
    judge_endpoints, golden_trajectories, bundled_tasks
):
    judge = judge_with(judge_endpoints, "scripted-judge")
    reference = checkpoint_scorer(bundled_tasks)
    for task, trajectory in episodes(golden_trajectories, bundled_tasks):
        verdict = judge(task, trajectory)
        assert verdict.scores == reference(trajectory).scores
        assert [(p.order, p.outcome) for p in verdict.passes] == [
            ("ab", "scored"),
            ("ba", "scored"),
        ]
        assert verdict.swap_disagreement == 0 and verdict.position_bias == 0


def test_swapped_readings_reveal_a_position_biased_judge(
    judge_endpoints, golden_trajectories, bundled_tasks
):
    fair = judge_with(judge_endpoints, "scripted-judge")
    biased = judge_with(judge_endpoints, "scripted-judge-first-bias")
    found: dict[str, list] = {"fair": [], "biased": []}
    for task, trajectory in episodes(golden_trajectories, bundled_tasks):
        found["fair"].append(fair(task, trajectory))
        verdict = biased(task, trajectory)
        found["biased"].append(verdict)
        own = "a" if trajectory.harness == "golden-a" else "b"
        other = "b" if own == "a" else "a"
        assert verdict.scores[own] > verdict.scores[other]  # averaging both orders cancels it
    settings = Settings(resamples=200)
    fair_stats, biased_stats = (judge_stats(found[k], settings) for k in ("fair", "biased"))
    assert fair_stats.position_bias.value == 0 and fair_stats.leaning_flips == 0
    assert biased_stats.position_bias.low > 3  # a first-shown value gains over 3 of 10 points
    assert biased_stats.leaning_flips > 0 and biased_stats.swap_alpha < fair_stats.swap_alpha


def test_invalid_replies_are_retried_then_given_up(
    judge_endpoints, golden_trajectories, bundled_tasks
):
    task, trajectory = episodes(golden_trajectories, bundled_tasks)[0]
    flaky = judge_with(judge_endpoints, "scripted-judge-flaky")(task, trajectory)
    assert [p.attempts for p in flaky.passes] == [2, 2] and flaky.outcome == "scored"
    assert flaky.scores == checkpoint_scorer(bundled_tasks)(trajectory).scores
    never = judge_with(judge_endpoints, "scripted-refuser")(task, trajectory)
    assert never.outcome == "unscorable" and never.scores == {}
    assert all(p.attempts == 3 and "no valid reply" in p.note for p in never.passes)


def test_an_unreachable_endpoint_stops_judging(judge_endpoints, golden_trajectories, bundled_tasks):
    task, trajectory = episodes(golden_trajectories, bundled_tasks)[0]
    with pytest.raises(JudgeUnavailable, match="nobody"):
        judge_with(judge_endpoints, "nobody")(task, trajectory)


def test_an_ensemble_reads_both_orders_per_judge_and_reports_agreement(
    judge_endpoints, golden_trajectories, bundled_tasks
):
    judge = judge_with(judge_endpoints, "scripted-judge", "scripted-judge-first-bias")
    assert judge.key == "rubric:scripted-judge,scripted-judge-first-bias"
    verdicts = [judge(task, t) for task, t in episodes(golden_trajectories, bundled_tasks)]
    assert all(len(v.passes) == 4 for v in verdicts)
    stats = judge_stats(verdicts, Settings(resamples=100))
    assert stats.judges == ["scripted-judge", "scripted-judge-first-bias"]
    assert stats.ensemble_alpha is not None and stats.ensemble_alpha < 1


def test_judge_specs():
    assert parse_judge("rubric: x, y") == ("rubric", ["x", "y"])
    assert judge_key("rubric:x,y") == "rubric:x,y" and judge_key("checkpoint") == "checkpoint"
    assert parse_judge("rubric+matchers:x") == ("rubric+matchers", ["x"])
    for bad in ("rubric:", "rubric:x,x", "llm:x", "checkpoint:x"):
        with pytest.raises(JudgeSpecError):
            parse_judge(bad)


def test_counterbalanced_episodes_are_judged_as_presented(judge_endpoints, bundled_tasks, tmp_path):
    from harnesses.base import get_harness
    from judges.spec import make_scorer
    from valuegym.runner import RunConfig, create_run, execute_run, run_trajectories

    tasks = bundled_tasks[:SAMPLE]
    config = RunConfig(
        run_id="cb", harness="golden-a", counterbalance=True, task_ids=[t.id for t in tasks]
    )
    create_run(tmp_path / "cb", config, tasks)
    execute_run(tmp_path / "cb", get_harness("golden-a"))
    trajectories = run_trajectories(tmp_path / "cb")
    assert {t.swapped for t in trajectories} == {True, False}
    rubric = make_scorer("rubric:scripted-judge", tasks, judge_endpoints)
    reference = checkpoint_scorer(tasks)
    for trajectory in trajectories:
        assert rubric(trajectory).scores == reference(trajectory).scores
        assert rubric(trajectory).scores["a"] > rubric(trajectory).scores["b"]
