"""`valuegym new`: scaffold a task file or an environment module for an author to fill in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

new_app = typer.Typer(
    help="Start a new task or environment from a scaffold with every place to fill marked.",
    no_args_is_help=True,
)
console = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> None:
    console.print(f"error: {message}", style="red", highlight=False)
    raise typer.Exit(2)


@new_app.command("task")
def new_task(
    environment: Annotated[str, typer.Option(help="The environment the task runs in.")],
    system: Annotated[str, typer.Option(help="A value system of envs/value_systems.yaml.")],
    value_a: Annotated[str | None, typer.Option("--a", help="Pole A's value.")] = None,
    value_b: Annotated[str | None, typer.Option("--b", help="Pole B's value.")] = None,
    task_id: Annotated[str | None, typer.Option("--id", help="The task id.")] = None,
    out: Annotated[Path | None, typer.Option(help="The file (default: <id>.yaml).")] = None,
) -> None:
    """Write a task skeleton: both poles, checkpoint and golden skeletons, the lints' advice.

    Environments that are not installed are found as `run` finds them, through
    VALUEGYM_SANDBOX_ENV_MODULES and VALUEGYM_SANDBOX_ENV_PATHS.
    """
    from envs.registry import UnknownEnvironment, environments, load_environment_module
    from envs.sandbox_options import SandboxOptions
    from envs.values import bundled_value_systems
    from valuegym.scaffold import task_scaffold, write_new

    options = SandboxOptions.from_env()
    known = dict(environments())
    for module in options.env_modules:
        known.update(load_environment_module(module, options.env_paths))
    if environment not in known:
        _fail(f"--environment: {UnknownEnvironment(environment, sorted(known))}")
    systems = bundled_value_systems()
    if system not in systems:
        _fail(f"--system: unknown value system {system!r}; known: {', '.join(systems)}")
    try:
        text = task_scaffold(known[environment], systems[system], value_a, value_b, task_id)
    except ValueError as exc:
        _fail(str(exc))
    identifier = task_id or f"{environment.replace('_', '-')}-new-task"
    path = out or Path(f"{identifier}.yaml")
    try:
        write_new(path, text)
    except FileExistsError as exc:
        _fail(str(exc))
    console.print(f"wrote {path}: fill every <FILL: ...>, then run `valuegym check {path}`")


@new_app.command("environment")
def new_environment(
    name: Annotated[str, typer.Argument(help="The environment's name (lower_snake_case).")],
    out: Annotated[Path, typer.Option(help="The folder for the module and its test.")] = Path("."),
) -> None:
    """Write an environment module (a state model, read and write tools) and its test."""
    from valuegym.scaffold import environment_scaffold, write_new

    try:
        source, test = environment_scaffold(name)
        module = write_new(out / f"{name}.py", source)
        test_file = write_new(out / f"test_{name}.py", test)
    except (ValueError, FileExistsError) as exc:
        _fail(str(exc))
    console.print(
        f"wrote {module} and {test_file}. To use it without installing it:\n"
        f"  export VALUEGYM_SANDBOX_ENV_MODULES={name} VALUEGYM_SANDBOX_ENV_PATHS={out}\n"
        f"  valuegym new task --environment {name} --system schwartz\n"
        "or register it under the valuegym.environments entry-point group of your package."
    )
