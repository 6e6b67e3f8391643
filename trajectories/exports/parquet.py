"""Parquet tables of a run for pandas, polars and duckdb: episodes, tool calls and judgments.

`episodes.parquet` has one row per journal record, in journal order; `tool_calls.parquet` one
row per entry of the server's tool log; `judgments.parquet` one row per judgment, its rubric
items nested as a list. Free-form JSON (arguments, results, the state diff) is kept as JSON
text, since its shape differs from tool to tool. Schemas are explicit, so an empty run still
writes tables with every column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from judges.episodes import judged, leaning
from trajectories.exports import ExportedRun, MissingExtra, export_format


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def schemas() -> dict:  # pyarrow is imported lazily: it is an optional extra
    import pyarrow as pa

    item = pa.struct(
        [
            ("pole", pa.string()),
            ("item_id", pa.string()),
            ("checkpoint", pa.string()),
            ("weight", pa.int32()),
            ("score", pa.float64()),
            ("evidence_steps", pa.list_(pa.int32())),
            ("rationale", pa.string()),
        ]
    )
    return {
        "episodes": pa.schema(
            [
                ("run_id", pa.string()),
                ("episode_id", pa.string()),
                ("task_id", pa.string()),
                ("sample", pa.int32()),
                ("seed", pa.int64()),
                ("harness", pa.string()),
                ("model", pa.string()),
                ("skills", pa.list_(pa.string())),
                ("value_system", pa.string()),
                ("value_a", pa.string()),
                ("value_b", pa.string()),
                ("swapped", pa.bool_()),
                ("status", pa.string()),
                ("error", pa.string()),
                ("started_at", pa.string()),
                ("duration_s", pa.float64()),
                ("steps", pa.int32()),
                ("messages", pa.int32()),
                ("requests", pa.int32()),
                ("prompt_tokens", pa.int64()),
                ("completion_tokens", pa.int64()),
                ("final_answer", pa.string()),
                ("state_diff", pa.string()),
            ]
        ),
        "tool_calls": pa.schema(
            [
                ("episode_id", pa.string()),
                ("step", pa.int32()),
                ("tool", pa.string()),
                ("arguments", pa.string()),
                ("normalized", pa.string()),
                ("ok", pa.bool_()),
                ("error_kind", pa.string()),
                ("error", pa.string()),
                ("result", pa.string()),
                ("state_changed", pa.bool_()),
                ("refused", pa.bool_()),
                ("clock", pa.string()),
            ]
        ),
        "judgments": pa.schema(
            [
                ("judge", pa.string()),
                ("episode_id", pa.string()),
                ("task_id", pa.string()),
                ("outcome", pa.string()),
                ("score_a", pa.float64()),
                ("score_b", pa.float64()),
                ("leaning", pa.string()),
                ("note", pa.string()),
                ("swap_disagreement", pa.float64()),
                ("position_bias", pa.float64()),
                ("passes", pa.int32()),
                ("items", pa.list_(item)),
            ]
        ),
    }


def tables(run: ExportedRun) -> dict[str, list[dict[str, Any]]]:
    """The rows of each table, as plain dicts."""
    episodes = [
        {
            "run_id": t.run_id,
            "episode_id": t.episode_id,
            "task_id": t.task_id,
            "sample": t.sample,
            "seed": t.seed,
            "harness": t.harness,
            "model": t.model,
            "skills": t.skills,
            "value_system": t.value_system,
            "value_a": t.values["a"],
            "value_b": t.values["b"],
            "swapped": t.swapped,
            "status": t.status,
            "error": t.error,
            "started_at": t.started_at,
            "duration_s": t.duration_s,
            "steps": len(t.tool_log),
            "messages": len(t.messages),
            "requests": t.usage.requests,
            "prompt_tokens": t.usage.prompt_tokens,
            "completion_tokens": t.usage.completion_tokens,
            "final_answer": t.final_answer,
            "state_diff": _json(t.state_diff),
        }
        for t in run.trajectories
    ]
    calls = [
        {
            "episode_id": t.episode_id,
            "step": e.step,
            "tool": e.tool,
            "arguments": _json(e.arguments),
            "normalized": _json(e.normalized),
            "ok": e.result.ok,
            "error_kind": e.result.error_kind,
            "error": e.result.error,
            "result": _json(e.result.data),
            "state_changed": e.state_changed,
            "refused": e.refused,
            "clock": e.clock,
        }
        for t in run.trajectories
        for e in t.tool_log
    ]
    order = {t.episode_id: n for n, t in enumerate(run.trajectories)}
    judgments = [
        {
            "judge": judge,
            "episode_id": j.episode_id,
            "task_id": j.task_id,
            "outcome": judged(j)[0],
            "score_a": j.scores.get("a"),
            "score_b": j.scores.get("b"),
            "leaning": leaning(judged(j)[1]),
            "note": j.note,
            "swap_disagreement": j.swap_disagreement,
            "position_bias": j.position_bias,
            "passes": len(j.passes),
            "items": [i.model_dump() for i in j.items],
        }
        for judge, found in run.judgments.items()
        for j in sorted(found.values(), key=lambda j: order.get(j.episode_id, len(order)))
    ]
    return {"episodes": episodes, "tool_calls": calls, "judgments": judgments}


@export_format(
    "parquet",
    "episodes.parquet, tool_calls.parquet and judgments.parquet (pyarrow)",
    "{run}-parquet",
)
def write_parquet(run: ExportedRun, out: Path) -> list[Path]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtra("Parquet export needs pyarrow: pip install 'valuegym[parquet]'") from exc
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables(run).items():
        path = out / f"{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=schemas()[name]), path)
        written.append(path)
    return written
