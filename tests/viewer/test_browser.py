"""The viewer in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

One server and one browser serve the whole module. Each test walks the pages a researcher
would and checks what they show; screenshots of every view are saved under
`test-artifacts/viewer/` (or `$VALUEGYM_TEST_ARTIFACTS`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from judges.store import read_judgments
from trajectories.journal import INDEX, JOURNAL, Journal, read_journal
from trajectories.viewer.app import viewer_app
from trajectories.viewer.catalog import Catalog
from valuegym.loopback import LoopbackServer

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api")
WAIT_MS = 90_000  # the report and the comparison compute bootstrap intervals on 2 busy cores
ARTIFACTS = (
    Path(os.environ.get("VALUEGYM_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
    / "viewer"
)


def chromium() -> str:
    found = os.environ.get("VALUEGYM_CHROMIUM") or shutil.which("chromium")
    if not found:
        message = "no chromium on PATH (apt-get install chromium), nor $VALUEGYM_CHROMIUM"
        if os.environ.get("CI") or os.environ.get("VALUEGYM_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def live_run(view_runs, tmp_path_factory) -> tuple[Path, list]:
    """A copy of golden-b emptied, to be journaled again while the browser watches."""
    run_dir = shutil.copytree(view_runs["golden-b"], tmp_path_factory.mktemp("live") / "live")
    records = list(read_journal(run_dir))
    (run_dir / JOURNAL).write_bytes(b"")
    (run_dir / INDEX).unlink()
    shutil.rmtree(run_dir / "judgments")
    return run_dir, records


@pytest.fixture(scope="module")
def base_url(view_runs, live_run):
    catalog = Catalog.open(
        [view_runs[n] for n in ("golden-a", "golden-b", "mixed")] + [live_run[0]]
    )
    with LoopbackServer(viewer_app(catalog)) as server:
        yield server.url
    catalog.close()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    sync_api.expect.set_options(timeout=WAIT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page, name: str, selector: str | None = None) -> None:
    if selector:
        page.locator(selector).first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_run_to_episode_to_golden_paths_and_judge_evidence(page, view_runs, bundled_tasks):
    expect = sync_api.expect
    n = len(bundled_tasks)
    stored = read_judgments(view_runs["mixed"], "checkpoint").values()
    leaning_a = sum(j.leaning == "a" for j in stored)
    page.goto("/")
    expect(page.locator("#runs")).to_contain_text("mixed")
    shot(page, "runs")
    page.get_by_role("link", name="mixed", exact=True).click()
    expect(page.locator("h1")).to_have_text("Run mixed")
    expect(page.locator("#coverage")).to_contain_text("error 1")
    expect(page.locator("#errors")).to_contain_text("the model endpoint went away")
    expect(page.locator("#report")).to_contain_text("Value adherence")
    expect(page.locator("#report svg").first).to_be_visible()
    shot(page, "run")

    # the episodes table: filter to the error, then to episodes leaning A
    page.get_by_role("link", name="Episodes", exact=True).click()
    expect(page.locator("#match-count")).to_contain_text(f"{n} of {n} episodes match")
    page.locator("select[name=status]").select_option("error")
    expect(page.locator("#match-count")).to_contain_text(f"1 of {n} episodes match")
    assert "status=error" in page.url  # the filter is in the URL: reload or share it
    expect(page.locator("#episode-table")).to_contain_text("the model endpoint went away")
    shot(page, "episodes-filtered")
    page.locator("select[name=status]").select_option("")
    page.locator("select[name=leaning]").select_option("a")
    expect(page.locator("#match-count")).to_contain_text(f"{leaning_a} of {n} episodes match")
    rows = page.locator("#episode-table tbody tr")
    expect(rows.first.locator(".badge.leaning-a")).to_be_visible()
    count = rows.count()
    assert count and all(rows.nth(i).locator(".badge.leaning-a").count() == 1 for i in range(count))
    # sort by the score of pole B, highest first
    page.locator("#episode-table th a", has_text="score B").click()
    expect(page.locator("#episode-table th a.active")).to_contain_text("score B")
    page.locator("#episode-table th a", has_text="score B").click()
    expect(page.locator("#episode-table th a.active")).to_contain_text("▼")
    scores = [
        float(s) for s in page.locator("#episode-table tbody td:nth-child(6)").all_inner_texts()
    ]
    assert scores == sorted(scores, reverse=True)
    shot(page, "episodes")

    # one episode: steps, golden paths side by side, judge evidence linked to steps
    first = rows.first.locator("a.episode-link")
    episode_id = first.inner_text()
    first.click()
    expect(page.locator("#episode-title")).to_have_text(episode_id)
    expect(page.locator("#verdict")).to_contain_text("leans A")
    steps = page.locator("li.turn.step")
    assert steps.count() > 0
    expect(page.locator("li.turn.step .mark.satisfied").first).to_be_visible()
    shot(page, "episode")
    page.get_by_role("link", name="Golden paths", exact=True).click()
    golden = page.locator("#golden-table tbody tr")
    assert golden.count() >= steps.count()
    agent_cells = page.locator("#golden-table td.agent-cell a")
    assert agent_cells.count() == steps.count()  # every agent call has its row
    expect(page.locator("#golden-table td.golden-cell.pole-a.match-same").first).to_be_visible()
    shot(page, "golden")
    evidence = page.locator("#items-a a.evidence-step").first
    target = evidence.get_attribute("href")
    evidence.click()
    assert page.url.endswith(target)
    step = page.locator(target)
    expect(step).to_be_in_viewport()
    expect(step.locator(".evidence.pole-a")).to_be_visible()  # the step cites the item back
    shot(page, "judge-evidence")


def test_paging_through_episodes(page, bundled_tasks):
    expect = sync_api.expect
    pages = -(-len(bundled_tasks) // 10)
    page.goto("/runs/golden-a/episodes?per_page=10")
    expect(page.locator("#match-count")).to_contain_text(f"page 1 of {pages}")
    first_page = page.locator("#episode-table tbody a.episode-link").all_inner_texts()
    page.get_by_role("link", name="next ›").first.click()
    expect(page.locator("#match-count")).to_contain_text(f"page 2 of {pages}")
    second_page = page.locator("#episode-table tbody a.episode-link").all_inner_texts()
    assert len(second_page) == 10 and not set(first_page) & set(second_page)
    page.go_back()
    expect(page.locator("#match-count")).to_contain_text(f"page 1 of {pages}")


def test_compare_links_down_to_an_episode(page, bundled_tasks):
    expect = sync_api.expect
    page.goto("/")
    page.locator("input[name=run][value=golden-a]").check()
    page.locator("input[name=run][value=golden-b]").check()
    page.get_by_role("button", name="Compare the checked runs").click()
    expect(page.locator("#task-table")).to_be_visible()
    expect(page.locator("#deltas-1 caption")).to_contain_text("golden-b vs golden-a")
    shot(page, "compare")
    # a value's change opens into its paired tasks, each linking to both runs' episodes
    details = page.locator("#deltas-1 details").first
    details.locator("summary").click()
    paired = details.locator("table.paired-tasks")
    expect(paired).to_be_visible()
    link = paired.locator("a", has_text="golden-b").first
    task = link.get_attribute("href").split("task=")[1].split("&")[0]
    link.click()
    one_of_all = f"1 of {len(bundled_tasks)} episodes match"
    expect(page.locator("#match-count")).to_contain_text(one_of_all)
    page.locator("#episode-table a.episode-link").first.click()
    expect(page.locator("#episode-title")).to_have_text(f"{task}#0")
    expect(page.locator(".crumbs")).to_contain_text("golden-b")
    # a task of the side-by-side table opens both runs' episodes of it in columns
    page.go_back()
    page.go_back()
    expect(page.locator("#task-table")).to_be_visible()
    task_link = page.locator("#task-table a.task-link").first
    task = task_link.inner_text()
    task_link.click()
    expect(page.locator("#task-title")).to_contain_text(f"{task}#0 in 2 runs")
    for run in ("golden-a", "golden-b"):
        expect(page.locator(f"#column-{run} ol.compact-steps li").first).to_be_visible()
    expect(page.locator("#column-golden-a")).to_contain_text("leans A")
    shot(page, "compare-task")
    page.locator("#column-golden-b a.episode-link").click()
    expect(page.locator("#episode-title")).to_have_text(f"{task}#0")
    expect(page.locator(".crumbs")).to_contain_text("golden-b")


def test_a_run_being_journaled_updates_the_open_page(page, live_run):
    expect = sync_api.expect
    run_dir, records = live_run
    page.goto("/runs/live/episodes")
    expect(page.locator("#match-count")).to_contain_text("0 of 0 episodes match")
    with Journal(run_dir) as journal:
        expect(page.locator("#live")).to_contain_text("live")
        for record in records[:3]:
            journal.append(record)
        expect(page.locator("#match-count")).to_contain_text("3 of 3 episodes match")
        journal.append(records[3])
        expect(page.locator("#match-count")).to_contain_text("4 of 4 episodes match")
        shot(page, "live")
    expect(page.locator("#live")).to_contain_text("run complete")
    assert page.locator("#episode-table tbody a.episode-link").count() == 4
