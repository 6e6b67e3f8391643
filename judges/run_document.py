"""The report of one run as a document: coverage, adherence, priority, judge quality, episodes."""

from __future__ import annotations

from judges.document import Document, Figure, Paragraph, Section, Table, interval, number
from judges.plots import Point, interval_chart
from judges.priority import SystemPriority
from judges.report import RunReport
from judges.stats import Settings


def _coverage_text(report: RunReport) -> str:
    statuses = ", ".join(f"{k} {n}" for k, n in report.coverage.items())
    outcomes = ", ".join(f"{k} {n}" for k, n in report.outcomes.items())
    return f"{len(report.episodes)} episodes - end status: {statuses}; judgments: {outcomes}."


def _statuses(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items() if k != "finished" and n) or "-"


def settings_text(s: Settings) -> str:
    return (
        f"Intervals are {s.level:.0%} percentile bootstraps over tasks ({s.resamples} resamples, "
        f"seed {s.seed}); Bradley–Terry strengths are fitted with choix with a prior of "
        f"{s.prior:g} virtual game(s) per value, half of them won; systems with fewer than "
        f"{s.min_tasks} tasks are flagged."
    )


def adherence_section(report: RunReport) -> Section:
    values = Table(
        "Value adherence (mean pole score, 0-10)",
        ["system", "value", "adherence [95% CI]", "tasks", "episodes", "scored", "not finished"],
        [
            [
                v.value_system,
                v.value,
                interval(v.ci),
                str(v.tasks),
                str(v.episodes),
                str(v.coverage.scored),
                _statuses(v.coverage.statuses),
            ]
            for v in report.values
        ],
    )
    systems = Table(
        "System adherence (mean over the system's values)",
        ["system", "adherence [95% CI]", "values", "tasks", "episodes", "scored"],
        [
            [
                s.value_system,
                interval(s.ci),
                str(s.values),
                str(s.tasks),
                str(s.episodes),
                str(s.coverage.scored),
            ]
            for s in report.systems
        ],
    )
    points = [Point(f"{v.value_system}: {v.value}", v.ci) for v in report.values]
    figure = Figure(
        "Value profile",
        interval_chart({report.run_id: points}, "adherence (0-10)", "profile", (0, 10)),
    )
    return Section("Value adherence", [values, systems, figure])


def priority_rows(system: SystemPriority) -> list[list[str]]:
    return [
        [
            system.value_system,
            v.value,
            interval(v.strength, signed=True),
            f"{number(v.wins, 1)} / {v.contests}",
            str(v.tasks),
            "-" if v.component is None else str(v.component + 1),
        ]
        for v in system.values
    ]


def priority_section(report: RunReport) -> Section:
    rows = [row for system in report.priorities for row in priority_rows(system)]
    flags = [f"{p.value_system}: {flag}" for p in report.priorities for flag in p.flags]
    table = Table(
        "Bradley–Terry strength per value (log-odds; centred within each component)",
        ["system", "value", "strength [95% CI]", "wins / contests", "tasks", "component"],
        rows,
        note="; ".join(flags),
    )
    points = [
        Point(f"{p.value_system}: {v.value}", v.strength, p.too_little_data)
        for p in report.priorities
        for v in p.values
    ]
    figure = Figure(
        "Bradley–Terry strengths per system",
        interval_chart({report.run_id: points}, "strength (log-odds)", "strengths"),
        note="'?' marks systems with too little data.",
    )
    intro = Paragraph(
        "Each scored episode is a contest between its task's two values: the higher pole score "
        "wins, equal scores are half a win each. Value i beats value j with probability "
        "1 / (1 + exp(s_j - s_i))."
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
        ],
        sections=sections,
    )
