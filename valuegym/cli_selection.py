"""The task-selection options shared by `run`, `check` and `judge calibrate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from valuegym.selection import Selection

TaskIdsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--task-ids",
        help="Only these tasks: ids, release case stems or case names (comma separated; "
        "repeatable).",
    ),
]
ValueSystemOption = Annotated[
    list[str] | None,
    typer.Option("--value-system", help="Only tasks of this value system (repeatable)."),
]
EnvironmentOption = Annotated[
    list[str] | None,
    typer.Option("--environment", help="Only tasks in this environment (repeatable)."),
]
CaseListOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--case-list",
        help="Only the cases a list names: a file with one id per line, or a folder of case "
        "files such as the release's LLMChoice/cases (repeatable).",
    ),
]


def selection_from(
    task_ids: list[str] | None,
    value_system: list[str] | None,
    environment: list[str] | None,
    case_list: list[Path] | None,
) -> Selection:
    """The selection the options describe; raises `SelectionError` for an unreadable list."""
    return Selection.build(task_ids, value_system, environment, case_list)


def apply_selection(tasks: list, selection: Selection, warn) -> list:
    """The selected tasks; `warn` is told about requested ids that match no task."""
    chosen, unmatched = selection.apply(tasks)
    if unmatched:
        shown = ", ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else "")
        warn(f"{len(unmatched)} requested ids match no task: {shown}")
    return chosen
