"""`valuegym check`: validate task files and the environments they use.

Every problem is reported once, with the file and the field, and checks that depend on an
earlier one are skipped when it failed (an invalid initial state is not also reported as a
failing golden replay). Nothing here raises on bad input: it all becomes a `Problem`.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import networkx as nx
from gymnasium.utils.env_checker import check_env
from pydantic import BaseModel, Field, ValidationError

from envs.agent_valuebench.adapter import ReleaseEnv
from envs.protocol import Finalized, ToolLogEntry
from envs.registry import UnknownEnvironment, environment_for
from envs.sdk import ToolEnv, format_validation_error
from envs.task import (
    POLES,
    Matcher,
    PoleId,
    Task,
    TaskLoadError,
    find_task_files,
    parse_task_text,
    pointer_tokens,
    read_task_text,
)
from envs.values import ValueSystem, with_definitions
from judges.checkpoint import checkable, evaluate, judge, ordering_graph
from judges.outcomes import World, expand
from judges.probes import BASIC, FREE_CREDIT, probe_judgments, replay_calls
from judges.verdict import SUPPORTED
from valuegym.scaffold import MARKER
from valuegym.selection import Selection, task_names
from valuegym.suite_profile import PROCEDURAL_POLES

Severity = Literal["error", "warning"]


class Problem(BaseModel):
    path: str
    field: str
    message: str
    severity: Severity = "error"

    def line(self) -> str:
        return f"{self.severity}: {self.path}: {self.field}: {self.message}"


class CheckReport(BaseModel):
    files: int = 0
    tasks: list[str] = []
    loaded: list[Task] = Field(default=[], exclude=True, description="The tasks that parsed.")
    environments: list[str] = []
    problems: list[Problem] = []
    unmatched_ids: list[str] = []

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


class _Collector:
    """Problems for one file, so each call site states only the field and the message."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.problems: list[Problem] = []

    def error(self, field: str, message: str) -> None:
        self.problems.append(Problem(path=self.path, field=field, message=message))

    def has_errors(self) -> bool:
        return any(p.severity == "error" for p in self.problems)

    def warn(self, field: str, message: str) -> None:
        self.problems.append(
            Problem(path=self.path, field=field, message=message, severity="warning")
        )


def load_checked_task(
    path: Path, systems: dict[str, ValueSystem]
) -> tuple[Task | None, list[Problem]]:
    """Parse and schema-validate one file; the task has its value definitions filled in."""
    task, problems, _ = _load_checked(path, systems)
    return task, problems


def _load_checked(
    path: Path, systems: dict[str, ValueSystem]
) -> tuple[Task | None, list[Problem], str]:
    """`load_checked_task`, plus the file's text (for the placeholder check)."""
    out = _Collector(path)
    try:
        text = read_task_text(path)
    except TaskLoadError as exc:
        out.error("(file)", exc.message)
        return None, out.problems, ""
    try:
        task = Task.model_validate(parse_task_text(path, text))
    except TaskLoadError as exc:
        out.error("(file)", exc.message)
        return None, out.problems, text
    except ValidationError as exc:
        for line in format_validation_error(exc):
            field, _, message = line.partition(": ")
            out.error(field, message)
        return None, out.problems, text
    return with_definitions(task, systems), out.problems, text


def _subset(expected: Any, actual: Any) -> bool:
    """Whether `expected` is contained in `actual` (dict keys recursively, else equality)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


def replay_golden(task: Task, pole: PoleId, env_cls: type[ToolEnv]) -> list[ToolLogEntry]:
    """Run a pole's golden calls in a fresh environment and return the tool log."""
    golden = task.poles[pole].golden
    return replay_calls(task, golden.calls if golden else [], env_cls).tool_log


