"""The comparison of runs as a document: priority shifts, paired value changes, harness pull,
skill steering, and the figures (profiles, strengths, delta heatmap)."""

from __future__ import annotations

from judges.compare import BEHAVIOUR, CompareReport, Comparison
from judges.document import (
    Block,
    Document,
    Figure,
    Paragraph,
    Section,
    Table,
    interval,
    number,
    p_value,
)
from judges.plots import Point, heatmap, interval_chart
from judges.run_document import settings_text, significance, unjudged_text
from judges.table import ROLES
from judges.verdict import LEANINGS


def _setting(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def runs_table(report: CompareReport) -> Table:
    """Each run's coverage and leanings, and the behaviour settings that differ between runs."""
    varying = [
        f
        for f in BEHAVIOUR
        if len({repr(getattr(p.run, f)) for p in report.runs}) > 1
        and f not in ("harness", "condition")
    ]
    rows = []
    for p in report.runs:
        r = p.run
        statuses = ", ".join(f"{k} {n}" for k, n in r.coverage.statuses.items())
        rows.append(
            [
                r.label + (" (baseline)" if r.label == report.baseline else ""),
                r.harness if r.condition == "agent" else f"{r.harness} ({r.condition})",
                *(_setting(getattr(r, f)) for f in varying),
                str(r.coverage.episodes),
                statuses,
                unjudged_text(r.coverage),
                "/".join(str(r.leaning.get(k, 0)) for k in LEANINGS),
            ]
        )
    headers = ["run", "harness", *varying, "episodes", "end status", "scored (not scored)"]
    return Table(
        "Runs",
        [*headers, "leaning a/b/mixed/neither/tie"],
        rows,
        note="Columns between harness and episodes are the behaviour settings that differ.",
    )


def _title(c: Comparison) -> str:
    what = (
        ", ".join(f"{d.name} ({_setting(d.baseline)} -> {_setting(d.other)})" for d in c.settings)
        or "nothing that changes behaviour (a replicate)"
    )
    return f"{c.other} vs {c.baseline} (differs in: {what})"


def shift_table(c: Comparison) -> Table:
    rows = [
        [
            s.value_system,
            str(s.tasks),
            interval(s.correlation, signed=True),
            s.verdict + (f" ({', '.join(s.no_profile)})" if s.verdict == "no profile" else ""),
        ]
        for s in c.systems
    ]
    return Table(
        "Priority shift per value system",
        ["system", "paired tasks", "priority correlation [95% CI]", "verdict"],
        rows,
        note="Correlation of the two runs' Bradley–Terry strengths with a jackknife interval: "
        "flipped when the whole interval is below zero, held when above; only where both runs "
        "show a profile (some strength significantly non-zero) and there are enough tasks.",
    )


def value_table(c: Comparison) -> Table:
    rows = [
        [
            v.value_system,
            v.value + (" (fallback)" if v.fallback_tasks else ""),
            str(v.tasks),
            number(v.baseline),
            number(v.other),
            interval(v.delta, signed=True),
            p_value(v.test.p),
            significance(v.test),
        ]
        for v in c.values
    ]
    headers = ["system", "value", "tasks", "baseline", "other", "change [95% CI]"]
    return Table(
        "Value adherence change (paired by task)",
        [*headers, "sign-flip p", "adjusted p"],
        rows,
        note="Per task: the value's mean pole score in the other run minus the baseline's. "
        "* marks changes significant after adjustment across this comparison's values.",
    )


def strength_table(c: Comparison) -> Table:
    rows = [
        [
            s.value_system,
            s.value,
            number(s.baseline, signed=True),
            number(s.other, signed=True),
            interval(s.delta, signed=True),
            significance(s.test),
        ]
        for s in c.strengths
    ]
    return Table(
        "Bradley–Terry strength change",
        ["system", "value", "baseline", "other", "change [95% CI]", "adjusted p"],
        rows,
        note="Intervals: profile likelihood of both runs' fits, Rao–Scott-corrected for the "
        "pairing (F(1, tasks - 1)); p: the runs exchanged within tasks and refitted, adjusted "
        "across this comparison's values.",
    )


def comparison_section(c: Comparison) -> Section:
    blocks = [
        Paragraph(
            f"{c.common_tasks} tasks scored in both runs; only in the baseline: "
            f"{len(c.only_baseline)}; only in {c.other}: {len(c.only_other)}."
        ),
        shift_table(c),
        value_table(c),
        strength_table(c),
    ]
    if c.fallback_note:
        blocks.insert(1, Paragraph(c.fallback_note))
    return Section(_title(c), blocks)


def procedural_section(report: CompareReport) -> Section | None:
    """Each run's procedural pull and adherence by the side of the written rule, side by side:
    a change that follows the written-rule side, whatever the value, is a compliance effect."""
    if not any(v.by_role for p in report.runs for v in p.values):
        return None
    labels = [p.run.label for p in report.runs]
    pulls = {p.run.label: {s.value_system: s for s in p.systems} for p in report.runs}
    systems = sorted({s for by in pulls.values() for s in by})

    def pull(label: str, system: str) -> str:
        s = pulls[label].get(system)
        return f"{interval(s.procedural_pull, signed=True)} ({s.procedural_tasks})" if s else "-"

    pull_table = Table(
        "Procedural pull per system (tasks' metadata.procedural_pole)",
        ["system", *(f"{label} [95% CI] (tasks)" for label in labels)],
        [[system, *(pull(label, system) for label in labels)] for system in systems],
        note="Per task with a written default: the procedural pole's score minus the other "
        "pole's, averaged over tasks. Runs whose pulls differ changed how closely they follow "
        "the written rule; value changes of the same size are then a compliance effect.",
    )
    sides: dict[tuple[str, str, str], dict[str, str]] = {}
    for p in report.runs:
        for v in p.values:
            for r in v.by_role:
                cell = f"{interval(r.adherence)} ({r.tasks})"
                sides.setdefault((v.value_system, v.value, r.role), {})[p.run.label] = cell
    order = {role: k for k, role in enumerate(ROLES)}
    keys = sorted(sides, key=lambda k: (k[0], k[1], order.get(k[2], len(order))))
    side_table = Table(
        "Value adherence by procedural side",
        ["system", "value", "side", *(f"{label} [95% CI] (tasks)" for label in labels)],
        [[*key, *(sides[key].get(label, "-") for label in labels)] for key in keys],
        note="A value's adherence over the tasks where it was the written rule's pole "
        "(procedural), the other pole (discretion), or where the rules sanction both "
        "(no default).",
    )
    return Section("Adherence by procedural side", [pull_table, side_table])


def harness_pull(report: CompareReport) -> Section | None:
    pulls = [c for c in report.comparisons if c.kind == "harness"]
    if not pulls:
        return None
    systems = sorted({s.value_system for c in pulls for s in c.systems})
    model = {p.run.label: p.run.model or "-" for p in report.runs}
    rows = []
    for c in pulls:
        shift = {s.value_system: s for s in c.systems}
        for system in systems:
            s = shift.get(system)
            deltas = [v for v in c.values if v.value_system == system]
            moved = [f"{v.value} {number(v.delta.value, 1, True)}" for v in deltas if v.significant]
            logs = c.tool_logs
            rows.append(
                [
                    model[c.other],
                    f"{c.baseline} -> {c.other}",
                    system,
                    f"{logs.identical}/{logs.tasks}" if logs else "-",
                    interval(s.correlation, signed=True) if s else "-",
                    s.verdict if s else "-",
                    "; ".join(moved) or "-",
                ]
            )
    headers = ["model", "harness", "system", "same tool log (tasks)", "priority correlation"]
    blocks: list[Block] = [Table("", [*headers, "verdict", "values moved (significant)"], rows)]
    differing = [
        f"{c.other}: {', '.join(c.tool_logs.differing)}"
        for c in pulls
        if c.tool_logs and c.tool_logs.differing
    ]
    if differing:
        blocks.append(Paragraph("Tasks whose tool logs differ: " + "; ".join(differing) + "."))
    return Section("Harness pull (same model, different harness)", blocks)


def skill_steering(report: CompareReport) -> Section | None:
    steers = [c for c in report.comparisons if c.kind in ("skills", "system_prompt")]
    if not steers:
        return None
    skills = {p.run.label: ", ".join(p.run.skills) or "no skill" for p in report.runs}
    rows = [
        [
            f"{skills[c.baseline]} -> {skills[c.other]}",
            v.value_system,
            v.value,
            interval(v.delta, signed=True),
            significance(v.test),
        ]
        for c in steers
        for v in c.values
    ]
    return Section(
        "Skill steering (same harness and model, different skills or system prompt)",
        [Table("", ["steering", "system", "value", "change [95% CI]", "adjusted p"], rows)],
    )


def said_versus_done(report: CompareReport) -> Section | None:
    """Agent condition against forced choice for the same model: where its actions part from
    its stated choices (per value, with interval and test) and whether its priorities hold."""
    pairs = [c for c in report.comparisons if c.kind == "condition"]
    if not pairs:
        return None
    condition = {p.run.label: p.run.condition for p in report.runs}
    model = {p.run.label: p.run.model or "-" for p in report.runs}
    blocks: list = []
    for c in pairs:
        direction = f"{condition[c.other]} ({c.other}) minus {condition[c.baseline]} ({c.baseline})"
        systems = shift_table(c)
        systems.title = "Priority agreement per value system"
        systems.note = "held: the stated priorities are the enacted ones; flipped: reversed."
        values = value_table(c)
        values.title = "Per-value divergence"
        values.headers[3:6] = [c.baseline, c.other, "divergence [95% CI]"]
        values.note = (
            "Per task: the value's score in one condition minus the other's (forced choice "
            "scores the chosen value 10 and the other 0)."
        )
        blocks += [
            Paragraph(f"Model {model[c.other]}: {direction}, on {c.common_tasks} paired tasks."),
            systems,
            values,
        ]
    return Section("Said versus done (agent condition vs forced choice)", blocks)


def figures(report: CompareReport) -> Section:
    profile = {
        p.run.label: [Point(f"{v.value_system}: {v.value}", v.adherence) for v in p.values]
        for p in report.runs
    }
    strengths = {
        p.run.label: [
            Point(f"{s.value_system}: {v.value}", v.strength, s.too_little_data)
            for s in p.priorities
            for v in s.values
        ]
        for p in report.runs
    }
    rows = sorted({f"{v.value_system}: {v.value}" for c in report.comparisons for v in c.values})
    columns = [c.other for c in report.comparisons]
    cells = {
        (f"{v.value_system}: {v.value}", c.other): (v.delta.value, v.significant)
        for c in report.comparisons
        for v in c.values
        if v.delta.value is not None
    }
    return Section(
        "Figures",
        [
            Figure(
                "Value profile per run",
                lambda: interval_chart(profile, "adherence (0-10)", "cmp-profile", (0, 10)),
            ),
            Figure(
                "Bradley–Terry strengths per run",
                lambda: interval_chart(strengths, "strength (log-odds)", "cmp-strengths"),
                note="'?' marks systems with too little data.",
            ),
            Figure(
                f"Change in value adherence against {report.baseline}",
                lambda: heatmap(rows, columns, cells, "cmp-heatmap"),
                note="* marks changes significant after adjustment.",
            ),
        ],
    )


def compare_document(report: CompareReport) -> Document:
    sections = [Section("Runs", [runs_table(report)])]
    sections += [comparison_section(c) for c in report.comparisons]
    extra = (
        procedural_section(report),
        harness_pull(report),
        skill_steering(report),
        said_versus_done(report),
    )
    sections += [s for s in extra if s]
    sections.append(figures(report))
    return Document(
        title=f"valuegym comparison against {report.baseline}",
        intro=[
            f"Judge {report.judge}. Every run is paired with the baseline task by task.",
            settings_text(report.settings),
        ],
        sections=sections,
    )
