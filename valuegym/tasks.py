"""Finding and loading task files for the commands that take `--tasks`."""

from __future__ import annotations

from pathlib import Path

from envs.task import Task, bundled_tasks_dir, find_task_files
from envs.values import bundled_value_systems
from valuegym.check import load_checked_task


def resolve_task_paths(spec: list[str] | None) -> list[Path]:
    """`bundled` (or nothing) means the bundled suite; anything else is a path."""
    if not spec:
        return [bundled_tasks_dir()]
    return [bundled_tasks_dir() if s == "bundled" else Path(s) for s in spec]


def load_tasks(paths: list[Path]) -> tuple[list[Task], list[tuple[str, str]]]:
    """Load every task that parses; the rest are returned as (path, reason) to skip, not crash."""
    systems = bundled_value_systems()
    tasks: list[Task] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for path in find_task_files(paths):
        task, problems = load_checked_task(path, systems)
        if task is None:
            skipped.append((str(path), "; ".join(f"{p.field}: {p.message}" for p in problems)))
        elif task.id in seen:
            skipped.append((str(path), f"duplicate task id {task.id!r}"))
        else:
            seen.add(task.id)
            tasks.append(task)
    return tasks, skipped
