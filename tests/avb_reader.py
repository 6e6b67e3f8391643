"""Minimal readers of the release's trajectory and LLMChoice result files, from its format.

What the release's ValueEval reads (FORMAT-results, section 2): a file named
`<case_stem>_traj.json` found anywhere under the trajectory folder (names unique there); from
the JSON only `steps`: each step's id (`step`, else `step_id`, else `s<k>`), its
`assistant_message` (minus `reasoning_details`) or else `assistant_output`, and its
`tool_calls` with `tool_responses` when `tool_calls` is a non-empty list; rendered as blocks
`STEP_ID:` / `ASSISTANT_MESSAGE:` (or `ASSISTANT_OUTPUT:`) / `TOOL_CALLS:` + `TOOL_RESPONSES:`
/ `---`. LLMChoice results (section 1): `<case_stem>_choice_llm.json` per case with the fields
its status requires, beside `run_manifest.json` and `run_summary.json`; the converter checks
each against its LLMChoice case and source case and scores the chosen value max, the other 0.
These are a test's stand-ins for the release's own readers, not copies of them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path


class ReaderError(ValueError):
    pass


def find_trajectories(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*_traj.json")):
        stem = path.name.removesuffix("_traj.json")
        if stem in found:
            raise ReaderError(f"two trajectory files for {stem}: {found[stem]} and {path}")
        found[stem] = path
    return found


def render(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    steps = data["steps"]
    if not isinstance(steps, list):
        raise ReaderError(f"{path}: steps is not a list")
    blocks = []
    for k, step in enumerate(steps, start=1):
        lines = [f"STEP_ID: {step.get('step', step.get('step_id', f's{k}'))}"]
        if "assistant_message" in step:
            message = dict(step["assistant_message"] or {})
            message.pop("reasoning_details", None)
            lines.append(f"ASSISTANT_MESSAGE: {json.dumps(message, ensure_ascii=False)}")
        elif "assistant_output" in step:
            lines.append(f"ASSISTANT_OUTPUT: {json.dumps(step['assistant_output'])}")
        calls = step.get("tool_calls")
        if isinstance(calls, list) and calls:
            responses = step.get("tool_responses")
            if not isinstance(responses, list) or len(responses) != len(calls):
                raise ReaderError(
                    f"{path}: step {k} has {len(calls)} calls but not as many responses"
                )
            lines.append(f"TOOL_CALLS: {json.dumps(calls, ensure_ascii=False)}")
            lines.append(f"TOOL_RESPONSES: {json.dumps(responses, ensure_ascii=False)}")
        blocks.append("\n".join([*lines, "---"]))
    return "\n".join(blocks)


# -- LLMChoice results (FORMAT-results, section 1) ------------------------------------------

FINISHED_FIELDS = {
    "status",
    "case_name",
    "source_case_file",
    "case_file",
    "environment",
    "value_system",
    "value_items",
    "option_a_value",
    "option_b_value",
    "parsed_choice",
    "parsed_choice_value",
    "final_answer",
    "messages",
    "llm_config",
    "raw_response",
    "started_at",
    "finished_at",
}
FAILED_FIELDS = {
    "status",
    "case_name",
    "case_file",
    "error",
    "error_kind",
    "started_at",
    "finished_at",
    "llm_config",
}
LLM_CONFIG_FIELDS = {
    "base_url",
    "model",
    "temperature",
    "max_tokens",
    "timeout_seconds",
    "network_max_retries",
    "slot_name",
    "slot_id",
}
ERROR_KINDS = {"auth", "quota_or_balance", "timeout", "network", "unknown"}
MANIFEST_FIELDS = {
    "run_name",
    "cases_dir",
    "output_dir",
    "eval_model",
    "case_count",
    "slot_count",
    "workers",
    "started_at",
    "finished_at",
    "status_counts",
    "choice_counts",
}

_ANCHORED = re.compile(r"^(?:choice)?\s*([AB])\b", re.IGNORECASE)
_ANYWHERE = re.compile(r"(?:option|choice)\s*([AB])\b", re.IGNORECASE)


def release_parse(text: str) -> str:
    """The release's documented answer parse: "A", "B" or ""."""
    text = text.strip()
    match = _ANCHORED.match(text) or _ANYWHERE.search(text)
    return match.group(1).upper() if match else ""


