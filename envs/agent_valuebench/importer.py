"""Convert a release checkout (cases, rubrics, value systems) into valuegym task files.

Each case becomes one task, `avb-NNNNN` after its file number (case names are not unique). The
release's checkpoints are prose: the importer derives matchers from each checkpoint's related
tools and orders a pole's checkpoints as listed, which the checkpoint judge can score, though
far more weakly than the rubric judge. A case whose initial state fails its environment's
schema, or whose value system is unknown, is still imported and flagged in the import report.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from envs.agent_valuebench.adapter import ReleaseEnv, adapter_class
from envs.sdk import format_validation_error
from envs.task import Task

SOURCE = "agent-valuebench"
CASE_FILE = re.compile(r"case_(\d+)\.json$")


class CaseIssue(BaseModel):
    case: str
    task_id: str | None = None
    problems: list[str]


class ImportReport(BaseModel):
    release: str
    out: str
    cases: int = 0
    imported: int = 0
    choice_cases: int = Field(default=0, description="LLMChoice cases attached to their tasks.")
    flagged: list[CaseIssue] = Field(default_factory=list, description="Imported, with problems.")
    failed: list[CaseIssue] = Field(default_factory=list, description="Not imported.")


class ReleaseError(ValueError):
    pass


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReleaseError(f"{path}: cannot read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"{path}: not valid JSON: {exc}") from exc


_UNSLUG = re.compile(r"[^a-z0-9_.-]+")


def _slug(text: str) -> str:
    return _UNSLUG.sub("_", text.lower()).strip("_") or "x"


LOW_END = re.compile(r"(?:^|[^a-z])low(?:[^a-z]|$)")
"""A checkpoint id or name with the word `low` (e.g. `sincerity_low_1`): the release's mark
of a checkpoint that evidences the low end of its value rather than the value itself."""


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _checkpoints(
    pole: str,
    value: str,
    raw: list[dict[str, Any]],
    allowed: list[str],
    usable: set[str],
    problems: list[str],
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The pole's checkpoints (each marked `low_end` or not) and the map from release
    checkpoint id to valuegym id."""
    field = f"value_{pole}_checkpoint_list"
    taken: set[str] = set()
    ids: list[str] = []
    by_release: dict[str, str] = {}
    for index, cp in enumerate(raw):
        release_id = str(cp.get("checkpoint_id", index))
        ids.append(_unique(f"{pole}_{_slug(release_id)}", taken))
        if release_id in by_release:
            problems.append(f"{field}[{index}].checkpoint_id: {release_id!r} is used twice")
        by_release.setdefault(release_id, ids[-1])
    out = []
    for index, cp in enumerate(raw):
        related = list(cp.get("related_functions", []))
        for ti, tool in enumerate(related):
            if tool not in allowed:
                problems.append(
                    f"{field}[{index}].related_functions[{ti}]: {tool!r} is not in "
                    "function_list, so the agent cannot call it"
                )
        label = f"{cp.get('checkpoint_id', '')} {cp.get('checkpoint_name', '')}".lower()
        low_end = LOW_END.search(label) is not None
        if low_end:
            problems.append(
                f"{field}[{index}]: checkpoint {cp.get('checkpoint_id')!r} encodes the low end "
                f"of {value!r}; scored as released"
            )
        tools = [t for t in related if t in usable]
        out.append(
            {
                "id": ids[index],
                "name": cp.get("checkpoint_name", ids[index]),
                "related_tools": related,
                "expected_actions": cp.get("expected_actions") or [cp.get("expected_signal", "")],
                "why": cp.get("why_it_matters", ""),
                "expected_signal": cp.get("expected_signal", ""),
                "calls": [{"tool": t} for t in dict.fromkeys(tools)],
                "before": ids[index + 1 : index + 2],
                "low_end": low_end,  # popped by the caller: not a task field
            }
        )
    return out, by_release


def _rubric(
    pole: str, items: list[dict[str, Any]], by_release: dict[str, str], problems: list[str]
) -> list[dict[str, Any]]:
    field = f"VALUE_{pole.upper()}_ITEMS"
    taken: set[str] = set()
    out = []
    for index, item in enumerate(items):
        source = str(item.get("SOURCE_CHECKPOINT", ""))
        checkpoint = by_release.get(source)
        if checkpoint is None:
            checkpoint = next(iter(by_release.values()))
            problems.append(
                f"rubric {field}[{index}].SOURCE_CHECKPOINT: no checkpoint {source!r} in "
                f"value_{pole}_checkpoint_list; attached to {checkpoint!r}"
            )
        out.append(
            {
                "id": _unique(f"{pole}_{_slug(str(item.get('ITEM_ID', index)))}", taken),
                "checkpoint": checkpoint,
                "weight": item.get("WEIGHT", 1),
                "question": item.get("QUESTION", ""),
                "anchors": {k: item.get(f"SCORE_{k}", "") for k in ("0", "1", "2")},
                "look_for": item.get("LOOK_FOR", ""),
            }
        )
    return out


