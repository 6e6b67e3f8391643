"""`valuegym import`: bring tasks from other formats into valuegym."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import_app = typer.Typer(help="Import tasks from other benchmark formats.", no_args_is_help=True)


@import_app.command("agent-valuebench")
def agent_valuebench(
    release: Annotated[Path, typer.Argument(help="A checkout of the Agent-ValueBench release.")],
    out: Annotated[Path, typer.Option("--out", help="Where the tasks and the report go.")],
) -> None:
    """Convert every case of a release into valuegym tasks (the release is not copied)."""
    from envs.agent_valuebench.importer import ReleaseError, import_release

    console = Console(stderr=True, soft_wrap=True)
    try:
        report = import_release(release, out)
    except ReleaseError as exc:
        console.print(f"error: {exc}", style="red", highlight=False)
        raise typer.Exit(2) from None
    for issue in report.flagged:
        for problem in issue.problems:
            console.print(f"flagged {issue.case}: {problem}", style="yellow", highlight=False)
    for issue in report.failed:
        console.print(f"not imported {issue.case}: {'; '.join(issue.problems)}", style="red")
    console.print(
        f"imported {report.imported} of {report.cases} cases into {out / 'tasks'} "
        f"({len(report.flagged)} flagged, {len(report.failed)} not imported"
        + (f"; {report.choice_cases} LLMChoice cases" if report.choice_cases else "")
        + "); "
        f"report: {out / 'import_report.json'}",
        highlight=False,
    )
