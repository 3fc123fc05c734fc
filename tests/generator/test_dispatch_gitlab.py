"""The bundled dispatcher's GitLab target as the Trigger Module runs it: ``dispatch.py`` as a subprocess, its
configuration base64-encoded in ``MESHPIPE_DISPATCH_B64_0``, against the fake GitLab over 127.0.0.1.

Exactly one pipeline per dispatch, also after a lost answer, a 429 and a 503; with a trigger token alone a lost
answer is not sent again; waiting on success, failure, ``manual`` and a timeout; hostile values arrive byte-exact;
no token or secret input ever shows in the output.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from meshpipe.fakes.gitlab import FakeGitLab
from tests.fakes.gitlab_support import check_every_answer, spec
from tests.generator.support import assert_not_shown, one_error_line, run_dispatch_script

PROJECT = "acme/platform/deploy"
TOKEN = "glpat-CANARY0access0token0never0shown"
SECRET = "s3cret-input-CANARY-value"
HOSTILE = "a'b\"c $(touch /tmp/pwned) `id` ; rm -rf / \\ \n\t ünïcødé ${{ x }} $[[ inputs.y ]] %2F"
CI_INPUTS: dict[str, Any] = {
    "name": {"type": "string"},
    "note": {"type": "string", "default": ""},
    "api_key": {"type": "string", "default": ""},
    "correlation_id": {"type": "string", "default": ""},
    "meshpipe_phase": {"type": "string", "options": ["apply", "destroy"], "default": "apply"},
    "size": {"type": "number", "default": 1},
}
NAME = "meshpipe $[[ inputs.meshpipe_phase ]] $[[ inputs.correlation_id ]]"


def setup_project(fake: FakeGitLab, **overrides: Any) -> str:
    """The project with spec:inputs and a workflow:name carrying the correlation id; returns a trigger token."""
    options: dict[str, Any] = {"ci_inputs": CI_INPUTS, "name_template": NAME, "duration": 0.3}
    options.update(overrides)
    fake.add_project(PROJECT, **options)
    fake.add_access_token(TOKEN, projects=[PROJECT], scopes=["api"])
    return fake.add_trigger_token(PROJECT)


def run_dispatcher(
    fake: FakeGitLab,
    cwd: Path,
    phase: str = "apply",
    *,
    env: dict[str, str] | None = None,
    access: str | None = TOKEN,
    gitlab: dict[str, Any] | None = None,
    **overrides: Any,
) -> subprocess.CompletedProcess[str]:
    config: dict[str, Any] = {
        "version": 1,
        "module": "gitlab-pipeline-trigger",
        "target": "gitlab",
        "gitlab": {
            "api_url": fake.api_url,
            "project": PROJECT,
            "ref": "main",
            "values": "inputs",
            "auth": {"mode": "auto", "trigger_token_env": "GITLAB_TRIGGER_TOKEN", "token_env": "GITLAB_TOKEN"},
            **(gitlab or {}),
        },
        "inputs": {"name": "team-bucket"},
        "secret_inputs": {"api_key": "MY_API_KEY"},
        "correlation_input": "correlation_id",
        "phase_input": "meshpipe_phase",
        "behavior": "APPLY",
        "wait": False,
        "wait_timeout_seconds": 10,
        "poll_interval_seconds": 0.1,
    }
    config.update(overrides)
    environ = {"MESHPIPE_DISPATCH_SETTLE_SECONDS": "0.5", "MY_API_KEY": SECRET}
    if access is not None:
        environ["GITLAB_TOKEN"] = access
    return run_dispatch_script(config, cwd, phase, env={**environ, **(env or {})})


def assert_no_secrets(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    assert_not_shown(result, TOKEN, SECRET, *secrets)


def creates(fake: FakeGitLab) -> list[int]:
    return [r.status for r in fake.log(method="POST") if r.path.endswith("/pipeline")]


# ------------------------------------------------------------------------------------------------ happy paths


def test_access_token_creates_one_pipeline_with_inputs_byte_exact(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    result = run_dispatcher(fake_gitlab, tmp_path, inputs={"name": "team-bucket", "note": HOSTILE, "size": "3"})
    assert result.returncode == 0, result.stderr
    (pipeline,) = fake_gitlab.pipelines_for(PROJECT)
    assert pipeline.source == "api"
    assert pipeline.inputs["note"] == HOSTILE and pipeline.inputs["api_key"] == SECRET
    assert pipeline.inputs["size"] == 3 and pipeline.inputs["meshpipe_phase"] == "apply"
    cid = pipeline.inputs["correlation_id"]
    assert cid and pipeline.name == f"meshpipe apply {cid}"
    (request,) = fake_gitlab.log(method="POST")
    assert request.headers["private-token"] == TOKEN and "authorization" not in request.headers
    assert request.path == "/api/v4/projects/acme%2Fplatform%2Fdeploy/pipeline"
    assert request.json()["ref"] == "main"
    assert f"pipeline {pipeline.id} {pipeline.web_url}" in result.stdout
    assert_no_secrets(result)


def test_typed_values_travel_typed_in_inputs_mode_and_are_refused_in_variables_mode(
    fake_gitlab: FakeGitLab, tmp_path: Path
) -> None:
    # The generator sends a module's number, bool and list inputs as JSON values when values = "inputs".
    setup_project(fake_gitlab)
    result = run_dispatcher(fake_gitlab, tmp_path, inputs={"name": "team-bucket", "size": 3})
    assert result.returncode == 0, result.stderr
    (pipeline,) = fake_gitlab.pipelines_for(PROJECT)
    assert pipeline.inputs["size"] == 3
    (request,) = fake_gitlab.log(method="POST")
    assert request.json()["inputs"]["size"] == 3
    refused = run_dispatcher(fake_gitlab, tmp_path, gitlab={"values": "variables"}, inputs={"size": 3})
    assert "MESHPIPE_DISPATCH.inputs.size: expected a string, got int" in one_error_line(refused)


def test_variables_mode_sends_env_var_variables_byte_exact(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab, ci_inputs=None, name_template="meshpipe $correlation_id")
    hostile = HOSTILE.replace("$", "")  # '$' is refused in variables mode (test_dispatch_target_review.py)
    result = run_dispatcher(
        fake_gitlab, tmp_path, gitlab={"values": "variables"}, inputs={"name": "team-bucket", "note": hostile}
    )
    assert result.returncode == 0, result.stderr
    (pipeline,) = fake_gitlab.pipelines_for(PROJECT)
    variables = {v["key"]: v["value"] for v in pipeline.variables}
    assert variables["note"] == hostile and variables["api_key"] == SECRET and variables["meshpipe_phase"] == "apply"
    assert {v["variable_type"] for v in pipeline.variables} == {"env_var"}
    assert pipeline.name == f"meshpipe {variables['correlation_id']}"
    assert_no_secrets(result)


def test_trigger_token_creates_through_the_trigger_endpoint(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    trigger = setup_project(fake_gitlab)
    result = run_dispatcher(fake_gitlab, tmp_path, access=None, env={"GITLAB_TRIGGER_TOKEN": trigger})
    assert result.returncode == 0, result.stderr
    (pipeline,) = fake_gitlab.pipelines_for(PROJECT)
    assert pipeline.source == "trigger"
    (request,) = fake_gitlab.log(method="POST")
    assert request.path.endswith("/trigger/pipeline") and request.json()["token"] == trigger
    assert "private-token" not in request.headers
    assert_no_secrets(result, trigger)


def test_trigger_with_inputs_the_project_refuses_fails_on_the_failed_pipeline(
    fake_gitlab: FakeGitLab, tmp_path: Path
) -> None:
    trigger = setup_project(fake_gitlab)
    result = run_dispatcher(
        fake_gitlab, tmp_path, access=None, env={"GITLAB_TRIGGER_TOKEN": trigger}, inputs={"bogus": "1"}
    )
    line = one_error_line(result)
    assert "configuration failed: unknown input arguments: bogus" in line and "spec:inputs" in line
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1


# ------------------------------------------------------------------------------------------------ exactly once


def test_a_lost_answer_is_found_by_name_and_not_sent_again(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    fake_gitlab.add_fault(method="POST", path=r"/pipeline$", drop=True, after=True)
    result = run_dispatcher(fake_gitlab, tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1
    assert creates(fake_gitlab) == [201]
    assert "checking whether the pipeline started anyway" in result.stdout
    listed = fake_gitlab.log(method="GET", path=r"/pipelines$")
    assert listed and listed[0].query["ref"] == ["main"] and "updated_after" in listed[0].query


def test_a_503_after_creating_does_not_create_a_second_pipeline(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    fake_gitlab.add_fault(status=503, method="POST", path=r"/pipeline$", after=True)
    result = run_dispatcher(fake_gitlab, tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1


def test_a_503_before_creating_is_sent_again_once_nothing_is_found(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    fake_gitlab.add_fault(status=503, method="POST", path=r"/pipeline$")
    result = run_dispatcher(fake_gitlab, tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1
    assert creates(fake_gitlab) == [503, 201]


def test_a_timeout_while_gitlab_creates_is_found_by_name_not_sent_again(
    fake_gitlab: FakeGitLab, tmp_path: Path
) -> None:
    setup_project(fake_gitlab)
    fake_gitlab.add_fault(method="POST", path=r"/pipeline$", delay=1.0)  # answers after the client gave up
    env = {"MESHPIPE_DISPATCH_HTTP_TIMEOUT_SECONDS": "0.3", "MESHPIPE_DISPATCH_SETTLE_SECONDS": "10"}
    result = run_dispatcher(fake_gitlab, tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "checking whether the pipeline started anyway" in result.stdout
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1


def test_a_429_waits_retry_after_and_creates_one_pipeline(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    fake_gitlab.add_fault(status=429, method="POST", retry_after=1, headers={"RateLimit-Remaining": "0"})
    result = run_dispatcher(fake_gitlab, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rate limited (429); retrying in 1 s" in result.stdout
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1 and creates(fake_gitlab) == [429, 201]


def test_a_trigger_token_alone_never_sends_again_after_a_lost_answer(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    trigger = setup_project(fake_gitlab)
    fake_gitlab.add_fault(method="POST", drop=True, after=True)
    result = run_dispatcher(fake_gitlab, tmp_path, access=None, env={"GITLAB_TRIGGER_TOKEN": trigger})
    line = one_error_line(result)
    assert "not sent again, because a trigger token cannot list pipelines" in line and "set GITLAB_TOKEN" in line
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1
    assert_no_secrets(result, trigger)


def test_a_second_apply_of_the_same_run_resumes_instead_of_creating(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    fake_gitlab.add_fault(status=500, method="POST", path=r"/pipeline$", after=True)
    fake_gitlab.add_fault(status=403, method="GET", path=r"/pipelines$")  # the check fails: nothing is sent again
    context = {"run_id": "run-1", "building_block_id": "bb-1", "fingerprint": "f1"}
    first = run_dispatcher(fake_gitlab, tmp_path, **context)
    assert "checking failed, so it is not sent again" in one_error_line(first)
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1  # created once, then the check failed: not sent again
    fake_gitlab.faults.clear()
    second = run_dispatcher(fake_gitlab, tmp_path, **context)
    assert second.returncode == 0, second.stderr
    assert "an earlier attempt at this dispatch may have started a pipeline; looking for" in second.stdout
    (pipeline,) = fake_gitlab.pipelines_for(PROJECT)
    assert f"pipeline {pipeline.id} {pipeline.web_url}" in second.stdout


# ------------------------------------------------------------------------------------------------ waiting


@pytest.mark.parametrize(
    ("conclusion", "code", "expected"),
    [("success", 0, "completed: success"), ("failed", 1, "concluded failed"), ("manual", 1, "waits for a manual job")],
)
def test_waiting_on_the_pipelines_status(
    fake_gitlab: FakeGitLab, tmp_path: Path, conclusion: str, code: int, expected: str
) -> None:
    setup_project(fake_gitlab, conclusion=conclusion)
    result = run_dispatcher(fake_gitlab, tmp_path, wait=True)
    assert result.returncode == code, result.stderr
    assert expected in result.stdout + result.stderr
    reads = fake_gitlab.log(method="GET", path=r"/pipelines/\d+$")
    assert reads and all(r.headers["private-token"] == TOKEN for r in reads)
    assert_no_secrets(result)


def test_waiting_times_out_and_says_the_pipeline_continues(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab, duration=None)
    result = run_dispatcher(fake_gitlab, tmp_path, wait=True, wait_timeout_seconds=1.5)
    line = one_error_line(result)
    assert "timed out after 1.5 s" in line and "continues on GitLab" in line


def test_waiting_with_a_trigger_token_needs_the_access_token_up_front(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    trigger = setup_project(fake_gitlab)
    result = run_dispatcher(fake_gitlab, tmp_path, access=None, env={"GITLAB_TRIGGER_TOKEN": trigger}, wait=True)
    line = one_error_line(result)
    expected = "set the environment variable GITLAB_TOKEN (waiting reads the pipeline, which a trigger token cannot)"
    assert f"no GitLab token: {expected}" in line
    assert fake_gitlab.pipelines_for(PROJECT) == []


# ------------------------------------------------------------------------------------------------ errors, gating


def test_api_errors_name_method_url_status_message_and_hint(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    bad_ref = one_error_line(run_dispatcher(fake_gitlab, tmp_path, gitlab={"ref": "nope"}))
    url = f"{fake_gitlab.api_url}/projects/acme%2Fplatform%2Fdeploy/pipeline"
    assert f"POST {url} -> 400: " in bad_ref and "Reference not found" in bad_ref and "ref 'nope' exists" in bad_ref
    unknown = run_dispatcher(fake_gitlab, tmp_path, access="glpat-unknown")
    assert "-> 401: 401 Unauthorized (hint: the access token in GITLAB_TOKEN is invalid" in one_error_line(unknown)
    fake_gitlab.add_access_token("glpat-reader", projects=[PROJECT], scopes=["read_api"])
    scope = one_error_line(run_dispatcher(fake_gitlab, tmp_path, access="glpat-reader"))
    assert "-> 403: insufficient_scope" in scope and "lacks the api scope" in scope
    missing = one_error_line(run_dispatcher(fake_gitlab, tmp_path, gitlab={"project": "acme/none"}))
    assert "-> 404: 404 Project Not Found" in missing and "not visible to the token" in missing
    setup_project(fake_gitlab, ci_inputs=None, allow_pipeline_variables=False)
    refused = one_error_line(run_dispatcher(fake_gitlab, tmp_path, gitlab={"values": "variables"}))
    assert "Insufficient permissions to set pipeline variables" in refused
    assert "'Minimum role to use pipeline variables' allows them" in refused
    assert fake_gitlab.pipelines_for(PROJECT) == []


def test_configuration_and_credential_errors(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    no_token = one_error_line(run_dispatcher(fake_gitlab, tmp_path, access=None))
    assert "set the environment variable GITLAB_TOKEN (neither GITLAB_TRIGGER_TOKEN nor GITLAB_TOKEN" in no_token
    control = one_error_line(run_dispatcher(fake_gitlab, tmp_path, access="glpat-x\nInjected: 1"))
    assert "GITLAB_TOKEN contains a control character; a token is printable ASCII (value not shown)" in control
    bad_mode = one_error_line(run_dispatcher(fake_gitlab, tmp_path, gitlab={"auth": {"mode": "oauth"}}))
    assert "MESHPIPE_DISPATCH.gitlab.auth.mode: expected one of auto, trigger_token, access_token" in bad_mode
    bad_values = one_error_line(run_dispatcher(fake_gitlab, tmp_path, gitlab={"values": "both"}))
    assert "MESHPIPE_DISPATCH.gitlab.values: expected one of inputs, variables, got 'both'" in bad_values
    flat = one_error_line(run_dispatcher(fake_gitlab, tmp_path, repository="acme/infra"))
    assert "unknown key 'repository'" in flat
    no_ref = one_error_line(run_dispatcher(fake_gitlab, tmp_path, gitlab={"ref": None}))
    assert "MESHPIPE_DISPATCH.gitlab.ref: required" in no_ref
    assert fake_gitlab.pipelines_for(PROJECT) == []


def test_detect_fires_nothing_and_a_destroy_without_ref_fires_nothing(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    detect = run_dispatcher(fake_gitlab, tmp_path, behavior="DETECT")
    assert detect.returncode == 0 and "behavior DETECT: not dispatching the apply pipeline" in detect.stdout
    destroy = run_dispatcher(fake_gitlab, tmp_path, "destroy", gitlab={"ref": None}, access=None)
    assert destroy.returncode == 0 and "no destroy pipeline ref configured: nothing to fire" in destroy.stdout
    assert fake_gitlab.log() == []


def test_destroy_sends_the_destroy_phase(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    setup_project(fake_gitlab)
    result = run_dispatcher(fake_gitlab, tmp_path, "destroy", behavior="DESTROY")
    assert result.returncode == 0, result.stderr
    (pipeline,) = fake_gitlab.pipelines_for(PROJECT)
    assert pipeline.inputs["meshpipe_phase"] == "destroy" and pipeline.name.startswith("meshpipe destroy ")


@pytest.mark.parametrize(
    ("values", "trigger", "schema"),
    [
        ("inputs", False, "postApiV4ProjectsIdPipeline"),
        ("variables", False, "postApiV4ProjectsIdPipeline"),
        ("inputs", True, "postApiV4ProjectsId(refRef)triggerPipeline"),
        ("variables", True, "postApiV4ProjectsId(refRef)triggerPipeline"),
    ],
)
def test_request_bodies_match_gitlabs_description(
    fake_gitlab: FakeGitLab, tmp_path: Path, values: str, trigger: bool, schema: str
) -> None:
    token = setup_project(fake_gitlab, **({} if values == "inputs" else {"ci_inputs": None}))
    env = {"GITLAB_TRIGGER_TOKEN": token} if trigger else {}
    result = run_dispatcher(fake_gitlab, tmp_path, env=env, gitlab={"values": values}, wait=True)
    assert result.returncode == 0, result.stderr
    (request,) = fake_gitlab.log(method="POST")
    description = spec()["definitions"][schema]
    jsonschema.Draft7Validator(description).validate(request.json())
    assert set(request.json()) <= set(description["properties"]) | {"ref"}
    assert check_every_answer(fake_gitlab) >= 2  # the create answer and the reads while waiting


def test_imports_only_what_the_gitlab_path_uses(fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    from tests.generator.test_dispatch_startup import NETWORK, NEVER, imported

    setup_project(fake_gitlab)
    base = {"target": "gitlab", "inputs": {"name": "x"}, "correlation_input": "correlation_id"}
    gitlab = {"api_url": fake_gitlab.api_url, "project": PROJECT, "ref": "main"}
    detect = imported(tmp_path, "apply", {**base, "gitlab": gitlab, "behavior": "DETECT"}, {"GITLAB_TOKEN": TOKEN})
    assert "dispatch_gitlab" in detect
    assert not detect & (NEVER | NETWORK | {"dispatch_net", "dispatch_github", "dispatch_auth"}), sorted(detect)
    sent = imported(tmp_path, "apply", {**base, "gitlab": gitlab}, {"GITLAB_TOKEN": TOKEN})
    assert len(fake_gitlab.pipelines_for(PROJECT)) == 1 and "http.client" in sent
    assert not sent & (NEVER | {"dispatch_github", "dispatch_auth", "dispatch_azure", "dispatch_webhook"})


# ------------------------------------------------------------------------------------------------ in process


def test_settings_name_the_key_path_and_rate_limit_waits_follow_gitlabs_headers() -> None:
    from tests.generator.support import load_dispatcher

    dispatcher = load_dispatcher("dispatch_gitlab_settings")
    gitlab = dispatcher.target_module("gitlab")
    good = {"project": "group/sub/project", "ref": "main"}
    settings = gitlab.parse_settings({"gitlab": good}, "apply")
    assert settings.api_url == "https://gitlab.com/api/v4" and settings.values == "inputs"
    assert settings.identity == ("https://gitlab.com/api/v4", "group/sub/project", "main")
    assert settings.secret_envs == ("GITLAB_TRIGGER_TOKEN", "GITLAB_TOKEN")
    assert gitlab.parse_settings({"gitlab": {"project": "4711", "ref": "main"}}, "apply").project == "4711"
    for bad, message in [
        ({"project": "no-group"}, "MESHPIPE_DISPATCH.gitlab.project: expected 'group/project' or an id"),
        ({"project": "a/b c"}, "MESHPIPE_DISPATCH.gitlab.project"),
        ({"api_url": "ftp://x"}, "MESHPIPE_DISPATCH.gitlab.api_url: expected an http(s) URL"),
        ({"api_url": "https://gitlab.example.com"}, "gitlab.api_url: expected the REST API URL ending in /api/v4"),
        ({"api_url": "https://user:pw@gitlab.example.com/api/v4"}, "without credentials"),
        ({"ref": "main branch"}, "MESHPIPE_DISPATCH.gitlab.ref: expected a branch or tag name"),
        ({"auth": {"token": "x"}}, "MESHPIPE_DISPATCH.gitlab.auth.token: unknown key"),
        ({"bogus": 1}, "MESHPIPE_DISPATCH.gitlab.bogus: unknown key"),
    ]:
        with pytest.raises(dispatcher.ConfigError, match=re.escape(message)):
            gitlab.parse_settings({"gitlab": {**good, **bad}}, "apply")
    destroy = gitlab.parse_settings({"gitlab": {**good, "ref": None, "bogus": 1}}, "destroy")  # warns, no target
    assert destroy.has_target is False
    client = gitlab.GitLabClient.__new__(gitlab.GitLabClient)
    assert client.rate_limit_delay({"retry-after": "7"}, 1000.0) == 7.0
    assert client.rate_limit_delay({"retry-after": "soon"}, 1000.0) is None
    assert client.rate_limit_delay({"ratelimit-reset": "1030"}, 1000.0) == 31.0
    assert client.rate_limit_delay({}, 1000.0) == 60.0
