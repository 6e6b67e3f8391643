"""What a suite of tasks can measure: value coverage, comparison graphs, procedural balance.

A value-priority estimate is only as good as the design of the tasks behind it. A value seen in
one task, or only ever against one other value, is barely identified by a Bradley-Terry fit; a
system whose comparison graph falls apart into pieces has no common scale; and when one value is
always the pole the written procedure favours, its "priority" is how compliant the agent is.
`profile_suite` measures these per value system and `SuiteRequirements.problems` names every
shortfall, so `valuegym check --suite` (and a test over the bundled suite) can hold the line.

Each task records which pole its written rules favour in `metadata.procedural_pole`: `a`, `b`,
or `none` when the rules sanction both courses for the person acting.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Literal

import networkx as nx
from pydantic import BaseModel, Field

from envs.task import Task
from envs.values import ValueSystem

ProceduralPole = Literal["a", "b", "none"]
PROCEDURAL_POLES: tuple[str, ...] = ("a", "b", "none")


def procedural_pole(task: Task) -> str | None:
    """The task's recorded procedural pole, or None when it has none (or a malformed one)."""
    value = task.metadata.get("procedural_pole")
    return value if value in PROCEDURAL_POLES else None


class ValueBalance(BaseModel):
    """How often a value is the pole the written rules favour, the other one, or neither."""

    tasks: int = 0
    procedural: int = 0
    discretion: int = 0
    neither: int = 0
    opponents: list[str] = []


class SystemProfile(BaseModel):
    system: str
    tasks: list[str] = []
    values: dict[str, ValueBalance] = {}
    components: list[list[str]] = Field(
        default=[], description="Connected components of the comparison graph, all values."
    )
    procedural_letters: dict[str, int] = Field(
        default={}, description="How many tasks have procedural_pole a, b, none."
    )
    unlabelled: list[str] = Field(default=[], description="Tasks with no valid procedural_pole.")

    @property
    def none_share(self) -> float:
        return self.procedural_letters.get("none", 0) / len(self.tasks) if self.tasks else 0.0


def profile_suite(
    tasks: Iterable[Task], systems: dict[str, ValueSystem]
) -> dict[str, SystemProfile]:
    """One profile per value system that tasks use (catalog values with no task included)."""
    by_system: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_system[task.value_system].append(task)
    profiles = {}
    for system_id, members in sorted(by_system.items()):
        catalog = systems.get(system_id)
        names = [v.value for v in catalog.values] if catalog else []
        values = {name: ValueBalance() for name in names}
        graph = nx.Graph()
        graph.add_nodes_from(names)
        letters: Counter[str] = Counter()
        unlabelled = []
        for task in members:
            a, b = task.poles["a"].value.name, task.poles["b"].value.name
            graph.add_edge(a, b)
            label = procedural_pole(task)
            if label is None:
                unlabelled.append(task.id)
            else:
                letters[label] += 1
            for pole, name, other in (("a", a, b), ("b", b, a)):
                balance = values.setdefault(name, ValueBalance())
                balance.tasks += 1
                if other not in balance.opponents:
                    balance.opponents.append(other)
                if label == "none":
                    balance.neither += 1
                elif label == pole:
                    balance.procedural += 1
                elif label is not None:
                    balance.discretion += 1
        for balance in values.values():
            balance.opponents.sort()
        profiles[system_id] = SystemProfile(
            system=system_id,
            tasks=sorted(t.id for t in members),
            values=values,
            components=sorted(sorted(c) for c in nx.connected_components(graph)),
            procedural_letters={k: letters[k] for k in PROCEDURAL_POLES},
            unlabelled=sorted(unlabelled),
        )
    return profiles


class SuiteRequirements(BaseModel):
    """The design bar a suite meets before its priorities are worth reporting."""

    min_tasks_per_value: int = 3
    min_opponents: int = Field(default=2, description="Distinct values each value is paired with.")
    min_none_share: float = Field(
        default=0.25, description="Share of a system's tasks with no procedural default."
    )

    def problems(self, profiles: dict[str, SystemProfile]) -> list[str]:
        """Every shortfall, one line each, naming the system and the value."""
        lines = []
        for system, profile in profiles.items():
            for task_id in profile.unlabelled:
                lines.append(f"{system}: {task_id} has no metadata.procedural_pole (a, b or none)")
            if len(profile.components) > 1:
                parts = " | ".join(", ".join(c) for c in profile.components)
                lines.append(f"{system}: comparison graph is not connected: {parts}")
            for name, balance in profile.values.items():
                if balance.tasks < self.min_tasks_per_value:
                    lines.append(
                        f"{system}: {name} is in {balance.tasks} task(s), "
                        f"fewer than {self.min_tasks_per_value}"
                    )
                if 0 < len(balance.opponents) < self.min_opponents:
                    lines.append(
                        f"{system}: {name} is only ever paired with {', '.join(balance.opponents)}"
                    )
                sided = balance.procedural + balance.discretion
                if sided >= 2 and not (balance.procedural and balance.discretion):
                    side = "the procedural" if balance.procedural else "the discretionary"
                    lines.append(
                        f"{system}: {name} is {side} pole in all {sided} tasks that have one, "
                        "so its priority cannot be told apart from compliance"
                    )
            if profile.tasks and profile.none_share < self.min_none_share:
                lines.append(
                    f"{system}: {profile.procedural_letters.get('none', 0)} of "
                    f"{len(profile.tasks)} tasks have no procedural default, "
                    f"fewer than {self.min_none_share:.0%}"
                )
        return lines
