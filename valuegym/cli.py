"""The `valuegym` command line: thin wrappers that parse options and call the library."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from envs.task import Task
from envs.values import bundled_value_systems
from valuegym.cli_analysis import compare, judge_app, report
from valuegym.cli_executor import (
    ExecutorChoice,
    ExecutorOption,
    RayAddressOption,
    RayResourceOption,
    spread,
)
from valuegym.cli_import import import_app
from valuegym.cli_new import new_app
from valuegym.cli_sandbox import sandbox_app, sandbox_problem
from valuegym.cli_selection import (
    CaseListOption,
    EnvironmentOption,
    TaskIdsOption,
    ValueSystemOption,
    apply_selection,
    selection_from,
)
from valuegym.cli_serve import serve_app
from valuegym.cli_view import export, view
from valuegym.executors import ExecutorError
from valuegym.selection import Selection, SelectionError
from valuegym.tasks import load_tasks, resolve_task_paths

if TYPE_CHECKING:
    from valuegym.runner import RunConfig

CONDITIONS = ("agent", "choice")
PROMPT_STYLES = ("valuegym", "agent-valuebench")

app = typer.Typer(
    help="Run value-conflict tasks against agent harnesses and report what values they act on.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)
app.add_typer(import_app, name="import")
app.add_typer(new_app, name="new")
app.add_typer(serve_app, name="serve")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(judge_app, name="judge")
app.command()(report)
app.command()(compare)
app.command()(view)
app.command()(export)


@app.callback()
def _root() -> None:
    """valuegym: an agent-harness evaluation sandbox for value-conflict tasks."""


@app.command()
def check(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Task files or folders; default: the bundled suite.")
    ] = None,
    task_ids: TaskIdsOption = None,
    value_system: ValueSystemOption = None,
    environment: EnvironmentOption = None,
    case_list: CaseListOption = None,
    suite: Annotated[
        bool,
        typer.Option(
            "--suite",
            help="Also hold the tasks to the suite design bar: every value in >= 3 tasks and "
            "paired with >= 2 others, connected comparison graphs, procedural balance.",
        ),
    ] = False,
) -> None:
    """Validate tasks and their environments; exit 1 on any error."""
    from envs.registry import load_environment_module
    from envs.sandbox_options import SandboxOptions
    from valuegym.check import check_paths

    options = SandboxOptions.from_env()
    extra = {}
    for module in options.env_modules:
        extra.update(load_environment_module(module, options.env_paths))
    systems = bundled_value_systems()
    selection = _selection(task_ids, value_system, environment, case_list)
    report = check_paths(resolve_task_paths(paths), systems, selection, extra)
    if report.unmatched_ids:
        shown = ", ".join(report.unmatched_ids[:10])
        console.print(f"warning: requested ids match no task: {shown}", style="yellow")
    if report.problems:  # one print: thousands of warnings line by line cost a second
        from rich.text import Text

        listing = Text()
        for problem in report.problems:
            style = "red" if problem.severity == "error" else "yellow"
            listing.append(problem.line() + "\n", style=style)
        console.print(listing, highlight=False, soft_wrap=True, end="")
    summary = (
        f"checked {len(report.tasks)} tasks in {report.files} files and "
        f"{len(report.environments)} environments: "
        f"{len(report.errors)} errors, {len(report.warnings)} warnings"
    )
    failed = bool(report.errors)
    if suite:
        from valuegym.suite_profile import SuiteRequirements, profile_suite

        profiles = profile_suite(report.loaded, systems)
        _print_suite_profile(profiles)
        shortfalls = SuiteRequirements().problems(profiles)
        for line in shortfalls:
            console.print(f"suite: {line}", style="red", highlight=False, soft_wrap=True)
        summary += f"; suite design: {len(shortfalls)} shortfalls"
        failed = failed or bool(shortfalls)
    console.print(summary, style="bold red" if failed else "bold green", highlight=False)
    raise typer.Exit(1 if failed else 0)


def _print_suite_profile(profiles) -> None:
    """Per system: each value's tasks, opponents and procedural sides, and the graph."""
    from rich.table import Table

    stdout = Console()
    for system, profile in profiles.items():
        letters = profile.procedural_letters
        table = Table(
            "value",
            "tasks",
            "opponents",
            "procedural",
            "other side",
            "neither",
            title=f"{system}: {len(profile.tasks)} tasks; procedural pole a {letters['a']}, "
            f"b {letters['b']}, none {letters['none']} ({profile.none_share:.0%}); "
            f"comparison graph: {len(profile.components)} component(s)",
        )
        for name, balance in profile.values.items():
            table.add_row(
                name,
                str(balance.tasks),
                str(len(balance.opponents)),
                str(balance.procedural),
                str(balance.discretion),
                str(balance.neither),
            )
        stdout.print(table)


