"""Printing reports as rich tables for people (the JSON form is the pydantic model itself)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from judges.report import RunReport


def print_report(report: RunReport, console: Console, episodes: bool = True) -> None:
    console.rule(f"run {report.run_id} - harness {report.harness} - judge {report.judge}")
    if episodes:
        table = Table(
            "episode", "status", "A", "score A", "B", "score B", "leans", title="Episodes"
        )
        for row in report.episodes:
            table.add_row(
                row.episode_id,
                row.status,
                row.values["a"],
                f"{row.scores['a']:.2f}",
                row.values["b"],
                f"{row.scores['b']:.2f}",
                row.leaning.upper(),
            )
        console.print(table)
    values = Table(
        "system", "value", "adherence (0-10)", "episodes", "tasks", title="Value adherence"
    )
    for v in report.values:
        values.add_row(v.value_system, v.value, f"{v.adherence:.2f}", str(v.episodes), str(v.tasks))
    console.print(values)
    systems = Table("system", "adherence", "values", "episodes", title="System adherence")
    for s in report.systems:
        systems.add_row(s.value_system, f"{s.adherence:.2f}", str(s.values), str(s.episodes))
    console.print(systems)
    coverage = ", ".join(f"{k}: {n}" for k, n in report.coverage.items())
    lean = ", ".join(f"{k.upper()}: {n}" for k, n in report.leaning.items())
    console.print(f"coverage - {coverage}   |   episodes leaning - {lean}")
