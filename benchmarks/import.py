"""Import and check a synthetic release the size of Agent-ValueBench; optionally run every case.

Generates 394 small environments and 4,335 cases in the release layout (a third of the
environments read the wall clock, draw uuids and iterate sets, as many release environments
do), then times, each beside a plain JSON read of the same files measured in the same run:

- `valuegym import agent-valuebench` (target: at most 3x the JSON read),
- `valuegym check` of the imported tasks (target: at most 5 s),
- for reference, creating and writing as many files as the import writes, of the same sizes,
  in one process: work the import must do that the JSON read does not,
- with `--sessions`: one sandbox session per case (open, four calls, finalize), twice with the
  same seeds, counting the cases whose tool logs are byte-identical (target: all).

    python benchmarks/import.py [--envs 394] [--cases 4335] [--sessions --sandbox process]
    python benchmarks/import.py --keep DIR     # leave DIR/release and DIR/imported for runs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from envs.agent_valuebench.importer import import_release
from envs.sandbox import make_sandbox
from envs.task import load_task
from envs.values import bundled_value_systems
from valuegym.check import check_paths
from valuegym.runner import sandbox_options

BASE_ENV = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "avb_release" / "environment"
)

MODULE = """{imports}from .BaseEnv import BaseEnv


class _Impl:
    def get_item(self, item_id):
        if item_id not in self.items:
            return {{"success": False, "error": "not found"}}
        return {{"success": True, "data": self.items[item_id]}}

    def set_item(self, item_id, value):
        self.items[item_id] = value
        return {{"success": True, "data": {stamp}}}

    def list_items(self):
        return {{"success": True, "data": sorted(self.items)}}

    def tag_item(self, item_id, tag):
        self.tags.setdefault(item_id, set()).add(tag)
        return {{"success": True, "data": {tags}}}


class {name}(BaseEnv):
    def __init__(self, *, parameters):
        super().__init__(parameters=parameters, impl=_Impl())
        self._impl.tags = {{}}
        self.tags = self._impl.tags
"""

PLAIN = {"imports": "", "stamp": "None", "tags": "sorted(self.tags[item_id])"}
WALL_CLOCK = {  # like the release's environments that read time, uuids and set order
    "imports": "import uuid\nfrom datetime import datetime\n\n",
    "stamp": '{"at": datetime.now().isoformat(), "receipt": str(uuid.uuid4())}',
    "tags": "list(self.tags[item_id])",
}


def tool(name: str, props: dict, required: list[str]) -> dict:
    return {
        "name": name,
        "description": f"{name} on an item.",
        "parameters": {"type": "object", "properties": props, "required": required},
    }


def generate(root: Path, n_envs: int, n_cases: int) -> None:
    env_dir = root / "environment"
    env_dir.mkdir(parents=True)
    for part in ("__init__.py", "BaseEnv.py", "EnvManager.py"):
        shutil.copy(BASE_ENV / part, env_dir / part)
    string = {"type": "string"}
    tools = [
        tool("get_item", {"item_id": string}, ["item_id"]),
        tool("set_item", {"item_id": string, "value": string}, ["item_id", "value"]),
        tool("list_items", {}, []),
        tool("tag_item", {"item_id": string, "tag": string}, ["item_id", "tag"]),
    ]
    schema = {"items": {"type": "object", "additionalProperties": {"type": "string"}}}
    for i in range(n_envs):
        name = f"SyntheticEnv{i:03d}"
        kind = WALL_CLOCK if i % 3 == 0 else PLAIN
        (env_dir / f"{name}.py").write_text(MODULE.format(name=name, **kind))
        spec = {
            "env_name": name,
            "description": f"Synthetic environment {i}.",
            "initial_parameter_schema": schema,
            "tool_state_dependencies": {t["name"]: ["items"] for t in tools},
            "tools": tools,
        }
        (env_dir / f"{name}.json").write_text(json.dumps(spec))
    values = [{"value": f"Value {k}", "definition": f"Definition of value {k}."} for k in range(12)]
    (root / "configs").mkdir()
    (root / "configs" / "value_systems.json").write_text(
        json.dumps({"synthetic": {"name": "Synthetic", "values": values}})
    )
    (root / "case").mkdir()
    (root / "rubric").mkdir()
    for n in range(1, n_cases + 1):
        a, b = f"Value {n % 12}", f"Value {(n + 5) % 12}"
        cps = {
            pole: [
                {
                    "checkpoint_id": f"{pole}_cp{k}",
                    "checkpoint_name": f"step {k}",
                    "related_functions": ["get_item" if k == 1 else "set_item"],
                    "why_it_matters": "it shows the value",
                    "expected_actions": ["act"],
                    "expected_signal": "a call",
                }
                for k in (1, 2)
            ]
            for pole in ("a", "b")
        }
        case = {
            "case_name": f"synthetic_{n}",
            "environment": f"SyntheticEnv{n % n_envs:03d}",
            "value_system": "synthetic",
            "value_items": [a, b],
            "task_description": f"Synthetic task {n}: tidy the items.",
            "env_initial_parameters": {"items": {"x": "1", "y": "2"}},
            "function_list": ["get_item", "set_item", "list_items", "tag_item"],
            "value_a_checkpoint_list": cps["a"],
            "value_b_checkpoint_list": cps["b"],
        }
        items = {
            pole.upper(): [
                {
                    "ITEM_ID": f"{pole.upper()}_ITEM_{k}",
                    "SOURCE_CHECKPOINT": f"{pole}_cp{k}",
                    "WEIGHT": k + 1,
                    "QUESTION": "Did it?",
                    "SCORE_2": "yes",
                    "SCORE_1": "partly",
                    "SCORE_0": "no",
                    "LOOK_FOR": "calls",
                }
                for k in (1, 2)
            ]
            for pole in ("a", "b")
        }
        rubric = {
            "CASE_NAME": case["case_name"],
            "VALUE_A_NAME": a,
            "VALUE_B_NAME": b,
            "STATUS": "OK",
            "CASE_CONFLICT": "synthetic",
            "SCALE": {"0": "no", "1": "partial", "2": "clear"},
            "VALUE_A_ITEMS": items["A"],
            "VALUE_B_ITEMS": items["B"],
            "JUDGE_NOTE": [],
        }
        (root / "case" / f"case_{n:05d}.json").write_text(json.dumps(case))
        (root / "rubric" / f"case_{n:05d}_rubric.json").write_text(json.dumps(rubric))


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (import's workers): on a shared
    machine steadier than wall time."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def file_writes(tasks_dir: Path, scratch: Path) -> tuple[int, float]:
    """Not a baseline, the floor under the import that the JSON read lacks: create and write
    files of the imported tasks' number and sizes (bytes read first, outside the timing)."""
    contents = [path.read_bytes() for path in sorted(tasks_dir.glob("*.json"))]
    scratch.mkdir(parents=True)
    started = time.perf_counter()
    for n, content in enumerate(contents):
        (scratch / f"{n:05d}.json").write_bytes(content)
    return len(contents), time.perf_counter() - started


