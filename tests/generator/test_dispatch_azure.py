"""The bundled dispatcher's Azure Pipelines target: ``dispatch.py`` as the Trigger Module runs it (a subprocess with its
configuration in ``MESHPIPE_DISPATCH_B64_0``) against the fake Azure DevOps over 127.0.0.1, plus its settings rules."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from meshpipe.fakes.azure_devops import FakeAzureDevOps
from tests.generator.support import DISPATCH_PYTHON as PYTHON
from tests.generator.support import DISPATCH_SCRIPT as SCRIPT
from tests.generator.support import assert_not_shown, load_dispatcher, one_error_line, run_dispatch_script

PAT = "azdoCANARYpat0never0printed0000000000000000000000001"
PAT_BASIC = base64.b64encode(f":{PAT}".encode()).decode()
SECRET_CANARY = "s3cret-input-CANARY-value"
PROJECT = "Platform Team"
MODULE = "azure-pipelines-trigger"
CORRELATION = "meshpipe_correlation_id"
PHASE = "meshpipe_phase"
PARAMETERS: dict[str, dict[str, Any]] = {
    "name": {"type": "string"},
    CORRELATION: {"type": "string", "default": ""},
    PHASE: {"type": "string", "default": "apply", "values": ["apply", "destroy"]},
}
NAME_TEMPLATE = "deploy ${{ parameters.meshpipe_correlation_id }}"


def setup_pipeline(fake: FakeAzureDevOps, **kw: Any) -> int:
    fake.add_pat(PAT, scopes=["vso.build_execute"])
    options: dict[str, Any] = {"parameters": PARAMETERS, "name_template": NAME_TEMPLATE, "duration": 0.3}
    options.update(kw)
    return fake.add_pipeline(PROJECT, "deploy", **options)


def config(fake: FakeAzureDevOps, pipeline_id: int | None, **overrides: Any) -> dict[str, Any]:
    azure = {
        "org_url": fake.org_url,
        "project": PROJECT,
        "pipeline_id": pipeline_id,
        "ref": "refs/heads/main",
        "auth": {"mode": "auto", "pat_env": "AZURE_DEVOPS_PAT", "token_env": "AZURE_DEVOPS_TOKEN"},
    }
    azure.update(overrides.pop("azure", {}))
    data: dict[str, Any] = {
        "version": 1,
        "module": MODULE,
        "target": "azure_devops",
        "azure_devops": azure,
        "inputs": {"name": "team-bucket"},
        "secret_inputs": {},
        "correlation_input": CORRELATION,
        "phase_input": PHASE,
        "behavior": "APPLY",
        "wait": False,
        "wait_timeout_seconds": 10,
        "poll_interval_seconds": 0.1,
    }
    data.update(overrides)
    return data


def run_dispatcher(
    fake: FakeAzureDevOps,
    cwd: Path,
    pipeline_id: int | None,
    phase: str = "apply",
    *,
    env: dict[str, str] | None = None,
    pat: str | None = PAT,
    **overrides: Any,
) -> subprocess.CompletedProcess[str]:
    environ = {"MESHPIPE_DISPATCH_SETTLE_SECONDS": "0.5"}
    if pat is not None:
        environ["AZURE_DEVOPS_PAT"] = pat
    return run_dispatch_script(config(fake, pipeline_id, **overrides), cwd, phase, env={**environ, **(env or {})})


def assert_no_secrets(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    assert_not_shown(result, PAT, PAT_BASIC, *secrets)


def run_posts(fake: FakeAzureDevOps) -> list[int]:
    return [r.status for r in fake.log(method="POST") if r.path.endswith("/runs")]


RUNS = r"/_apis/pipelines/\d+/runs$"


# ------------------------------------------------------------------------------------------------ happy paths


def test_one_run_with_exact_headers_and_body(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id)
    assert result.returncode == 0, result.stderr
    (post,) = fake_azure_devops.log(method="POST")
    assert post.path == f"/fake-org/Platform%20Team/_apis/pipelines/{pipeline_id}/runs"
    assert post.query == {"api-version": ["7.1"]}
    assert post.headers["authorization"] == f"Basic {PAT_BASIC}"
    assert post.headers["x-tfs-fedauthredirect"] == "Suppress"
    assert post.headers["content-type"] == "application/json"
    assert post.headers["user-agent"] == f"meshpipe-dispatch/0.1.0 ({MODULE})"
    body = post.json()
    assert set(body) == {"resources", "templateParameters"}
    assert body["resources"] == {"repositories": {"self": {"refName": "refs/heads/main"}}}
    parameters = body["templateParameters"]
    assert set(parameters) == {"name", CORRELATION, PHASE}
    assert parameters["name"] == "team-bucket" and parameters[PHASE] == "apply"
    assert re.fullmatch(r"[0-9a-f]{32}", parameters[CORRELATION])
    (run,) = fake_azure_devops.runs_for(PROJECT, pipeline_id)
    assert run.name == f"deploy {parameters[CORRELATION]}"
    assert result.stdout.splitlines()[-1] == (
        f"[{MODULE}] dispatched pipeline {pipeline_id} on refs/heads/main of project {PROJECT}: run {run.id} "
        f"{run.web_url}"
    )
    assert [r.method for r in fake_azure_devops.log()] == ["POST"]  # the run id came with the answer
    assert_no_secrets(result)


def test_an_entra_id_token_goes_as_bearer(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_token("entra-CANARY-access-token")
    result = run_dispatcher(
        fake_azure_devops, tmp_path, pipeline_id, pat=None, env={"AZURE_DEVOPS_TOKEN": "entra-CANARY-access-token"}
    )
    assert result.returncode == 0, result.stderr
    (post,) = fake_azure_devops.log(method="POST")
    assert post.headers["authorization"] == "Bearer entra-CANARY-access-token"
    assert_no_secrets(result, "entra-CANARY-access-token")


def test_waiting_succeeds_with_progress_lines(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, duration=0.5)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, wait=True)
    assert result.returncode == 0, result.stderr
    (run,) = fake_azure_devops.runs_for(PROJECT, pipeline_id)
    lines = result.stdout.splitlines()
    assert any(re.fullmatch(rf"\[{MODULE}\] run {run.id} inProgress \(\d+ s elapsed\) .+", line) for line in lines)
    assert lines[-1] == f"[{MODULE}] run {run.id} completed: succeeded {run.web_url}"


def test_waiting_fails_with_the_run_page_and_result(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, result="failed")
    line = one_error_line(run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, wait=True))
    (run,) = fake_azure_devops.runs_for(PROJECT, pipeline_id)
    assert line == f"meshpipe-dispatch: error: pipeline run {run.id} concluded failed: {run.web_url}"


def test_waiting_times_out_within_its_bound(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, duration=None)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, wait=True, wait_timeout_seconds=0.5)
    line = one_error_line(result)
    (run,) = fake_azure_devops.runs_for(PROJECT, pipeline_id)
    assert line.endswith(f"timed out after 0.5 s waiting for {run.web_url}; the run continues on Azure DevOps")
    assert run.state == "inProgress"


def test_destroy_sends_the_destroy_phase(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, "destroy", behavior="DESTROY")
    assert result.returncode == 0, result.stderr
    (run,) = fake_azure_devops.runs_for(PROJECT, pipeline_id)
    assert run.template_parameters[PHASE] == "destroy"


def test_destroy_without_a_pipeline_fires_nothing(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    setup_pipeline(fake_azure_devops)
    result = run_dispatcher(fake_azure_devops, tmp_path, None, "destroy", behavior="DESTROY")
    assert result.returncode == 0, result.stderr
    assert "no destroy pipeline configured: nothing to fire" in result.stdout
    assert fake_azure_devops.log() == []


@pytest.mark.parametrize("behavior", ["DESTROY", "DETECT"])
def test_apply_fires_nothing_on_destroy_and_detect(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path, behavior: str
) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, behavior=behavior)
    assert result.returncode == 0, result.stderr
    assert f"behavior {behavior}: not dispatching the apply pipeline" in result.stdout
    assert fake_azure_devops.log() == []


# ------------------------------------------------------------------------------------------------ exactly once


def test_429_with_retry_after_then_one_run(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_fault(status=429, retry_after=0.2, method="POST", path=RUNS)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id)
    assert result.returncode == 0, result.stderr
    assert run_posts(fake_azure_devops) == [429, 200]
    assert len(fake_azure_devops.runs) == 1
    assert "rate limited (429); retrying in 0.2 s" in result.stdout


def test_the_services_own_429_is_waited_out(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, duration=0.1)
    fake_azure_devops.set_rate_limit(1, window_seconds=1)  # the POST passes, the first poll gets 429 + Retry-After
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, wait=True)
    assert result.returncode == 0, result.stderr
    assert re.search(r"rate limited \(429\); retrying in 1 s", result.stdout)
    assert len(fake_azure_devops.runs) == 1


@pytest.mark.parametrize("fault", [{"status": 503}, {"drop": True}], ids=["503", "dropped"])
def test_a_lost_answer_does_not_start_a_second_run(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path, fault: dict[str, Any]
) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_fault(after=True, method="POST", path=RUNS, **fault)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, wait=True)
    assert result.returncode == 0, result.stderr
    assert len(run_posts(fake_azure_devops)) == 1
    (run,) = fake_azure_devops.runs
    assert "checking whether the run started anyway" in result.stdout
    assert f"run {run.id} completed: succeeded" in result.stdout


def test_503_before_the_run_started_posts_again_once(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_fault(status=503, method="POST", path=RUNS)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id)
    assert result.returncode == 0, result.stderr
    assert run_posts(fake_azure_devops) == [503, 200]
    assert len(fake_azure_devops.runs) == 1
    first, second = (r.json()["templateParameters"] for r in fake_azure_devops.log(method="POST"))
    assert first[CORRELATION] == second[CORRELATION]


def test_a_lost_answer_without_correlation_fails_instead_of_running_twice(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path
) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_fault(status=503, after=True, method="POST", path=RUNS)
    line = one_error_line(run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, correlation_input=None))
    assert "-> 503" in line and "not sent again" in line
    assert "${{ parameters.<that input> }} in the pipeline's name:" in line
    assert len(fake_azure_devops.runs) == 1


def test_a_second_process_picks_up_the_run_of_a_killed_one(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    """The dispatcher is killed after its POST started a run (the answer was lost, the check still searching): the
    next attempt of the same meshStack run finds the run by its name instead of starting another one."""
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_fault(status=503, after=True, method="POST", path=RUNS)
    fake_azure_devops.add_fault(delay=5, method="GET", path=RUNS)  # the check's search hangs
    identity = {"run_id": "run-1", "building_block_id": "bb-1"}
    encoded = base64.b64encode(json.dumps(config(fake_azure_devops, pipeline_id, **identity)).encode()).decode()
    environ = {"PATH": os.environ.get("PATH", ""), "MESHPIPE_DISPATCH_B64_0": encoded, "AZURE_DEVOPS_PAT": PAT}
    first = subprocess.Popen([PYTHON, str(SCRIPT), "apply"], env=environ, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while not fake_azure_devops.log(method="POST"):  # recorded when the run exists, before the 503 goes out
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the search's 5 s hang
        assert first.poll() is None
    finally:
        first.kill()
        first.wait()
    assert len(fake_azure_devops.runs) == 1
    assert list(tmp_path.glob(".meshpipe-dispatch-*.json"))  # the intent marker stays: the outcome is unknown
    second = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, **identity)
    assert second.returncode == 0, second.stderr
    assert len(run_posts(fake_azure_devops)) == 1
    assert len(fake_azure_devops.runs) == 1
    assert not list(tmp_path.glob(".meshpipe-dispatch-*.json"))


# ------------------------------------------------------------------------------------------------ errors


def test_401_wrong_pat_is_one_line_naming_the_variable(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    wrong = "azdoWRONGpat00000000000000000000000000000000000000000"
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, pat=wrong)
    line = one_error_line(result)
    assert f"POST {fake_azure_devops.org_url}/Platform%20Team/_apis/pipelines/{pipeline_id}/runs" in line
    assert "-> 401" in line
    assert "the personal access token in AZURE_DEVOPS_PAT is invalid or expired" in line
    assert_no_secrets(result, wrong, base64.b64encode(f":{wrong}".encode()).decode())


def test_the_sign_in_page_is_never_a_success(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    page = "<html><title>Azure DevOps Services | Sign In</title></html>"
    fake_azure_devops.add_fault(status=203, body=page, method="POST", path=RUNS)
    line = one_error_line(run_dispatcher(fake_azure_devops, tmp_path, pipeline_id))
    assert "-> 203" in line and "invalid or expired" in line
    assert len(run_posts(fake_azure_devops)) == 1


def test_403_read_only_pat_names_the_scope(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    fake_azure_devops.add_pat("azdoREADONLYpat", scopes=["vso.build"])
    line = one_error_line(run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, pat="azdoREADONLYpat"))
    assert "-> 403" in line and "lacks the scope Build (Read & execute)" in line


def test_404_unknown_pipeline_names_project_and_pipeline(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    setup_pipeline(fake_azure_devops)
    line = one_error_line(run_dispatcher(fake_azure_devops, tmp_path, 4242))
    assert "-> 404" in line and "Pipeline with id 4242 not found." in line
    assert f"project 'Platform Team' or pipeline 4242 not found at {fake_azure_devops.org_url}" in line


def test_400_undeclared_parameter_echoes_azures_message(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    line = one_error_line(
        run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, inputs={"name": "x", "surprise": "1"})
    )
    assert "-> 400" in line and "Unexpected parameter 'surprise'" in line
    assert "must be declared in the pipeline's parameters:" in line
    assert fake_azure_devops.runs == []


def test_missing_credentials_name_both_variables(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    line = one_error_line(run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, pat=None))
    assert "set AZURE_DEVOPS_PAT" in line and "AZURE_DEVOPS_TOKEN" in line
    assert fake_azure_devops.log() == []


def test_a_pat_with_a_line_break_is_refused_without_showing_it(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path
) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, pat=PAT + "\nX-Injected: 1")
    line = one_error_line(result)
    assert "AZURE_DEVOPS_PAT contains a control character" in line
    assert_no_secrets(result)
    assert fake_azure_devops.log() == []


def test_secrets_echoed_by_the_server_are_masked(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    """A secret input that fails a parameter check comes back in Azure's message; the PAT's header form in an
    error body too: neither reaches the output."""
    parameters = {**PARAMETERS, "flag": {"type": "boolean"}}
    pipeline_id = setup_pipeline(fake_azure_devops, parameters=parameters)
    result = run_dispatcher(
        fake_azure_devops,
        tmp_path,
        pipeline_id,
        secret_inputs={"flag": "FLAG_SECRET"},
        env={"FLAG_SECRET": SECRET_CANARY},
    )
    line = one_error_line(result)
    assert "The 'flag' parameter value '***' is not a valid Boolean." in line
    assert_no_secrets(result, SECRET_CANARY)
    fake_azure_devops.add_fault(status=400, body={"message": f"bad header Basic {PAT_BASIC}"}, method="POST")
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id)
    assert "bad header Basic ***" in one_error_line(result)
    assert_no_secrets(result)


HOSTILE = {
    "shell": "; touch marker && echo pwned | cat > marker2 & rm -rf / #",
    "quotes": "it's \"quoted\" 'twice'",
    "backticks": "`touch marker`",
    "subshell": "$ (touch marker) $HOME ${HOME}",  # '$(' is refused: a macro (test_dispatch_target_review.py)
    "newlines": "line1\nline2\r\nline3\n",
    "macros": "$[variables.x] ${{ parameters.name }} ##vso[task.setvariable variable=x]y",
    "percent": "%{ for x in y }%{ endfor } %s %n %%",
    "unicode": "grüße 日本語 🚀 \u202e\u0000 \\x00 \\n",
    "big": "x" * 60 * 1024,
}


def test_hostile_inputs_arrive_byte_exact(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    parameters = {**PARAMETERS, **{name: {"type": "string"} for name in HOSTILE}}
    pipeline_id = setup_pipeline(fake_azure_devops, parameters=parameters)
    result = run_dispatcher(fake_azure_devops, tmp_path, pipeline_id, inputs={**HOSTILE, "name": "x"}, wait=True)
    assert result.returncode == 0, result.stderr
    (run,) = fake_azure_devops.runs
    sent = dict(run.template_parameters)
    for name in ("name", CORRELATION, PHASE):
        sent.pop(name)
    assert sent == HOSTILE
    assert list(tmp_path.iterdir()) == []


def test_the_run_body_validates_against_the_official_description(
    fake_azure_devops: FakeAzureDevOps, tmp_path: Path
) -> None:
    description = json.loads(
        (Path(__file__).parents[1] / "fixtures" / "specs" / "azure-devops-pipelines-7.1.json").read_text("utf-8")
    )
    operation = description["paths"]["/{organization}/{project}/_apis/pipelines/{pipelineId}/runs"]["post"]
    body_schema = next(p for p in operation["parameters"] if p.get("in") == "body")["schema"]
    schema = {**body_schema, "definitions": description["definitions"]}
    pipeline_id = setup_pipeline(fake_azure_devops)
    assert run_dispatcher(fake_azure_devops, tmp_path, pipeline_id).returncode == 0
    (post,) = fake_azure_devops.log(method="POST")
    jsonschema.Draft7Validator(schema).validate(post.json())
    assert not jsonschema.Draft7Validator(schema).is_valid({"templateParameters": {"x": 1}})  # the check can fail


# ------------------------------------------------------------------------------------------------ settings


@pytest.fixture
def dispatcher() -> Iterator[ModuleType]:
    sys.modules.pop("dispatch_azure", None)
    yield load_dispatcher("meshpipe_dispatch_azure_under_test")
    sys.modules.pop("dispatch_azure", None)


def settings_data(**azure: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"org_url": "https://dev.azure.com/acme", "project": "Platform", "pipeline_id": 12}
    values.update(azure)
    return {"target": "azure_devops", "azure_devops": {k: v for k, v in values.items() if v is not ...}}


@pytest.mark.parametrize(
    ("azure", "message"),
    [
        ({"pipeline_id": None}, "MESHPIPE_DISPATCH.azure_devops.pipeline_id: required to run a pipeline"),
        ({"pipeline_id": True}, "MESHPIPE_DISPATCH.azure_devops.pipeline_id: expected a positive integer"),
        ({"pipeline_id": "12"}, "MESHPIPE_DISPATCH.azure_devops.pipeline_id: expected a positive integer"),
        ({"pipeline_id": 2**31}, "MESHPIPE_DISPATCH.azure_devops.pipeline_id: expected a positive integer"),
        ({"org_url": "ftp://x"}, "MESHPIPE_DISPATCH.azure_devops.org_url: expected an http(s) URL"),
        ({"org_url": "https://u:p@dev.azure.com/acme"}, "MESHPIPE_DISPATCH.azure_devops.org_url: expected a URL"),
        ({"project": ...}, "MESHPIPE_DISPATCH.azure_devops.project: expected a non-empty string"),
        ({"project": "p" * 65}, "MESHPIPE_DISPATCH.azure_devops.project: expected a project name"),
        ({"project": "a\nb"}, "MESHPIPE_DISPATCH.azure_devops.project: expected a project name"),
        ({"ref": "refs/heads/a b"}, "MESHPIPE_DISPATCH.azure_devops.ref: expected a ref without spaces"),
        ({"auth": {"mode": "basic"}}, "MESHPIPE_DISPATCH.azure_devops.auth.mode: expected one of auto, pat, entra"),
        ({"auth": {"pat": "x"}}, "MESHPIPE_DISPATCH.azure_devops.auth.pat: unknown key"),
        ({"surprise": 1}, "MESHPIPE_DISPATCH.azure_devops.surprise: unknown key"),
    ],
)
def test_settings_errors_name_the_key_path(dispatcher: ModuleType, azure: dict[str, Any], message: str) -> None:
    with pytest.raises(dispatcher.ConfigError, match="^" + re.escape(message)):
        dispatcher.Config(settings_data(**azure), "apply")


def test_a_destroy_tolerates_unknown_keys_and_no_pipeline(dispatcher: ModuleType, capsys: Any) -> None:
    config = dispatcher.Config(settings_data(pipeline_id=None, later="x"), "destroy")
    assert not config.has_target
    assert "azure_devops.later: unknown key" in capsys.readouterr().err


def test_github_keys_are_not_valid_with_target_azure(dispatcher: ModuleType) -> None:
    data = {**settings_data(), "repository": "acme/infra"}
    with pytest.raises(dispatcher.ConfigError, match="not valid with target 'azure_devops'"):
        dispatcher.Config(data, "apply")


def test_identity_and_subject(dispatcher: ModuleType) -> None:
    config = dispatcher.Config(settings_data(), "apply")
    assert config.subject == "pipeline 12 on refs/heads/main of project Platform"
    assert config.settings.identity == ("https://dev.azure.com/acme", "Platform", "12", "refs/heads/main")
    assert config.settings.secret_envs == ("AZURE_DEVOPS_PAT", "AZURE_DEVOPS_TOKEN")


def test_only_the_azure_module_is_imported(fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    """Startup matters: an Azure dispatch imports neither GitHub's module nor its credential code."""
    pipeline_id = setup_pipeline(fake_azure_devops)
    probe = (
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(SCRIPT.parent)!r})\n"
        f"sys.argv = [{str(SCRIPT)!r}, 'apply']\n"
        "try:\n"
        f"    runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('dispatch')), file=sys.stderr)\n"
    )
    encoded = base64.b64encode(json.dumps(config(fake_azure_devops, pipeline_id)).encode()).decode()
    environ = {"PATH": os.environ.get("PATH", ""), "MESHPIPE_DISPATCH_B64_0": encoded, "AZURE_DEVOPS_PAT": PAT}
    started = time.monotonic()
    result = subprocess.run(
        [PYTHON, "-B", "-c", probe], env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert time.monotonic() - started < 30
    modules = result.stderr.strip().splitlines()[-1]
    assert "dispatch_azure" in modules and "dispatch_github" not in modules and "dispatch_auth" not in modules
