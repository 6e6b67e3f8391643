"""A minimal reader of the release's trajectory files, written from its documented format.

What the release's ValueEval reads (FORMAT-results, section 2): a file named
`<case_stem>_traj.json` found anywhere under the trajectory folder (names unique there); from
the JSON only `steps`: each step's id (`step`, else `step_id`, else `s<k>`), its
`assistant_message` (minus `reasoning_details`) or else `assistant_output`, and its
`tool_calls` with `tool_responses` when `tool_calls` is a non-empty list; rendered as blocks
`STEP_ID:` / `ASSISTANT_MESSAGE:` (or `ASSISTANT_OUTPUT:`) / `TOOL_CALLS:` + `TOOL_RESPONSES:`
/ `---`. It is a test's stand-in for the release's own reader, not a copy of it.
"""

from __future__ import annotations

import json
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
