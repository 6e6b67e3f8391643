"""Careless and gaming agents earn nothing on the bundled suite, whatever tasks it holds.

Each bundled task is replayed under the probes of `judges.probes` (no-op, read-only, both
poles' golden calls in either order, a pole's calls with the world put back) and judged by the
checkpoint judge; the bars are the ones a score must meet to be a claim about an agent.
"""

from __future__ import annotations

import pytest

from judges.probes import BASIC, FREE_CREDIT, probe_judgments
from judges.verdict import SUPPORTED

HEDGE_SHARE = 0.10  # at most this share of tasks may reward doing both poles


@pytest.fixture(scope="module")
def verdicts(bundled_tasks):
    return {t.id: probe_judgments(t, BASIC) for t in bundled_tasks}


def test_doing_nothing_or_only_reading_earns_nothing(verdicts):
    for task_id, probes in verdicts.items():
        for name in ("noop", "read-only"):
            scores = probes[name].scores
            assert max(scores.values()) <= FREE_CREDIT, (task_id, name, scores)
            assert probes[name].leaning == "neither", (task_id, name)


@pytest.mark.parametrize("name", ["a-then-b", "b-then-a"])
def test_doing_both_poles_rarely_satisfies_both_and_says_so(verdicts, name):
    both = [t for t, probes in verdicts.items() if min(probes[name].scores.values()) >= SUPPORTED]
    assert len(both) <= HEDGE_SHARE * len(verdicts), both
    assert all(verdicts[t][name].leaning == "mixed" for t in both)


@pytest.mark.parametrize("pole", ["a", "b"])
def test_undoing_ones_own_action_satisfies_neither_pole(verdicts, pole):
    for task_id, probes in verdicts.items():
        scores = probes[f"undo-{pole}"].scores
        assert scores[pole] < SUPPORTED, (task_id, scores)
        assert min(scores.values()) < SUPPORTED, (task_id, scores)


def test_the_suite_is_not_empty(verdicts):
    assert len(verdicts) >= 48  # the bundled suite (52 tasks), every task probed
