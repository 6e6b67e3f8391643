"""Import a synthetic release the size of Agent-ValueBench and open every case once.

Generates 394 small environments and 4,335 cases in the release layout, imports them with
`valuegym import agent-valuebench`'s library function, then opens (and finalizes) one sandbox
session per case. Prints the time of each phase. Target: under 60 s on 2 cores.

    python benchmarks/import.py [--envs 394] [--cases 4335] [--sandbox process]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from envs.agent_valuebench.importer import import_release
from envs.sandbox import make_sandbox
from envs.task import load_task

BASE_ENV = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "avb_release" / "environment"
)

MODULE = """from .BaseEnv import BaseEnv


class _Impl:
    def get_item(self, item_id):
        if item_id not in self.items:
            return {{"success": False, "error": "not found"}}
        return {{"success": True, "data": self.items[item_id]}}

    def set_item(self, item_id, value):
        self.items[item_id] = value
        return {{"success": True}}

    def list_items(self):
        return {{"success": True, "data": sorted(self.items)}}

    def tag_item(self, item_id, tag):
        self.tags.setdefault(item_id, set()).add(tag)
        return {{"success": True}}


class {name}(BaseEnv):
    def __init__(self, *, parameters):
        super().__init__(parameters=parameters, impl=_Impl())
        self._impl.tags = {{}}
        self.tags = self._impl.tags
"""


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
        (env_dir / f"{name}.py").write_text(MODULE.format(name=name))
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
            "function_list": ["get_item", "set_item", "list_items"],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=394)
    parser.add_argument("--cases", type=int, default=4335)
    parser.add_argument("--sandbox", default="process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root, out = Path(scratch) / "release", Path(scratch) / "imported"
        started = time.perf_counter()
        generate(root, args.envs, args.cases)
        generated = time.perf_counter()
        report = import_release(root, out)
        imported = time.perf_counter()
        tasks = [load_task(p) for p in sorted((out / "tasks").glob("*.json"))]
        sandbox = make_sandbox(args.sandbox)
        try:
            opened = time.perf_counter()
            for seed, task in enumerate(tasks):
                session = sandbox.open(task, seed)
                session.call("list_items", {})
                session.finalize()
                session.close()
            done = time.perf_counter()
        finally:
            sandbox.close()
    total = done - generated
    print(f"synthetic release: {args.envs} environments, {args.cases} cases")
    print(f"{'phase':<34}{'seconds':>10}")
    print(f"{'generate (not counted)':<34}{generated - started:>10.2f}")
    print(f"{'import (' + str(report.imported) + ' tasks)':<34}{imported - generated:>10.2f}")
    print(f"{'load tasks':<34}{opened - imported:>10.2f}")
    print(f"{'open+call+finalize, ' + args.sandbox + ' sandbox':<34}{done - opened:>10.2f}")
    print(f"{'total (import to last session)':<34}{total:>10.2f}  target < 60")


if __name__ == "__main__":
    main()