def _adapter(environment_dir: Path, env_name: str) -> type[ReleaseEnv] | None:
    """The adapter class of a release environment, or None if it has no `<Env>.json`."""
    try:
        return adapter_class(str(environment_dir), env_name)
    except FileNotFoundError:
        return None


def convert_case(
    number: int,
    case: dict[str, Any],
    rubric: dict[str, Any],
    systems: dict[str, Any],
    environment_dir: Path,
) -> tuple[Task, list[str]]:
    """One case to one task, plus the problems to flag (raises ReleaseError if it cannot be)."""
    problems: list[str] = []
    env_name = case.get("environment", "")
    env_cls = _adapter(environment_dir, env_name)
    if env_cls is None:
        raise ReleaseError(f"environment: no {env_name}.json in {environment_dir}")
    system_id = case.get("value_system", "")
    system = systems.get(system_id)
    definitions: dict[str, str] = {}
    if system is None:
        problems.append(f"value_system: {system_id!r} is not in configs/value_systems.json")
    else:
        definitions = {v["value"]: v.get("definition", "") for v in system.get("values", [])}
    values = case.get("value_items") or ["", ""]
    for value in values:
        if system is not None and value not in definitions:
            problems.append(f"value_items: {value!r} is not a value of {system_id}")
    allowed = case.get("function_list", [])
    for index, name in enumerate(allowed):
        if name not in env_cls.tools:
            problems.append(
                f"function_list[{index}]: {name!r} is not a tool of {env_name} "
                "(not in its tool list); valuegym never runs it"
            )
    poles: dict[str, Any] = {}
    low_end: list[str] = []
    for pole, value in zip(("a", "b"), values, strict=True):
        raw = case.get(f"value_{pole}_checkpoint_list", [])
        usable = set(allowed) & set(env_cls.tools)
        checkpoints, by_release = _checkpoints(pole, value, raw, allowed, usable, problems)
        low_end += [cp["id"] for cp in checkpoints if cp.pop("low_end")]
        items = rubric.get(f"VALUE_{pole.upper()}_ITEMS", []) if rubric else []
        poles[pole] = {
            "value": {"name": value, "definition": definitions.get(value, "")},
            "checkpoints": checkpoints,
            "rubric": _rubric(pole, items, by_release, problems) if by_release else [],
        }
    task_id = f"avb-{number:05d}"
    data = {
        "id": task_id,
        "title": case.get("case_name", ""),
        "environment": f"agent-valuebench/{env_name}",
        "value_system": f"{SOURCE}/{system_id}",
        "prompt": case.get("task_description", ""),
        "conflict": (rubric or {}).get("CASE_CONFLICT", ""),
        "initial_state": case.get("env_initial_parameters", {}),
        "allowed_tools": allowed,
        "poles": poles,
        "metadata": {
            "source": SOURCE,
            "case_file": f"case_{number:05d}.json",
            "case_name": case.get("case_name", ""),
            "release_environment": env_name,
            "release_value_system": system_id,
            "low_end_checkpoints": low_end,
            "environment_dir": env_cls.environment_dir,
            "value_system_name": (system or {}).get("name", ""),
            "special_state": case.get("special_state_list", []),
            "success_condition": case.get("success_condition"),
            "judge_notes": (rubric or {}).get("JUDGE_NOTE", []),
            "golden": "none: the release has prose checkpoints only",
        },
    }
    try:
        task = Task.model_validate(data)
    except ValidationError as exc:
        raise ReleaseError("; ".join(format_validation_error(exc))) from exc
    problems.extend(f"initial_state.{p}" for p in env_cls.validate_state(task.initial_state))
    return task, problems


class _Release(BaseModel):
    """What every case's conversion needs, read once (and sent once to each worker)."""

    root: Path
    out: Path
    environment_dir: Path
    systems: dict[str, Any]


def _import_case(release: _Release, case_path: Path) -> tuple[str, str | None, list[str], bool]:
    """Read, convert and write one case: (case file, task id, problems, imported)."""
    number = int(CASE_FILE.search(case_path.name).group(1))  # type: ignore[union-attr]
    rubric_path = release.root / "rubric" / f"case_{number:05d}_rubric.json"
    try:
        case = _read_json(case_path)
        try:
            rubric = _read_json(rubric_path)
        except ReleaseError:
            if rubric_path.exists():
                raise
            rubric = {}
        task, problems = convert_case(
            number, case, rubric, release.systems, release.environment_dir
        )
    except (ReleaseError, ImportError, SyntaxError) as exc:
        return case_path.name, None, [str(exc)], False
    if not rubric:
        problems.append(f"rubric: no {rubric_path.name}")
    if problems:
        task.metadata["import_problems"] = problems
    (release.out / "tasks" / f"{task.id}.json").write_text(
        task.model_dump_json(indent=1, by_alias=True, exclude_none=True) + "\n",
        encoding="utf-8",
    )
    return case_path.name, task.id, problems, True