def plain_read(root: Path) -> int:
    """The baseline: read and parse every JSON file the import reads, and nothing else."""
    files = [
        *sorted((root / "case").glob("*.json")),
        *sorted((root / "rubric").glob("*.json")),
        *sorted((root / "environment").glob("*.json")),
        root / "configs" / "value_systems.json",
    ]
    for path in files:
        json.loads(path.read_text(encoding="utf-8"))
    return len(files)


CALLS = (
    ("set_item", {"item_id": "x", "value": "9"}),
    ("tag_item", {"item_id": "x", "tag": "urgent"}),
    ("tag_item", {"item_id": "x", "tag": "blue"}),
    ("tag_item", {"item_id": "x", "tag": "late"}),
)


def session_logs(tasks: list, kind: str) -> list[str]:
    """Each case's tool log as canonical JSON, from one session per case on a fresh sandbox."""
    sandbox = make_sandbox(kind, sandbox_options(tasks))
    logs = []
    try:
        for seed, task in enumerate(tasks):
            session = sandbox.open(task, seed)
            for name, arguments in CALLS:
                session.call(name, arguments)
            final = session.finalize()
            session.close()
            logs.append(json.dumps([e.model_dump() for e in final.tool_log], sort_keys=True))
    finally:
        sandbox.close()
    return logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=394)
    parser.add_argument("--cases", type=int, default=4335)
    parser.add_argument("--sessions", action="store_true", help="Also run every case twice.")
    parser.add_argument("--sandbox", default="process")
    parser.add_argument("--keep", type=Path, help="Write the release and import here, and keep.")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp() if args.keep is None else str(args.keep)
    try:
        root, out = Path(scratch) / "release", Path(scratch) / "imported"
        load = os.getloadavg()[0]
        started = time.perf_counter()
        generate(root, args.envs, args.cases)
        generated = time.perf_counter()
        cpu = [cpu_seconds()]
        files = plain_read(root)
        read = time.perf_counter()
        cpu.append(cpu_seconds())
        report = import_release(root, out)
        imported = time.perf_counter()
        cpu.append(cpu_seconds())
        checked_report = check_paths([out / "tasks"], bundled_value_systems())
        checked = time.perf_counter()
        cpu.append(cpu_seconds())
        written, write_s = file_writes(out / "tasks", Path(scratch) / "written")
        baseline = read - generated
        print(
            f"synthetic release: {args.envs} environments, {args.cases} cases; "
            f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} now "
            f"({os.cpu_count()} CPUs)"
        )
        print(f"{'phase':<42}{'seconds':>9}{'x JSON read':>13}{'CPU s':>8}  note")

        def show(name: str, seconds: float, note: str, cpu_s: float | None = None) -> None:
            ratio = f"{seconds / baseline:.1f}" if seconds and baseline else ""
            used = f"{cpu_s:.2f}" if cpu_s is not None else ""
            print(f"{name:<42}{seconds:>9.2f}{ratio:>13}{used:>8}  {note}", flush=True)

        rows = [
            ("generate (not counted)", generated - started, ""),
            (f"plain JSON read ({files} files)", read - generated, "baseline", cpu[1] - cpu[0]),
            (
                f"import ({report.imported} tasks)",
                imported - read,
                "target <= 3x (CPU: all workers)",
                cpu[2] - cpu[1],
            ),
            (
                f"check ({len(checked_report.errors)} errors)",
                checked - imported,
                "target <= 5 s",
                cpu[3] - cpu[2],
            ),
        ]
        for row in rows:
            show(*row)
        show(f"create+write {written} task-size files", write_s, "in the import, not the read")
        if args.sessions:
            tasks = [load_task(p) for p in sorted((out / "tasks").glob("*.json"))]
            first = session_logs(tasks, args.sandbox)
            middle = time.perf_counter()
            show(f"one session per case, {args.sandbox} sandbox", middle - checked, "")
            second = session_logs(tasks, args.sandbox)
            same = sum(a == b for a, b in zip(first, second, strict=True))
            show(f"byte-identical tool logs: {same}/{len(tasks)}", 0.0, "target: all")
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
