"""`valuegym judge`, `valuegym judge calibrate`, `valuegym compare` and the report writers.

`valuegym judge RUN_DIR --judge SPEC` is the group's default command (`score`), so a run folder
can follow `judge` directly while `calibrate` stays a subcommand.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer
from rich.console import Console
from rich.table import Table as RichTable
from typer.core import TyperGroup

from valuegym.cli_executor import (
    ExecutorChoice,
    ExecutorOption,
    RayAddressOption,
    RayResourceOption,
    spread,
)
from valuegym.cli_selection import (
    CaseListOption,
    EnvironmentOption,
    TaskIdsOption,
    ValueSystemOption,
    apply_selection,
    selection_from,
)
from valuegym.selection import SelectionError

console = Console(stderr=True, soft_wrap=True)

# judges.stats.DEFAULT_RESAMPLES, repeated so the CLI starts without importing scipy (tested)
DEFAULT_RESAMPLES = 9999


class DefaultToScore(TyperGroup):
    """Routes `judge RUN_DIR ...` to `judge score RUN_DIR ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["score", *args]
        return super().parse_args(ctx, args)


judge_app = typer.Typer(
    cls=DefaultToScore,
    help="Score runs with a judge (valuegym judge RUN_DIR --judge SPEC), or calibrate a judge.",
    no_args_is_help=True,
)

JudgeOption = Annotated[
    str,
    typer.Option(
        "--judge",
        help="'checkpoint' or 'rubric:<endpoint>[,<endpoint>...]' (named endpoints); "
        "'rubric+matchers:...' also shows the rubric judge the checkpoint matchers.",
    ),
]
EndpointsOption = Annotated[
    Path | None, typer.Option("--endpoints", help="The endpoints file (see `valuegym serve`).")
]
ResamplesOption = Annotated[
    int,
    typer.Option(
        "--resamples",
        min=99,
        help="Random sign patterns per permutation test where exact enumeration has more.",
    ),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the random permutations.")]


class Correction(StrEnum):
    holm = "holm"
    bh = "bh"


CorrectionOption = Annotated[
    Correction,
    typer.Option(
        "--correction", help="Adjustment across a report's values: Holm or Benjamini-Hochberg."
    ),
]
FallbackOption = Annotated[
    bool,
    typer.Option(
        "--include-fallback",
        help="Put tasks scored only by fallback checkpoints (imported, no goldens) in the "
        "priorities.",
    ),
]
MinTasksOption = Annotated[
    int,
    typer.Option(
        "--min-tasks",
        min=2,
        help="Fewer tasks than this: too little data (no test, no strength interval).",
    ),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"error: {message}", style="red", highlight=False)
    raise typer.Exit(code)


def _scorer(spec: str, tasks, endpoints: Path | None):
    from harnesses.models import EndpointError
    from judges.spec import JudgeSpecError, make_scorer

    try:
        return make_scorer(spec, tasks, endpoints)
    except (JudgeSpecError, EndpointError) as exc:
        _fail(str(exc))


@judge_app.command("score")
def score(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    judge: JudgeOption = "checkpoint",
    endpoints: EndpointsOption = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Episodes judged at once.")] = 4,
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
    ray_resource: RayResourceOption = None,
) -> None:
    """Score an existing run without rerunning it; adds judgments/<judge>.jsonl (resumable)."""
    from harnesses.models import EndpointError
    from judges.rubric import JudgeUnavailable
    from judges.spec import JudgeSpecError, judge_key, judge_worker
    from judges.store import judge_run, judgment_path
    from valuegym.executors import ExecutorError
    from valuegym.runner import RUN_FAULTS, NoRun, load_run, run_trajectories

    where = ExecutorChoice(executor, ray_address, ray_resource)
    if problem := where.problem():
        _fail(problem)
    try:
        key = judge_key(judge)
        _, tasks = load_run(run_dir)
    except (JudgeSpecError, NoRun, *RUN_FAULTS) as exc:
        _fail(str(exc))
    if where.kind == "local":
        scorer, factory, pool = _scorer(judge, tasks, endpoints), None, None
    else:  # each node builds its own judge (and may use its own endpoint for the same model)
        try:
            scorer, factory = None, judge_worker(judge, tasks, endpoints)
        except (JudgeSpecError, EndpointError) as exc:
            _fail(str(exc))
        pool = where.open(concurrency, _fail)
    try:
        trajectories = run_trajectories(run_dir)
    except RUN_FAULTS as exc:
        _fail(str(exc))
    try:
        judged = judge_run(
            run_dir, key, trajectories, scorer, concurrency, executor=pool, make_worker=factory
        )
    except JudgeUnavailable as exc:
        _fail(f"{exc}; judgments so far are kept, run the same command again to resume", 1)
    except ExecutorError as exc:
        _fail(f"{exc}; judgments so far are kept, run the same command again to resume", 1)
    finally:
        if pool is not None:
            pool.close()
    if pool is not None and (placed := spread(pool)):
        console.print(placed, highlight=False)
    unscorable = sum(j.outcome != "scored" for j in judged.values())
    console.print(
        f"{run_dir}: {len(judged)}/{len(trajectories)} episodes judged by {key} "
        f"({unscorable} unscorable) in {judgment_path(run_dir, key)}",
        highlight=False,
    )
    console.print(f"report: valuegym report {run_dir} --judge {key}", highlight=False)


@judge_app.command("import")
def import_judgments(
    run_dir: Annotated[Path, typer.Argument(help="The run the judgments are of.")],
    results: Annotated[
        Path, typer.Argument(help="The release judge's output folder (<case>_result.json files).")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="The judgments' format.")
    ] = "agent-valuebench",
    sample: Annotated[int, typer.Option(help="Which sample the judged trajectories were.")] = 0,
    against: Annotated[
        str, typer.Option(help="Report agreement with these stored judgments.")
    ] = "checkpoint",
) -> None:
    """Read judgments made by another benchmark's judge into the run, one judge key per model,
    and report how far they agree with valuegym's."""
    from judges.calibrate import checkpoint_agreement
    from judges.release_judgments import read_release_judgment
    from judges.runs import MissingJudgments, load_scored_run
    from judges.spec import JudgeSpecError, judge_key
    from judges.store import judge_run
    from trajectories.exports.agent_valuebench import case_stem
    from valuegym.runner import RUN_FAULTS, NoRun

    if fmt != "agent-valuebench":
        _fail(f"--format: {fmt!r} is not a judgment format valuegym reads (agent-valuebench)")
    try:
        run = load_scored_run(run_dir)
        reference = load_scored_run(run_dir, judge_key(against))
    except (NoRun, MissingJudgments, JudgeSpecError, *RUN_FAULTS) as exc:
        _fail(str(exc))
    files = {p.name.removesuffix("_result.json"): p for p in results.rglob("*_result.json")}
    tasks = {t.id: t for t in run.tasks}
    found: dict[str, dict] = {}
    for t in run.trajectories:
        path = files.get(case_stem(tasks[t.task_id]))
        if t.sample == sample and t.condition == "agent" and path is not None:
            for key, judgment in read_release_judgment(path, t, tasks[t.task_id]).items():
                found.setdefault(key, {})[t.episode_id] = (t, judgment)
    if not found:
        _fail(f"{results}: no <case>_result.json matches an episode of sample {sample}")
    out = Console(soft_wrap=True)
    for key, judged in sorted(found.items()):
        episodes = [t for t, _ in judged.values()]
        stored = judge_run(run_dir, key, episodes, lambda t, j=judged: j[t.episode_id][1])
        pairs = [(stored[e], reference.judgments[e]) for e in judged if e in reference.judgments]
        agreement = checkpoint_agreement(pairs)
        unscorable = sum(stored[e].outcome != "scored" for e in judged)
        out.print(
            f"{key}: {len(judged)} episodes ({unscorable} unscorable); agreement with "
            f"{reference.judge} on {len(pairs)}: item alpha {agreement.item_alpha}, items "
            f"equal {agreement.items_equal}, leaning equal {agreement.leaning_equal}",
            highlight=False,
        )
        out.print(f"report: valuegym report {run_dir} --judge {key}", highlight=False)


@judge_app.command("calibrate")
def calibrate(
    judge: JudgeOption = "checkpoint",
    tasks: Annotated[
        list[str] | None,
        typer.Option("--tasks", help="'bundled' or a task file/folder; repeatable."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Keep the golden replays and judgments here (reused later)."),
    ] = None,
    endpoints: EndpointsOption = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Episodes judged at once.")] = 4,
    min_accuracy: Annotated[float, typer.Option(help="Exit 1 below this pole accuracy.")] = 0.98,
    max_order_flips: Annotated[
        float, typer.Option(help="Exit 1 when more readings than this flip with the order.")
    ] = 0.10,
    max_hedging: Annotated[
        float, typer.Option(help="Exit 1 when more both-poles episodes than this are mixed.")
    ] = 0.10,
    max_no_degradation: Annotated[
        float, typer.Option(help="Exit 1 when more degraded episodes than this keep their score.")
    ] = 0.10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    resamples: ResamplesOption = 1000,
    task_ids: TaskIdsOption = None,
    value_system: ValueSystemOption = None,
    environment: EnvironmentOption = None,
    case_list: CaseListOption = None,
) -> None:
    """Judge golden replays and degraded or hedging replays of them; exit 1 on any failed check."""
    from judges.calibrate import CalibrationError, Limits
    from judges.calibrate import calibrate as run_calibration
    from judges.rubric import JudgeUnavailable
    from judges.spec import JudgeSpecError, judge_key
    from judges.stats import Settings
    from valuegym.tasks import load_tasks, resolve_task_paths

    try:
        key = judge_key(judge)
    except JudgeSpecError as exc:
        _fail(str(exc))
    try:
        selection = selection_from(task_ids, value_system, environment, case_list)
    except SelectionError as exc:
        _fail(str(exc))
    found, skipped = load_tasks(resolve_task_paths(tasks))
    for path, reason in skipped:
        console.print(f"skipping {path}: {reason}", style="yellow", highlight=False)
    found = apply_selection(
        found, selection, lambda m: console.print(f"warning: {m}", style="yellow")
    )
    if not found:
        _fail("--tasks: no valid task found")
    scorer = _scorer(judge, found, endpoints)
    with tempfile.TemporaryDirectory(prefix="valuegym-calibrate-") as scratch:
        work = out or Path(scratch)
        try:
            limits = Limits(
                min_accuracy=min_accuracy,
                max_order_flips=max_order_flips,
                max_hedging=max_hedging,
                max_no_degradation=max_no_degradation,
            )
            report = run_calibration(
                key, found, work, scorer, concurrency, Settings(resamples=resamples), limits
            )
        except (CalibrationError, JudgeUnavailable) as exc:
            _fail(str(exc), 1)
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_calibration(report, Console())
    if report.no_golden:
        console.print(
            f"note: {len(report.no_golden)} tasks have no golden trajectories to calibrate "
            "against (imported release tasks have none) and were left out",
            style="yellow",
            highlight=False,
        )
    failed = [c for c in report.checks if not c.passed]
    for check in failed:
        console.print(
            f"error: calibration fails on {check.name}: {check.detail} "
            f"({check.value:.1%}; limit {check.limit:.0%})",
            style="red",
            highlight=False,
        )
    if failed:
        raise typer.Exit(1)


def print_calibration(report, out: Console) -> None:
    from judges.document import interval, number

    out.rule(f"calibration of judge {report.judge}")
    by_pole = ", ".join(f"{k} {v:.1%}" for k, v in report.accuracy_by_pole.items())
    out.print(
        f"pole accuracy: {report.correct}/{report.episodes} = {report.accuracy:.1%} "
        f"({by_pole}); unscorable episodes: {report.unscorable}",
        highlight=False,
    )
    cp = report.checkpoint
    out.print(
        f"agreement with the checkpoint judge: item alpha {number(cp.item_alpha, 3)}, "
        f"items equal {number(cp.items_equal, 3)}, leaning equal {number(cp.leaning_equal, 3)}",
        highlight=False,
    )
    stats = report.judge_stats
    if stats:
        out.print(
            f"position: mean swap disagreement {number(stats.swap_disagreement)} points, "
            f"leaning flips {stats.leaning_flips}/{stats.episodes}, first-shown advantage "
            f"{interval(stats.position_bias, 2, True)}, alpha between orders "
            f"{number(stats.swap_alpha, 3)}",
            highlight=False,
        )
        if stats.ensemble_alpha is not None:
            out.print(f"agreement between judges: alpha {stats.ensemble_alpha:.3f}")
    checks = RichTable("check", "result", "measured", "limit", "what")
    for check in report.checks:
        checks.add_row(
            check.name,
            "pass" if check.passed else "FAIL",
            "n/a" if check.value is None else f"{check.value:.1%}",
            f"{check.limit:.0%}",
            check.detail,
        )
    out.print(checks)
    for check in report.checks:
        for example in [] if check.passed else check.examples:
            out.print(f"  {check.name}: {example}", highlight=False)
    if report.failures:
        table = RichTable("task", "golden", "judgment", "score A", "score B", "checkpoint A/B")
        for r in report.failures:
            table.add_row(
                r.task_id,
                r.golden,
                r.outcome,
                number(r.scores.get("a")),
                number(r.scores.get("b")),
                f"{number(r.checkpoint_scores.get('a'))}/{number(r.checkpoint_scores.get('b'))}",
            )
        out.print(table)


def _write(path: Path | None, render: Callable[[], str]) -> None:
    """Render and write a file only when one was asked for (an HTML page draws figures)."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        console.print(f"wrote {path}", highlight=False)


def _settings(resamples: int, seed: int, correction: str = "holm", min_tasks: int = 6):
    from judges.stats import Settings

    return Settings(
        resamples=resamples, seed=seed, correction=Correction(correction).value, min_tasks=min_tasks
    )


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (every episode, all rows).")
    ] = False,
    judge: Annotated[str, typer.Option(help="Which stored judgments to report.")] = "checkpoint",
    markdown: Annotated[Path | None, typer.Option(help="Also write a markdown report.")] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report.")
    ] = None,
    top: Annotated[
        int, typer.Option("--top", min=0, help="Rows per table on the terminal; 0 shows all.")
    ] = 15,
    system: Annotated[
        list[str] | None, typer.Option("--system", help="Only this value system; repeatable.")
    ] = None,
    episodes: Annotated[
        bool, typer.Option("--episodes", help="List the episodes, one per line, full ids.")
    ] = False,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="With --episodes: only episodes that ended so; repeatable."),
    ] = None,
    resamples: ResamplesOption = DEFAULT_RESAMPLES,
    seed: SeedOption = 0,
    correction: CorrectionOption = Correction.holm,
    min_tasks: MinTasksOption = 6,
    include_fallback: FallbackOption = False,
) -> None:
    """Scores, value adherence and priority with confidence intervals, and coverage of a run."""
    from judges.document import to_html, to_markdown
    from judges.run_document import run_document
    from judges.runs import MissingJudgments, load_scored_run
    from judges.spec import JudgeSpecError, judge_key
    from valuegym.render import only_systems, print_report
    from valuegym.runner import RUN_FAULTS, NoRun

    try:
        run = load_scored_run(run_dir, judge_key(judge))
    except (NoRun, MissingJudgments, JudgeSpecError, *RUN_FAULTS) as exc:
        _fail(str(exc))
    known = {h.value_system for h in run.heads}
    unknown = sorted(set(system or ()) - known)
    if unknown:
        _fail(
            f"--system: no value system {', '.join(unknown)} in {run_dir}; it has "
            f"{', '.join(sorted(known))}"
        )
    settings = _settings(resamples, seed, correction, min_tasks)
    result = only_systems(run.report(settings, include_fallback), system or ())
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        print_report(result, Console(), top, episodes=episodes, statuses=status or ())
    if markdown or html:
        document = run_document(result)
        _write(markdown, lambda: to_markdown(document))
        _write(html, lambda: to_html(document))


def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run folders; the first is the baseline.")],
    judge: Annotated[str, typer.Option(help="Whose stored judgments to compare.")] = "checkpoint",
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the markdown report here.")
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the self-contained HTML report here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    resamples: ResamplesOption = DEFAULT_RESAMPLES,
    seed: SeedOption = 0,
    correction: CorrectionOption = Correction.holm,
    min_tasks: MinTasksOption = 6,
    include_fallback: FallbackOption = False,
) -> None:
    """Paired comparison of runs on the same tasks: value changes, priority shifts, harness pull."""
    from judges.compare import build_compare, difference
    from judges.compare_document import compare_document
    from judges.document import to_html, to_markdown
    from judges.runs import MissingJudgments, load_scored_run, run_labels
    from judges.spec import JudgeSpecError, judge_key
    from valuegym.runner import RUN_FAULTS, NoRun

    if len(runs) < 2:
        _fail("compare needs at least two run folders")
    try:
        key = judge_key(judge)
        loaded = [load_scored_run(path, key) for path in runs]
    except (NoRun, MissingJudgments, JudgeSpecError, *RUN_FAULTS) as exc:
        _fail(str(exc))
    labels = run_labels(runs)
    pairs = [(run.info(label), run.rows) for run, label in zip(loaded, labels, strict=True)]
    procedural = {k: v for run in reversed(loaded) for k, v in run.procedural.items()}
    fallback = set().union(*(run.fallback for run in loaded))
    settings = _settings(resamples, seed, correction, min_tasks)
    base_info = pairs[0][0]
    harness_pairs = [difference(base_info, info)[1] == "harness" for info, _ in pairs[1:]]
    tool_logs = [  # only harness comparisons read the full records, for their tool logs
        run.tool_log_digests()
        if (i == 0 and any(harness_pairs)) or (i and harness_pairs[i - 1])
        else None
        for i, run in enumerate(loaded)
    ]
    result = build_compare(
        pairs, key, settings, procedural, fallback, include_fallback, tool_logs=tool_logs
    )
    document = compare_document(result)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        typer.echo(to_markdown(document))
    _write(markdown, lambda: to_markdown(document))
    _write(html, lambda: to_html(document))
