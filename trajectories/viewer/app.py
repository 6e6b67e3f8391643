"""The viewer's web app: server-rendered pages (Jinja2) made interactive with htmx.

Pages are whole HTML documents, so every view has a URL that can be reloaded or shared; htmx
swaps in fragments for filtering, sorting and paging the episodes table, for the slower report
and comparison sections, and for live updates: a small poller asks the run for its version
every two seconds and, when an episode or a judgment was written, fires `run-changed`, which
the parts of the page that depend on the run listen for. Everything the browser loads comes
from this server (htmx is vendored under `static/vendor`).

JSON twins of the data views live under `/api` for scripts and the benchmark.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from judges.compare import CompareReport, build_compare, task_means
from judges.compare_document import compare_document
from judges.document import Figure, Paragraph, Table, interval, number, p_value
from judges.run_document import run_document
from judges.runs import CHECKPOINT
from judges.stats import Settings
from trajectories.viewer.catalog import Catalog, OpenRun, UnknownEpisode, UnknownRun
from trajectories.viewer.episode import episode_view
from trajectories.viewer.episodes import EpisodeQuery, episode_page, filter_choices

HERE = Path(__file__).parent
POLL_SECONDS = 2
STOP_POLLING = 286  # htmx stops a poll that is answered with this status


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _short(value: Any, limit: int = 90) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def episode_url(run: str, task_id: str, sample: int, judge: str = CHECKPOINT) -> str:
    url = f"/runs/{quote(run)}/episodes/{quote(task_id)}/{sample}"
    return url if judge == CHECKPOINT else f"{url}?{urlencode({'judge': judge})}"


def episodes_url(run: str, **filters: object) -> str:
    query = EpisodeQuery(**filters).link()
    return f"/runs/{quote(run)}/episodes" + (f"?{query}" if query else "")


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.filters.update(pretty=_pretty, short=_short, number=number, interval=interval)
    env.globals.update(
        episode_url=episode_url,
        episodes_url=episodes_url,
        p_value=p_value,
        is_table=lambda b: isinstance(b, Table),
        is_figure=lambda b: isinstance(b, Figure),
        is_paragraph=lambda b: isinstance(b, Paragraph),
        poll_seconds=POLL_SECONDS,
    )
    return templates


def _token(run: OpenRun) -> str:
    return hashlib.sha256(repr(run.version()).encode()).hexdigest()[:12]


def _partial(request: Request) -> bool:
    """An htmx request for a fragment (a history restore wants the whole page)."""
    headers = request.headers
    return "hx-request" in headers and "hx-history-restore-request" not in headers


class Viewer:
    """The routes over one catalog of runs."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.templates = _templates()

    # -- helpers -----------------------------------------------------------------------------

    def _run(self, request: Request) -> OpenRun:
        try:
            return self.catalog.get(request.path_params["run"])
        except UnknownRun as exc:
            raise HTTPException(404, str(exc)) from exc

    def _judge(self, request: Request, runs: list[OpenRun]) -> str:
        judge = request.query_params.get("judge", CHECKPOINT)
        for run in runs:
            if judge not in run.judges():
                raise HTTPException(
                    404,
                    f"run {run.label} has no judgments by {judge!r}; "
                    f"score it first: valuegym judge {run.path} --judge {judge}",
                )
        return judge

    def _query(self, request: Request) -> EpisodeQuery:
        try:
            return EpisodeQuery.model_validate(dict(request.query_params))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise HTTPException(400, f"bad episodes query: {problems}") from exc

    def page(self, request: Request, name: str, **context: Any) -> Response:
        context.setdefault("runs", list(self.catalog.runs.values()))
        return self.templates.TemplateResponse(request, name, context)

    # -- pages -------------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        rows = []
        for run in self.catalog.runs.values():
            counts = dict(run.query("SELECT status, count(*) FROM idx.episodes GROUP BY status"))
            rows.append((run, counts, run.live()))
        return self.page(request, "home.html", rows=rows)

    def run(self, request: Request) -> Response:
        run = self._run(request)
        judge = self._judge(request, [run])
        run.refresh(judge)
        joined = (
            "FROM idx.episodes e LEFT JOIN scores s ON s.judge = ? AND s.episode_id = e.episode_id"
        )
        counts = {
            "status": dict(run.query("SELECT status, count(*) FROM idx.episodes GROUP BY 1")),
            "outcome": dict(
                run.query(
                    f"SELECT coalesce(s.outcome, 'unjudged'), count(*) {joined} GROUP BY 1",
                    (judge,),
                )
            ),
            "leaning": dict(
                run.query(
                    f"SELECT coalesce(s.leaning, 'none'), count(*) {joined} GROUP BY 1", (judge,)
                )
            ),
        }
        errors = run.query(
            "SELECT error, count(*) AS n FROM idx.episodes WHERE error IS NOT NULL "
            "GROUP BY error ORDER BY n DESC, error LIMIT 20"
        )
        template = "_run_live.html" if _partial(request) else "run.html"
        return self.page(
            request,
            template,
            run=run,
            judge=judge,
            counts=counts,
            errors=errors,
            token=_token(run),
            live=run.live(),
        )

    def run_report(self, request: Request) -> Response:
        run = self._run(request)
        judge = self._judge(request, [run])
        report = run.report(judge)
        document = run_document(report, episodes=False)
        return self.page(
            request, "_report.html", run=run, judge=judge, report=report, document=document
        )

    def episodes(self, request: Request) -> Response:
        run = self._run(request)
        query = self._query(request)
        self._judge(request, [run])
        page = episode_page(run, query)
        if _partial(request):
            return self.page(request, "_episodes_table.html", run=run, page=page, q=query)
        return self.page(
            request,
            "episodes.html",
            run=run,
            page=page,
            q=query,
            choices=filter_choices(run),
            token=_token(run),
            live=run.live(),
        )

    def episode(self, request: Request) -> Response:
        run = self._run(request)
        judge = self._judge(request, [run])
        task_id, sample = request.path_params["task"], request.path_params["sample"]
        try:
            trajectory = run.trajectory(task_id, sample)
        except UnknownEpisode as exc:
            raise HTTPException(404, str(exc)) from exc
        view = episode_view(
            trajectory, run.task(task_id), run.judgment(trajectory.episode_id, judge)
        )
        return self.page(request, "episode.html", run=run, judge=judge, view=view)

    def live(self, request: Request) -> Response:
        """The poller: re-renders its badge, fires `run-changed` when the run moved on, and
        stops polling once the run is complete and nothing changed."""
        run = self._run(request)
        token, live = _token(run), run.live()
        changed = token != request.query_params.get("since")
        was_live = request.query_params.get("live") == "1"
        if not changed and not live and not was_live:
            return Response(status_code=STOP_POLLING)
        count = run.query("SELECT count(*) FROM idx.episodes")[0][0]
        response = self.page(request, "_live.html", run=run, token=token, live=live, episodes=count)
        if changed:
            response.headers["HX-Trigger"] = "run-changed"
        return response

    def _compared(self, request: Request) -> tuple[list[OpenRun], str]:
        slugs = request.query_params.getlist("run") or list(self.catalog.runs)
        try:
            runs = [self.catalog.get(s) for s in slugs]
        except UnknownRun as exc:
            raise HTTPException(404, str(exc)) from exc
        if len(runs) < 2:
            raise HTTPException(400, "a comparison needs at least two runs: pass run=A&run=B")
        return runs, self._judge(request, runs)

    def compare(self, request: Request) -> Response:
        slugs = request.query_params.getlist("run") or list(self.catalog.runs)
        if len(slugs) < 2:
            return self.page(request, "compare.html", chosen=slugs, body=False, judge=CHECKPOINT)
        runs, judge = self._compared(request)
        return self.page(
            request,
            "compare.html",
            chosen=[r.slug for r in runs],
            body=True,
            judge=judge,
            query=urlencode([("run", r.slug) for r in runs] + [("judge", judge)]),
        )

    def compare_body(self, request: Request) -> Response:
        runs, judge = self._compared(request)
        scored = [run.scored(judge) for run in runs]
        report: CompareReport = build_compare(
            [(s.info(run.label), s.rows) for run, s in zip(runs, scored, strict=True)],
            judge,
            Settings(),
        )
        means = [task_means(s.rows) for s in scored]
        episodes = [
            {t: sorted(r.sample for r in s.rows if r.task_id == t) for t in s.config.task_ids}
            for s in scored
        ]
        tasks = sorted({t for s in scored for t in s.config.task_ids})
        by_label = {run.label: run for run in runs}
        return self.page(
            request,
            "_compare.html",
            compared=runs,
            judge=judge,
            report=report,
            document=compare_document(report),
            means=means,
            samples=episodes,
            tasks=tasks,
            task_values={t: _task_values(runs, t) for t in tasks},
            by_label=by_label,
            compared_query=urlencode([("run", r.slug) for r in runs] + [("judge", judge)]),
        )

    def compare_value(self, request: Request) -> Response:
        """The paired tasks behind one value's change: each run's mean and the episodes."""
        runs, judge = self._compared(request)
        value = request.query_params.get("value", "")
        scored = [run.scored(judge) for run in runs]
        means = [task_means(s.rows) for s in scored]
        base = means[0]
        rows = []
        for task in sorted(base):
            if value not in base[task]:
                continue
            for run, other in zip(runs[1:], means[1:], strict=True):
                if value in other.get(task, {}):
                    rows.append(
                        (
                            task,
                            run,
                            base[task][value],
                            other[task][value],
                            other[task][value] - base[task][value],
                        )
                    )
        return self.page(
            request, "_compare_value.html", compared=runs, judge=judge, value=value, rows=rows
        )

    def compare_task(self, request: Request) -> Response:
        """One task in every compared run, side by side: each run's episode step by step."""
        runs, judge = self._compared(request)
        task_id = request.query_params.get("task", "")
        try:
            sample = int(request.query_params.get("sample", "0"))
        except ValueError as exc:
            raise HTTPException(400, "sample: expected a whole number") from exc
        columns = []
        for run in runs:
            try:
                trajectory = run.trajectory(task_id, sample)
            except UnknownEpisode:
                columns.append((run, None))
                continue
            judgment = run.judgment(trajectory.episode_id, judge)
            columns.append((run, episode_view(trajectory, run.task(task_id), judgment)))
        if all(view is None for _, view in columns):
            raise HTTPException(404, f"no compared run has an episode {task_id}#{sample}")
        return self.page(
            request,
            "compare_task.html",
            compared=runs,
            judge=judge,
            task_id=task_id,
            sample=sample,
            columns=columns,
        )

    # -- JSON --------------------------------------------------------------------------------

    def api_runs(self, request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "run": r.slug,
                    "label": r.label,
                    "path": str(r.path),
                    "judges": r.judges(),
                    "live": r.live(),
                    "config": json.loads(r.config.model_dump_json()),
                }
                for r in self.catalog.runs.values()
            ]
        )

    def api_episodes(self, request: Request) -> Response:
        run = self._run(request)
        self._judge(request, [run])
        page = episode_page(run, self._query(request))
        return Response(page.model_dump_json(), media_type="application/json")

    def api_episode(self, request: Request) -> Response:
        run = self._run(request)
        try:
            trajectory = run.trajectory(request.path_params["task"], request.path_params["sample"])
        except UnknownEpisode as exc:
            raise HTTPException(404, str(exc)) from exc
        return Response(trajectory.model_dump_json(), media_type="application/json")

    # -- the app -----------------------------------------------------------------------------

    async def not_found(self, request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return self.templates.TemplateResponse(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.detail, "runs": []},
            status_code=exc.status_code,
        )

    def app(self) -> Starlette:
        episode = "/runs/{run}/episodes/{task}/{sample:int}"
        routes = [
            Route("/", self.home),
            Route("/runs/{run}", self.run),
            Route("/runs/{run}/report", self.run_report),
            Route("/runs/{run}/live", self.live),
            Route("/runs/{run}/episodes", self.episodes),
            Route(episode, self.episode),
            Route("/compare", self.compare),
            Route("/compare/body", self.compare_body),
            Route("/compare/value", self.compare_value),
            Route("/compare/task", self.compare_task),
            Route("/api/runs", self.api_runs),
            Route("/api/runs/{run}/episodes", self.api_episodes),
            Route("/api" + episode, self.api_episode),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        app = Starlette(routes=routes, exception_handlers={HTTPException: self.not_found})
        app.add_middleware(ServerTiming)
        return app


class ServerTiming:
    """Adds `Server-Timing: app;dur=<ms>` to every response: the time spent answering it here,
    before any byte went out (what `benchmarks/viewer.py` reports)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"server-timing", f"app;dur={ms:.1f}".encode()),
                ]
            await send(message)

        await self.app(scope, receive, timed)


def _task_values(runs: list[OpenRun], task_id: str) -> tuple[str, str]:
    for run in runs:
        task = run.task(task_id)
        if task:
            return task.poles["a"].value.name, task.poles["b"].value.name
    return "", ""


def viewer_app(catalog: Catalog) -> Starlette:
    return Viewer(catalog).app()
