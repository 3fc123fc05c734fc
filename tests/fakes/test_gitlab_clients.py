"""python-gitlab, GitLab's widely used Python client, against the fake GitLab: projects, pipeline create and
trigger, get and list with pagination, variables, cancel, and its error classes on 400/401/403/404/429. Every answer
the fake sent is held against GitLab's description afterwards (``gitlab_support.check_every_answer``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import gitlab
import pytest
from gitlab.exceptions import GitlabAuthenticationError, GitlabCreateError, GitlabGetError

from meshpipe.fakes.gitlab import FakeGitLab
from tests.fakes.gitlab_support import PROJECT, READER, TOKEN, check_every_answer, setup_project


@pytest.fixture
def fake(fake_gitlab: FakeGitLab) -> Iterator[FakeGitLab]:
    setup_project(fake_gitlab)
    yield fake_gitlab
    check_every_answer(fake_gitlab)


def client(fake: FakeGitLab, token: str = TOKEN) -> gitlab.Gitlab:
    # python-gitlab wants the instance URL (it adds /api/v4 itself).
    return gitlab.Gitlab(fake.url, private_token=token, timeout=10)


def test_project_get_by_path_and_id(fake: FakeGitLab) -> None:
    gl = client(fake)
    project = gl.projects.get(PROJECT)
    assert project.path_with_namespace == PROJECT and project.default_branch == "main"
    assert gl.projects.get(project.id).id == project.id
    with pytest.raises(GitlabGetError) as missing:
        gl.projects.get("acme/none")
    assert missing.value.response_code == 404 and "404 Project Not Found" in str(missing.value)


def test_create_get_list_variables_and_cancel(fake: FakeGitLab) -> None:
    project = client(fake).projects.get(PROJECT, lazy=True)
    created = project.pipelines.create({"ref": "main", "inputs": {"correlation_id": "py-1"}})
    assert created.name == "meshpipe py-1 on main" and created.status in ("created", "pending")
    deadline = time.monotonic() + 20
    while created.status != "success":
        assert time.monotonic() < deadline
        time.sleep(0.05)
        created.refresh()
    fetched = project.pipelines.get(created.id)
    assert fetched.web_url == created.web_url and fetched.finished_at is not None
    for index in range(3):
        project.pipelines.create({"ref": "main", "inputs": {"correlation_id": f"py-{index + 2}"}})
    first_page = project.pipelines.list(per_page=2, page=1)
    assert len(first_page) == 2
    everything = list(project.pipelines.list(iterator=True, per_page=2))  # follows the Link headers
    assert [p.name for p in everything] == [f"meshpipe py-{n} on main" for n in (4, 3, 2, 1)]
    assert [p.id for p in project.pipelines.list(name="meshpipe py-3 on main", get_all=True)] == [everything[1].id]
    setup_project(fake, ci_inputs=None, duration=None)
    with_variables = project.pipelines.create({"ref": "main", "variables": [{"key": "K", "value": "v v"}]})
    assert [(v.key, v.value) for v in with_variables.variables.list(get_all=True)] == [("K", "v v")]
    with_variables.cancel()
    assert project.pipelines.get(with_variables.id).status == "canceled"
    assert check_every_answer(fake) >= 12  # creates, gets, list pages, variables, cancel: all schema-checked


def test_trigger_pipeline_with_inputs_and_variables(fake: FakeGitLab) -> None:
    token = fake.add_trigger_token(PROJECT)
    project = client(fake).projects.get(PROJECT, lazy=True)
    triggered = project.trigger_pipeline("main", token, inputs={"correlation_id": "trig-1"})
    assert triggered.source == "trigger" and triggered.name == "meshpipe trig-1 on main"
    setup_project(fake, ci_inputs=None, name_template="$CID")
    with_variables = project.trigger_pipeline("main", token, variables={"CID": "var-1"})
    assert with_variables.name == "var-1"
    with pytest.raises(GitlabCreateError) as bad_ref:
        project.trigger_pipeline("nope", token)
    assert bad_ref.value.response_code == 400 and bad_ref.value.error_message == {"base": ["Reference not found"]}
    with pytest.raises(GitlabCreateError) as bad_token:
        project.trigger_pipeline("main", "glptt-" + "f" * 40)
    assert bad_token.value.response_code == 404


def test_error_classes_on_400_401_403_404(fake: FakeGitLab) -> None:
    project = client(fake).projects.get(PROJECT, lazy=True)
    with pytest.raises(GitlabCreateError) as bad_inputs:
        project.pipelines.create({"ref": "main", "inputs": {"x": "1"}})
    assert bad_inputs.value.response_code == 400
    assert bad_inputs.value.error_message == {
        "base": ["unknown input arguments: x, `correlation_id` input: required value has not been provided"]
    }
    with pytest.raises(GitlabAuthenticationError) as unknown:
        client(fake, token="glpat-unknown").projects.get(PROJECT)
    assert unknown.value.response_code == 401
    with pytest.raises(GitlabCreateError) as scope:
        client(fake, token=READER).projects.get(PROJECT, lazy=True).pipelines.create({"ref": "main"})
    assert scope.value.response_code == 403 and scope.value.error_message == "insufficient_scope"
    with pytest.raises(GitlabGetError) as missing:
        project.pipelines.get(42)
    assert missing.value.response_code == 404


def test_429_is_retried_after_retry_after_or_raised_without_retries(fake: FakeGitLab) -> None:
    fake.add_fault(status=429, times=1, method="POST", retry_after=1)  # GitLab sends whole seconds
    project = client(fake).projects.get(PROJECT, lazy=True)
    created = project.pipelines.create({"ref": "main", "inputs": {"correlation_id": "retry"}})
    assert [p.id for p in fake.pipelines_for(PROJECT)] == [created.id]  # one pipeline after the 429
    fake.set_rate_limit(0)
    with pytest.raises(GitlabGetError) as limited:
        project.pipelines.get(created.id, obey_rate_limit=False)
    assert limited.value.response_code == 429
