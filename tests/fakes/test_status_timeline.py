"""The status page's timeline (drawn from the run's recorded events), titles and the fake GitHub's run page."""

from __future__ import annotations

import pytest
import requests

from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.meshstack import FakeMeshStack
from meshpipe.fakes.status_page import render_status_page
from meshpipe.fakes.status_timeline import Row, build_timeline, format_seconds
from tests.fakes.status_support import github_run_url, report, showcase_run


def _rows(fake: FakeMeshStack) -> dict[str, Row]:
    run = showcase_run(fake, "https://github.example/acme/infra/actions/runs/1", "1")
    return {f"{row.kind}:{row.ident}": row for row in build_timeline(run, now=run.created_at + 100).rows}


def test_run_records_registrations_updates_and_aborts_with_their_times(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token("status-page-token")
    run = fake_meshstack.create_run()
    report(run, "github", {"source": {"id": "github"}, "steps": [{"id": "a", "displayName": "A"}]}, register=True)
    report(run, "github", {"steps": [{"id": "a", "status": "IN_PROGRESS"}]})
    fake_meshstack.set_aborted(run.uuid)
    assert [(e["kind"], e["sourceId"]) for e in run.events] == [("register", "github"), ("update", "github"),
                                                                 ("abort", None)]  # fmt: skip
    times = [e["at"] for e in run.events]
    assert run.created_at <= times[0] <= times[1] <= times[2]
    assert run.events[1]["body"] == {"steps": [{"id": "a", "status": "IN_PROGRESS"}]}
    assert run.updates == [{"steps": [{"id": "a", "status": "IN_PROGRESS"}], "sourceId": "github"}]  # unchanged


def test_step_bar_runs_from_in_progress_to_its_terminal_report(fake_meshstack: FakeMeshStack) -> None:
    plan = _rows(fake_meshstack)["step:plan"]  # IN_PROGRESS at 2.6 s, SUCCEEDED at 5.0 s of 8.0 s
    assert plan.bar is not None
    assert (plan.bar.left, plan.bar.width, plan.bar.status) == (32.5, 30.0, "SUCCEEDED")
    assert plan.note == "2.4 s"
    assert plan.bar.title == "Plan: SUCCEEDED, +2.6 s to +5.0 s (2.4 s)"


def test_step_reported_done_at_once_starts_at_its_sources_previous_report(fake_meshstack: FakeMeshStack) -> None:
    rows = _rows(fake_meshstack)
    checkout, cleanup = rows["step:checkout"].bar, rows["step:cleanup"].bar
    assert checkout is not None and cleanup is not None
    assert (checkout.left, checkout.width) == (12.5, 18.75)  # registered at 1.0 s, SUCCEEDED at 2.5 s
    assert (cleanup.left, cleanup.width, cleanup.status) == (25.0, 50.0, "ABORTED")  # runner's last report: 2.0 s


def test_open_source_and_its_running_step_reach_the_end_and_pending_steps_have_no_bar(
    fake_meshstack: FakeMeshStack,
) -> None:
    rows = _rows(fake_meshstack)
    execute, source = rows["step:execute"], rows["source:runner"]
    assert execute.bar is not None and source.bar is not None
    assert execute.bar.left + execute.bar.width == 100.0  # the run FAILED at 8.0 s: the axis ends there, not now
    assert (execute.note, source.note, source.status) == ("6.0 s so far", "7.8 s so far", "IN_PROGRESS")
    assert rows["step:notify"].bar is None and rows["step:notify"].note == "not started"
    assert rows["source:github"].bar is not None and rows["source:github"].bar.status == "FAILED"


def test_axis_grows_with_the_clock_while_the_run_is_in_progress(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token("status-page-token")
    run = fake_meshstack.create_run()
    report(run, "github", {"source": {"id": "github"}, "steps": [{"id": "a", "displayName": "A"}]}, register=True)
    report(run, "github", {"steps": [{"id": "a", "status": "IN_PROGRESS"}]})
    run.events[0]["at"], run.events[1]["at"] = run.created_at, run.created_at + 5
    timeline = build_timeline(run, now=run.created_at + 10)
    step = timeline.rows[1]
    assert step.bar is not None and (step.bar.left, step.bar.width, step.note) == (50.0, 50.0, "5.0 s so far")
    assert timeline.total == "10.0 s"
    assert [t.label for t in timeline.ticks] == ["0", "2 s", "4 s", "6 s", "8 s", "10 s"]
    assert timeline.stop_left is None


def test_the_stop_marker_names_the_first_failed_or_aborted_step(fake_meshstack: FakeMeshStack) -> None:
    run = showcase_run(fake_meshstack, "https://github.example/acme/infra/actions/runs/1", "1")
    timeline = build_timeline(run, now=run.created_at + 100)
    assert (timeline.stop_left, timeline.stop_label) == (75.0, "stopped at +6.0 s: step cleanup of runner ABORTED")


@pytest.mark.parametrize(("seconds", "text"), [(0.35, "350 ms"), (4.24, "4.2 s"), (125, "2 min 05 s")])
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_a_run_without_display_name_is_titled_after_its_building_block(fake_meshstack: FakeMeshStack) -> None:
    """Issue 9.13: ``create_run()`` without a display name made a run called "team-bucket", the example's name."""
    run = fake_meshstack.create_run()
    page = requests.get(f"{fake_meshstack.url}/", timeout=5).text
    assert f"building block {run.building_block_uuid[:8]}" in page
    assert "team-bucket" not in page


def test_timeline_values_are_escaped(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token("status-page-token")
    run = fake_meshstack.create_run(display_name="x")
    steps = [{"id": "s", "displayName": '"><img src=x onerror=alert(1)>'}]
    report(run, "src", {"source": {"id": "src"}, "steps": steps}, register=True)
    report(run, "src", {"steps": [{"id": "s", "status": "FAILED"}], "status": "FAILED"})
    page = render_status_page([run], base_url=fake_meshstack.url)
    assert "<img" not in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;: FAILED" in page  # the bar's title attribute


def test_github_run_page_answers_at_the_runs_html_url(fake_github: FakeGitHub) -> None:
    """Issue 9.13: the status page's "external run" link (the run's ``html_url``) led to the fake GitHub's 404."""
    url, run_id = github_run_url(fake_github)
    page = requests.get(url, timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "apply orders-1" in page.text and "failure" in page.text and "<script" not in page.text
    assert requests.get(url.replace(run_id, "99"), timeout=5).status_code == 404
    assert requests.get(url.replace("acme/infra", "acme/other"), timeout=5).status_code == 404


def test_github_run_page_escapes_inputs(fake_github: FakeGitHub) -> None:
    from tests.fakes.test_github_runs import dispatch, setup

    setup(fake_github)
    run_id = dispatch(fake_github, correlation_id="<script>alert(1)</script>")
    page = requests.get(fake_github.run(run_id).html_url, timeout=5).text
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_sources_summary_is_shown_escaped(fake_meshstack: FakeMeshStack) -> None:
    fake_meshstack.add_api_token("status-page-token")
    run = fake_meshstack.create_run(display_name="x")
    report(run, "github", {"source": {"id": "github"}, "steps": []}, register=True)
    report(run, "github", {"summary": "## Result\n<b>orders_db</b> created"})
    page = requests.get(f"{fake_meshstack.url}/", timeout=5).text
    assert "## Result\n&lt;b&gt;orders_db&lt;/b&gt; created" in page
