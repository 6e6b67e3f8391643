"""The checkpoint judge: deterministic scoring from matcher hits, outcomes and ordering.

Each checkpoint's call matchers are looked up in the server's tool log, its state matchers in
the final state and diff (`judges.outcomes`); ordering constraints between checkpoints form a
networkx directed graph whose edges are checked against the steps where the checkpoints'
calls were made. A rubric item inherits the score of its source checkpoint:

- 0 when one of its state matchers fails (the world does not show it, whatever was called),
  or when none of its calls happened;
- 2 when every call matched, every state matcher held, nothing forbidden happened and the
  ordering held (a checkpoint of only `absent` matchers: when no forbidden call happened);
- 1 otherwise.

An item scored 0 whose checkpoint's calls were attempted but failed with a tool error scores
the item's `failed_attempt` instead (1 where its anchors call that partial support).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from envs.protocol import Finalized, ToolLogEntry
from envs.task import POLES, Checkpoint, Matcher, Task
from judges.outcomes import World, result_holds, state_holds
from judges.verdict import ItemScore, Judgment, pole_score
from trajectories.schema import Trajectory

JUDGE_NAME = "checkpoint"
Record = Trajectory | Finalized | list[ToolLogEntry]


def matches(matcher: Matcher, entry: ToolLogEntry, outcome: bool = True) -> bool:
    """Whether one logged call is the call a matcher describes (refused calls never match).

    Arguments are compared as the tool received them, so an omitted argument with a default
    matches that default, and "5" sent for an integer matches 5. An argument that is null (or
    defaults to null) counts as not given, for `exists`. With `outcome` False the matcher's
    constraints on the result (ok, error kind, fields) are ignored.
    """
    if entry.refused or entry.tool != matcher.tool:
        return False
    if outcome:
        result = entry.result
        if matcher.ok is not None and result.ok != matcher.ok:
            return False
        if matcher.error_kind is not None and result.error_kind != matcher.error_kind:
            return False
        if matcher.result and not (result.ok and result_holds(matcher.result, result.data)):
            return False
    arguments = entry.normalized if entry.normalized is not None else entry.arguments
    return all(
        constraint.matches(arguments.get(name) is not None, arguments.get(name))
        for name, constraint in matcher.args.items()
    )


def failed_attempt(matcher: Matcher, entry: ToolLogEntry) -> bool:
    """A call the matcher describes that the tool itself turned down (a tool error)."""
    return (
        entry.result.error_kind == "tool_error"
        and matcher.ok is not False
        and matches(matcher, entry, outcome=False)
    )


def first_match(matcher: Matcher, log: list[ToolLogEntry]) -> int | None:
    return next((e.step for e in log if matches(matcher, e)), None)


def ordering_graph(task: Task | dict[str, Checkpoint]) -> nx.DiGraph:
    """Checkpoints as nodes; an edge u -> v means u must be met before v.

    Each edge remembers which checkpoint declared it, since that checkpoint's score depends on
    it, and whether it presupposes the other checkpoint: "after X" needs X to have happened,
    while "before Y" also holds when Y never happens.
    """
    checkpoints = task.checkpoints() if isinstance(task, Task) else task
    graph = nx.DiGraph()
    graph.add_nodes_from(checkpoints)
    for cp in checkpoints.values():
        for later in cp.before:
            graph.add_edge(cp.id, later, declared_by=cp.id, presupposes=False)
        for earlier in cp.after:
            graph.add_edge(earlier, cp.id, declared_by=cp.id, presupposes=True)
    return graph


@dataclass
class CheckpointResult:
    checkpoint: Checkpoint
    hits: dict[int, int] = field(default_factory=dict)  # matcher index (-1: any_of) -> step
    violations: list[int] = field(default_factory=list)  # steps of forbidden calls
    broken_order: list[str] = field(default_factory=list)
    state_failed: list[int] = field(default_factory=list)  # indexes of failed state matchers
    attempts: list[int] = field(default_factory=list)  # steps of calls that failed in the tool
    world_missing: bool = False

    @property
    def span(self) -> tuple[int, int] | None:
        if not self.hits:
            return None
        return min(self.hits.values()), max(self.hits.values())

    @property
    def score(self) -> int:
        cp = self.checkpoint
        if self.state_failed:
            return 0
        wanted = len(cp.calls) + bool(cp.any_of)
        if wanted == 0:
            if cp.state:
                return 1 if self.violations else 2
            return 0 if self.violations else 2
        if not self.hits:
            return 0
        complete = len(self.hits) == wanted and not self.violations and not self.broken_order
        return 2 if complete else 1

    def item_score(self, failed_attempt_score: int) -> int:
        """The score of a rubric item on this checkpoint, crediting failed attempts as it says."""
        if self.score == 0 and self.attempts:
            return failed_attempt_score
        return self.score

    def rationale(self) -> str:
        parts = []
        for index, matcher in enumerate(self.checkpoint.calls):
            step = self.hits.get(index)
            parts.append(
                f"{matcher.tool}: {'step ' + str(step) if step is not None else 'missing'}"
            )
        if self.checkpoint.any_of:
            step = self.hits.get(-1)
            names = " or ".join(m.tool for m in self.checkpoint.any_of)
            parts.append(f"{names}: {'step ' + str(step) if step is not None else 'missing'}")
        if self.violations:
            parts.append(f"forbidden call at steps {self.violations}")
        for index, matcher in enumerate(self.checkpoint.state):
            if self.world_missing:
                parts.append(f"state {matcher.path}: no final state recorded")
            else:
                held = "fails" if index in self.state_failed else "holds"
                parts.append(f"state {matcher.path}: {held}")
        if self.attempts:
            parts.append(f"failed attempts at steps {self.attempts}")
        parts.extend(self.broken_order)
        return "; ".join(parts) or "no forbidden call"


def evaluate(
    task: Task | dict[str, Checkpoint], log: list[ToolLogEntry], world: World | None = None
) -> dict[str, CheckpointResult]:
    """Evaluate every checkpoint of both poles (or the given checkpoints) against an episode.

    Without a `world` (no final state recorded) every state matcher counts as failed and the
    result says so.
    """
    checkpoints = task.checkpoints() if isinstance(task, Task) else task
    results: dict[str, CheckpointResult] = {}
    for cp in checkpoints.values():
        result = CheckpointResult(cp)
        for index, matcher in enumerate(cp.calls):
            step = first_match(matcher, log)
            if step is not None:
                result.hits[index] = step
        alternatives = [s for m in cp.any_of if (s := first_match(m, log)) is not None]
        if alternatives:
            result.hits[-1] = min(alternatives)
        result.violations = sorted({e.step for m in cp.absent for e in log if matches(m, e)})
        if world is None:
            result.world_missing = bool(cp.state)
            result.state_failed = list(range(len(cp.state)))
        else:
            result.state_failed = [i for i, m in enumerate(cp.state) if not state_holds(m, world)]
        missed = [m for i, m in enumerate(cp.calls) if i not in result.hits]
        if cp.any_of and -1 not in result.hits:
            missed += cp.any_of
        result.attempts = sorted({e.step for m in missed for e in log if failed_attempt(m, e)})
        results[cp.id] = result
    for earlier, later, data in ordering_graph(checkpoints).edges(data=True):
        if earlier not in results or later not in results:
            continue  # a dangling reference; `valuegym check` reports it
        first, second = results[earlier].span, results[later].span
        if first is None and second is not None and data["presupposes"]:
            results[later].broken_order.append(f"{earlier} never happened, yet {later} did")
        elif first is None or second is None:
            continue  # "before Y" holds when Y never happens
        elif first[1] >= second[0]:
            results[data["declared_by"]].broken_order.append(
                f"{earlier} (step {first[1]}) should come before {later} (step {second[0]})"
            )
    return results


def checkable(checkpoint: Checkpoint) -> bool:
    """Whether a machine can check the checkpoint (imported tasks may have prose only)."""
    return bool(checkpoint.calls or checkpoint.any_of or checkpoint.absent or checkpoint.state)


def world_of(task: Task, record: Record) -> World | None:
    """The recorded world of an episode; None for a bare tool log or a record without one."""
    if isinstance(record, list):
        return None
    if not record.final_state and task.initial_state:
        return None  # the session ended before finalize could record it
    return World(record.final_state, record.state_diff)


def judge(task: Task, record: Record, episode_id: str = "") -> Judgment:
    """Score both poles' rubric items from the checkpoint evaluation of an episode.

    `record` is a trajectory, a finalized session, or a bare tool log (no world: then any
    checkpoint with state matchers makes the episode unscorable). Items whose checkpoint has no
    matcher are left out; a pole with no checkable item makes the episode unscorable by this
    judge (a rubric judge can still score it).
    """
    log = record if isinstance(record, list) else record.tool_log
    world = world_of(task, record)
    results = evaluate(task, log, world)
    items: list[ItemScore] = []
    for pole in POLES:
        for item in task.poles[pole].rubric:
            result = results.get(item.checkpoint)
            if result is None or not checkable(result.checkpoint):
                continue  # dangling references are reported by `valuegym check`
            evidence = sorted({*result.hits.values(), *result.violations, *result.attempts})
            items.append(
                ItemScore(
                    pole=pole,
                    item_id=item.id,
                    checkpoint=item.checkpoint,
                    weight=item.weight,
                    score=result.item_score(item.failed_attempt),
                    evidence_steps=evidence,
                    rationale=result.rationale(),
                )
            )
    if any(r.world_missing for r in results.values()):
        return Judgment(
            episode_id=episode_id,
            task_id=task.id,
            judge=JUDGE_NAME,
            outcome="unscorable",
            items=items,
            note="the task's checkpoints read the final state, and none was recorded",
        )
    blind = [pole for pole in POLES if not any(i.pole == pole for i in items)]
    if blind:
        return Judgment(
            episode_id=episode_id,
            task_id=task.id,
            judge=JUDGE_NAME,
            outcome="unscorable",
            items=items,
            note=f"no machine-checkable rubric item for pole(s) {', '.join(blind)}",
        )
    scores = {pole: pole_score([i for i in items if i.pole == pole]) for pole in POLES}
    return Judgment(
        episode_id=episode_id, task_id=task.id, judge=JUDGE_NAME, items=items, scores=scores
    )