def check_task(
    task: Task,
    path: Path,
    systems: dict[str, ValueSystem],
    extra: Mapping[str, type[ToolEnv]] | None = None,
    text: str | None = None,
) -> list[Problem]:
    """All semantic checks of one schema-valid task, each skipped when what it needs failed.

    `extra` are environments that are not installed (see `SandboxOptions.env_modules`);
    `text` is the task file's text when the caller has read it: a task without a placeholder
    there is not walked for one.
    """
    out = _Collector(path)
    _check_values(task, systems, out)
    known = len(out.problems)
    if MARKER in (text if text is not None else task.model_dump_json(by_alias=True)):
        data = task.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        _check_unfilled(data, "", out)
    if len(out.problems) > known:
        return out.problems  # a scaffold still being filled: its placeholders are the news
    _check_metadata(task, out)
    case = task.metadata.get("case_file", "the release")
    for problem in task.metadata.get("import_problems", []):
        field, _, message = problem.partition(": ")
        if not field.startswith(("initial_state", "function_list")):  # re-derived below
            out.warn(field, f"{message} ({case}, flagged at import)")
    try:
        env_cls = environment_for(task, extra)
    except UnknownEnvironment as exc:
        out.error("environment", str(exc))
        return out.problems
    load_problem = env_cls.load_problem() if issubclass(env_cls, ReleaseEnv) else None
    if load_problem:
        out.error("environment", load_problem)
        return out.problems
    state_ok = True
    for line in env_cls.validate_state(task.initial_state):
        field, _, message = line.partition(": ")
        if _imported(task):  # the release's own data: flagged, still runnable
            out.warn(f"initial_state.{field}", f"{message} ({case}, as released)")
        else:
            out.error(f"initial_state.{field}", message)
            state_ok = False
    missing = set()
    for index, name in enumerate(task.allowed_tools):
        if name not in env_cls.tools:
            missing.add(name)
            if _imported(task):  # listed by the release; refused if called, like any non-tool
                out.warn(
                    f"allowed_tools[{index}]",
                    f"{env_cls.name} has no tool {name!r} ({case}, function_list as released)",
                )
            else:
                out.error(f"allowed_tools[{index}]", f"{env_cls.name} has no tool {name!r}")
    _check_checkpoints(task, env_cls, out)
    structure_ok = not out.has_errors()
    finals = {}
    for pole in POLES:
        episode = _check_golden(task, pole, env_cls, out, replay=state_ok, judge_it=structure_ok)
        if episode is not None:
            finals[pole] = episode
    if state_ok and not _imported(task):
        states = [
            env_cls().load_state(task.initial_state),
            *(e.final_state for e in finals.values()),
        ]
        _check_state_paths(task, states, out)
    if len(finals) == 2 and not out.has_errors():
        lint_task(task, env_cls, finals, out)
    return _dedupe(out.problems)


FAILED_ANCHOR = re.compile(r"\b(fail|fails|failed|rejected|refused|turned down)\b", re.IGNORECASE)


def lint_task(
    task: Task, env_cls: type[ToolEnv], goldens: dict[PoleId, Finalized], out: _Collector
) -> None:
    """Warnings on a task that runs, where a careless or gaming agent would earn a score.

    Each compares the checkpoint judge's verdict on an adversarial replay (`judges.probes`)
    with the bar it must stay under; the messages say what to change.
    """
    verdicts = probe_judgments(task, BASIC, env_cls)
    noop = evaluate(task, [], World(env_cls().load_state(task.initial_state)))
    on_golden = {
        p: evaluate(task, e.tool_log, World(e.final_state, e.state_diff))
        for p, e in goldens.items()
    }
    for pole in POLES:
        other: PoleId = "b" if pole == "a" else "a"
        for ci, cp in enumerate(task.poles[pole].checkpoints):
            where = f"poles.{pole}.checkpoints[{ci}]"
            if noop[cp.id].score > 0:
                out.warn(
                    where,
                    f"an agent that does nothing scores it {noop[cp.id].score}: only absent, "
                    "before or unchanged constraints are met; add a call or a state change "
                    "the pole makes",
                )
            elif on_golden[other][cp.id].score == 2:
                out.warn(
                    where,
                    f"pole {other.upper()}'s golden trajectory meets it too: it does not tell "
                    "the poles apart (a read or step both make?)",
                )
        for name, what in (
            ("noop", "an agent that does nothing"),
            ("read-only", "an agent that only reads"),
        ):
            score = verdicts[name].scores[pole]
            if score > FREE_CREDIT:
                out.warn(
                    f"poles.{pole}.rubric",
                    f"{what} scores {pole.upper()}={score:.1f} (the bar is {FREE_CREDIT:g}): "
                    "too much weight on checkpoints met without acting on the value",
                )
        undo = verdicts[f"undo-{pole}"].scores[pole]
        if undo >= SUPPORTED:
            out.warn(
                f"poles.{pole}",
                f"its golden calls with the world put back as it was still score "
                f"{pole.upper()}={undo:.1f}: give it a state matcher on what the pole changes",
            )
        for ri, item in enumerate(task.poles[pole].rubric):
            if item.failed_attempt == 0 and FAILED_ANCHOR.search(item.anchors["1"]):
                out.warn(
                    f"poles.{pole}.rubric[{ri}].failed_attempt",
                    "anchor 1 describes a failed attempt, but the checkpoint judge scores one 0; "
                    "set failed_attempt: 1",
                )
    for name in ("a-then-b", "b-then-a"):
        scores = verdicts[name].scores
        if verdicts[name].leaning == "mixed":
            out.warn(
                "poles",
                f"doing both poles' golden calls ({name.replace('-', ' ')}) satisfies both "
                f"(A={scores['a']:.1f}, B={scores['b']:.1f}): give each pole a state matcher "
                "the other pole's calls undo, or an absent matcher on them",
            )


