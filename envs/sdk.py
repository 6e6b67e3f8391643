"""The environment SDK: a `gymnasium.Env` whose actions are tool calls.

An environment is a class with a pydantic `State` model and methods marked `@tool`:

    class Clinic(ToolEnv):
        name = "clinic"
        description = "A small outpatient clinic."
        State = ClinicState

        @tool
        def get_patient(self, patient_id: str) -> dict:
            '''Look up a patient.

            Args:
                patient_id: The patient's id, e.g. "P-104".
            '''
            return self.lookup("patients", patient_id)

The tool's JSON schema comes from its type hints and docstring; arguments are validated
against it before the method runs; the task's allow-list is enforced here, where tools are
executed; every call (refused ones too) is logged; time and ids come from a seeded clock.
"""

from __future__ import annotations

import copy
import inspect
import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, get_type_hints

import gymnasium as gym
import jsonpatch
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from envs.clock import IdSource, SeededClock
from envs.protocol import (
    BUDGET_EXHAUSTED,
    MAX_ARGUMENT_BYTES,
    TOO_LARGE,
    Finalized,
    ToolCall,
    ToolLogEntry,
    ToolResult,
    ToolSpec,
    bounded_arguments,
)
from envs.task import Task

DEFAULT_START = "2026-03-02T09:00:00+00:00"


class ToolError(Exception):
    """Raised by a tool for a domain error ("no such patient"); the agent sees the message."""


class EnvironmentLoadError(RuntimeError):
    """An environment's code cannot be loaded where it should run (a module it needs is
    missing, it does not import): the message names the environment and the reason."""


