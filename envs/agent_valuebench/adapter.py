"""An environment type that runs a release environment module as the release wrote it.

The release's `environment/` folder is imported as a package of its own (so its modules'
`from .BaseEnv import BaseEnv` finds the release's runtime), and each release class is wrapped
in a `ToolEnv`: valuegym still enforces the task's allow-list, logs every call, and reports the
final state and diff. Tool results pass through as the release returns them; state the release
keeps in sets or tuple-keyed dicts is converted to JSON for finalize and the diff.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict

from envs.protocol import ToolResult, ToolSpec
from envs.sdk import StateModel, ToolDef, ToolEnv


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


def release_package(environment_dir: Path) -> str:
    """Import a release's `environment/` folder as a uniquely named package; returns its name."""
    resolved = environment_dir.resolve()
    name = "valuegym_release_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, resolved / "__init__.py", submodule_search_locations=[str(resolved)]
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"{resolved}: not a Python package (no __init__.py)")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return name


class ReleaseEnv(ToolEnv):
    """Base of the generated adapter classes; see `adapter_class`."""

    State = _AnyState
    environment_dir: str = ""
    release_name: str = ""
    state_schema: dict[str, Any] = {}

    def load_state(self, raw_state: dict[str, Any]) -> dict[str, Any]:
        module = importlib.import_module(
            f"{release_package(Path(self.environment_dir))}.{self.release_name}"
        )
        release_cls = getattr(module, self.release_name)
        self._release = release_cls(parameters=copy.deepcopy(raw_state))
        self._state_keys = sorted(set(self.state_schema) | set(raw_state))
        return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {key: to_jsonable(getattr(self._release, key, None)) for key in self._state_keys}

    def _call_release(self, name: str, arguments: dict[str, Any]) -> ToolResult:
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
