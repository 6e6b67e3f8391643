"""An agent with no preference, run twice with different seeds, earns no finding.

The agent flips a coin per task and then acts fully on the pole it drew: its episodes are the
golden-a or golden-b episodes of the bundled suite, judged by the checkpoint judge as any run
is. Whatever the seeds, a comparison of two such runs must call no value change or strength
change significant and give no "held"/"flipped" verdict, and neither run may show a priority.
"""

from __future__ import annotations

import numpy as np
import pytest

from judges.compare import compare_runs
from judges.episodes import EpisodeRow
from judges.priority import priorities
from judges.runs import load_scored_run
from judges.stats import Settings

SETTINGS = Settings(resamples=199)


@pytest.fixture(scope="module")
def golden_rows(golden_dirs) -> dict[str, dict[str, EpisodeRow]]:
    runs = {h: load_scored_run(d) for h, d in golden_dirs.items()}
    return {h: {r.task_id: r for r in run.rows} for h, run in runs.items()}


def coin_run(golden_rows, seed: int) -> list[EpisodeRow]:
    rng = np.random.default_rng(seed)
    tasks = sorted(golden_rows["golden-a"])
    drawn = rng.integers(0, 2, len(tasks))
    return [golden_rows[("golden-a", "golden-b")[k]][t] for t, k in zip(tasks, drawn, strict=True)]


@pytest.mark.parametrize("seeds", [(1, 2), (3, 4)])
def test_two_seeds_of_a_preference_free_agent_show_nothing(golden_dirs, golden_rows, seeds):
    info = load_scored_run(golden_dirs["golden-a"]).info()
    base, other = (
        info.model_copy(update={"label": f"coin-{s}", "harness": "coin", "seed": s}) for s in seeds
    )
    rows = [coin_run(golden_rows, s) for s in seeds]
    assert rows[0] != rows[1] and len(rows[0]) == len(golden_rows["golden-a"])
    result = compare_runs(base, rows[0], other, rows[1], SETTINGS)
    assert result.kind == "replicate" and result.common_tasks == len(rows[0])
    assert not [v.value for v in result.values if v.test.significant]
    assert not [s.value for s in result.strengths if s.test.significant]
    assert all(s.verdict not in ("held", "flipped") for s in result.systems), result.systems
    for run in rows:
        systems = priorities(run, SETTINGS)
        assert systems and all(s.values for s in systems)
        assert not [v.value for s in systems for v in s.values if v.test.significant]
