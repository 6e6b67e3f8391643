"""The episodes table: one filtered, sorted page of a run's episodes, answered by SQLite.

Only the page asked for leaves the database, so a run of 10,000 episodes costs the browser 50
rows. Filters and sort keys are whitelisted here; everything else a user types is a parameter.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from judges.verdict import LEANINGS
from trajectories.viewer.catalog import OpenRun

SORTS = {
    "episode": "e.task_id {dir}, e.sample {dir}",
    "task": "e.task_id {dir}, e.sample",
    "system": "e.value_system {dir}, e.task_id, e.sample",
    "status": "e.status {dir}, e.task_id, e.sample",
    "leaning": "s.leaning {dir}, e.task_id, e.sample",
    "score_a": "s.score_a IS NULL, s.score_a {dir}, e.task_id, e.sample",
    "score_b": "s.score_b IS NULL, s.score_b {dir}, e.task_id, e.sample",
    "steps": "e.steps {dir}, e.task_id, e.sample",
    "duration": "e.duration_s {dir}, e.task_id, e.sample",
    "error": "e.error IS NULL, e.error {dir}, e.task_id, e.sample",
}
Sort = Literal[
    "episode",
    "task",
    "system",
    "status",
    "leaning",
    "score_a",
    "score_b",
    "steps",
    "duration",
    "error",
]
PER_PAGE = 50


class EpisodeQuery(BaseModel):
    """What the episodes view asks for: the query string of its URL."""

    judge: str = "checkpoint"
    q: str = Field(default="", description="Text in the episode id, task id or error reason.")
    task: str = ""
    status: str = ""
    outcome: str = ""
    leaning: str = ""
    value: str = Field(default="", description="A value that is one of the episode's poles.")
    system: str = ""
    sort: Sort = "episode"
    dir: Literal["asc", "desc"] = "asc"
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=PER_PAGE, ge=1, le=500)

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.q:
            clauses.append("(e.episode_id LIKE ? OR e.error LIKE ?)")
            params += [f"%{self.q}%"] * 2
        for column, wanted in (
            ("e.task_id", self.task),
            ("e.status", self.status),
            ("coalesce(s.leaning, 'none')", self.leaning),
            ("e.value_system", self.system),
        ):
            if wanted:
                clauses.append(f"{column} = ?")
                params.append(wanted)
        if self.outcome == "unjudged":
            clauses.append("coalesce(s.outcome, 'unjudged') = 'unjudged'")
        elif self.outcome:
            clauses.append("s.outcome = ?")
            params.append(self.outcome)
        if self.value:
            clauses.append("(e.value_a = ? OR e.value_b = ?)")
            params += [self.value, self.value]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def link(self, **changes: object) -> str:
        """The query string of this view with some parameters changed (defaults left out)."""
        from urllib.parse import urlencode

        data = self.model_copy(update=changes).model_dump()
        defaults = EpisodeQuery().model_dump()
        return urlencode({k: v for k, v in data.items() if v != defaults[k]})


class ListedEpisode(BaseModel):
    episode_id: str
    task_id: str
    sample: int
    harness: str
    status: str
    error: str | None
    steps: int
    value_system: str
    value_a: str
    value_b: str
    swapped: bool
    duration_s: float
    outcome: str
    score_a: float | None
    score_b: float | None
    leaning: str


class EpisodePage(BaseModel):
    run: str
    query: EpisodeQuery
    total: int = Field(description="Episodes matching the filters.")
    episodes: int = Field(description="Episodes in the run.")
    rows: list[ListedEpisode]
    statuses: dict[str, int] = Field(description="Episodes per end status (all, unfiltered).")

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


FROM = "FROM idx.episodes e LEFT JOIN scores s ON s.judge = ? AND s.episode_id = e.episode_id"
COLUMNS = (
    "e.episode_id, e.task_id, e.sample, e.harness, e.status, e.error, e.steps, e.value_system, "
    "e.value_a, e.value_b, e.swapped, e.duration_s, coalesce(s.outcome, 'unjudged') AS outcome, "
    "s.score_a, s.score_b, coalesce(s.leaning, 'none') AS leaning"
)


def episode_page(run: OpenRun, query: EpisodeQuery) -> EpisodePage:
    run.refresh(query.judge)
    where, params = query.where()
    order = SORTS[query.sort].format(dir=query.dir.upper())
    offset = (query.page - 1) * query.per_page
    rows = run.query(
        f"SELECT {COLUMNS} {FROM}{where} ORDER BY {order} LIMIT ? OFFSET ?",
        [query.judge, *params, query.per_page, offset],
    )
    if not where:
        (total,) = run.query("SELECT count(*) FROM idx.episodes")[0]
    else:
        (total,) = run.query(f"SELECT count(*) {FROM}{where}", [query.judge, *params])[0]
    statuses = run.memo(("statuses",), lambda: status_counts(run))
    return EpisodePage(
        run=run.slug,
        query=query,
        total=total,
        episodes=sum(statuses.values()),
        rows=[ListedEpisode(**dict(row)) for row in rows],
        statuses=statuses,
    )


def status_counts(run: OpenRun) -> dict[str, int]:
    rows = run.query("SELECT status, count(*) FROM idx.episodes GROUP BY status ORDER BY status")
    return {status: n for status, n in rows}


def filter_choices(run: OpenRun) -> dict[str, list[str]]:
    """The values each filter can take in this run, for the filter form's menus."""
    return run.memo(("choices",), lambda: _choices(run))


def _choices(run: OpenRun) -> dict[str, list[str]]:
    values = run.query(
        "SELECT value_a AS v FROM idx.episodes UNION SELECT value_b FROM idx.episodes ORDER BY v"
    )
    systems = run.query("SELECT DISTINCT value_system FROM idx.episodes ORDER BY value_system")
    return {
        "status": ["finished", "max_steps", "error", "timeout"],
        "outcome": ["scored", "unscorable", "unjudged"],
        "leaning": [*LEANINGS, "none"],
        "value": [r[0] for r in values],
        "system": [r[0] for r in systems],
    }
