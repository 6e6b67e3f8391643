"""The task format: one value-conflict task, loaded from YAML or JSON.

A task is the unit everything else consumes: the sandbox builds the initial state and the
allow-list from it, harnesses read its prompt, judges read its checkpoints and rubric. The
models here are the single source of truth for the on-disk format; `task.schema.json` is
exported from them (see `export_schema`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from envs.protocol import ErrorKind

PoleId = Literal["a", "b"]
POLES: tuple[PoleId, PoleId] = ("a", "b")

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class Model(BaseModel):
    """Base for task-format models: unknown fields are an error, so typos are caught."""

    model_config = ConfigDict(extra="forbid")


class ValuePole(Model):
    """A value as the task presents it: its name in the value system and what it means."""

    name: str = Field(min_length=1)
    definition: str = Field(
        default="", description="Filled from the value-system catalog if empty."
    )


class ArgConstraint(Model):
    """A constraint on one tool-call argument. A bare value in YAML means `eq`.

    String comparisons (`eq`, `ne`, `in`, `contains`, `regex`) ignore case, since agents vary
    capitalisation; numeric bounds only match numbers.
    """

    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    contains: str | None = Field(
        default=None, description="Substring (case-insensitive) or element."
    )
    regex: str | None = None
    gte: float | None = None
    lte: float | None = None
    gt: float | None = None
    lt: float | None = None
    exists: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _bare_value_means_eq(cls, data: Any) -> Any:
        keys = {"eq", "ne", "in", "in_", "contains", "regex", "gte", "lte", "gt", "lt", "exists"}
        if isinstance(data, dict) and data and set(data) <= keys:
            return data
        return {"eq": data}

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    def matches(self, present: bool, value: Any) -> bool:
        """Whether an argument (present or not, with its value) satisfies this constraint."""
        if self.exists is not None and present != self.exists:
            return False
        if not present:
            return self.exists is False
        checks = [
            self.eq is None or _loose_eq(value, self.eq),
            self.ne is None or not _loose_eq(value, self.ne),
            self.in_ is None or any(_loose_eq(value, v) for v in self.in_),
            self.contains is None or _contains(value, self.contains),
            self.regex is None or re.search(self.regex, str(value), re.IGNORECASE) is not None,
            self.gte is None or (_is_number(value) and value >= self.gte),
            self.lte is None or (_is_number(value) and value <= self.lte),
            self.gt is None or (_is_number(value) and value > self.gt),
            self.lt is None or (_is_number(value) and value < self.lt),
        ]
        return all(checks)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _loose_eq(value: Any, expected: Any) -> bool:
    """Equality that treats strings case-insensitively, since agents vary capitalisation."""
    if isinstance(value, str) and isinstance(expected, str):
        return value.strip().casefold() == expected.strip().casefold()
    return bool(value == expected)


def _contains(value: Any, needle: str) -> bool:
    if isinstance(value, str):
        return needle.casefold() in value.casefold()
    if isinstance(value, list):
        return any(_loose_eq(v, needle) for v in value)
    return False


class Matcher(Model):
    """A machine-checkable description of one tool call the agent should (or should not) make.

    Besides the arguments, a matcher may constrain what the call returned: its outcome (`ok`),
    the kind of error (`error_kind`, which implies `ok: false`) and fields of the result data
    (`result`, keyed by a field name or a JSON pointer into the data, e.g. `/refund/amount`).
    """

    tool: str
    args: dict[str, ArgConstraint] = Field(default_factory=dict)
    ok: bool | None = Field(
        default=True, description="Required outcome of the call; null accepts any outcome."
    )
    error_kind: ErrorKind | None = Field(
        default=None, description="Required kind of failure; implies ok: false."
    )
    result: dict[str, ArgConstraint] = Field(
        default_factory=dict,
        description="Constraints on the result data, by field name or JSON pointer.",
    )

    @model_validator(mode="before")
    @classmethod
    def _error_kind_means_failure(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("error_kind") is not None and "ok" not in data:
            return {**data, "ok": False}
        return data

    @model_validator(mode="after")
    def _consistent_outcome(self) -> Matcher:
        if self.error_kind is not None and self.ok is not False:
            raise ValueError("error_kind matches failed calls only; drop ok or set it to false")
        return self


class StateMatcher(Model):
    """A constraint on the world the episode left behind, at one place in the final state.

    `path` is a JSON pointer (RFC 6901) into the environment's state; a `*` segment stands for
    any key or list index, and `match` says whether any or all of the places it names must
    satisfy the constraint. `value` uses the argument vocabulary (a bare value means equal;
    `exists: false` means the place is absent). `unchanged: true` requires the place to be as
    it was in the initial state, `unchanged: false` requires a change (judged from the state
    diff, so a value changed and changed back counts as unchanged).
    """

    path: str = Field(pattern=r"^(/[^/]*)+$", description="JSON pointer; `*` matches any key.")
    value: ArgConstraint | None = None
    unchanged: bool | None = None
    match: Literal["any", "all"] = Field(
        default="any", description="With `*` in the path: must any or all places match?"
    )

    @model_validator(mode="after")
    def _says_something(self) -> StateMatcher:
        if self.value is None and self.unchanged is None:
            raise ValueError("a state matcher needs `value` or `unchanged`")
        return self

    @property
    def wildcard(self) -> bool:
        return "*" in pointer_tokens(self.path)


def pointer_tokens(path: str) -> list[str]:
    """The unescaped segments of a JSON pointer (`/a~1b/c` -> ["a/b", "c"])."""
    if not path:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]]


class Checkpoint(Model):
    """A behaviour that evidences one pole, with prose for humans and matchers for the judge.

    The checkpoint is met when every matcher in `calls` hits a call in the tool log, at least
    one in `any_of` does (when given), no matcher in `absent` does, every `state` matcher holds
    on the final state, and the ordering constraints hold: all of this checkpoint's calls come
    before the first call of each checkpoint in `before`, and after the last call of each in
    `after`. `before: [Y]` also holds when Y never happens; `after: [X]` requires X to have
    happened. State matchers decide what the world ends up like: when one fails the checkpoint
    is not met at all, whatever calls were made (an action undone, or overwritten by the
    other pole's, earns nothing). Native tasks need at least one matcher per checkpoint
    (`valuegym check` enforces it); imported tasks may have checkpoints no machine can check.
    """

    id: str = Field(pattern=ID_PATTERN)
    name: str
    related_tools: list[str] = Field(default_factory=list)
    expected_actions: list[str] = Field(min_length=1)
    why: str = ""
    calls: list[Matcher] = Field(default_factory=list)
    any_of: list[Matcher] = Field(
        default_factory=list, description="Alternatives: at least one must match."
    )
    absent: list[Matcher] = Field(default_factory=list)
    state: list[StateMatcher] = Field(
        default_factory=list, description="Constraints on the final state: all must hold."
    )
    before: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)
    expected_signal: str = Field(
        default="", description="What in the episode shows the checkpoint was met (prose)."
    )


class RubricItem(Model):
    """One weighted question a judge answers 0/1/2 for a pole."""

    id: str = Field(pattern=ID_PATTERN)
    checkpoint: str
    weight: int = Field(ge=1, le=5)
    question: str
    anchors: dict[Literal["0", "1", "2"], str]
    look_for: str = ""
    failed_attempt: Literal[0, 1] = Field(
        default=0,
        description="What the checkpoint judge scores a checkpoint whose calls were made but "
        "failed with a tool error (match the anchors: 1 when they call that partial support).",
    )

    @field_validator("anchors", mode="before")
    @classmethod
    def _string_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value

    @field_validator("anchors")
    @classmethod
    def _all_anchors(cls, value: dict[str, str]) -> dict[str, str]:
        missing = {"0", "1", "2"} - set(value)
        if missing:
            raise ValueError(f"anchors need keys 0, 1 and 2; missing {sorted(missing)}")
        return value


class Expectation(Model):
    """What a golden call's result must look like: its outcome and a subset of its data."""

    ok: bool = True
    data: Any = Field(default=None, description="A subset the result data must contain.")


class GoldenCall(Model):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    expect: Expectation = Field(default_factory=Expectation)


class GoldenTrajectory(Model):
    """An executable path that realises one pole: replayed and checked on every CI run."""

    calls: list[GoldenCall] = Field(min_length=1)
    final_answer: str = ""


class Pole(Model):
    value: ValuePole
    checkpoints: list[Checkpoint] = Field(min_length=2)
    rubric: list[RubricItem] = Field(min_length=1)
    golden: GoldenTrajectory | None = Field(
        default=None, description="Required for native tasks; imported tasks may lack one."
    )
    option: str = Field(
        default="",
        description="This pole's course of action as one option of the forced-choice question "
        "(`--condition choice`); derived from the checkpoints' expected actions when empty.",
    )


class Task(Model):
    """One value-conflict task: a prompt, a world, and two defensible ways to act in it."""

    id: str = Field(pattern=ID_PATTERN)
    title: str = ""
    environment: str
    value_system: str
    prompt: str = Field(min_length=1)
    conflict: str = Field(default="", description="One sentence naming the tension, for judges.")
    initial_state: dict[str, Any] = Field(default_factory=dict)
    allowed_tools: list[str] = Field(min_length=1)
    max_steps: int = Field(default=30, ge=1)
    start_time: str = Field(
        default="2026-03-02T09:00:00+00:00", description="The seeded clock's start (ISO 8601)."
    )
    poles: dict[PoleId, Pole]
    choice_scenario: str = Field(
        default="",
        description="The situation as the forced-choice question states it; the prompt if empty.",
    )
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("poles")
    @classmethod
    def _both_poles(cls, value: dict[str, Pole]) -> dict[str, Pole]:
        if set(value) != {"a", "b"}:
            raise ValueError("poles must have exactly the keys 'a' and 'b'")
        return value

    def pole(self, pole: PoleId) -> Pole:
        return self.poles[pole]

    def checkpoints(self) -> dict[str, Checkpoint]:
        """All checkpoints of both poles by id (ordering may reference either pole)."""
        return {cp.id: cp for pole in POLES for cp in self.poles[pole].checkpoints}


def swap_poles(task: Task) -> Task:
    """The same task with its poles exchanged, so the value listed second is presented as A.

    Used for position counterbalancing: judges see (and score) whichever value comes first, so
    a run can randomise the order per episode instead of always presenting the same value as A.
    Checkpoint ids keep their names; only which pole holds them changes.
    """
    return task.model_copy(update={"poles": {"a": task.poles["b"], "b": task.poles["a"]}})


class TaskLoadError(Exception):
    """A task file could not be read or parsed; carries the path for the error message."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


TASK_SUFFIXES = (".yaml", ".yml", ".json")


MAX_YAML_VALUES = 100_000
"""The most values a task's YAML may expand to once its aliases are followed: a few KB of
nested aliases (a "billion laughs") would otherwise become gigabytes once loaded."""


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values `node` stands for with every alias expanded (memoised per node, so
    shared anchors count as often as they are used, in time linear in the document)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    sizes[key] = MAX_YAML_VALUES + 1  # a node that contains itself expands without end
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, sizes)
    elif isinstance(node, yaml.MappingNode):
        for item_key, item_value in node.value:
            total += _expanded_size(item_key, sizes) + _expanded_size(item_value, sizes)
    sizes[key] = total = min(total, MAX_YAML_VALUES + 1)
    return total


def load_yaml_limited(text: str) -> Any:
    """`yaml.safe_load`, refusing documents whose aliases expand past `MAX_YAML_VALUES`."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise yaml.YAMLError(
                f"its aliases expand to more than {MAX_YAML_VALUES:,} values (an alias bomb?); "
                "use fewer nested aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_task_data(path: Path) -> dict[str, Any]:
    """Parse a task file to plain data (YAML or JSON by suffix)."""
    return parse_task_text(path, read_task_text(path))


def read_task_text(path: Path) -> str:
    """A task file's text; `TaskLoadError` for a file that cannot be read or is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        link = " (a dangling or looping symbolic link)" if path.is_symlink() else ""
        raise TaskLoadError(path, f"cannot read: {exc.strerror}{link}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TaskLoadError(
            path,
            f"not UTF-8 text: byte {exc.start} (line {line}) is {raw[exc.start]:#04x}; "
            "save the file as UTF-8",
        ) from None
    return text


def parse_task_text(path: Path, text: str) -> dict[str, Any]:
    """A task file's text (YAML or JSON by the path's suffix) as plain data."""
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml_limited(text)
    except (json.JSONDecodeError, yaml.YAMLError, RecursionError) as exc:
        kind = path.suffix.lstrip(".").upper()
        raise TaskLoadError(path, f"not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise TaskLoadError(path, "expected a mapping at the top level")
    return data


def load_task(path: Path) -> Task:
    """Load and validate one task file; raises TaskLoadError or pydantic.ValidationError."""
    return Task.model_validate(read_task_data(path))


def find_task_files(paths: list[Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of task files.

    Symbolic links with a task suffix are kept even when they lead nowhere (dangling or
    looping), so loading reports them instead of skipping them silently."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.suffix in TASK_SUFFIXES and (p.is_file() or _broken_link(p))
            )
        else:
            found.append(path)
    return found


def _broken_link(path: Path) -> bool:
    """A symbolic link that leads nowhere: dangling, or a loop."""
    try:
        return path.is_symlink() and not path.exists()
    except OSError:  # ELOOP on some Pythons
        return True


def bundled_tasks_dir() -> Path:
    return Path(__file__).parent / "catalog" / "tasks"


SCHEMA_PATH = Path(__file__).parent / "task.schema.json"


def task_json_schema() -> dict[str, Any]:
    schema = Task.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "valuegym task"
    return schema


def export_schema(path: Path = SCHEMA_PATH) -> str:
    """Write the task JSON Schema; returns the text so tests can compare without writing."""
    text = json.dumps(task_json_schema(), indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    export_schema()