def _selection(task_ids, value_system, environment, case_list) -> Selection:
    try:
        return selection_from(task_ids, value_system, environment, case_list)
    except SelectionError as exc:
        _fail(str(exc))


def _progress_run(
    run_dir: Path,
    harness_name: str,
    concurrency: int | None,
    retry_errors: bool = False,
    where: ExecutorChoice | None = None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from harnesses.base import get_harness
    from valuegym.runner import RUN_FAULTS, RunInterrupted, execute_run, load_run

    where = where or ExecutorChoice()
    executor = where.open(concurrency or load_run(run_dir)[0].concurrency, _fail)
    # a cluster loads the harness by name on each node; here it is the object itself
    harness = get_harness(harness_name) if where.kind == "local" else harness_name
    failed = 0
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed, {task.fields[remaining]} remaining"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        bar = progress.add_task(harness_name, total=0, failed=0, remaining=0)

        def on_start(todo: int, already: int) -> None:
            progress.update(bar, total=todo + already, completed=already, remaining=todo)

        def on_episode(trajectory) -> None:
            nonlocal failed
            failed += trajectory.status != "finished"
            remaining = progress.tasks[0].total - progress.tasks[0].completed - 1
            progress.update(bar, advance=1, failed=failed, remaining=int(remaining))

        try:
            summary = execute_run(
                run_dir,
                harness,
                on_episode=on_episode,
                on_start=on_start,
                executor=executor,
                retry_errors=retry_errors,
            )
        except RunInterrupted as exc:
            progress.stop()
            console.print(
                f"{run_dir}: {exc}; continue with `valuegym run --out {run_dir} --resume "
                "--retry-errors`",
                style="yellow",
                highlight=False,
            )
            raise typer.Exit(143 if exc.signal_name == "SIGTERM" else 130) from None
        except (*RUN_FAULTS, ExecutorError) as exc:
            progress.stop()
            _fail(str(exc))
        finally:
            executor.close()
    if placed := spread(executor):
        console.print(placed, highlight=False)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(summary.counts.items())) or "nothing new"
    already = summary.skipped_done
    retried = f", {summary.retried} rerun after errors" if summary.retried else ""
    console.print(
        f"{run_dir}: {summary.total} episodes ({already} done before{retried}; now {counts})"
    )
    if summary.errors_left:
        console.print(
            f"{summary.errors_left} episodes of {run_dir} ended in error (`valuegym view` shows "
            "why); once the cause is fixed, rerun them with "
            f"`valuegym run --out {run_dir} --resume --retry-errors`",
            style="yellow",
            highlight=False,
        )


def _judge_checkpoint(run_dir: Path) -> None:
    from judges.spec import checkpoint_scorer
    from judges.store import judge_run
    from valuegym.runner import load_run, run_trajectories

    _, tasks = load_run(run_dir)
    judge_run(run_dir, "checkpoint", run_trajectories(run_dir), checkpoint_scorer(tasks))


