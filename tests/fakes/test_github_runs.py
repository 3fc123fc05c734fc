"""Fake GitHub: simulated runs (lifecycle, list/get/cancel/jobs) and the workflow body as a command."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from meshpipe.fakes.github import FakeGitHub
from tests.fakes.test_github_dispatch import DISPATCH, TOKEN, call

RUNS = "/repos/acme/infra/actions/workflows/apply.yml/runs"


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def setup(fake: FakeGitHub, **kw: Any) -> None:
    fake.add_token(TOKEN)
    fake.add_repository("acme/infra", branches=("main", "dev"))
    fake.add_workflow(
        "acme/infra",
        "apply.yml",
        name="Apply",
        inputs={"correlation_id": {"type": "string"}, "buildingBlockRunUrl": {"type": "string"}},
        run_name="apply ${{ inputs.correlation_id }}",
        **kw,
    )


def dispatch(fake: FakeGitHub, ref: str = "main", **inputs: str) -> int:
    response = call(fake, "POST", DISPATCH, json={"ref": ref, "inputs": inputs})
    assert response.status_code == 204, response.text
    return fake.dispatches[-1].run_id or 0


def get_run(fake: FakeGitHub, run_id: int) -> dict[str, Any]:
    response = call(fake, "GET", f"/repos/acme/infra/actions/runs/{run_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


# -- lifecycle ----------------------------------------------------------------------------------------------------
def test_run_goes_queued_then_in_progress_then_completed_with_the_configured_conclusion(
    fake_github: FakeGitHub,
) -> None:
    setup(fake_github, duration=0.6, conclusion="failure")
    run_id = dispatch(fake_github, correlation_id="c-1")
    seen = [get_run(fake_github, run_id)["status"]]
    wait_for(lambda: seen.append(get_run(fake_github, run_id)["status"]) or seen[-1] == "completed")  # type: ignore[func-returns-value]
    order = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert order == ["queued", "in_progress", "completed"]
    body = get_run(fake_github, run_id)
    assert body["conclusion"] == "failure"
    assert body["display_title"] == "apply c-1"
    assert body["event"] == "workflow_dispatch" and body["head_branch"] == "main" and body["run_attempt"] == 1
    assert body["name"] == "Apply" and body["path"] == ".github/workflows/apply.yml"
    assert body["html_url"] == f"{fake_github.html_url}/acme/infra/actions/runs/{run_id}"
    assert body["url"] == f"{fake_github.api_url}/repos/acme/infra/actions/runs/{run_id}"
    for key in ("created_at", "updated_at"):
        assert datetime.strptime(body[key], "%Y-%m-%dT%H:%M:%SZ")


def test_conclusion_is_null_until_completed(fake_github: FakeGitHub) -> None:
    setup(fake_github, duration=None)
    run_id = dispatch(fake_github)
    body = get_run(fake_github, run_id)
    assert body["status"] == "queued" and body["conclusion"] is None


def test_run_without_duration_stays_queued_until_complete_run(fake_github: FakeGitHub) -> None:
    setup(fake_github, duration=None)
    run_id = dispatch(fake_github)
    time.sleep(0.1)
    assert fake_github.run(run_id).status == "queued"
    fake_github.complete_run(run_id, "timed_out")
    body = get_run(fake_github, run_id)
    assert (body["status"], body["conclusion"]) == ("completed", "timed_out")
    with pytest.raises(ValueError, match="already completed"):
        fake_github.complete_run(run_id)


def test_control_plane_completes_runs_and_lists_them(fake_github: FakeGitHub) -> None:
    setup(fake_github, duration=None)
    run_id = dispatch(fake_github, correlation_id="cp")
    done = requests.post(
        f"{fake_github.url}/_fake/runs/{run_id}/complete",
        json={"conclusion": "failure"},
        headers=fake_github.control_headers(),
        timeout=10,
    )
    assert done.status_code == 200 and done.json()["conclusion"] == "failure"
    runs = requests.get(f"{fake_github.url}/_fake/runs", headers=fake_github.control_headers(), timeout=10).json()
    assert [(r["id"], r["display_title"]) for r in runs] == [(run_id, "apply cp")]
    again = requests.post(
        f"{fake_github.url}/_fake/runs/{run_id}/complete", json={}, headers=fake_github.control_headers(), timeout=10
    )
    assert again.status_code == 409
    dispatches = requests.get(
        f"{fake_github.url}/_fake/dispatches", headers=fake_github.control_headers(), timeout=10
    ).json()
    assert dispatches[0]["run_id"] == run_id and dispatches[0]["inputs"] == {"correlation_id": "cp"}


def test_cancel_completes_a_running_run_as_cancelled(fake_github: FakeGitHub) -> None:
    setup(fake_github, duration=None)
    run_id = dispatch(fake_github)
    response = call(fake_github, "POST", f"/repos/acme/infra/actions/runs/{run_id}/cancel")
    assert response.status_code == 202 and response.json() == {}
    assert (fake_github.run(run_id).status, fake_github.run(run_id).conclusion) == ("completed", "cancelled")


def test_cancel_of_a_completed_run_answers_409(fake_github: FakeGitHub) -> None:
    setup(fake_github, duration=0)
    run_id = dispatch(fake_github)
    response = call(fake_github, "POST", f"/repos/acme/infra/actions/runs/{run_id}/cancel")
    assert response.status_code == 409
    assert response.json()["status"] == "409"


def test_unknown_run_answers_404(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    assert call(fake_github, "GET", "/repos/acme/infra/actions/runs/999").status_code == 404


def test_jobs_of_a_run_lists_one_job_following_the_run(fake_github: FakeGitHub) -> None:
    setup(fake_github, duration=0)
    run_id = dispatch(fake_github)
    body = call(fake_github, "GET", f"/repos/acme/infra/actions/runs/{run_id}/jobs").json()
    assert body["total_count"] == 1
    [job] = body["jobs"]
    assert (job["run_id"], job["status"], job["conclusion"]) == (run_id, "completed", "success")


def test_get_workflow_by_file_or_id(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    by_file = call(fake_github, "GET", "/repos/acme/infra/actions/workflows/apply.yml").json()
    by_id = call(fake_github, "GET", f"/repos/acme/infra/actions/workflows/{by_file['id']}").json()
    assert by_file == by_id
    assert by_file["path"] == ".github/workflows/apply.yml" and by_file["state"] == "active"
    assert call(fake_github, "GET", "/repos/acme/infra/actions/workflows/none.yml").status_code == 404


# -- listing ------------------------------------------------------------------------------------------------------
def test_list_runs_is_newest_first_with_total_count(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    ids = [dispatch(fake_github, correlation_id=str(i)) for i in range(3)]
    body = call(fake_github, "GET", RUNS).json()
    assert body["total_count"] == 3
    assert [r["id"] for r in body["workflow_runs"]] == ids[::-1]


def test_repository_level_run_list_includes_every_workflow_of_the_repository(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    fake_github.add_workflow("acme/infra", "other.yml", repository_dispatch_types=["deploy"], workflow_dispatch=False)
    first = dispatch(fake_github, correlation_id="c-1")
    response = call(fake_github, "POST", "/repos/acme/infra/dispatches", json={"event_type": "deploy"})
    assert response.status_code == 204, response.text
    listed = call(fake_github, "GET", "/repos/acme/infra/actions/runs", params={"event": "repository_dispatch"})
    assert listed.status_code == 200, listed.text
    assert [run["event"] for run in listed.json()["workflow_runs"]] == ["repository_dispatch"]
    everything = call(fake_github, "GET", "/repos/acme/infra/actions/runs").json()
    assert everything["total_count"] == 2
    assert first in [run["id"] for run in everything["workflow_runs"]]


def test_list_runs_filters_by_branch_event_and_status(fake_github: FakeGitHub) -> None:
    setup(fake_github, duration=None)
    on_main = dispatch(fake_github)
    on_dev = dispatch(fake_github, ref="dev")
    fake_github.complete_run(on_dev, "failure")

    def ids(query: str) -> list[int]:
        return [r["id"] for r in call(fake_github, "GET", f"{RUNS}?{query}").json()["workflow_runs"]]

    assert ids("branch=dev") == [on_dev]
    assert ids("event=workflow_dispatch") == [on_dev, on_main]
    assert ids("event=repository_dispatch") == []
    assert ids("status=queued") == [on_main]
    assert ids("status=completed") == [on_dev]
    assert ids("status=failure") == [on_dev]


def test_list_runs_rejects_unknown_status(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    assert call(fake_github, "GET", f"{RUNS}?status=bogus").status_code == 422


def test_list_runs_paginates_with_per_page_capped_at_100(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    ids = [dispatch(fake_github) for _ in range(5)][::-1]
    page1 = call(fake_github, "GET", f"{RUNS}?per_page=2&page=1").json()
    page3 = call(fake_github, "GET", f"{RUNS}?per_page=2&page=3").json()
    assert [r["id"] for r in page1["workflow_runs"]] == ids[:2]
    assert [r["id"] for r in page3["workflow_runs"]] == ids[4:]
    assert page1["total_count"] == 5
    assert len(call(fake_github, "GET", f"{RUNS}?per_page=500").json()["workflow_runs"]) == 5


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_list_runs_filters_by_created_with_github_date_syntax(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    run_id = dispatch(fake_github)
    created = datetime.strptime(get_run(fake_github, run_id)["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    before, after = created - timedelta(minutes=5), created + timedelta(minutes=5)

    def count(expression: str) -> int:
        response = call(fake_github, "GET", RUNS, params={"created": expression})
        assert response.status_code == 200, response.text
        return int(response.json()["total_count"])

    assert count(f">={_stamp(created)}") == 1
    assert count(f">{_stamp(created)}") == 0
    assert count(f">={_stamp(after)}") == 0
    assert count(f"<{_stamp(after)}") == 1
    assert count(f"<={_stamp(before)}") == 0
    assert count(f"{_stamp(before)}..{_stamp(after)}") == 1
    assert count(f"{_stamp(after)}..*") == 0
    assert count(f"*..{_stamp(after)}") == 1
    assert count(created.strftime("%Y-%m-%d")) == 1
    assert count(f">={created:%Y-%m-%d}") == 1
    assert count(f">={_stamp(before)[:-1]}+00:00") == 1
    assert call(fake_github, "GET", RUNS, params={"created": ">=yesterday"}).status_code == 422


def test_ghes_lists_and_gets_runs_under_api_v3(fake_ghes: FakeGitHub) -> None:
    setup(fake_ghes)
    run_id = dispatch(fake_ghes, correlation_id="g-1")
    listed = call(fake_ghes, "GET", f"{RUNS}?event=workflow_dispatch&branch=main").json()
    assert [r["display_title"] for r in listed["workflow_runs"]] == ["apply g-1"]
    assert get_run(fake_ghes, run_id)["url"].startswith(fake_ghes.url + "/api/v3/repos/acme/infra/actions/runs/")


# -- the workflow body as a command -------------------------------------------------------------------------------
SCRIPT = """
import json, os, sys
event = json.load(open(os.environ["GITHUB_EVENT_PATH"]))
print("inputs", json.dumps(event["inputs"], sort_keys=True))
names = ["GITHUB_ACTIONS", "GITHUB_EVENT_NAME", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_REPOSITORY",
         "GITHUB_REF_NAME", "GITHUB_WORKFLOW", "GITHUB_SERVER_URL", "GITHUB_API_URL", "SECRET_FROM_ENV"]