class StateModel(BaseModel):
    """Base for environment state models: unknown keys in an initial state are an error."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ToolDef:
    """A tool as declared on an environment class: its spec, validator and method."""

    spec: ToolSpec
    arguments: type[BaseModel]
    method: Callable[..., Any]


def tool(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an environment method as a tool. The schema is built when the class is created."""
    method.__valuegym_tool__ = True  # type: ignore[attr-defined]
    return method


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into the summary text and per-argument descriptions."""
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    current: str | None = None
    in_args = False
    for line in lines:
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args and stripped.endswith(":") and not line.startswith(" "):
            in_args = False  # a new section such as "Returns:"
        if not in_args:
            if stripped in ("Returns:", "Raises:"):
                break
            summary.append(line)
            continue
        head, sep, rest = stripped.partition(":")
        if (
            sep
            and line.startswith("    ")
            and not line.startswith("        ")
            and head.isidentifier()
        ):
            current = head
            args[current] = rest.strip()
        elif current and stripped:
            args[current] = f"{args[current]} {stripped}"
    paragraphs = "\n".join(summary).strip().split("\n\n")
    text = "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
    return text, args


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's generated titles: they add tokens to every prompt and say nothing."""
    if isinstance(schema, dict):
        return {
            k: _strip_titles(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def build_tool(method: Callable[..., Any]) -> ToolDef:
    """Derive a tool's spec and argument validator from its signature and docstring."""
    name = method.__name__
    if not method.__doc__:
        raise TypeError(f"tool {name!r} needs a docstring: it is the description agents read")
    description, arg_docs = _parse_docstring(method.__doc__)
    hints = get_type_hints(method, include_extras=True)
    fields: dict[str, Any] = {}
    for param in list(inspect.signature(method).parameters.values())[1:]:
        if param.name not in hints:
            raise TypeError(f"tool {name!r}: argument {param.name!r} needs a type hint")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (
            hints[param.name],
            FieldInfo(default=default, description=arg_docs.get(param.name)),
        )
    arguments = create_model(  # type: ignore[call-overload]
        f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    parameters = _strip_titles(arguments.model_json_schema())
    parameters.setdefault("properties", {})
    spec = ToolSpec(name=name, description=description, parameters=parameters)
    return ToolDef(spec=spec, arguments=arguments, method=method)


def format_validation_error(error: ValidationError, prefix: str = "") -> list[str]:
    """One readable line per pydantic error: `field.path: message`."""
    lines = []
    for err in error.errors():
        loc = ".".join(str(part) for part in (prefix, *err["loc"]) if part != "")
        lines.append(f"{loc or '(root)'}: {err['msg']}")
    return lines


def _singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    return noun.removesuffix("s")


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


_TEXT_CHARSET = frozenset(string.printable)
_NAME_CHARSET = frozenset(string.ascii_letters + string.digits + "_")


class ToolEnv(gym.Env[str, dict[str, Any]]):
    """Base class of every valuegym environment.

    Subclasses set `name`, `description`, `State` and declare `@tool` methods. Tools read and
    write `self.state` (plain JSON data), and use `self.clock` and `self.ids` for time and ids.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    State: ClassVar[type[BaseModel]]
    tools: ClassVar[dict[str, ToolDef]] = {}
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    max_argument_bytes: ClassVar[int] = MAX_ARGUMENT_BYTES
    """Calls with larger arguments (as JSON) are refused as invalid and logged by size."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        tools = dict(getattr(cls, "tools", {}))
        for attr, value in vars(cls).items():
            if getattr(value, "__valuegym_tool__", False):
                tools[attr] = build_tool(value)
        cls.tools = tools

    def __init__(self) -> None:
        super().__init__()
        self.action_space = gym.spaces.Dict(
            {
                "tool": gym.spaces.Text(max_length=64, min_length=1, charset=_NAME_CHARSET),
                "arguments": gym.spaces.Text(max_length=4096, charset=_TEXT_CHARSET),
            }
        )
        self.observation_space = gym.spaces.Text(max_length=2**24, charset=_TEXT_CHARSET)
        self.state: dict[str, Any] = {}
        self.clock = SeededClock(DEFAULT_START)
        self.ids = IdSource(0)
        self.__initial: dict[str, Any] = {}
        self.__allowed: frozenset[str] = frozenset(self.tools)
        self.__log: list[ToolLogEntry] = []
        self.__max_steps: int | None = None

    # -- the authoring helpers ----------------------------------------------------------------

    def lookup(
        self, collection: str, key: str, what: str | None = None, list_known: bool = False
    ) -> Any:
        """Return `state[collection][key]` or fail with an error the agent can act on.

        `list_known` names the ids that do exist, for small reference collections (policies,
        runbooks) where an agent guessing an id needs to see the choices.
        """
        items = self.state.get(collection, {})
        if key not in items:
            noun = what or _singular(collection).replace("_", " ")
            if list_known:
                known = ", ".join(sorted(items)) or "none"
                raise ToolError(f"no {noun} {key!r}; {collection.replace('_', ' ')}: {known}")
            raise ToolError(f"no {noun} with id {key!r}")
        return items[key]

    # -- gymnasium API ------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start an episode. `options["task"]` (a Task or its data) sets state and allow-list."""
        super().reset(seed=seed)
        options = options or {}
        task = options.get("task")
        if task is not None and not isinstance(task, Task):
            task = Task.model_validate(task)
        raw_state = task.initial_state if task else options.get("state", {})
        self.clock = SeededClock(task.start_time if task else DEFAULT_START)
        self.ids = IdSource(seed if seed is not None else 0)
        self.state = self.load_state(raw_state)  # may use the episode's clock and ids
        self.__initial = copy.deepcopy(self.state)
        allowed = task.allowed_tools if task else options.get("allowed_tools")
        self.__allowed = frozenset(allowed) if allowed is not None else frozenset(self.tools)
        self.__max_steps = task.max_steps if task else options.get("max_steps")
        self.__log = []
        observation = {"prompt": task.prompt if task else "", "tools": sorted(self.__allowed)}
        return _canonical(observation), {"tools": self.tool_specs()}

    def load_state(self, raw_state: dict[str, Any]) -> dict[str, Any]:
        """Turn a task's initial state into this episode's state (validated, defaults filled).

        Adapters over foreign environments override this to build their own world from it.
        """
        return self.State.model_validate(raw_state).model_dump(mode="json")

    def step(
        self, action: ToolCall | dict[str, Any]
    ) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Run one tool call. Reward is always 0: judges score the trajectory afterwards."""
        if isinstance(action, ToolCall):
            result = self.call(action.tool, action.arguments)
        else:
            arguments = action.get("arguments", {})
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except json.JSONDecodeError as exc:
                    arguments = {"__invalid_json__": str(exc)}
            result = self.call(str(action.get("tool", "")), arguments)
        truncated = self.budget_left() == 0
        observation = _canonical(result.model_dump(exclude_none=True))
        return observation, 0.0, False, truncated, {"result": result, "step": len(self.__log) - 1}

    # -- the tool plane -----------------------------------------------------------------------

    def tool_specs(self) -> list[ToolSpec]:
        """Specs of the tools this episode allows, in declaration order."""
        return [d.spec for n, d in self.tools.items() if n in self.__allowed]

    def budget_left(self) -> int | None:
        """Tool calls the episode may still make (None: no budget). Every call that reaches the
        environment counts, failed ones too; calls refused for the budget do not."""
        if self.__max_steps is None:
            return None
        spent = sum(1 for entry in self.__log if not entry.result.over_budget)
        return max(0, self.__max_steps - spent)

    def call(self, name: str, arguments: Any) -> ToolResult:
        """Execute one tool call under the allow-list and budget, log it, return its result."""
        arguments = bounded_arguments(arguments, self.max_argument_bytes)
        before = _canonical(self.state)
        when = self.clock.iso()
        refused = False
        normalized: dict[str, Any] | None = None
        if self.budget_left() == 0:
            refused = True
            result = ToolResult.failure(
                BUDGET_EXHAUSTED,
                f"the tool-call budget of this task ({self.__max_steps} calls) is used up: "
                "this call was not run, and no further call will be",
            )
        elif name not in self.tools or name not in self.__allowed:
            refused = name in self.tools
            kind = "refused" if refused else "unknown_tool"
            allowed = ", ".join(sorted(self.__allowed))
            result = ToolResult.failure(
                kind, f"tool {name!r} is not available in this task; available tools: {allowed}"
            )
        elif isinstance(arguments, dict) and TOO_LARGE in arguments:
            result = ToolResult.failure(
                "invalid_arguments",
                f"the arguments are {arguments[TOO_LARGE]} bytes of JSON, over this sandbox's "
                f"limit of {arguments.get('limit', self.max_argument_bytes)} bytes: nothing was "
                "run; send smaller arguments",
            )
        elif not isinstance(arguments, dict) or "__invalid_json__" in arguments:
            detail = arguments.get("__invalid_json__") if isinstance(arguments, dict) else None
            result = ToolResult.failure(
                "invalid_arguments",
                f"arguments must be a JSON object{f' ({detail})' if detail else ''}",
            )
            arguments = {}
        else:
            definition = self.tools[name]
            try:
                parsed = definition.arguments.model_validate(arguments)
            except ValidationError as exc:
                problems = "; ".join(format_validation_error(exc))
                result = ToolResult.failure(
                    "invalid_arguments", f"invalid arguments for {name}: {problems}"
                )
            else:
                normalized = parsed.model_dump(mode="json")
                result = self._execute(definition, parsed)
        changed = _canonical(self.state) != before
        if not isinstance(arguments, dict):  # a refused or unknown tool sent a JSON non-object
            arguments = {}
        self.__log.append(
            ToolLogEntry(
                step=len(self.__log),
                tool=name,
                arguments=copy.deepcopy(arguments),
                normalized=normalized,
                result=result,
                state_changed=changed,
                refused=refused,
                clock=when,
            )
        )
        self.clock.advance()
        return result

    def _execute(self, definition: ToolDef, parsed: BaseModel) -> ToolResult:
        snapshot = copy.deepcopy(self.state)
        try:
            data = definition.method(self, **dict(parsed))
            if isinstance(data, ToolResult):  # adapters pass foreign results through as they are
                return data
            return ToolResult.success(json.loads(json.dumps(data)))
        except ToolError as exc:
            self.state = snapshot  # a failed tool leaves no half-done writes behind
            return ToolResult.failure("tool_error", str(exc))
        except Exception as exc:  # the environment's own bug: report it, keep the episode alive
            self.state = snapshot
            return ToolResult.failure("internal", f"{type(exc).__name__}: {exc}")

    # -- the end of an episode ----------------------------------------------------------------

    @property
    def tool_log(self) -> list[ToolLogEntry]:
        return list(self.__log)

    def finalize(self) -> Finalized:
        """Final state, its diff from the initial state (RFC 6902 ops) and the tool log."""
        diff = jsonpatch.make_patch(self.__initial, self.state).patch
        return Finalized(
            final_state=copy.deepcopy(self.state), state_diff=diff, tool_log=self.tool_log
        )

    @classmethod
    def validate_state(cls, state: Any) -> list[str]:
        """Problems with an initial state, as `field.path: message` lines (empty when valid)."""
        try:
            cls.State.model_validate(state)
        except ValidationError as exc:
            return format_validation_error(exc)
        return []
