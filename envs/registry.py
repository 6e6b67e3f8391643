"""Finding environment classes by name.

Bundled environments are the modules of `envs.catalog`; third parties register theirs under
the `valuegym.environments` entry-point group (`name = "package.module:Class"`), so adding an
environment never means editing valuegym.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from importlib.metadata import entry_points

from envs.sdk import ToolEnv
from envs.task import Task

ENTRY_POINT_GROUP = "valuegym.environments"


class UnknownEnvironment(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"no environment named {self.name!r}; known: {', '.join(self.known)}"


@cache
def environments() -> dict[str, type[ToolEnv]]:
    """All known environment classes by name (computed once; the set is fixed per process)."""
    import envs.catalog as catalog

    found: dict[str, type[ToolEnv]] = {}
    for info in pkgutil.iter_modules(catalog.__path__, prefix=f"{catalog.__name__}."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, ToolEnv)
                and value.__module__ == module.__name__
                and getattr(value, "name", None)
            ):
                found[value.name] = value
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = entry.load()
    return dict(sorted(found.items()))


def get_environment(name: str) -> type[ToolEnv]:
    known = environments()
    if name not in known:
        raise UnknownEnvironment(name, list(known))
    return known[name]


def environment_for(task: Task) -> type[ToolEnv]:
    """The environment class a task runs in: a registered one, or an imported release adapter."""
    if task.metadata.get("source") == "agent-valuebench":
        from envs.agent_valuebench.adapter import adapter_class

        return adapter_class(task.metadata["environment_dir"], task.metadata["release_environment"])
    return get_environment(task.environment)