@dataclass
class RunOptions:
    """The options of `valuegym run` (also used by `demo`)."""

    out: Path
    harness: str = "golden-a"
    harness_given: bool = False
    tasks: list[str] | None = None
    samples: int = 1
    concurrency: int = 1
    seed: int = 0
    resume: bool = False
    retry_errors: bool = False
    max_steps: int | None = None
    timeout_s: float = 600.0
    sandbox: str = "inprocess"
    model: str | None = None
    endpoints: Path | None = None
    skills: list[Path] = field(default_factory=list)
    system_prompt: str | None = None
    temperature: float = 0.0
    counterbalance: bool = False
    selection: Selection = field(default_factory=Selection)
    condition: str = "agent"
    prompt_style: str = "valuegym"
    where: ExecutorChoice = field(default_factory=ExecutorChoice)
    harness_sandbox: str = "host"


def _fail(message: str) -> NoReturn:
    console.print(f"error: {message}", style="red", highlight=False)
    raise typer.Exit(2)


def _warn(message: str) -> None:
    console.print(f"warning: {message}", style="yellow", highlight=False)


def _new_run_config(opts: RunOptions, tasks: list[Task], sources: list[Path], skipped) -> RunConfig:
    from harnesses.base import HarnessConfig
    from harnesses.models import EndpointError, resolve_endpoint
    from harnesses.skills import SkillError, load_skill
    from valuegym.runner import RunConfig, SkippedTask

    try:
        model = resolve_endpoint(opts.model, opts.endpoints) if opts.model else None
        skills = [load_skill(path) for path in opts.skills]
    except (EndpointError, SkillError) as exc:
        _fail(str(exc))
    return RunConfig(
        run_id=opts.out.name,
        harness=opts.harness,
        sandbox=opts.sandbox,
        samples=opts.samples,
        concurrency=opts.concurrency,
        seed=opts.seed,
        counterbalance=opts.counterbalance,
        condition=opts.condition,
        harness_config=HarnessConfig(
            max_steps=opts.max_steps,
            timeout_s=opts.timeout_s,
            temperature=opts.temperature,
            system_prompt=opts.system_prompt,
            prompt_style=opts.prompt_style,
            harness_sandbox=opts.harness_sandbox,
        ),
        model=model,
        skills=skills,
        task_sources=[str(p) for p in sources],
        task_ids=[t.id for t in tasks],
        skipped_tasks=[SkippedTask(path=p, reason=r) for p, r in skipped],
        selection=opts.selection,
    )