def _check_state_paths(task: Task, states: list[dict[str, Any]], out: _Collector) -> None:
    """A state matcher must name a place that exists somewhere: a typo would never match."""
    for pole in POLES:
        for ci, cp in enumerate(task.poles[pole].checkpoints):
            for si, matcher in enumerate(cp.state):
                pattern = tuple(pointer_tokens(matcher.path))
                if not any(expand(state, pattern) for state in states):
                    out.warn(
                        f"poles.{pole}.checkpoints[{ci}].state[{si}].path",
                        f"{matcher.path} names nothing in the initial state or in either "
                        "golden trajectory's final state (a typo?)",
                    )


def _imported(task: Task) -> bool:
    return task.metadata.get("source") == "agent-valuebench"


def _check_unfilled(data: Any, field: str, out: _Collector) -> None:
    """Placeholders a scaffold left (`<FILL: ...>`): a half-filled task must not pass."""
    if isinstance(data, str):
        if MARKER in data:
            out.error(field or "(root)", f"still holds a placeholder: {data.strip()[:80]!r}")
    elif isinstance(data, dict):
        for key, value in data.items():
            _check_unfilled(value, f"{field}.{key}" if field else str(key), out)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _check_unfilled(value, f"{field}[{index}]", out)


def _check_metadata(task: Task, out: _Collector) -> None:
    """Fields of `metadata` that reports read: they must hold what reports expect."""
    label = task.metadata.get("procedural_pole")
    if label is not None and label not in PROCEDURAL_POLES:
        out.error(
            "metadata.procedural_pole",
            f"{label!r} is not one of a, b, none (the pole the written rules favour)",
        )
    costs = task.metadata.get("pole_costs")
    if costs is not None and (not isinstance(costs, dict) or set(costs) - set(POLES)):
        out.error("metadata.pole_costs", "expected a mapping with keys a and b")


def _check_values(task: Task, systems: dict[str, ValueSystem], out: _Collector) -> None:
    system = systems.get(task.value_system)
    if system is None and _imported(task):
        return  # the release's own systems; definitions travel in the task, flagged at import
    if system is None:
        out.error(
            "value_system",
            f"unknown value system {task.value_system!r}; known: {', '.join(systems)}",
        )
        return
    for pole in POLES:
        name = task.poles[pole].value.name
        if system.get(name) is None:
            known = ", ".join(v.value for v in system.values)
            out.error(
                f"poles.{pole}.value.name",
                f"{name!r} is not a value of {system.id}; values: {known}",
            )
        if re.search(rf"\b{re.escape(name)}\b", task.prompt, flags=re.IGNORECASE):
            out.warn("prompt", f"names the value {name!r}; let the situation carry the tension")
    if task.poles["a"].value.name.casefold() == task.poles["b"].value.name.casefold():
        out.error("poles.b.value.name", "both poles name the same value")


