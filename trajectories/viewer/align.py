"""The agent's tool calls lined up against a task's two golden trajectories.

Each golden trajectory is aligned with the agent's tool log separately (difflib's longest
matching blocks over tool names, so a call the agent skipped or added shifts nothing after
it); the two alignments are then merged on the agent's calls into rows of three cells: what
pole A's golden path does here, what the agent did, what pole B's golden path does. A matched
pair is `same` when the agent's call also carries every argument the golden call sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import zip_longest
from typing import Any, Literal

from envs.protocol import ToolLogEntry
from envs.task import POLES, GoldenCall, PoleId, Task

Match = Literal["same", "tool"]


@dataclass
class GoldenCell:
    index: int  # position in the golden trajectory, from 0
    call: GoldenCall
    match: Match | None  # how the agent's call in the same row matches it


@dataclass
class AlignedRow:
    a: GoldenCell | None
    agent: ToolLogEntry | None
    b: GoldenCell | None

    def cell(self, pole: PoleId) -> GoldenCell | None:
        return self.a if pole == "a" else self.b


def _loose_equal(sent: Any, golden: Any) -> bool:
    if isinstance(sent, str) and isinstance(golden, str):
        return sent.strip().casefold() == golden.strip().casefold()
    return bool(sent == golden)


def call_match(golden: GoldenCall, entry: ToolLogEntry) -> Match | None:
    """`same` (tool and every golden argument), `tool` (tool only) or None."""
    if entry.refused or entry.tool != golden.tool:
        return None
    received = entry.normalized if entry.normalized is not None else entry.arguments
    same = all(
        name in received and _loose_equal(received[name], value)
        for name, value in golden.arguments.items()
    )
    return "same" if same else "tool"


def _pairs(golden: list[GoldenCall], log: list[ToolLogEntry]) -> dict[int, int]:
    """Agent position -> golden position, for the calls difflib pairs up."""
    agent = [e.tool if not e.refused else f"\0refused {e.step}" for e in log]
    matcher = SequenceMatcher(None, [c.tool for c in golden], agent, autojunk=False)
    return {
        block.b + k: block.a + k
        for block in matcher.get_matching_blocks()
        for k in range(block.size)
    }


def align(task: Task, log: list[ToolLogEntry]) -> list[AlignedRow]:
    """Rows of (golden A, agent, golden B); golden calls the agent has no counterpart for get
    rows of their own, placed before the agent call that follows them."""
    golden = {p: (task.poles[p].golden.calls if task.poles[p].golden else []) for p in POLES}
    pairs = {p: _pairs(golden[p], log) for p in POLES}
    emitted = dict.fromkeys(POLES, 0)  # golden calls placed so far, per pole
    rows: list[AlignedRow] = []

    def flush(upto: dict[PoleId, int]) -> None:
        pending = {
            p: [GoldenCell(i, golden[p][i], None) for i in range(emitted[p], upto[p])]
            for p in POLES
        }
        for a, b in zip_longest(pending["a"], pending["b"]):
            rows.append(AlignedRow(a, None, b))
        emitted.update(upto)

    for position, entry in enumerate(log):
        matched = {p: pairs[p].get(position) for p in POLES}
        flush({p: matched[p] if matched[p] is not None else emitted[p] for p in POLES})
        cells = {
            p: GoldenCell(i, golden[p][i], call_match(golden[p][i], entry))
            if (i := matched[p]) is not None
            else None
            for p in POLES
        }
        for p in POLES:
            if matched[p] is not None:
                emitted[p] = matched[p] + 1
        rows.append(AlignedRow(cells["a"], entry, cells["b"]))
    flush({p: len(golden[p]) for p in POLES})
    return rows