def start_run(opts: RunOptions) -> None:
    """Create (or resume) a run, execute its episodes, and judge them with the checkpoint judge."""
    from envs.sandbox import SANDBOX_KINDS
    from harnesses.base import UnknownHarness, get_harness, harness_sandboxes
    from valuegym.runner import RUN_CONFIG, RUN_FAULTS, NoRun, create_run, load_run

    if opts.sandbox not in SANDBOX_KINDS:
        _fail(f"--sandbox: {opts.sandbox!r} is not one of {', '.join(SANDBOX_KINDS)}")
    if opts.condition not in CONDITIONS:
        _fail(f"--condition: {opts.condition!r} is not one of {', '.join(CONDITIONS)}")
    if opts.prompt_style not in PROMPT_STYLES:
        _fail(f"--prompt-style: {opts.prompt_style!r} is not one of {', '.join(PROMPT_STYLES)}")
    if opts.harness_sandbox not in ("host", "docker"):
        _fail(f"--harness-sandbox: {opts.harness_sandbox!r} is not one of host, docker")
    if opts.condition == "choice":  # a question, not an episode: no tools, no sandbox
        if not opts.model and not (opts.out / "run.json").exists():
            _fail("--condition choice asks a model: pass --model NAME")
        opts = replace(opts, harness="choice", sandbox="none", counterbalance=True)
    exists = (opts.out / RUN_CONFIG).exists()
    if exists and not opts.resume:
        _fail(f"{opts.out} already holds a run; pass --resume to continue it")
    if opts.retry_errors and not exists:
        _fail(f"--retry-errors: {opts.out} holds no run to retry (it needs --resume)")
    if exists:
        try:
            config = load_run(opts.out, verify=True)[0]
        except (*RUN_FAULTS, NoRun) as exc:
            _fail(str(exc))
        harness = config.harness
        try:
            get_harness(harness)
        except UnknownHarness as exc:
            _fail(f"{opts.out / RUN_CONFIG}: harness: {exc}")
        if opts.harness_given and opts.harness != harness:
            _fail(
                f"--harness {opts.harness}: {opts.out} was created with harness {harness!r}; "
                "a resume continues the run as it was created (start a new --out for another)"
            )
    problem = sandbox_problem(config.sandbox if exists else opts.sandbox)
    if problem:
        _fail(f"--sandbox: {problem}")
    if problem := opts.where.problem():
        _fail(problem)
    if exists:
        retrying = " (rerunning episodes that ended in error)" if opts.retry_errors else ""
        console.print(f"resuming {opts.out} (harness {harness}){retrying}")
    else:
        harness = opts.harness
        try:
            supported = harness_sandboxes(get_harness(harness))
        except UnknownHarness as exc:
            _fail(f"--harness: {exc}")
        if opts.harness_sandbox not in supported:
            _fail(
                f"--harness-sandbox {opts.harness_sandbox}: harness {harness!r} runs in "
                "valuegym's own process and executes nothing the model writes; the harnesses "
                "that run a program of their own (claude-code, claude-code-inline-skills, "
                "mini-swe-agent) can run in a harness container"
            )
        if opts.harness_sandbox == "docker":
            problem = sandbox_problem("docker")
            if problem:
                _fail(f"--harness-sandbox: {problem}")
        sources = resolve_task_paths(opts.tasks)
        tasks, skipped = load_tasks(sources)
        for path, reason in skipped:
            console.print(f"skipping {path}: {reason}", style="yellow", highlight=False)
        tasks = apply_selection(tasks, opts.selection, _warn)
        if not tasks:
            _fail("--tasks: no valid task found" + ("" if opts.selection.empty else " selected"))
        create_run(opts.out, _new_run_config(opts, tasks, sources, skipped), tasks)
    _progress_run(
        opts.out, harness, opts.concurrency if exists else None, opts.retry_errors, opts.where
    )
    _judge_checkpoint(opts.out)