def _check_checkpoints(task: Task, env_cls: type[ToolEnv], out: _Collector) -> None:
    """Tools and arguments the matchers name, ordering references, rubric references."""
    checkpoints = task.checkpoints()
    seen: set[str] = set()
    dangling = False
    for pole in POLES:
        spec = task.poles[pole]
        for ci, cp in enumerate(spec.checkpoints):
            where = f"poles.{pole}.checkpoints[{ci}]"
            if not checkable(cp):
                report = out.warn if _imported(task) else out.error
                report(
                    where,
                    "no matcher (calls, any_of or absent): the checkpoint judge cannot see it",
                )
            if cp.id in seen:
                out.error(f"{where}.id", f"checkpoint id {cp.id!r} is used twice")
            seen.add(cp.id)
            for ti, name in enumerate(cp.related_tools):
                if name not in env_cls.tools:
                    report = out.warn if _imported(task) else out.error
                    report(f"{where}.related_tools[{ti}]", f"{env_cls.name} has no tool {name!r}")
            for kind in ("calls", "any_of", "absent"):
                for mi, matcher in enumerate(getattr(cp, kind)):
                    _check_matcher(task, env_cls, matcher, f"{where}.{kind}[{mi}]", kind, out)
            for kind in ("before", "after"):
                for oi, other in enumerate(getattr(cp, kind)):
                    if other not in checkpoints:
                        dangling = True
                        out.error(f"{where}.{kind}[{oi}]", f"no checkpoint {other!r} in this task")
        own = {cp.id for cp in spec.checkpoints}
        scored = set()
        for ri, item in enumerate(spec.rubric):
            scored.add(item.checkpoint)
            if item.checkpoint not in own:
                out.error(
                    f"poles.{pole}.rubric[{ri}].checkpoint",
                    f"no checkpoint {item.checkpoint!r} in pole {pole}; "
                    f"its checkpoints: {', '.join(sorted(own))}",
                )
        for ci, cp in enumerate(spec.checkpoints):
            if cp.id not in scored:
                out.warn(f"poles.{pole}.checkpoints[{ci}]", f"no rubric item scores {cp.id!r}")
    for pole in POLES:
        for ci, cp in enumerate(task.poles[pole].checkpoints):
            for kind in ("before", "after"):
                for oi, other in enumerate(getattr(cp, kind)):
                    for end in (cp, checkpoints.get(other)):
                        if end is not None and not (end.calls or end.any_of):
                            out.error(
                                f"poles.{pole}.checkpoints[{ci}].{kind}[{oi}]",
                                f"ordering compares when calls were made, and {end.id!r} "
                                "has no calls or any_of matchers",
                            )
    ordered = any(cp.before or cp.after for cp in checkpoints.values())
    if not ordered or dangling:
        return  # no ordering declared (most tasks): no graph to build
    if not _has_cycle(checkpoints):
        return
    graph = ordering_graph(task)
    if not nx.is_directed_acyclic_graph(graph):  # the rare cycle: networkx names it
        cycle = " -> ".join(u for u, _ in nx.find_cycle(graph))
        out.error("poles", f"checkpoint ordering has a cycle: {cycle}")


def _has_cycle(checkpoints: Mapping[str, Any]) -> bool:
    """Whether the before/after edges of `ordering_graph` close a cycle (a plain depth-first
    search: building a networkx graph per task costs more than the check itself)."""
    later: dict[str, set[str]] = {cid: set() for cid in checkpoints}
    for cp in checkpoints.values():
        later[cp.id].update(cp.before)
        for earlier in cp.after:
            later.setdefault(earlier, set()).add(cp.id)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str) -> bool:
        state[node] = 1
        for nxt in later.get(node, ()):
            mark = state.get(nxt)
            if mark == 1 or (mark is None and visit(nxt)):
                return True
        state[node] = 2
        return False

    return any(node not in state and visit(node) for node in list(later))


def _check_matcher(
    task: Task, env_cls: type[ToolEnv], matcher: Matcher, where: str, kind: str, out: _Collector
) -> None:
    if matcher.tool not in env_cls.tools:
        out.error(f"{where}.tool", f"{env_cls.name} has no tool {matcher.tool!r}")
    elif kind != "absent" and matcher.tool not in task.allowed_tools:
        out.error(f"{where}.tool", f"{matcher.tool!r} is not in allowed_tools, so it never matches")
    else:
        known = env_cls.tools[matcher.tool].spec.parameters.get("properties", {})
        for arg in matcher.args:
            if arg not in known:
                out.error(f"{where}.args.{arg}", f"{matcher.tool} has no argument {arg!r}")


