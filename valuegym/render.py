"""Printing reports for people on a terminal (the JSON form is the pydantic model itself).

A report of thousands of episodes has to fit a screen: tables are cut to `top` rows (saying how
many were left out and how to see them), per-episode listings are opt-in and filterable, one
episode per line with its full id whatever the terminal's width, and warnings print one per
line.
"""

from __future__ import annotations

from collections.abc import Collection

from rich.console import Console
from rich.table import Table as RichTable

from judges.document import Document, Paragraph, Table
from judges.report import RunReport

DEFAULT_TOP = 15


def print_document(document: Document, console: Console, top: int = 0) -> None:
    """The document's text and tables, each cut to `top` rows (0: all); figures are left to
    the HTML report."""
    console.rule(document.title)
    for line in document.intro:
        console.print(line, highlight=False)
    for section in document.sections:
        for block in section.blocks:
            if isinstance(block, Paragraph):
                console.print(block.text, highlight=False)
            elif isinstance(block, Table):
                print_table(block, section.title, console, top)


def print_table(block: Table, section: str, console: Console, top: int = 0) -> None:
    shown = block.rows if top <= 0 else block.rows[:top]
    table = RichTable(*block.headers, title=block.title or section)
    for row in shown:
        table.add_row(*row)
    console.print(table)
    if len(shown) < len(block.rows):
        console.print(
            f"... {len(block.rows) - len(shown)} more row(s): --top 0 shows all, "
            "--system NAME shows one system",
            style="dim",
            highlight=False,
        )
    for note in block.note_lines():
        console.print(note, style="yellow", highlight=False)


def only_systems(report: RunReport, systems: Collection[str]) -> RunReport:
    """The report restricted to some value systems (all of them when none are named)."""
    if not systems:
        return report
    keep = set(systems)
    return report.model_copy(
        update={
            "values": [v for v in report.values if v.value_system in keep],
            "systems": [s for s in report.systems if s.value_system in keep],
            "priorities": [p for p in report.priorities if p.value_system in keep],
            "episodes": [e for e in report.episodes if e.value_system in keep],
        }
    )


def print_episodes(report: RunReport, console: Console, statuses: Collection[str] = ()) -> None:
    """One line per episode, its full id first: status, judgment, leaning, scores, error."""
    shown = [e for e in report.episodes if not statuses or e.status in statuses]
    console.rule(f"{len(shown)} episode(s)")
    for e in shown:
        scores = " ".join(f"{e.values[p]}={e.scores[p]:.2f}" for p in ("a", "b") if p in e.scores)
        why = e.error or (e.note if not e.scored else "")
        parts = [
            e.episode_id,
            e.status,
            e.outcome,
            e.leaning,
            scores,
            why.splitlines()[0] if why else "",
        ]
        console.print("  ".join(p for p in parts if p), highlight=False, soft_wrap=True)


def print_report(
    report: RunReport,
    console: Console,
    top: int = DEFAULT_TOP,
    systems: Collection[str] = (),
    episodes: bool = False,
    statuses: Collection[str] = (),
) -> None:
    """The terminal report: summary tables cut to `top` rows, the episodes that did not finish
    or were not scored grouped by reason, and (with `episodes`) every episode on its own line."""
    from judges.run_document import run_document

    mine = only_systems(report, systems)
    print_document(run_document(mine, episodes=False), console, top)
    if episodes:
        print_episodes(mine, console, statuses)
