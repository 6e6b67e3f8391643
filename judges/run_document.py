"""The report of one run as a document: coverage, adherence, priority, judge quality, episodes."""

from __future__ import annotations

import re

from judges.adherence import Coverage, Leanings
from judges.document import (
    Document,
    Figure,
    Paragraph,
    Section,
    Table,
    interval,
    number,
    p_value,
)
from judges.plots import Point, interval_chart
from judges.priority import SystemPriority
from judges.report import RunReport
from judges.stats import Settings, Test, methods_text
from judges.table import ROLES


def _coverage_text(report: RunReport) -> str:
    statuses = ", ".join(f"{k} {n}" for k, n in report.coverage.items())
    outcomes = ", ".join(f"{k} {n}" for k, n in report.outcomes.items())
    leaning = ", ".join(f"{k} {n}" for k, n in report.leaning.items())
    return (
        f"{len(report.episodes)} episodes - end status: {statuses}; judgments: {outcomes}; "
        f"leaning: {leaning}."
    )


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items() if k != "finished" and n) or "-"


def settings_text(s: Settings) -> str:
    return methods_text(s)


def unjudged_text(c: Coverage) -> str:
    """What a mean leaves out: `12 (1 unscorable, 2 unjudged)`."""
    parts = [f"{n} {k}" for k, n in (("unscorable", c.unscorable), ("unjudged", c.unjudged)) if n]
    return f"{c.scored}" + (f" ({', '.join(parts)})" if parts else "")


def leanings_text(lean: Leanings) -> str:
    return f"{lean.won}/{lean.lost}/{lean.mixed}/{lean.neither}/{lean.tie}"


LEANINGS_HEADER = "won/lost/mixed/neither/tie"


def adherence_section(report: RunReport) -> Section:
    values = Table(
        "Value adherence (mean pole score, 0-10)",
        [
            "system",
            "value",
            "adherence [95% CI]",
            "tasks",
            "episodes",
            "scored (not scored)",
            LEANINGS_HEADER,
            "not finished",
        ],
        [
            [
                v.value_system,
                v.value + (" (fallback)" if v.fallback_tasks else ""),
                interval(v.ci),
                str(v.tasks),
                str(v.episodes),
                unjudged_text(v.coverage),
                leanings_text(v.leanings),
                _statuses(v.coverage.statuses),
            ]
            for v in report.values
        ],
        note="Each task counts once (the mean of its samples). Unscorable and unjudged episodes "
        "are not in the mean; they are counted beside it.",
    )
    systems = Table(
        "System adherence (mean over the system's values)",
        ["system", "adherence [95% CI]", "values", "tasks", "episodes", "scored (not scored)"],
        [
            [
                s.value_system,
                interval(s.ci),
                str(s.values),
                str(s.tasks),
                str(s.episodes),
                unjudged_text(s.coverage),
            ]
            for s in report.systems
        ],
    )
    points = [Point(f"{v.value_system}: {v.value}", v.ci) for v in report.values]
    figure = Figure(
        "Value profile",
        lambda: interval_chart({report.run_id: points}, "adherence (0-10)", "profile", (0, 10)),
    )
    return Section("Value adherence", [values, systems, *procedural_tables(report), figure])


def procedural_tables(report: RunReport) -> list[Table]:
    """Each system's procedural pull, and adherence by the side of the written rule."""
    if not any(v.by_role for v in report.values):
        return []
    pull = Table(
        "Procedural pull per system (tasks' metadata.procedural_pole)",
        ["system", "procedural pull [95% CI]", "tasks with a default", "without", "unrecorded"],
        [
            [
                s.value_system,
                interval(s.procedural_pull, signed=True),
                str(s.procedural_tasks),
                str(s.no_default_tasks),
                str(s.unknown_role_tasks),
            ]
            for s in report.systems
        ],
        note="Per task with a written default: the procedural pole's score minus the other "
        "pole's, averaged over tasks. A pull near the spread of the whole profile says the "
        "profile is a compliance effect rather than a value priority.",
    )
    sides = Table(
        "Value adherence by procedural side",
        ["system", "value", *(f"{role} [95% CI] (tasks)" for role in ROLES)],
        [
            [
                v.value_system,
                v.value,
                *(
                    next(
                        (
                            f"{interval(r.adherence)} ({r.tasks})"
                            for r in v.by_role
                            if r.role == role
                        ),
                        "-",
                    )
                    for role in ROLES
                ),
            ]
            for v in report.values
            if v.by_role
        ],
    )
    return [pull, sides]


def priority_rows(system: SystemPriority) -> list[list[str]]:
    return [
        [
            system.value_system,
            v.value,
            interval(v.strength, signed=True),
            significance(v.test),
            f"{number(v.wins, 0)} / {v.contests}",
            leanings_text(v.leanings),
            str(v.tasks),
            "-" if v.component is None else str(v.component + 1),
        ]
        for v in system.values
    ]


def significance(test: Test) -> str:
    """`0.012 *` (adjusted p, starred when significant), or why there is no test."""
    if test.too_little_data:
        return "too little data"
    if test.p_adjusted is None:
        return "-"
    return p_value(test.p_adjusted) + (" *" if test.significant else "")