def _check_golden(
    task: Task, pole: PoleId, env_cls: type[ToolEnv], out: _Collector, replay: bool, judge_it: bool
) -> Finalized | None:
    """Replay a pole's golden path; it must run cleanly and realise its own pole.

    Returns the replayed episode when the golden ran cleanly, for the checks that follow.
    """
    golden = task.poles[pole].golden
    where = f"poles.{pole}.golden"
    if golden is None:
        if _imported(task):
            if pole == "a":  # one line per task, not one per pole
                out.warn("poles", "no golden trajectories (imported task: the release has none)")
        else:
            out.error(where, "no golden trajectory")
        return None
    clean = True
    for gi, call in enumerate(golden.calls):
        if call.tool not in task.allowed_tools:
            clean = False
            out.error(f"{where}.calls[{gi}].tool", f"{call.tool!r} is not in allowed_tools")
    if not replay:
        return None
    episode = replay_calls(task, golden.calls, env_cls)
    for gi, (call, entry) in enumerate(zip(golden.calls, episode.tool_log, strict=True)):
        if call.tool not in task.allowed_tools or call.tool not in env_cls.tools:
            continue  # reported above, or as a missing allowed tool
        field = f"{where}.calls[{gi}]"
        if entry.result.ok != call.expect.ok:
            clean = False
            outcome = "failed" if call.expect.ok else "was expected to fail"
            out.error(field, f"{call.tool} {outcome}: {entry.result.error or 'it succeeded'}")
        elif call.expect.data is not None and not _subset(call.expect.data, entry.result.data):
            clean = False
            out.error(
                f"{field}.expect.data",
                f"result {entry.result.data!r} does not contain {call.expect.data!r}",
            )
    if not clean or any(c.tool not in env_cls.tools for c in golden.calls):
        return None
    if not judge_it:
        return episode
    verdict = judge(task, episode)
    for item in verdict.items:
        if item.pole == pole and item.score != 2:
            out.error(
                where,
                f"does not fully meet its own checkpoint {item.checkpoint!r} "
                f"(score {item.score}: {item.rationale})",
            )
    other: PoleId = "b" if pole == "a" else "a"
    if verdict.scores[pole] <= verdict.scores[other]:
        out.error(
            where,
            f"scores {pole.upper()}={verdict.scores[pole]}, "
            f"not above {other.upper()}={verdict.scores[other]}",
        )
    return episode


def _dedupe(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for p in problems:
        key = (p.path, p.field, p.message)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def check_environment(env_cls: type[ToolEnv]) -> list[Problem]:
    """The environment contract: gymnasium's checker, a default state, and useful tool docs."""
    try:
        source = Path(inspect.getfile(env_cls))
    except TypeError:  # loaded from a folder without being imported (SandboxOptions.env_paths)
        source = Path(env_cls.__module__)
    out = _Collector(source)
    if MARKER in env_cls.description:
        out.error(f"{env_cls.name}.description", "still holds a placeholder")
    if len(env_cls.tools) < 1:
        out.error(env_cls.name, "declares no tools")
    for name, definition in env_cls.tools.items():
        if not definition.spec.description:
            out.error(f"{env_cls.name}.{name}", "tool has no description")
    if issubclass(env_cls, ReleaseEnv):
        return out.problems  # generated adapters need a case's state to start; see their tests
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_env(env_cls(), skip_render_check=True)
    except Exception as exc:
        out.error(env_cls.name, f"gymnasium check_env failed: {type(exc).__name__}: {exc}")
    return out.problems


def check_paths(
    paths: list[Path],
    systems: dict[str, ValueSystem],
    selection: Selection | None = None,
    extra: Mapping[str, type[ToolEnv]] | None = None,
) -> CheckReport:
    """Check every task file under `paths` (or those `selection` picks) and their environments.

    `extra` are environments that are not installed (see `SandboxOptions.env_modules`).
    """
    report = CheckReport()
    names: set[str] = set()
    first_seen: dict[str, Path] = {}
    env_classes: dict[str, type[ToolEnv]] = {}
    for path in find_task_files(paths):
        report.files += 1
        if not path.exists() and not path.is_symlink():  # a broken link: its reading says so
            report.problems.append(Problem(path=str(path), field="(file)", message="no such file"))
            continue
        task, problems, text = _load_checked(path, systems)
        report.problems.extend(problems)
        if task is None:
            continue
        if selection is not None:
            names |= task_names(task)
            if not selection.matches(task):
                continue
        if task.id in first_seen:
            report.problems.append(
                Problem(
                    path=str(path),
                    field="id",
                    message=f"task id {task.id!r} is also used by {first_seen[task.id]}",
                )
            )
        first_seen.setdefault(task.id, path)
        report.tasks.append(task.id)
        report.loaded.append(task)
        report.problems.extend(check_task(task, path, systems, extra, text))
        try:
            env_classes.setdefault(task.environment, environment_for(task, extra))
        except UnknownEnvironment:
            continue  # reported by check_task
    for name, env_cls in sorted(env_classes.items()):
        report.environments.append(name)
        report.problems.extend(check_environment(env_cls))
    if selection is not None:
        report.unmatched_ids = [i for i in selection.task_ids if i not in names]
    return report
