"""The viewer's HTTP app, through starlette's test client (the browser tests drive it for real)."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from tests.viewer.conftest import BROKEN_TASK
from trajectories.journal import JOURNAL, Journal, read_journal
from trajectories.viewer.app import STOP_POLLING, viewer_app
from trajectories.viewer.catalog import Catalog


@pytest.fixture(scope="module")
def client(view_runs):
    catalog = Catalog.open([view_runs["mixed"].parent])
    with TestClient(viewer_app(catalog)) as client:
        yield client
    catalog.close()


def test_the_runs_page_lists_every_run_with_its_end_statuses(client):
    page = client.get("/").text
    for name in ("golden-a", "golden-b", "mixed"):
        assert f'href="/runs/{name}"' in page
    assert "error 1" in page and "/runs/mixed/episodes?status=error" in page


def test_a_run_page_links_its_counts_and_error_reasons_to_episodes(client):
    page = client.get("/runs/mixed").text
    assert "the model endpoint went away" in page
    assert 'href="/runs/mixed/episodes?status=error"' in page
    report = client.get("/runs/mixed/report")
    assert report.status_code == 200
    assert "Value adherence" in report.text and "<svg" in report.text  # the report's own plots
    assert re.search(r'href="/runs/mixed/episodes\?value=[^"]+"', report.text)


def test_the_episodes_table_answers_a_fragment_to_htmx_and_a_page_otherwise(client, bundled_tasks):
    full = client.get("/runs/mixed/episodes", params={"status": "error"})
    assert full.status_code == 200 and "<html" in full.text and 'id="filters"' in full.text
    fragment = client.get(
        "/runs/mixed/episodes", params={"status": "error"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in fragment.text
    assert f"1 of {len(bundled_tasks)} episodes match" in fragment.text
    assert f"/runs/mixed/episodes/{BROKEN_TASK}/0" in fragment.text
    assert "server-timing" in fragment.headers


def test_an_episode_page_shows_steps_golden_paths_checkpoints_and_evidence(client, view_runs):
    trajectory = next(iter(read_journal(view_runs["golden-a"])))
    page = client.get(f"/runs/golden-a/episodes/{trajectory.task_id}/0").text
    assert "Golden paths side by side" in page
    for entry in trajectory.tool_log:
        assert f'id="step-{entry.step}"' in page
    assert 'class="evidence-step" href="#step-' in page
    assert "✓" in page  # a satisfied checkpoint marked on its step


def test_bad_requests_say_what_is_wrong(client):
    assert client.get("/runs/nope").status_code == 404
    missing = client.get("/runs/mixed/episodes/no-such-task/0")
    assert missing.status_code == 404 and "no episode no-such-task#0" in missing.text
    bad = client.get("/runs/mixed/episodes", params={"sort": "bogus"})
    assert bad.status_code == 400 and "sort" in bad.text
    judge = client.get("/runs/mixed", params={"judge": "rubric:nobody"})
    assert judge.status_code == 404 and "valuegym judge" in judge.text
    api = client.get("/api/runs/nope/episodes")
    assert api.status_code == 404 and api.json()["error"]


def test_the_json_api_pages_episodes(client, bundled_tasks):
    page = client.get("/api/runs/mixed/episodes", params={"per_page": 5, "sort": "score_a"}).json()
    assert page["total"] == len(bundled_tasks) and len(page["rows"]) == 5
    one = page["rows"][0]
    record = client.get(f"/api/runs/mixed/episodes/{one['task_id']}/{one['sample']}").json()
    assert record["episode_id"] == one["episode_id"] and record["tool_log"] is not None


def test_the_live_poller_fires_when_an_episode_lands_and_stops_when_the_run_is_done(run_copy):
    run_dir = run_copy("golden-b")
    records = list(read_journal(run_dir))
    (run_dir / JOURNAL).write_bytes(b"")
    catalog = Catalog.open([run_dir])
    with TestClient(viewer_app(catalog)) as client, Journal(run_dir) as journal:
        first = client.get("/runs/golden-b/live", params={"since": "x"})
        assert first.headers.get("hx-trigger") == "run-changed" and "live" in first.text
        token = re.search(r"since=(\w+)", first.text).group(1)
        same = client.get("/runs/golden-b/live", params={"since": token})
        assert same.status_code == 200 and "hx-trigger" not in same.headers  # live, no news
        journal.append(records[0])
        moved = client.get("/runs/golden-b/live", params={"since": token})
        assert moved.headers.get("hx-trigger") == "run-changed"
        token = re.search(r"since=(\w+)", moved.text).group(1)
    with TestClient(viewer_app(catalog)) as client:
        done = client.get("/runs/golden-b/live", params={"since": token})
        assert done.status_code == STOP_POLLING
    catalog.close()


def test_compare_pairs_runs_task_by_task_with_links_down_to_episodes(client):
    body = client.get("/compare/body", params=[("run", "golden-a"), ("run", "golden-b")]).text
    assert "golden-b vs golden-a" in body and 'id="task-table"' in body
    assert re.search(r'href="/runs/golden-b/episodes/[^"/]+/0"', body)
    value = re.search(r"value=([^&\"]+)\"", body)
    paired = client.get(
        "/compare/value",
        params=[("run", "golden-a"), ("run", "golden-b"), ("value", "Care")],
    ).text
    assert "/runs/golden-a/episodes?task=" in paired and value
    assert client.get("/compare", params={"run": "golden-a"}).status_code == 200
    assert client.get("/compare/body", params={"run": "golden-a"}).status_code == 400


def test_one_task_side_by_side_shows_each_runs_steps(client, view_runs):
    trajectory = next(iter(read_journal(view_runs["golden-b"])))
    params = [("run", "golden-a"), ("run", "golden-b"), ("task", trajectory.task_id)]
    page = client.get("/compare/task", params=params).text
    assert 'id="column-golden-a"' in page and 'id="column-golden-b"' in page
    for entry in trajectory.tool_log:
        assert f"/runs/golden-b/episodes/{trajectory.task_id}/0#step-{entry.step}" in page
    missing = client.get("/compare/task", params=[*params[:2], ("task", "nope")])
    assert missing.status_code == 404


def test_text_from_the_agent_is_shown_never_run(run_copy):
    run_dir = run_copy("golden-a")
    records = list(read_journal(run_dir))
    hostile = records[0].model_copy(update={"final_answer": "<script>alert('x')</script>done"})
    (run_dir / JOURNAL).write_text(
        "".join(r.model_dump_json() + "\n" for r in [hostile, *records[1:]]), encoding="utf-8"
    )
    catalog = Catalog.open([run_dir])
    with TestClient(viewer_app(catalog)) as client:
        page = client.get(f"/runs/golden-a/episodes/{hostile.task_id}/0").text
    catalog.close()
    assert "&lt;script&gt;alert(" in page and "<script>alert(" not in page