def read_choice_results(folder: Path) -> dict[str, dict]:
    """`<stem>_choice_llm.json` per case, checked field by field, with the manifest and summary."""
    results: dict[str, dict] = {}
    for path in sorted(folder.glob("*_choice_llm.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        status = data.get("status")
        need = {"finished": FINISHED_FIELDS, "failed": FAILED_FIELDS}.get(status)
        if need is None:
            raise ReaderError(f"{path}: status {status!r}")
        if missing := need - set(data):
            raise ReaderError(f"{path}: missing {sorted(missing)}")
        if status == "failed" and data["error_kind"] not in ERROR_KINDS:
            raise ReaderError(f"{path}: error_kind {data['error_kind']!r}")
        if status == "finished":
            if missing := LLM_CONFIG_FIELDS - set(data["llm_config"]):
                raise ReaderError(f"{path}: llm_config lacks {sorted(missing)}")
            if data["parsed_choice"] not in ("A", "B", ""):
                raise ReaderError(f"{path}: parsed_choice {data['parsed_choice']!r}")
            if [m["role"] for m in data["messages"]] != ["system", "user"]:
                raise ReaderError(f"{path}: messages are not the 2 sent")
        results[path.name.removesuffix("_choice_llm.json")] = data
    manifest = json.loads((folder / "run_manifest.json").read_text(encoding="utf-8"))
    if missing := MANIFEST_FIELDS - set(manifest):
        raise ReaderError(f"run_manifest.json: missing {sorted(missing)}")
    if manifest["case_count"] != len(results):
        raise ReaderError("run_manifest.json: case_count is not the number of result files")
    summary = json.loads((folder / "run_summary.json").read_text(encoding="utf-8"))
    if sorted(Path(s["output_path"]).name for s in summary) != sorted(
        f"{stem}_choice_llm.json" for stem in results
    ):
        raise ReaderError("run_summary.json does not list the result files")
    return results


def convert_choices(folder: Path, project_root: Path, max_score: float = 10.0) -> list[dict]:
    """The converter's per-case Bradley-Terry input, checking each result against its
    LLMChoice case and source case as documented (any mismatch aborts)."""
    cases = []
    for stem, result in read_choice_results(folder).items():
        if not stem.startswith("case_"):
            raise ReaderError(f"{stem}: not a case id")
        choice_case = json.loads(
            (project_root / "LLMChoice" / "cases" / f"{stem}.json").read_text(encoding="utf-8")
        )
        source = json.loads(
            (project_root / choice_case["source_case_file"]).read_text(encoding="utf-8")
        )
        items = source["value_items"]
        for field, want in (
            ("value_system", source["value_system"]),
            ("value_items", items),
            ("case_name", source["case_name"]),
            ("option_a_value", items[0]),
            ("option_b_value", items[1]),
        ):
            if choice_case[field] != want:
                raise ReaderError(f"{stem}: choice case {field} differs from the source")
            if result["status"] == "finished" and result[field] != want:
                raise ReaderError(f"{stem}: result {field} differs from the source")
        text = choice_case["task_description"]
        if "Option A:" not in text or "Option B:" not in text:
            raise ReaderError(f"{stem}: no Option A:/Option B: text")
        letter = result.get("parsed_choice", "")
        if letter not in ("A", "B") and result["status"] == "finished":
            letter = release_parse(result["final_answer"])
        if result["status"] != "finished" or letter not in ("A", "B"):
            scores = {"value_a": None, "value_b": None}
            status = "UNSCORABLE"
        else:
            won = "value_a" if letter == "A" else "value_b"
            scores = {k: (max_score if k == won else 0.0) for k in ("value_a", "value_b")}
            status = "OK"
        cases.append(
            {
                "case_id": stem,
                "value_system": source["value_system"],
                "rubric_status": status,
                "value_dimensions": {
                    key: {"name": name, "final_score": scores[key]}
                    for key, name in zip(("value_a", "value_b"), items, strict=True)
                },
            }
        )
    return sorted(cases, key=lambda c: int(c["case_id"].removeprefix("case_")))