STRENGTH_NOTE = (
    "Intervals: penalised profile likelihood; p: likelihood-ratio test of strength 0, "
    "adjusted across the report's values."
)


def priority_section(report: RunReport) -> Section:
    rows = [row for system in report.priorities for row in priority_rows(system)]
    flags = [f"{p.value_system}: {flag}" for p in report.priorities for flag in p.flags]
    table = Table(
        "Bradley–Terry strength per value (log-odds; centred within each component)",
        [
            "system",
            "value",
            "strength [95% CI]",
            "adjusted p",
            "wins / contests",
            LEANINGS_HEADER,
            "tasks",
            "component",
        ],
        rows,
        note="\n".join([STRENGTH_NOTE, *flags]),
    )
    points = [
        Point(f"{p.value_system}: {v.value}", v.strength, p.too_little_data or p.degenerate)
        for p in report.priorities
        for v in p.values
    ]
    figure = Figure(
        "Bradley–Terry strengths per system",
        lambda: interval_chart({report.run_id: points}, "strength (log-odds)", "strengths"),
        note="'?' marks systems with too little data or no detectable profile.",
    )
    intro = Paragraph(
        "Each decisive scored episode (leaning A or B) is a contest between its task's two "
        "values, won by the higher pole score; mixed, neither and tied episodes reveal no order "
        "and are counted beside the fit, not in it. Value i beats value j with probability "
        "1 / (1 + exp(s_j - s_i)). * marks strengths that differ from zero after adjustment."
    )
    return Section("Value priority", [intro, table, figure])


def judge_section(report: RunReport) -> Section | None:
    stats = report.judge_stats
    if stats is None:
        return None
    rows = [
        ["judges", ", ".join(stats.judges)],
        ["episodes judged", str(stats.episodes)],
        ["unscorable episodes", str(stats.unscorable)],
        ["passes (unscorable)", f"{stats.passes} ({stats.unscorable_passes})"],
        ["retries after invalid output", str(stats.retries)],
        ["mean swap disagreement (points)", number(stats.swap_disagreement)],
        ["episodes whose leaning flips with the order", str(stats.leaning_flips)],
        ["position bias: first-shown value's advantage", interval(stats.position_bias, 2, True)],
        ["agreement between orders (Krippendorff alpha)", number(stats.swap_alpha, 3)],
        ["agreement between judges (Krippendorff alpha)", number(stats.ensemble_alpha, 3)],
    ]
    return Section(
        "Judge quality",
        [
            Table(
                "", ["statistic", "value"], rows, note="Each episode is judged in both pole orders."
            )
        ],
    )


def reason(text: str | None) -> str:
    """An error or note as a group key: its first line, with numbers and ids folded, so the
    same failure in many episodes counts once."""
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else "no reason recorded"
    line = re.sub(r"\b[0-9a-f]{8,}\b", "<id>", line)
    line = re.sub(r"\d+(\.\d+)?", "N", line)
    return line[:160]


def problems_section(report: RunReport, examples: int = 3) -> Section | None:
    """Episodes that did not finish or were not scored, grouped by reason and counted, each
    group with the full ids of a few of its episodes."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for e in report.episodes:
        if e.status != "finished":
            groups.setdefault((e.status, e.outcome, reason(e.error)), []).append(e.episode_id)
        elif not e.scored:
            groups.setdefault((e.status, e.outcome, reason(e.note)), []).append(e.episode_id)
    if not groups:
        return None
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    rows = [
        [
            status,
            outcome,
            str(len(ids)),
            why,
            ", ".join(ids[:examples])
            + (f" (+{len(ids) - examples})" if len(ids) > examples else ""),
        ]
        for (status, outcome, why), ids in ordered
    ]
    return Section(
        "Episodes not finished or not scored",
        [
            Table(
                "",
                ["status", "judgment", "episodes", "reason", "for example"],
                rows,
                note="Reasons are grouped with numbers and ids folded; `valuegym report RUN "
                "--episodes --status STATUS` lists every episode with its full id.",
            )
        ],
    )


def episodes_section(report: RunReport) -> Section:
    rows = [
        [
            e.episode_id,
            e.status,
            e.outcome,
            e.values["a"],
            number(e.scores.get("a")),
            e.values["b"],
            number(e.scores.get("b")),
            e.leaning.upper(),
        ]
        for e in report.episodes
    ]
    headers = ["episode", "status", "judgment", "A", "score A", "B", "score B", "leans"]
    return Section("Episodes", [Table("", headers, rows)])


def run_document(report: RunReport, episodes: bool = True) -> Document:
    sections = [adherence_section(report), priority_section(report)]
    problems = problems_section(report)
    if problems:
        sections.append(problems)
    judge = judge_section(report)
    if judge:
        sections.append(judge)
    if episodes:
        sections.append(episodes_section(report))
    return Document(
        title=f"valuegym run {report.run_id}",
        intro=[
            f"Harness {report.harness}; judge {report.judge}.",
            _coverage_text(report),
            settings_text(report.settings),
            *([report.fallback_note] if report.fallback_note else []),
        ],
        sections=sections,
    )