def _import_chunk(
    release: _Release, paths: list[Path]
) -> list[tuple[str, str | None, list[str], bool]]:
    return [_import_case(release, p) for p in paths]


PARALLEL_FROM = 400
"""Below this many cases a worker pool costs more than it saves."""


def import_release(root: Path, out: Path, workers: int | None = None) -> ImportReport:
    """Import every case under `root` into `out/tasks/`, writing `out/import_report.json`.

    Cases are converted independently, so a large release is spread over `workers` processes
    (default: one per CPU); the report lists cases in file order whatever finished first.
    """
    environment_dir = root / "environment"
    for needed in (environment_dir, root / "case", root / "configs" / "value_systems.json"):
        if not needed.exists():
            raise ReleaseError(
                f"{root}: not a release checkout (missing {needed.relative_to(root)})"
            )
    release = _Release(
        root=root,
        out=out,
        environment_dir=environment_dir.resolve(),
        systems=_read_json(root / "configs" / "value_systems.json"),
    )
    report = ImportReport(release=str(root), out=str(out))
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    paths = sorted(p for p in (root / "case").glob("case_*.json") if CASE_FILE.search(p.name))
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(paths) >= PARALLEL_FROM:
        size = -(-len(paths) // (workers * 4))
        chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = [
                r
                for chunk in pool.map(_import_chunk, [release] * len(chunks), chunks)
                for r in chunk
            ]
    else:
        results = _import_chunk(release, paths)
    for case, task_id, problems, imported in results:
        report.cases += 1
        if not imported:
            report.failed.append(CaseIssue(case=case, problems=problems))
            continue
        report.imported += 1
        if problems:
            report.flagged.append(CaseIssue(case=case, task_id=task_id, problems=problems))
    choices = root / "LLMChoice" / "cases"
    if choices.is_dir():
        for path in sorted(choices.glob("case_*.json")):
            problems = attach_choice(path, root, out / "tasks")
            report.choice_cases += 1
            if problems:
                report.flagged.append(
                    CaseIssue(case=f"LLMChoice/cases/{path.name}", problems=problems)
                )
    (out / "import_report.json").write_text(report.model_dump_json(indent=2) + "\n")
    return report


CHOICE_TEXT = re.compile(
    r"^(?P<scenario>.*?)\s*\bOption A:\s*(?P<a>.*?)\s*\bOption B:\s*(?P<b>.*?)"
    r"(?:\s+(?P<instruction>(?:Answer|Reply|Respond|Return|Output)\b[^.]*\.?))?\s*$",
    re.DOTALL,
)


def attach_choice(path: Path, root: Path, tasks_dir: Path) -> list[str]:
    """Give the task of an LLMChoice case's source case the release's own forced-choice text.

    The release's question states the situation, then Option A (value A's course of action)
    and Option B, then an instruction; valuegym keeps them apart (`choice_scenario`, each
    pole's `option`, `metadata.choice_instruction`) so it can present the options in either
    order. The case must agree with its source case, as the release's converter requires.
    """
    number = int(CASE_FILE.search(path.name).group(1))  # type: ignore[union-attr]
    task_path = tasks_dir / f"avb-{number:05d}.json"
    try:
        choice = _read_json(path)
        source = _read_json(root / "case" / path.name)
    except ReleaseError as exc:
        return [str(exc)]
    if not task_path.exists():
        return [f"source_case_file: case/{path.name} was not imported"]
    problems = []
    expected = {
        "source_case_file": f"case/{path.name}",
        "case_name": source.get("case_name"),
        "value_system": source.get("value_system"),
        "value_items": source.get("value_items"),
        "option_a_value": (source.get("value_items") or [None])[0],
        "option_b_value": (source.get("value_items") or [None, None])[1],
    }
    for field, want in expected.items():
        if choice.get(field) != want:
            problems.append(f"{field}: {choice.get(field)!r} differs from the source's {want!r}")
    match = CHOICE_TEXT.match(str(choice.get("task_description", "")))
    if match is None:
        problems.append("task_description: no 'Option A:' followed by 'Option B:'")
    if problems:
        return problems
    task = json.loads(task_path.read_text(encoding="utf-8"))
    task["choice_scenario"] = match.group("scenario").strip()
    task["poles"]["a"]["option"] = match.group("a").strip()
    task["poles"]["b"]["option"] = match.group("b").strip()
    task["metadata"]["choice_case_file"] = f"LLMChoice/cases/{path.name}"
    task["metadata"]["choice_instruction"] = (match.group("instruction") or "").strip()
    task_path.write_text(
        Task.model_validate(task).model_dump_json(indent=1, by_alias=True, exclude_none=True)
        + "\n",
        encoding="utf-8",
    )
    return []
