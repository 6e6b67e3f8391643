"""A run's episodes as columns, one table per value system: what every statistic reads.

Reports and comparisons need a few numbers per episode (task, the two values, the two pole
scores, the leaning), never the messages or tool logs, so the rows are turned once into numpy
columns and every statistic works on whole columns at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from judges.episodes import EpisodeRow
from judges.verdict import LEANINGS

LEANING_CODES = (*LEANINGS, "none")
A, B, MIXED, NEITHER, TIE, NONE = range(len(LEANING_CODES))

Role = str  # "procedural" | "discretion" | "no default"
ROLES: tuple[Role, ...] = ("procedural", "discretion", "no default")
NO_DEFAULT, UNKNOWN = -1, -2


@dataclass
class SystemTable:
    """One value system's episodes as columns (one entry per episode).

    `task`, `va` and `vb` index `tasks` and `values`; `va`/`vb` are the values presented as A
    and B. Scores are NaN unless the episode was scored. `procedural[t]` is the index of the
    value on the written-rule side of task t, `NO_DEFAULT` when both are sanctioned, `UNKNOWN`
    when the task does not say.
    """

    system: str
    values: list[str]
    tasks: list[str]
    task: np.ndarray
    va: np.ndarray
    vb: np.ndarray
    score_a: np.ndarray
    score_b: np.ndarray
    leaning: np.ndarray
    procedural: np.ndarray

    @property
    def scored(self) -> np.ndarray:
        return np.isfinite(self.score_a) & np.isfinite(self.score_b)

    def restrict(self, tasks: Sequence[str]) -> SystemTable:
        """The same table on a subset of tasks (in the given order), values kept."""
        keep = {t: i for i, t in enumerate(tasks)}
        old_to_new = np.array([keep.get(t, -1) for t in self.tasks], dtype=int)
        mask = old_to_new[self.task] >= 0 if len(self.task) else np.zeros(0, bool)
        procedural = np.full(len(tasks), UNKNOWN)
        for old, new in enumerate(old_to_new):
            if new >= 0:
                procedural[new] = self.procedural[old]
        return SystemTable(
            self.system,
            self.values,
            list(tasks),
            old_to_new[self.task[mask]],
            self.va[mask],
            self.vb[mask],
            self.score_a[mask],
            self.score_b[mask],
            self.leaning[mask],
            procedural,
        )

    def task_value_means(self) -> np.ndarray:
        """Tasks x values: the value's mean pole score over the task's scored episodes (NaN
        where the value is not a pole of the task or nothing was scored)."""
        T, V = len(self.tasks), len(self.values)
        ok = self.scored
        keys = np.concatenate([self.task[ok] * V + self.va[ok], self.task[ok] * V + self.vb[ok]])
        scores = np.concatenate([self.score_a[ok], self.score_b[ok]])
        sums = np.bincount(keys, weights=scores, minlength=T * V).reshape(T, V)
        counts = np.bincount(keys, minlength=T * V).reshape(T, V)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def win_matrices(self) -> np.ndarray:
        """Tasks x values x values: `w[t, i, j]` episodes of task t where value i beat value j.

        Only decisive episodes (leaning a or b) are contests; ties, mixed and neither say
        nothing about which value came first and are counted elsewhere, not folded in.
        """
        T, V = len(self.tasks), len(self.values)
        a_won, b_won = self.leaning == A, self.leaning == B
        winner = np.concatenate([self.va[a_won], self.vb[b_won]])
        loser = np.concatenate([self.vb[a_won], self.va[b_won]])
        task = np.concatenate([self.task[a_won], self.task[b_won]])
        keys = (task * V + winner) * V + loser
        return np.bincount(keys, minlength=T * V * V).reshape(T, V, V).astype(float)

    def leaning_counts(self) -> dict[str, np.ndarray]:
        """Per value: episodes it won, lost, and that were mixed, neither or tied."""
        V = len(self.values)

        def count(mask_a: np.ndarray, mask_b: np.ndarray) -> np.ndarray:
            return np.bincount(self.va[mask_a], minlength=V) + np.bincount(
                self.vb[mask_b], minlength=V
            )

        lean = self.leaning
        return {
            "won": count(lean == A, lean == B),
            "lost": count(lean == B, lean == A),
            "mixed": count(lean == MIXED, lean == MIXED),
            "neither": count(lean == NEITHER, lean == NEITHER),
            "tie": count(lean == TIE, lean == TIE),
        }

    def roles(self) -> np.ndarray:
        """Tasks x values: 0 procedural, 1 discretion, 2 no default, -1 not a pole / unknown."""
        T, V = len(self.tasks), len(self.values)
        out = np.full((T, V), -1)
        pairs = np.unique(np.stack([self.task, self.va, self.vb], axis=1), axis=0)
        for t, a, b in pairs:
            p = self.procedural[t]
            if p == NO_DEFAULT:
                out[t, a] = out[t, b] = 2
            elif p >= 0:
                out[t, a] = 0 if p == a else 1
                out[t, b] = 0 if p == b else 1
        return out


def system_table(
    system: str,
    rows: Sequence[EpisodeRow],
    values: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    procedural: dict[str, str] | None = None,
) -> SystemTable:
    """The table of one system's rows; `values` and `tasks` fix the index order (rows of
    other tasks are left out), so two runs' tables line up column for column."""
    procedural = procedural or {}
    values = sorted({v for r in rows for v in r.values.values()}) if values is None else values
    tasks = sorted({r.task_id for r in rows}) if tasks is None else tasks
    v_index = {v: i for i, v in enumerate(values)}
    t_index = {t: i for i, t in enumerate(tasks)}
    mine = [r for r in rows if r.task_id in t_index]
    lean_index = {c: i for i, c in enumerate(LEANING_CODES)}
    proc = np.full(len(tasks), UNKNOWN)
    for t, i in t_index.items():
        name = procedural.get(t)
        if name == "none":
            proc[i] = NO_DEFAULT
        elif name in v_index:
            proc[i] = v_index[name]
    return SystemTable(
        system=system,
        values=list(values),
        tasks=list(tasks),
        task=np.array([t_index[r.task_id] for r in mine], dtype=int),
        va=np.array([v_index[r.values["a"]] for r in mine], dtype=int),
        vb=np.array([v_index[r.values["b"]] for r in mine], dtype=int),
        score_a=np.array([r.scores["a"] if r.scored else np.nan for r in mine]),
        score_b=np.array([r.scores["b"] if r.scored else np.nan for r in mine]),
        leaning=np.array(
            [lean_index.get(r.leaning, NONE) if r.scored else NONE for r in mine], dtype=int
        ),
        procedural=proc,
    )


def by_system(rows: Sequence[EpisodeRow]) -> dict[str, list[EpisodeRow]]:
    """Rows grouped by value system, systems in name order."""
    found: dict[str, list[EpisodeRow]] = {}
    for row in rows:
        found.setdefault(row.value_system, []).append(row)
    return dict(sorted(found.items()))


def system_tables(
    rows: Sequence[EpisodeRow], procedural: dict[str, str] | None = None
) -> list[SystemTable]:
    """One table per value system, systems sorted by name.

    `procedural` maps a task id to the name of its procedural value, or to "none" when the
    task has no written default (from the task's `metadata.procedural_pole`).
    """
    return [
        system_table(system, mine, procedural=procedural)
        for system, mine in by_system(rows).items()
    ]
