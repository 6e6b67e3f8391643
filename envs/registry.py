"""Finding environment classes by name.

Bundled environments are the modules of `envs.catalog`; third parties register theirs under
the `valuegym.environments` entry-point group (`name = "package.module:Class"`), so adding an
environment never means editing valuegym.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import pkgutil
import sys
from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

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
        found.update(module_environments(importlib.import_module(info.name)))
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = entry.load()
    return dict(sorted(found.items()))


def module_environments(module: ModuleType) -> dict[str, type[ToolEnv]]:
    """The named environment classes a module defines (not those it merely imports)."""
    return {
        value.name: value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ToolEnv)
        and value.__module__ == module.__name__
        and getattr(value, "name", None)
    }


def load_environment_module(name: str, paths: list[Path] | None = None) -> dict[str, type[ToolEnv]]:
    """Environments of an extra module, e.g. one a sandbox server is told to host.

    With `paths` the module is looked up in those folders only, without touching `sys.path`,
    so a test-only or user environment can be hosted without installing it.
    """
    if not paths:
        return module_environments(importlib.import_module(name))
    spec = importlib.machinery.PathFinder.find_spec(name, [str(p) for p in paths])
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module {name!r} in {', '.join(map(str, paths))}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as importlib's own recipe does: pydantic resolves the
    # postponed annotations of a model (`from __future__ import annotations`) by module name.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module_environments(module)


def get_environment(name: str) -> type[ToolEnv]:
    known = environments()
    if name not in known:
        raise UnknownEnvironment(name, list(known))
    return known[name]


def is_third_party(task: Task) -> bool:
    """Whether the task runs code that is not valuegym's or yours (an imported release's)."""
    return task.metadata.get("source") == "agent-valuebench"


def environment_for(task: Task, extra: Mapping[str, type[ToolEnv]] | None = None) -> type[ToolEnv]:
    """The environment class a task runs in: one of `extra` (environments a sandbox was told
    to host), an imported release adapter, or a registered one."""
    extra = extra or {}
    if task.environment in extra:
        return extra[task.environment]
    if is_third_party(task):
        from envs.agent_valuebench.adapter import adapter_class

        return adapter_class(task.metadata["environment_dir"], task.metadata["release_environment"])
    try:
        return get_environment(task.environment)
    except UnknownEnvironment as exc:
        raise UnknownEnvironment(exc.name, sorted({*exc.known, *extra})) from None