for name in names:
    print(name, os.environ.get(name))
for name in ["RUNNER_TEMP", "GITHUB_WORKSPACE"]:
    print(name, os.path.isdir(os.environ[name]))
for name in ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV"]:
    print(name, os.path.isfile(os.environ[name]), os.path.dirname(os.environ[name]) == os.environ["RUNNER_TEMP"])
print("HOST_ONLY", os.environ.get("MESHPIPE_HOST_ONLY_CANARY"))
print("to stderr", file=sys.stderr)
sys.exit(int(event["inputs"].get("code") or 0))
"""


def setup_command(fake: FakeGitHub, script: str = SCRIPT) -> None:
    fake.add_token(TOKEN)
    fake.add_workflow(
        "acme/infra",
        "apply.yml",
        name="Apply",
        inputs={"code": {"type": "string"}, "buildingBlockRunUrl": {"type": "string"}},
        command=[sys.executable, "-c", script],
        env={"SECRET_FROM_ENV": "s3cr3t"},
    )


def test_command_body_exit_0_concludes_success_with_runner_environment(
    fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPIPE_HOST_ONLY_CANARY", "leak")
    setup_command(fake_github)
    run_id = dispatch(fake_github, code="0", buildingBlockRunUrl="http://ms/run/1")
    run = fake_github.run(run_id)
    wait_for(lambda: run.status == "completed")
    assert run.conclusion == "success"
    lines = dict(line.split(" ", 1) for line in run.log.splitlines() if " " in line)
    assert json.loads(lines["inputs"]) == {"buildingBlockRunUrl": "http://ms/run/1", "code": "0"}
    assert lines["GITHUB_ACTIONS"] == "true"
    assert lines["GITHUB_EVENT_NAME"] == "workflow_dispatch"
    assert lines["GITHUB_RUN_ID"] == str(run_id)
    assert lines["GITHUB_RUN_ATTEMPT"] == "1"
    assert lines["GITHUB_REPOSITORY"] == "acme/infra"
    assert lines["GITHUB_REF_NAME"] == "main"
    assert lines["GITHUB_WORKFLOW"] == "Apply"
    assert lines["GITHUB_SERVER_URL"] == fake_github.html_url
    assert lines["GITHUB_API_URL"] == fake_github.api_url
    assert lines["SECRET_FROM_ENV"] == "s3cr3t"
    assert lines["RUNNER_TEMP"] == "True" and lines["GITHUB_WORKSPACE"] == "True"
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV"):
        assert lines[name] == "True True"
    assert lines["HOST_ONLY"] == "None"
    assert "to stderr" in run.log
    log = requests.get(f"{fake_github.url}/_fake/runs/{run_id}/log", headers=fake_github.control_headers(), timeout=10)
    assert log.status_code == 200 and "GITHUB_RUN_ID" in log.text


def test_command_body_exit_3_concludes_failure(fake_github: FakeGitHub) -> None:
    setup_command(fake_github)
    run = fake_github.run(dispatch(fake_github, code="3"))
    wait_for(lambda: run.status == "completed")
    assert run.conclusion == "failure"
    assert "exit code 3" in run.log


def test_command_run_is_in_progress_while_running_and_cancel_terminates_it(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    script = f"import pathlib, time\npathlib.Path({str(marker)!r}).write_text('x')\ntime.sleep(60)\n"
    setup_command(fake_github, script)
    run_id = dispatch(fake_github)
    run = fake_github.run(run_id)
    wait_for(marker.exists)
    assert get_run(fake_github, run_id)["status"] == "in_progress"
    assert call(fake_github, "POST", f"/repos/acme/infra/actions/runs/{run_id}/cancel").status_code == 202
    assert run.conclusion == "cancelled"
    wait_for(lambda: "exit code" in run.log)
    assert run.status == "completed" and run.conclusion == "cancelled"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its new parent) counts as gone; the process may vanish while we read
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return not stat.split(") ", 1)[1].startswith("Z")


@pytest.mark.parametrize("how", ["cancel", "reset"])
def test_cancel_and_reset_stop_the_whole_workflow_body_not_just_its_first_process(
    fake_github: FakeGitHub, tmp_path: Path, how: str
) -> None:
    # A workflow body is usually a script that starts more processes (pipeline.py -> meshpipe run exec -> terraform);
    # killing only the first one leaves the rest running after the run was cancelled or the sandbox stopped.
    pid_file = tmp_path / "grandchild.pid"
    script = (
        "import pathlib, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))\n"
        "child.wait()\n"
    )
    setup_command(fake_github, script)
    run_id = dispatch(fake_github)
    wait_for(lambda: pid_file.exists() and pid_file.read_text() != "")
    grandchild = int(pid_file.read_text())
    assert _alive(grandchild)
    if how == "cancel":
        assert call(fake_github, "POST", f"/repos/acme/infra/actions/runs/{run_id}/cancel").status_code == 202
    else:
        fake_github.reset()
    wait_for(lambda: not _alive(grandchild), timeout=10)


def test_repository_dispatch_command_gets_action_and_client_payload_in_event_file(fake_github: FakeGitHub) -> None:
    fake_github.add_token(TOKEN)
    script = "import json, os\nprint(json.dumps(json.load(open(os.environ['GITHUB_EVENT_PATH'])), sort_keys=True))"
    fake_github.add_workflow(
        "acme/infra",
        "deploy.yml",
        workflow_dispatch=False,
        repository_dispatch_types=["deploy"],
        command=[sys.executable, "-c", script],
    )
    response = call(
        fake_github, "POST", "/repos/acme/infra/dispatches", json={"event_type": "deploy", "client_payload": {"k": "v"}}
    )
    assert response.status_code == 204
    run = fake_github.runs[0]
    wait_for(lambda: run.status == "completed")
    event = json.loads(run.log.splitlines()[0])
    assert event["action"] == "deploy" and event["client_payload"] == {"k": "v"}
    assert event["repository"]["full_name"] == "acme/infra"


def test_state_lists_repositories_workflows_dispatches_and_runs(fake_github: FakeGitHub) -> None:
    setup(fake_github)
    run_id = dispatch(fake_github, correlation_id="s")
    state = requests.get(f"{fake_github.url}/_fake/state", headers=fake_github.control_headers(), timeout=10).json()
    assert state["flavour"] == "github"
    assert [r["full_name"] for r in state["repositories"]] == ["acme/infra"]
    assert [w["file"] for w in state["workflows"]] == ["apply.yml"]
    assert [d["run_id"] for d in state["dispatches"]] == [run_id]
    assert [r["id"] for r in state["runs"]] == [run_id]


def test_control_plane_configures_tokens_repositories_and_workflows(fake_github: FakeGitHub) -> None:
    base = f"{fake_github.url}/_fake"
    assert (
        requests.post(
            f"{base}/tokens",
            json={"token": "ghp_cp", "repositories": ["acme/cp"]},
            headers=fake_github.control_headers(),
            timeout=10,
        ).status_code
        == 201
    )
    assert (
        requests.post(
            f"{base}/repos",
            json={"full_name": "acme/cp", "branches": ["main", "x"]},
            headers=fake_github.control_headers(),
            timeout=10,
        ).status_code
        == 201
    )
    created = requests.post(
        f"{base}/workflows",
        json={
            "full_name": "acme/cp",
            "file": "w.yml",
            "inputs": {"a": {"type": "string", "required": True}},
            "duration": None,
        },
        headers=fake_github.control_headers(),
        timeout=10,
    )
    assert created.status_code == 201
    bad = requests.post(
        f"{base}/workflows",
        json={"full_name": "acme/cp", "file": "w.yml", "colour": "red"},
        headers=fake_github.control_headers(),
        timeout=10,
    )
    assert bad.status_code == 400
    response = call(
        fake_github,
        "POST",
        "/repos/acme/cp/actions/workflows/w.yml/dispatches",
        token="ghp_cp",
        json={"ref": "x", "inputs": {"a": "1"}},
    )
    assert response.status_code == 204
    assert fake_github.runs[0].status == "queued"


def test_display_title_renders_github_event_inputs_and_falls_back_to_the_workflow_name(fake_github: FakeGitHub) -> None:
    fake_github.add_token(TOKEN)
    fake_github.add_workflow(
        "acme/infra",
        "apply.yml",
        inputs={"correlation_id": {"type": "string"}, "dry": {"type": "boolean", "default": "true"}},
        run_name="[${{ github.event.inputs.correlation_id }}] ${{ github.ref_name }} dry=${{ inputs.dry }} ${{ x }}",
    )
    fake_github.add_workflow("acme/infra", "plain.yml")
    run_id = dispatch(fake_github, correlation_id="c-7")
    assert fake_github.run(run_id).display_title == "[c-7] main dry=true "
    response = call(
        fake_github, "POST", "/repos/acme/infra/actions/workflows/plain.yml/dispatches", json={"ref": "main"}
    )
    assert response.status_code == 204
    assert fake_github.runs[-1].display_title == ".github/workflows/plain.yml"
