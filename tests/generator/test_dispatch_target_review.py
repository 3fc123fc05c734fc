"""The dispatcher refuses values GitLab or Azure Pipelines would expand (``$`` in GitLab CI/CD variables, ``$(`` in
Azure's parameter variables) before anything is sent, naming the input and never its value; GitLab's search for a
pipeline whose answer was lost reads up to five pages of 100 pipelines, against the fake GitLab."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.azure_devops import FakeAzureDevOps
from meshpipe.fakes.gitlab import FakeGitLab
from tests.generator import test_dispatch_azure as azure
from tests.generator import test_dispatch_gitlab as gitlab
from tests.generator.support import load_dispatcher

# ------------------------------------------------------------------------------------------------ GitLab variables


@pytest.mark.parametrize("value", ["$CI_JOB_TOKEN", "cost: 5$", "${HOME}", "$$literal"])
def test_gitlab_variables_mode_refuses_a_dollar_before_sending(
    fake_gitlab: FakeGitLab, tmp_path: Path, value: str
) -> None:
    gitlab.setup_project(fake_gitlab, ci_inputs=None, name_template="meshpipe $correlation_id")
    result = gitlab.run_dispatcher(
        fake_gitlab, tmp_path, gitlab={"values": "variables"}, inputs={"name": "team-bucket", "note": value}
    )
    line = gitlab.one_error_line(result)
    assert "input 'note': its value contains '$', which GitLab expands in a CI/CD variable" in line
    assert value not in line and "gitlab.values: inputs" in line
    assert fake_gitlab.log(method="POST") == [] and fake_gitlab.pipelines_for(gitlab.PROJECT) == []
    assert list(tmp_path.iterdir()) == []  # nothing remembered: the next apply starts afresh


def test_gitlab_refuses_a_secret_with_a_dollar_without_showing_it(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    gitlab.setup_project(fake_gitlab, ci_inputs=None, name_template="meshpipe $correlation_id")
    secret = "pa$$word-CANARY-0123"
    result = gitlab.run_dispatcher(fake_gitlab, tmp_path, gitlab={"values": "variables"}, env={"MY_API_KEY": secret})
    line = gitlab.one_error_line(result)
    assert "input 'api_key'" in line and secret not in result.stdout + result.stderr
    assert fake_gitlab.log(method="POST") == []


def test_gitlab_inputs_mode_sends_a_dollar_as_it_is(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    gitlab.setup_project(fake_gitlab)
    result = gitlab.run_dispatcher(fake_gitlab, tmp_path, inputs={"name": "team-bucket", "note": "$CI_JOB_TOKEN"})
    assert result.returncode == 0, result.stderr
    (pipeline,) = fake_gitlab.pipelines_for(gitlab.PROJECT)
    assert pipeline.inputs["note"] == "$CI_JOB_TOKEN"


# ------------------------------------------------------------------------------------------------ Azure macros


@pytest.mark.parametrize("value", ["$(System.AccessToken)", "a$(b", "x $(Build.BuildId) y"])
def test_azure_refuses_a_macro_before_sending(fake_azure_devops: FakeAzureDevOps, tmp_path: Path, value: str) -> None:
    pipeline_id = azure.setup_pipeline(fake_azure_devops)
    result = azure.run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, inputs={"name": value})
    line = azure.one_error_line(result)
    assert "input 'name': its value contains '$(', which Azure Pipelines expands as a macro" in line
    assert value not in line
    assert azure.run_posts(fake_azure_devops) == [] and fake_azure_devops.runs == []
    assert list(tmp_path.iterdir()) == []


def test_azure_sends_other_dollars_as_they_are(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = azure.setup_pipeline(fake_azure_devops)
    result = azure.run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, inputs={"name": "$HOME $[x] ${{ y }}"})
    assert result.returncode == 0, result.stderr
    (run,) = fake_azure_devops.runs
    assert run.template_parameters["name"] == "$HOME $[x] ${{ y }}"


# ------------------------------------------------------------------------------------------------ GitLab search


def _create(fake: FakeGitLab, correlation: str) -> None:
    """One pipeline on main through the real API, named after ``correlation`` by the project's workflow:name."""
    body = json.dumps({"ref": "main", "inputs": {"name": "x", "correlation_id": correlation}}).encode()
    url = f"{fake.api_url}/projects/{gitlab.PROJECT.replace('/', '%2F')}/pipeline"
    headers = {"PRIVATE-TOKEN": gitlab.TOKEN, "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=10) as answer:
        assert answer.status == 201


def _client(fake: FakeGitLab) -> Any:
    dispatcher = load_dispatcher("dispatch_gitlab_search_review")
    data = {
        "version": 1,
        "module": "gitlab-pipeline-trigger",
        "target": "gitlab",
        "gitlab": {"api_url": fake.api_url, "project": gitlab.PROJECT, "ref": "main", "values": "inputs"},
        "correlation_input": "correlation_id",
        "phase_input": "meshpipe_phase",
    }
    config = dispatcher.Config(data)
    environ = {"PATH": os.environ.get("PATH", ""), "GITLAB_TOKEN": gitlab.TOKEN}
    return dispatcher.make_client(config, environ, 10.0, dispatcher.Clock())


def _busy_ref(fake: FakeGitLab, newer: int) -> None:
    """The lost pipeline, then ``newer`` pipelines of other dispatches on the same ref (newest first in the list)."""
    gitlab.setup_project(fake, duration=None)
    _create(fake, "cid-lost")
    for index in range(newer):
        _create(fake, f"cid-other-{index}")


def _pages(fake: FakeGitLab) -> list[tuple[str, str]]:
    return [(r.query["page"][0], r.query["per_page"][0]) for r in fake.log(method="GET", path=r"/pipelines$")]


def test_the_search_finds_a_pipeline_on_the_second_page(fake_gitlab: FakeGitLab) -> None:
    _busy_ref(fake_gitlab, 150)
    found = _client(fake_gitlab).search("cid-lost", time.time())
    assert found is not None and found["id"] == fake_gitlab.pipelines_for(gitlab.PROJECT)[0].id
    assert _pages(fake_gitlab) == [("1", "100"), ("2", "100")]


def test_the_search_stops_after_five_pages(fake_gitlab: FakeGitLab) -> None:
    _busy_ref(fake_gitlab, 500)
    assert _client(fake_gitlab).search("cid-lost", time.time()) is None
    assert _pages(fake_gitlab) == [(str(page), "100") for page in range(1, 6)]


def test_the_search_stops_at_the_last_page(fake_gitlab: FakeGitLab) -> None:
    _busy_ref(fake_gitlab, 3)
    assert _client(fake_gitlab).search("cid-absent", time.time()) is None
    assert _pages(fake_gitlab) == [("1", "100")]


# ------------------------------------------------------------------------------------------------ API base URLs


@pytest.mark.parametrize("suffix", ["?private_token=x", "#top"])
def test_gitlab_refuses_an_api_url_with_a_query_or_fragment(
    fake_gitlab: FakeGitLab, tmp_path: Path, suffix: str
) -> None:
    gitlab.setup_project(fake_gitlab)
    result = gitlab.run_dispatcher(fake_gitlab, tmp_path, gitlab={"api_url": fake_gitlab.api_url + suffix})
    line = gitlab.one_error_line(result)
    assert "MESHPIPE_DISPATCH.gitlab.api_url: expected an API base URL without ? or #" in line
    assert fake_gitlab.log() == []


@pytest.mark.parametrize("suffix", ["?api-version=6.0", "#runs"])
def test_azure_refuses_an_org_url_with_a_query_or_fragment(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path, suffix: str
) -> None:
    pipeline_id = azure.setup_pipeline(fake_azure_devops)
    org_url = fake_azure_devops.org_url + suffix
    result = azure.run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, azure={"org_url": org_url})
    assert result.returncode != 0
    assert "MESHPIPE_DISPATCH.azure_devops.org_url: expected an API base URL without ? or #" in result.stderr
    assert fake_azure_devops.log() == []
