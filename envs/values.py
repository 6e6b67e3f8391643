"""The value-system catalog: which values a task's poles may name, and what they mean."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from envs.task import Task

CATALOG_PATH = Path(__file__).parent / "value_systems.yaml"


class Value(BaseModel):
    value: str
    definition: str


class ValueSystem(BaseModel):
    id: str
    name: str
    values: list[Value] = Field(min_length=2)

    def get(self, name: str) -> Value | None:
        folded = name.casefold()
        return next((v for v in self.values if v.value.casefold() == folded), None)


def load_value_systems(path: Path = CATALOG_PATH) -> dict[str, ValueSystem]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {key: ValueSystem(id=key, **body) for key, body in data.items()}


@cache
def bundled_value_systems() -> dict[str, ValueSystem]:
    """The catalog shipped with valuegym (read once: it is package data)."""
    return load_value_systems()


def with_definitions(task: Task, systems: dict[str, ValueSystem]) -> Task:
    """Fill empty pole definitions from the catalog, so judges always see what a value means."""
    system = systems.get(task.value_system)
    if system is None:
        return task
    poles = {}
    for key, pole in task.poles.items():
        found = system.get(pole.value.name)
        if pole.value.definition or found is None:
            poles[key] = pole
        else:
            value = pole.value.model_copy(update={"definition": found.definition})
            poles[key] = pole.model_copy(update={"value": value})
    return task.model_copy(update={"poles": poles})
