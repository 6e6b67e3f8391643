"""An environment type that runs a release environment module as the release wrote it.

The release's `environment/` folder is imported as a package of its own (so its modules'
`from .BaseEnv import BaseEnv` finds the release's runtime), and each release class is wrapped
in a `ToolEnv`: valuegym still enforces the task's allow-list, logs every call, and reports the
final state and diff. Tool results pass through as the release returns them; state the release
keeps in sets or tuple-keyed dicts is converted to JSON for finalize and the diff.

Release modules are loaded by `ReleaseLoader`, which gives them seeded stand-ins for the wall
clock, uuid and random (see `seeded`): the same calls with the same seed give the same results.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict

try:  # a speed-up only: the sandbox image does not carry it, and the answer is the same
    import jsonschema_rs
except ImportError:  # pragma: no cover
    jsonschema_rs = None

from envs.agent_valuebench.seeded import STAND_INS, EpisodeSources, bound
from envs.protocol import ToolResult, ToolSpec
from envs.sdk import EnvironmentLoadError, StateModel, ToolDef, ToolEnv


class _AnyArguments(BaseModel):
    """Arguments are checked by the release itself, as its own runner does."""

    model_config = ConfigDict(extra="allow")


class _AnyState(StateModel):
    model_config = ConfigDict(extra="allow")


def to_jsonable(value: Any) -> Any:
    """Plain JSON from release state: sets become sorted lists, non-string keys become strings."""
    if isinstance(value, dict):
        return {_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "__dict__"):
        return to_jsonable(vars(value))
    return repr(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, tuple):
        return "|".join(str(part) for part in key)
    return str(key)


PACKAGE_PREFIX = "valuegym_release_"


def _release_import(
    name: str,
    globals: dict[str, Any] | None = None,
    locals: dict[str, Any] | None = None,
    fromlist: tuple[str, ...] | list[str] = (),
    level: int = 0,
) -> Any:
    """The `__import__` of release modules: the clock, uuid and random modules are seeded."""
    if level == 0 and name in STAND_INS:
        return STAND_INS[name]
    return builtins.__import__(name, globals, locals, fromlist, level)


RELEASE_BUILTINS = {**vars(builtins), "__import__": _release_import}


class ReleaseLoader(importlib.machinery.SourceFileLoader):
    """Loads a release module with `RELEASE_BUILTINS`, so its imports get the seeded modules
    wherever they are written (top level or inside a function)."""

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = RELEASE_BUILTINS
        super().exec_module(module)


class ReleaseFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of imported release packages (and only those) for `ReleaseLoader`."""

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, leaf = fullname.rpartition(".")
        if not fullname.startswith(PACKAGE_PREFIX) or package not in sys.modules:
            return None
        for folder in getattr(sys.modules[package], "__path__", []):
            file, init = Path(folder) / f"{leaf}.py", Path(folder) / leaf / "__init__.py"
            if file.is_file():
                return _spec(fullname, file)
            if init.is_file():
                return _spec(fullname, init, [str(init.parent)])
        return None


def _spec(
    name: str, file: Path, search: list[str] | None = None
) -> importlib.machinery.ModuleSpec | None:
    loader = ReleaseLoader(name, str(file))
    return importlib.util.spec_from_file_location(
        name, file, loader=loader, submodule_search_locations=search
    )


_FINDER = ReleaseFinder()


