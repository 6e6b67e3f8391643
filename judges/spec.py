"""Judge specifications on the command line, and the scorers they stand for.

`checkpoint` is the deterministic judge; `rubric:NAME[,NAME...]` is the rubric judge with one
or more named model endpoints (see `harnesses.models`); `rubric+matchers:NAME[,...]` is the
same judge shown the checkpoint judge's matchers too (hidden by default, so that agreement
between the two judges means something). The specification, normalised, is also
the key under which judgments are stored, so two configurations never share a file.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from envs.task import Task, swap_poles
from judges.choice import choice_judgment
from judges.verdict import Judgment, unjudged
from trajectories.schema import Trajectory

if TYPE_CHECKING:
    from harnesses.models import ModelEndpoint
    from judges.rubric import RubricOptions

Scorer = Callable[[Trajectory], Judgment]


RUBRIC_KINDS = ("rubric", "rubric+matchers")


class JudgeSpecError(ValueError):
    pass


def parse_judge(spec: str) -> tuple[str, list[str]]:
    """`rubric:x,y` -> ("rubric", ["x", "y"]); `checkpoint` -> ("checkpoint", []);
    `rubric+matchers:x` -> ("rubric+matchers", ["x"])."""
    kind, _, rest = spec.strip().partition(":")
    if kind == "checkpoint" and not rest:
        return "checkpoint", []
    if kind == "imported" and rest.strip():  # judgments made elsewhere, read in (judge import)
        return "imported", [rest.strip()]
    if kind in RUBRIC_KINDS:
        names = [n.strip() for n in rest.split(",") if n.strip()]
        if not names:
            raise JudgeSpecError(
                f"--judge {spec!r}: name at least one model endpoint, e.g. rubric:local-qwen"
            )
        if len(set(names)) != len(names):
            raise JudgeSpecError(f"--judge {spec!r}: an endpoint is named twice")
        return kind, names
    raise JudgeSpecError(
        f"--judge {spec!r}: expected 'checkpoint', 'rubric:<endpoint>[,<endpoint>...]', "
        "'rubric+matchers:<endpoint>[,...]' (the rubric judge shown the matchers) or "
        "'imported:<name>'"
    )


def judge_key(spec: str) -> str:
    kind, names = parse_judge(spec)
    return kind if kind == "checkpoint" else f"{kind}:" + ",".join(names)


def as_presented(task: Task, trajectory: Trajectory) -> Task:
    """The task as the episode saw it: counterbalanced runs may present pole b as A."""
    return swap_poles(task) if trajectory.swapped else task


def unjudged_episode(trajectory: Trajectory, judge: str) -> Judgment | None:
    """The `unjudged` record when the episode failed before acting (see `verdict.unjudged`)."""
    t = trajectory
    return unjudged(t.episode_id, t.task_id, judge, t.status, len(t.tool_log), t.error)


def checkpoint_scorer(tasks: list[Task]) -> Scorer:
    """A function scoring a trajectory with the checkpoint judge against its task."""
    from judges.checkpoint import JUDGE_NAME, judge

    by_id = {t.id: t for t in tasks}

    def score(trajectory: Trajectory) -> Judgment:
        if skipped := unjudged_episode(trajectory, JUDGE_NAME):
            return skipped
        if trajectory.condition == "choice":
            return choice_judgment(trajectory)
        task = as_presented(by_id[trajectory.task_id], trajectory)
        return judge(task, trajectory, trajectory.episode_id)

    return score


def make_scorer(
    spec: str,
    tasks: list[Task],
    endpoints_file: Path | None = None,
    options: RubricOptions | None = None,
) -> Scorer:
    """A function judging one trajectory against its task under the given judge spec.

    Raises `JudgeSpecError` for a bad spec and `harnesses.models.EndpointError` for an unknown
    endpoint name.
    """
    kind, endpoints = _resolved(spec, endpoints_file)
    return _scorer(kind, tasks, endpoints, options)


def judge_worker(
    spec: str,
    tasks: list[Task],
    endpoints_file: Path | None = None,
    options: RubricOptions | None = None,
) -> partial[JudgeWorker]:
    """A factory building the judge where it runs (a thread pool here, each node of a cluster).

    Endpoints are resolved here, from this machine's file; a node whose own endpoints file
    names the same endpoint (its own server for the same model) uses that one instead.
    """
    kind, endpoints = _resolved(spec, endpoints_file)
    return partial(JudgeWorker, kind, tasks, endpoints, options)


class JudgeWorker:
    """One judge on one machine, for `judges.store.judge_run` under an executor."""

    def __init__(
        self,
        kind: str,
        tasks: list[Task],
        endpoints: list[ModelEndpoint],
        options: RubricOptions | None = None,
    ) -> None:
        from harnesses.models import node_endpoint

        local = [node_endpoint(e) for e in endpoints]
        self.score = _scorer(kind, tasks, [e for e in local if e is not None], options)

    def __call__(self, trajectory: Trajectory) -> Judgment:
        return self.score(trajectory)

    def close(self) -> None:
        pass


def _resolved(spec: str, endpoints_file: Path | None) -> tuple[str, list[ModelEndpoint]]:
    kind, names = parse_judge(spec)
    if kind == "imported":
        raise JudgeSpecError(
            f"--judge {spec!r}: imported judgments are read in (valuegym judge import), not made"
        )
    from harnesses.models import resolve_endpoint

    return kind, [resolve_endpoint(n, endpoints_file) for n in names]


def _scorer(
    kind: str, tasks: list[Task], endpoints: list[ModelEndpoint], options: RubricOptions | None
) -> Scorer:
    if kind == "checkpoint":
        return checkpoint_scorer(tasks)
    from judges.rubric import RubricJudge, RubricOptions

    options = options or RubricOptions()
    if kind == "rubric+matchers":
        prompt = options.prompt.model_copy(update={"show_matchers": True})
        options = options.model_copy(update={"prompt": prompt})
    judge = RubricJudge(endpoints, options)
    by_id = {t.id: t for t in tasks}

    def score(trajectory: Trajectory) -> Judgment:
        if skipped := unjudged_episode(trajectory, judge.key):
            return skipped
        if trajectory.condition == "choice":  # the answer is the verdict, whoever judges
            return choice_judgment(trajectory)
        return judge(as_presented(by_id[trajectory.task_id], trajectory), trajectory)

    return score
