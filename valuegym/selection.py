"""Choosing a subset of tasks: by id, value system, environment or a case-list file.

An imported task answers to its valuegym id (`avb-00042`), to the release's file stem
(`case_00042`) and to the release's case name, so the release's own case lists (HarnessEval's
text files, LLMChoice's folder of case files) select tasks as they ship. Criteria of one kind
are alternatives; different kinds must all hold.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from envs.task import Task


class SelectionError(ValueError):
    pass


def read_case_list(path: Path) -> list[str]:
    """The ids a case list names: one per line (blank lines ignored), or a folder's case files.

    The release's HarnessEval lists are text files of case stems; its LLMChoice cases are a
    folder of `case_NNNNN.json` files, whose stems are the list.
    """
    if path.is_dir():
        return sorted(p.stem for p in path.glob("*.json") if p.is_file())
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SelectionError(f"--case-list {path}: cannot read: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def task_names(task: Task) -> set[str]:
    """Every id a task answers to: its own, and for imported tasks the release's names."""
    names = {task.id}
    meta = task.metadata
    if meta.get("case_file"):  # "case_00042.json" -> "case_00042" (string ops: called per task)
        names.add(str(meta["case_file"]).rsplit("/", 1)[-1].removesuffix(".json"))
    if meta.get("case_name"):
        names.add(str(meta["case_name"]))
    return names


def _systems(task: Task) -> set[str]:
    return {task.value_system, str(task.metadata.get("release_value_system", task.value_system))}


def _environments(task: Task) -> set[str]:
    return {task.environment, str(task.metadata.get("release_environment", task.environment))}


class Selection(BaseModel):
    """Which tasks a command works on; empty criteria select everything."""

    task_ids: list[str] = Field(default_factory=list, description="Ids, stems or case names.")
    value_systems: list[str] = Field(default_factory=list)
    environments: list[str] = Field(default_factory=list)
    case_lists: list[str] = Field(default_factory=list, description="Files the ids came from.")

    @classmethod
    def build(
        cls,
        task_ids: list[str] | None = None,
        value_systems: list[str] | None = None,
        environments: list[str] | None = None,
        case_lists: list[Path] | None = None,
    ) -> Selection:
        """From command-line values: ids may be comma separated; case lists add their ids."""
        ids = [part.strip() for raw in task_ids or [] for part in raw.split(",") if part.strip()]
        for path in case_lists or []:
            listed = read_case_list(path)
            if not listed:
                raise SelectionError(f"--case-list {path}: names no case")
            ids.extend(listed)
        return cls(
            task_ids=list(dict.fromkeys(ids)),
            value_systems=list(value_systems or []),
            environments=list(environments or []),
            case_lists=[str(p) for p in case_lists or []],
        )

    @property
    def empty(self) -> bool:
        return not (self.task_ids or self.value_systems or self.environments)

    def matches(self, task: Task) -> bool:
        if self.task_ids and not task_names(task) & set(self.task_ids):
            return False
        if self.value_systems and not _systems(task) & set(self.value_systems):
            return False
        return not self.environments or bool(_environments(task) & set(self.environments))

    def apply(self, tasks: list[Task]) -> tuple[list[Task], list[str]]:
        """The selected tasks, and the requested ids that no task answers to."""
        if self.empty:
            return tasks, []
        chosen = [t for t in tasks if self.matches(t)]
        known = set().union(*(task_names(t) for t in tasks)) if tasks else set()
        return chosen, [i for i in self.task_ids if i not in known]