def release_package(environment_dir: Path) -> str:
    """Import a release's `environment/` folder as a uniquely named package; returns its name."""
    resolved = environment_dir.resolve()
    name = PACKAGE_PREFIX + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    if name not in sys.modules:
        if not (resolved / "__init__.py").is_file():
            raise EnvironmentLoadError(f"{resolved}: not a Python package (no __init__.py)")
        spec = _spec(name, resolved / "__init__.py", [str(resolved)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return name


@cache
def release_module(environment_dir: str, release_name: str) -> types.ModuleType:
    """The release's `<Env>.py`, imported once per process.

    Raises `EnvironmentLoadError` naming the environment and, when that is the reason, the
    module it needs that is not installed here.
    """
    where = f"{environment_dir}/{release_name}.py"
    try:
        return importlib.import_module(f"{release_package(Path(environment_dir))}.{release_name}")
    except ModuleNotFoundError as exc:
        missing = exc.name or str(exc)
        raise EnvironmentLoadError(
            f"environment {release_name} needs the module {missing!r}, which is not installed "
            f"where it runs ({where}); install the release's requirements, or for docker build "
            "the release image: valuegym sandbox build --release RELEASE"
        ) from None
    except Exception as exc:
        raise EnvironmentLoadError(
            f"environment {release_name} cannot be imported ({where}): {type(exc).__name__}: {exc}"
        ) from None


class ReleaseEnv(ToolEnv):
    """Base of the generated adapter classes; see `adapter_class`."""

    State = _AnyState
    environment_dir: str = ""
    release_name: str = ""
    state_schema: dict[str, Any] = {}

    @classmethod
    def load_problem(cls) -> str | None:
        """Why the release module cannot be imported here, or None when it can."""
        try:
            release_module(cls.environment_dir, cls.release_name)
        except EnvironmentLoadError as exc:
            return str(exc)
        return None

    def load_state(self, raw_state: dict[str, Any]) -> dict[str, Any]:
        release_cls = getattr(
            release_module(self.environment_dir, self.release_name), self.release_name
        )
        # the episode's seeded clock and generator, for the release code's own time and ids
        self._sources = EpisodeSources(self.clock, self.ids.new("RELEASE"))
        with bound(self._sources):
            self._release = release_cls(parameters=copy.deepcopy(raw_state))
        self._state_keys = sorted(set(self.state_schema) | set(raw_state))
        return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {key: to_jsonable(getattr(self._release, key, None)) for key in self._state_keys}

    def _call_release(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        with bound(self._sources):
            raw = self._release.call_tool(name, arguments)
        self.state = self._snapshot()
        data = to_jsonable(raw)
        failed = isinstance(raw, dict) and raw.get("success") is False
        if failed:
            message = str(raw.get("error") or raw.get("message") or "the tool reported failure")
            return ToolResult(ok=False, data=data, error=message, error_kind="tool_error")
        return ToolResult(ok=True, data=data)

    @classmethod
    def validate_state(cls, state: Any) -> list[str]:
        fast = _fast_state_validator(cls)
        if fast is not None and fast.is_valid(state):
            return []  # most states are valid: only an invalid one pays for the messages
        validator = _state_validator(cls)
        problems = []
        for error in sorted(validator.iter_errors(state), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{where}: {error.message}")
        return problems


@cache
def _state_validator(cls: type[ReleaseEnv]) -> jsonschema.Draft202012Validator:
    """The environment's state schema, compiled once per environment (not once per case)."""
    return jsonschema.Draft202012Validator({"type": "object", "properties": cls.state_schema})


@cache
def _fast_state_validator(cls: type[ReleaseEnv]) -> Any:
    """The same schema compiled by `jsonschema_rs` (Rust, ~100x faster), for the yes/no answer;
    None when it refuses a schema the Python validator accepts (that one then decides alone)."""
    if jsonschema_rs is None:
        return None
    try:
        return jsonschema_rs.Draft202012Validator(
            _state_validator(cls).schema, validate_formats=False
        )
    except Exception:  # a pattern or keyword the Rust side does not take
        return None


def _release_method(name: str):
    def method(self: ReleaseEnv, **arguments: Any) -> ToolResult:
        return self._call_release(name, arguments)

    method.__name__ = name
    return method


@cache
def adapter_class(environment_dir: str, release_name: str) -> type[ReleaseEnv]:
    """A `ToolEnv` class for one release environment, built from its `<Env>.json`."""
    spec_path = Path(environment_dir) / f"{release_name}.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8"))  # FileNotFoundError: no such env
    tools = {
        tool["name"]: ToolDef(
            spec=ToolSpec(
                name=tool["name"],
                description=tool.get("description", ""),
                parameters=tool.get("parameters") or {"type": "object", "properties": {}},
            ),
            arguments=_AnyArguments,
            method=_release_method(tool["name"]),
        )
        for tool in spec.get("tools", [])
    }
    namespace = {
        "name": f"agent-valuebench/{release_name}",
        "description": spec.get("description", ""),
        "tools": tools,
        "environment_dir": str(Path(environment_dir).resolve()),  # cached: resolved once
        "release_name": release_name,
        "state_schema": spec.get("initial_parameter_schema", {}),
    }
    return type(f"Release{release_name}", (ReleaseEnv,), namespace)
