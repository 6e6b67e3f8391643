"""`valuegym view` (the web viewer) and `valuegym export` (run folders in other tools' formats)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> NoReturn:
    console.print(f"error: {message}", style="red", highlight=False)
    raise typer.Exit(2)


def view(
    run_dirs: Annotated[
        list[Path] | None,
        typer.Argument(help="Run folders, or folders holding run folders; default: ./runs."),
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the viewer in a browser.")
    ] = False,
) -> None:
    """Browse runs, episodes and comparisons in a local web app (127.0.0.1 only)."""
    from trajectories.viewer.app import viewer_app
    from trajectories.viewer.catalog import Catalog
    from valuegym.loopback import LoopbackServer
    from valuegym.runner import NoRun

    paths = run_dirs or [Path("runs")]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        _fail(f"no such folder: {', '.join(missing)}")
    try:
        catalog = Catalog.open(paths)
    except NoRun as exc:
        _fail(str(exc))
    if not catalog.runs:
        _fail(f"no run folder (one holding run.json) in {', '.join(map(str, paths))}")
    server = LoopbackServer(viewer_app(catalog), port=port)
    names = ", ".join(run.label for run in catalog.runs.values())
    console.print(f"valuegym view: {server.url}  ({len(catalog.runs)} runs: {names})")
    console.print("press Ctrl+C to stop", style="dim")
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        catalog.close()


def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    format_name: Annotated[
        str,
        typer.Option(
            "--format", help="inspect, atif, parquet, agent-valuebench (or a plug-in's format)."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write; default RUN_ID.eval, RUN_ID-atif/, RUN_ID-parquet/."),
    ] = None,
) -> None:
    """Write a run in another tool's format: an Inspect AI log, ATIF trajectories, Parquet,
    the Agent-ValueBench release's trajectories and forced-choice results."""
    from trajectories.exports import MissingExtra, UnknownFormat, export_run
    from valuegym.runner import NoRun

    try:
        written = export_run(run_dir, format_name, out)
    except (UnknownFormat, NoRun, MissingExtra) as exc:
        _fail(str(exc))
    where = written[0] if len(written) == 1 else Path(os.path.commonpath(written))
    console.print(f"{run_dir}: wrote {len(written)} file(s) to {where}", highlight=False)