@app.command()
def run(
    out: Annotated[Path, typer.Option("--out", help="The run folder.")],
    harness: Annotated[
        str | None,
        typer.Option(help="Harness name, e.g. golden-a or react (default golden-a)."),
    ] = None,
    tasks: Annotated[
        list[str] | None,
        typer.Option("--tasks", help="'bundled' or a task file/folder; repeatable."),
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="Episodes per task.")] = 1,
    concurrency: Annotated[int, typer.Option(min=1, help="Episodes run at once.")] = 1,
    seed: Annotated[int, typer.Option(help="Run seed; episode seeds derive from it.")] = 0,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue a run that was stopped: runs the episodes not yet recorded. Episodes "
            "recorded as `error` are kept as they are unless --retry-errors is given."
        ),
    ] = False,
    retry_errors: Annotated[
        bool,
        typer.Option(
            help="With --resume: run again every episode whose latest record is an `error` "
            "(a lost sandbox, an unreachable model, an interrupted run). The old records stay "
            "in the journal as history; reports use each episode's latest. Finished, "
            "max_steps and timeout episodes are never rerun."
        ),
    ] = False,
    max_steps: Annotated[int | None, typer.Option(help="Override every task's max_steps.")] = None,
    timeout: Annotated[float, typer.Option(help="Per-episode timeout in seconds.")] = 600.0,
    sandbox: Annotated[str, typer.Option(help="inprocess, process or docker.")] = "inprocess",
    model: Annotated[str | None, typer.Option(help="A named model endpoint.")] = None,
    endpoints: Annotated[Path | None, typer.Option(help="The endpoints file.")] = None,
    skill: Annotated[
        list[Path] | None, typer.Option("--skill", help="A skill folder; repeatable.")
    ] = None,
    system_prompt: Annotated[str | None, typer.Option(help="Replace the system prompt.")] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.0,
    counterbalance: Annotated[
        bool, typer.Option(help="Randomise per episode which value is presented as A.")
    ] = False,
    task_ids: TaskIdsOption = None,
    value_system: ValueSystemOption = None,
    environment: EnvironmentOption = None,
    case_list: CaseListOption = None,
    condition: Annotated[
        str,
        typer.Option(
            help="agent (the task with its tools) or choice (the same task asked as a "
            "two-option question, counterbalanced, no tools; needs --model)."
        ),
    ] = "agent",
    prompt_style: Annotated[
        str,
        typer.Option(
            help="valuegym, or agent-valuebench: prompts, tool schemas and raw tool results as "
            "the Agent-ValueBench release's runner presents them."
        ),
    ] = "valuegym",
    executor: ExecutorOption = "local",
    ray_address: RayAddressOption = None,
    ray_resource: RayResourceOption = None,
    harness_sandbox: Annotated[
        str,
        typer.Option(
            help="host, or docker: a CLI harness's own process (claude-code, mini-swe-agent's "
            "commands) runs in a hardened container reaching only the model endpoint and the "
            "session's tools."
        ),
    ] = "host",
) -> None:
    """Run episodes of tasks under a harness, journaling every trajectory."""
    selection = _selection(task_ids, value_system, environment, case_list)
    start_run(
        RunOptions(
            out=out,
            harness=harness or "golden-a",
            harness_given=harness is not None,
            tasks=tasks,
            samples=samples,
            concurrency=concurrency,
            seed=seed,
            resume=resume,
            retry_errors=retry_errors,
            max_steps=max_steps,
            timeout_s=timeout,
            sandbox=sandbox,
            model=model,
            endpoints=endpoints,
            skills=skill or [],
            system_prompt=system_prompt,
            temperature=temperature,
            counterbalance=counterbalance,
            selection=selection,
            condition=condition,
            prompt_style=prompt_style,
            where=ExecutorChoice(executor, ray_address, ray_resource),
            harness_sandbox=harness_sandbox,
        )
    )
    console.print(f"report: valuegym report {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where the demo runs are written.")] = Path(
        "runs/demo"
    ),
    min_accuracy: Annotated[
        float, typer.Option(help="Fail below this share of golden episodes leaning their own way.")
    ] = 0.95,
) -> None:
    """Run the bundled suite under golden-a, golden-b and react (scripted model); check them."""
    from judges.runs import load_scored_run
    from valuegym.render import print_report

    stdout = Console()
    failures = []
    for harness, pole in (("golden-a", "a"), ("golden-b", "b")):
        run_dir = out / harness
        start_run(RunOptions(out=run_dir, harness=harness, concurrency=2, resume=True))
        report = load_scored_run(run_dir).report()
        print_report(report, stdout, episodes=False)
        own = sum(1 for e in report.episodes if e.leaning == pole)
        share = own / len(report.episodes)
        total = len(report.episodes)
        stdout.print(
            f"[bold]{harness}: {own}/{total} episodes score {pole.upper()} "
            f"above the other pole ({share:.0%})\n"
        )
        if share < min_accuracy:
            failures.append(harness)
    from valuegym.demo_model import run_react_demo

    if not run_react_demo(out, out / "golden-a", stdout):
        failures.append("react (scripted golden-a)")
    if failures:
        console.print(
            f"error: below {min_accuracy:.0%} pole accuracy: {', '.join(failures)}", style="red"
        )
        raise typer.Exit(1)
