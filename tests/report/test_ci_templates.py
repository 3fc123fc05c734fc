"""The GitLab CI and Azure Pipelines templates drive the job flow against the fake meshStack (issue 12 item 4).

Each test runs the committed template's script lines in an emulated job of that CI (``ci_emulation``): the
committed bundle fetched by ``file://`` URL and checked against its pinned sha256, a bare ``python3``, the CI's
variables, register -> the job's steps -> finish from the CI's job status, also after a failed step. Credentials are
an API key whose secret is a canary that must never appear in a job log, in an output or in a dotenv file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshpipe.fakes.meshstack import FakeMeshStack, FakeRun
from meshpipe.report._bundle import BUNDLE
from meshpipe.report.ci_azure import escape
from tests.report.ci_emulation import (
    AZURE_TEMPLATE,
    GITLAB_TEMPLATE,
    ROOT,
    azure_steps,
    gitlab_template,
    run_azure_job,
    run_gitlab_job,
)

PYZ = ROOT / BUNDLE
CLIENT_ID = "ci-template-client"
SECRET = "canary-client-secret-5f1e"
SENSITIVE = "canary-sensitive-input-77a"
HOSTILE = "x ##vso[task.setvariable variable=EVIL]pwned $(touch pwned) `touch pwned2`; echo ]"


@pytest.fixture
def ci_run(fake_meshstack: FakeMeshStack) -> FakeRun:
    fake_meshstack.add_api_key(CLIENT_ID, SECRET)
    return fake_meshstack.create_run(
        inputs=[
            {"key": "bucket_name", "value": "alpha", "type": "STRING"},
            {"key": "password", "value": SENSITIVE, "type": "STRING", "isSensitive": True},
            {"key": "note", "value": HOSTILE, "type": "STRING"},
        ]
    )


def _bare_python(directory: Path) -> str:
    """A ``python3`` that sees no installed package (``-I -S``): what a fresh image offers."""
    path = directory / "bare-python3"
    path.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -S "$@"\n')
    path.chmod(0o755)
    return str(path)


def _base_env(**extra: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env["MESHPIPE_RETRY_BASE_DELAY"] = "0.01"
    env.update(extra)
    return env


def _sha256() -> str:
    return hashlib.sha256(PYZ.read_bytes()).hexdigest()


def _steps(fake: FakeMeshStack, run: FakeRun, source: str) -> list[tuple[str, str, str]]:
    return [(s["id"], s["displayName"], s["status"]) for s in fake.run(run.uuid).sources[source]["steps"]]


# -- GitLab CI --------------------------------------------------------------------------------------------------


class GitLab:
    """One emulated GitLab job directory with the CI's predefined variables."""

    def __init__(self, fake: FakeMeshStack, run: FakeRun, tmp_path: Path) -> None:
        self.fake, self.run = fake, run
        self.project = tmp_path / "builds" / "acme" / "blocks"
        self.project.mkdir(parents=True)
        self.env = _base_env(
            GITLAB_CI="true",
            CI="true",
            CI_JOB_ID="4711",
            CI_JOB_URL="https://gitlab.example/acme/blocks/-/jobs/4711",
            RUNNER_TEMP_PROJECT_DIR=f"{self.project}.tmp",
            MESHSTACK_ENDPOINT=fake.url,
            MESHSTACK_CLIENT_ID=CLIENT_ID,
            MESHSTACK_CLIENT_SECRET=SECRET,
            buildingBlockRunUrl=run.url,  # a pipeline started with variables
        )
        self.inputs: dict[str, Any] = {
            "steps": "plan=Terraform plan\n  apply=Terraform apply\n",
            "bundle-url": PYZ.as_uri(),
            "bundle-sha256": _sha256(),
            "python": _bare_python(tmp_path),
        }

    def __call__(self, *script: str, cancel: bool = False, **inputs: Any) -> Any:
        template = gitlab_template({**self.inputs, **inputs})
        job = {"extends": ".meshpipe", "script": list(script)}
        return run_gitlab_job(template, job, project_dir=self.project, env=self.env, cancel=cancel)


@pytest.fixture
def gitlab(fake_meshstack: FakeMeshStack, ci_run: FakeRun, tmp_path: Path) -> GitLab:
    return GitLab(fake_meshstack, ci_run, tmp_path)


def test_gitlab_job_registers_runs_its_steps_and_finishes_with_the_job_status(gitlab: GitLab) -> None:
    log = gitlab(
        "meshpipe run exec plan -- sh -c 'echo planned'",
        "meshpipe run exec apply --user-message 'Bucket ready' -- sh -c 'echo applied'",
        "mkdir -p sub && cd sub && meshpipe run show --ci-output",  # the dotenv file is still the project's
    )
    assert log.exit_codes == [0, 0], log.text
    run = gitlab.fake.run(gitlab.run.uuid)
    source = run.sources["gitlab"]
    assert _steps(gitlab.fake, gitlab.run, "gitlab") == [
        ("plan", "Terraform plan", "SUCCEEDED"),
        ("apply", "Terraform apply", "SUCCEEDED"),
    ]
    assert source["status"] == "SUCCEEDED"
    assert (source["externalRunId"], source["externalRunUrl"]) == ("4711", gitlab.env["CI_JOB_URL"])
    assert source["steps"][1]["systemMessage"] == "applied"
    # Outputs as a dotenv report: sensitive and hostile (multi-line-free but not name-safe) values handled.
    dotenv = (gitlab.project / "meshpipe.env").read_text()
    assert dotenv.splitlines()[:3] == ["behavior=APPLY", f"run_url={gitlab.run.url}", "bucket_name=alpha"]
    assert "note=" + HOSTILE.replace("$", "$$") in dotenv.splitlines()  # $$: GitLab's escape for a literal $
    assert "password" not in dotenv and SENSITIVE not in dotenv
    assert "input 'password' is sensitive; not written to the dotenv file" in log.text
    # The summary has no place in GitLab but the log; the state stayed beside the project, private.
    assert "### meshStack run SUCCEEDED" in log.text
    state = Path(gitlab.env["RUNNER_TEMP_PROJECT_DIR"]) / "meshpipe-job-4711"
    assert (state / "meshpipe_run_state.json").is_file() and state.stat().st_mode & 0o077 == 0
    assert not (gitlab.project / ".meshpipe").exists()
    assert SECRET not in log.text and SENSITIVE not in log.text


def test_gitlab_after_script_finishes_failed_when_a_step_fails(gitlab: GitLab) -> None:
    log = gitlab(
        "meshpipe run exec plan -- sh -c 'echo planned'",
        "meshpipe run exec apply -- sh -c 'echo quota exceeded; exit 3'",
        "touch never-reached",
    )
    assert log.exit_codes == [3, 0], log.text
    assert _steps(gitlab.fake, gitlab.run, "gitlab") == [
        ("plan", "Terraform plan", "SUCCEEDED"),
        ("apply", "Terraform apply", "FAILED"),
    ]
    assert gitlab.fake.run(gitlab.run.uuid).sources["gitlab"]["status"] == "FAILED"
    assert not (gitlab.project / "never-reached").exists()
    assert SECRET not in log.text


def test_gitlab_cancelled_job_ends_the_run_aborted(gitlab: GitLab) -> None:
    log = gitlab("true", cancel=True)
    assert log.exit_codes == [0, 0], log.text
    assert gitlab.fake.run(gitlab.run.uuid).sources["gitlab"]["status"] == "ABORTED"


def test_gitlab_inputs_reach_the_scripts_only_as_data(gitlab: GitLab, tmp_path: Path) -> None:
    hostile_steps = 'a=$(touch pwned) `touch pwned2`\nb=it\'s "quoted" * ; exit 1\n'
    log = gitlab("true", steps=hostile_steps, **{"source-id": "gitlab-$(touch pwned3)"})
    assert log.exit_codes == [0, 0], log.text
    source = gitlab.fake.run(gitlab.run.uuid).sources["gitlab-$(touch pwned3)"]
    assert [s["displayName"] for s in source["steps"]] == ["$(touch pwned) `touch pwned2`", 'it\'s "quoted" * ; exit 1']
    assert not list(tmp_path.rglob("pwned*"))


def test_gitlab_run_url_input_wins_over_the_variable(gitlab: GitLab, fake_meshstack: FakeMeshStack) -> None:
    """Pipelines started with spec:inputs pass the run URL to the template's run-url input (MESHSTACK_RUN_URL)."""
    other = fake_meshstack.create_run()
    log = gitlab("true", **{"run-url": other.url})
    assert log.exit_codes == [0, 0], log.text
    assert fake_meshstack.run(other.uuid).sources["gitlab"]["status"] == "SUCCEEDED"
    assert "gitlab" not in fake_meshstack.run(gitlab.run.uuid).sources


def test_gitlab_best_effort_keeps_the_job_green_when_meshstack_is_unreachable(gitlab: GitLab) -> None:
    unreachable = "http://127.0.0.1:9"  # the discard port: nothing listens
    gitlab.env.update(
        MESHSTACK_ENDPOINT=unreachable,
        buildingBlockRunUrl=f"{unreachable}/api/meshobjects/meshbuildingblockruns/r1",
        MESHPIPE_RETRY_ATTEMPTS="1",
    )
    log = gitlab("true", **{"best-effort": True})
    assert log.exit_codes == [0, 0], log.text
    assert log.text.count("meshStack could not be reached, continuing (--best-effort)") == 2
    strict = gitlab("true")
    assert strict.exit_codes[0] == 1 and strict.exit_codes[1] == 1


def test_gitlab_without_the_runners_temp_dir_keeps_state_under_the_project(gitlab: GitLab) -> None:
    del gitlab.env["RUNNER_TEMP_PROJECT_DIR"]
    log = gitlab("meshpipe run exec plan -- true")
    assert log.exit_codes == [0, 0], log.text
    assert gitlab.fake.run(gitlab.run.uuid).sources["gitlab"]["status"] == "SUCCEEDED"
    state = gitlab.project / ".meshpipe" / "meshpipe-job-4711"
    assert (state / "meshpipe_run_state.json").is_file() and state.stat().st_mode & 0o077 == 0


def test_gitlab_refuses_a_bundle_that_is_not_the_pinned_one(gitlab: GitLab) -> None:
    log = gitlab("true", **{"bundle-sha256": "0" * 64})
    assert log.exit_codes[0] != 0
    assert f"has sha256 {_sha256()}, not the pinned {'0' * 64}; refusing to run it" in log.text
    assert gitlab.fake.log() == []


def _home(gitlab: GitLab) -> Path:
    return Path(f"{gitlab.project}.tmp") / f"meshpipe-{_sha256()[:16]}"


def _evil_pyz(path: Path, marker: Path) -> None:
    """A zipapp that leaves ``marker`` when it runs: what a poisoned cache holds."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__main__.py", f"open({str(marker)!r}, 'w').close()\n")


def test_gitlab_kept_bundle_is_rehashed_and_a_poisoned_cache_never_runs(gitlab: GitLab, tmp_path: Path) -> None:
    """Reproduction: the directory the bundle is kept in outlives the job (shell executor, reused builds volume);
    another pipeline planted bin/meshpipe, lib/__main__.py and a bin/terraform there, and the next job ran them
    with its credentials, because a kept bundle was trusted by its path alone."""
    home, marker = _home(gitlab), tmp_path / "pwned"
    (home / "bin").mkdir(parents=True)
    (home / "lib").mkdir()
    for planted in (home / "bin" / "meshpipe", home / "bin" / "terraform", home / "lib" / "__main__.py"):
        planted.write_text(f"#!/bin/sh\ntouch {marker}\n")
        planted.chmod(0o755)
    _evil_pyz(home / "meshpipe.pyz", marker)
    log = gitlab("meshpipe run exec plan -- true")
    assert log.exit_codes == [0, 0], log.text
    assert not marker.exists() and sorted(p.name for p in (home / "bin").iterdir()) == ["meshpipe"]
    assert hashlib.sha256((home / "meshpipe.pyz").read_bytes()).hexdigest() == _sha256()
    assert gitlab.fake.run(gitlab.run.uuid).sources["gitlab"]["status"] == "SUCCEEDED"


def test_gitlab_bundle_swapped_during_the_job_is_refused_by_the_wrapper(gitlab: GitLab, tmp_path: Path) -> None:
    evil, marker = tmp_path / "evil.pyz", tmp_path / "pwned"
    _evil_pyz(evil, marker)
    log = gitlab(f'cp {evil} "$MESHPIPE_HOME/meshpipe.pyz"', "meshpipe run exec plan -- true")
    assert log.exit_codes[0] != 0 and not marker.exists()
    assert "meshpipe.pyz is not the pinned bundle any more; refusing to run it" in log.text
    assert log.exit_codes[1] == 0  # after_script fetches the pinned bundle again and finishes the run
    assert gitlab.fake.run(gitlab.run.uuid).sources["gitlab"]["status"] == "FAILED"


def test_gitlab_bundle_url_comes_from_the_ci_variable_when_the_input_is_empty(gitlab: GitLab) -> None:
    gitlab.env["MESHPIPE_BUNDLE_URL"] = PYZ.as_uri()  # a project or group CI/CD variable
    log = gitlab("true", **{"bundle-url": ""})
    assert log.exit_codes == [0, 0], log.text


def test_gitlab_bundle_download_is_bounded_in_time_and_size(gitlab: GitLab) -> None:
    from tests.report.servers import drip, endless_body, raw_server

    gitlab.env["MESHPIPE_BUNDLE_MAX_SECONDS"] = "2"
    with raw_server(drip(interval=0.2, seconds=60)) as slow:
        log = gitlab("true", **{"bundle-url": slow.url + "/meshpipe.pyz"})
    assert log.exit_codes[0] != 0 and "took longer than 2 s; refusing it" in log.text, log.text
    del gitlab.env["MESHPIPE_BUNDLE_MAX_SECONDS"]
    with raw_server(endless_body()) as endless:
        log = gitlab("true", **{"bundle-url": endless.url + "/meshpipe.pyz"})
    assert log.exit_codes[0] != 0 and "is larger than 50000000 bytes; refusing it" in log.text, log.text
    assert gitlab.fake.log() == []


def test_gitlab_template_requires_the_pinned_sha256() -> None:
    with pytest.raises(AssertionError, match="required input 'bundle-sha256'"):
        gitlab_template({})


# -- Azure Pipelines --------------------------------------------------------------------------------------------


class Azure:
    """One emulated Azure Pipelines job: pipeline variables (secrets among them) and the agent's environment."""

    def __init__(self, fake: FakeMeshStack, run: FakeRun, tmp_path: Path) -> None:
        self.fake, self.run = fake, run
        self.temp = tmp_path / "agent-temp"
        self.temp.mkdir()
        self.work = tmp_path / "s"
        self.work.mkdir()
        self.variables = {
            "buildingBlockRunUrl": run.url,
            "MESHSTACK_ENDPOINT": fake.url,
            "MESHSTACK_CLIENT_ID": CLIENT_ID,
            "MESHSTACK_CLIENT_SECRET": SECRET,  # a secret variable: exported only where env: maps it
        }
        self.env = _base_env(
            TF_BUILD="True",
            AGENT_TEMPDIRECTORY=str(self.temp),
            BUILD_BUILDID="981",
            SYSTEM_COLLECTIONURI="https://dev.azure.com/acme/",
            SYSTEM_TEAMPROJECT="Platform Blocks",
        )
        self.parameters: dict[str, Any] = {
            "reportSteps": "plan=Terraform plan\napply=Terraform apply",
            "bundleUrl": PYZ.as_uri(),
            "bundleSha256": _sha256(),
            "python": _bare_python(tmp_path),
        }

    def __call__(self, *scripts: str, **parameters: Any) -> Any:
        job_steps = [
            {"bash": script, "env": {"MESHSTACK_CLIENT_SECRET": "$(MESHSTACK_CLIENT_SECRET)"}} for script in scripts
        ]
        steps = azure_steps({**self.parameters, "jobSteps": job_steps, **parameters})
        return run_azure_job(steps, variables=self.variables, base_env=self.env, workdir=self.work)


@pytest.fixture
def azure(fake_meshstack: FakeMeshStack, ci_run: FakeRun, tmp_path: Path) -> Azure:
    return Azure(fake_meshstack, ci_run, tmp_path)


def test_azure_job_registers_runs_its_steps_and_finishes_with_the_job_status(azure: Azure) -> None:
    log = azure(
        "meshpipe run exec plan -- sh -c 'echo planned'",
        "meshpipe run exec apply -- sh -c 'echo applied'",
        "meshpipe run show --ci-output",
    )
    assert log.exit_codes == [0, 0, 0, 0, 0], log.text
    source = azure.fake.run(azure.run.uuid).sources["azure-pipelines"]
    assert _steps(azure.fake, azure.run, "azure-pipelines") == [
        ("plan", "Terraform plan", "SUCCEEDED"),
        ("apply", "Terraform apply", "SUCCEEDED"),
    ]
    assert source["status"] == "SUCCEEDED"
    assert source["externalRunUrl"] == "https://dev.azure.com/acme/Platform%20Blocks/_build/results?buildId=981"
    # Later steps found `meshpipe` through task.prependpath; outputs are output variables, the sensitive one secret.
    assert log.prepended and log.prepended[0].startswith(str(azure.temp))
    assert log.variables["behavior"] == ("APPLY", {"variable": "behavior", "isOutput": "true"})
    assert log.variables["bucket_name"][0] == "alpha"
    assert log.variables["note"][0] == HOSTILE and "EVIL" not in log.variables
    # (meshStack hands a sensitive input out encrypted; that value is still kept secret)
    value, properties = log.variables["password"]
    assert properties == {"variable": "password", "isOutput": "true", "issecret": "true"}
    assert value in log.secrets and log.text.index("##vso[task.setsecret]" + escape(value)) < log.text.index(
        "password;"
    )
    # The secret never reaches the log; the sensitive input only inside logging commands, which the agent consumes.
    assert SECRET not in log.text
    for line in log.text.splitlines():
        if SENSITIVE in line:
            assert line.startswith(("##vso[task.setsecret]", "##vso[task.setvariable variable=password;")), line
    # The summary is attached as a file in the agent's temp directory.
    (summary,) = azure.temp.glob("meshpipe-summary-*.md")
    assert summary.read_text().startswith("### meshStack run SUCCEEDED\n")
    assert f"##vso[task.uploadsummary]{summary}" in log.text


def test_azure_final_step_runs_always_and_finishes_failed(azure: Azure) -> None:
    log = azure(
        "meshpipe run exec plan -- sh -c 'echo planned'",
        "meshpipe run exec apply -- sh -c 'exit 4'",
        "touch never-reached",
    )
    assert log.exit_codes == [0, 0, 4, 0], log.text  # the third job step is skipped, finish runs
    assert _steps(azure.fake, azure.run, "azure-pipelines")[1] == ("apply", "Terraform apply", "FAILED")
    assert azure.fake.run(azure.run.uuid).sources["azure-pipelines"]["status"] == "FAILED"
    assert not (azure.work / "never-reached").exists()


def test_azure_step_that_does_not_map_the_secret_fails_with_the_hint(azure: Azure) -> None:
    """Azure exports a secret variable only where ``env:`` maps it; the plain client id is everywhere."""
    job_steps = [{"bash": "meshpipe run exec plan -- true"}]
    steps = azure_steps({**azure.parameters, "jobSteps": job_steps})
    log = run_azure_job(steps, variables=azure.variables, base_env=azure.env, workdir=azure.work)
    assert log.exit_codes == [0, 1, 0], log.text
    assert (
        "MESHSTACK_CLIENT_ID and MESHSTACK_CLIENT_SECRET must be set together (Azure Pipelines: map the secret "
        "variable into this step with env: {MESHSTACK_CLIENT_SECRET: $(MESHSTACK_CLIENT_SECRET)})"
    ) in log.text
    assert azure.fake.run(azure.run.uuid).sources["azure-pipelines"]["status"] == "FAILED"
    assert SECRET not in log.text


def test_azure_show_defuses_logging_commands_in_values(azure: Azure) -> None:
    """The agent obeys ``##vso[`` anywhere in a line: printing an input must not set a variable."""
    log = azure("meshpipe run show")
    assert log.exit_codes == [0, 0, 0], log.text
    assert "EVIL" not in log.variables
    assert "note = x ## vso[task.setvariable variable=EVIL]pwned" in log.text


def test_azure_parameters_reach_the_scripts_only_as_data(azure: Azure, tmp_path: Path) -> None:
    log = azure(reportSteps="a=$(touch pwned) ]; ##vso[task.setvariable variable=EVIL]x\nb=`touch pwned2`")
    assert log.exit_codes == [0, 0], log.text
    names = [s[1] for s in _steps(azure.fake, azure.run, "azure-pipelines")]
    assert names == ["$(touch pwned) ]; ##vso[task.setvariable variable=EVIL]x", "`touch pwned2`"]
    assert not list(tmp_path.rglob("pwned*")) and "EVIL" not in log.variables


def test_azure_run_url_parameter_cannot_expand_a_macro(azure: Azure) -> None:
    """Reproduction: a run URL parameter holding ``$(MESHSTACK_CLIENT_SECRET)`` reached ``env:`` as it was, the agent
    expanded the macro, and the secret travelled in the run URL (printed, sent, written as the run_url output)."""
    log = azure("true", runUrl=azure.run.url + "/$(MESHSTACK_CLIENT_SECRET)")  # no such run: register fails
    assert SECRET not in log.text
    assert azure.run.url + "/%24(MESHSTACK_CLIENT_SECRET)/status/source" in log.text, log.text


def test_azure_fetch_errors_are_defused(azure: Azure, tmp_path: Path) -> None:
    """Reproduction: the fetch step's error quoted the bundle URL (a parameter) as is, on stderr, which the agent
    reads for logging commands too."""
    log = azure("true", bundleUrl=(tmp_path / "none" / "##vso[task.setvariable variable=EVIL]x").as_uri())
    assert log.exit_codes[0] != 0 and "cannot fetch" in log.text
    assert "EVIL" not in log.variables and "## vso[task.setvariable variable=EVIL]x" in log.text


def test_template_inputs_never_become_script_text() -> None:
    """Inputs and parameters are spliced in before any shell runs: they may only fill variables, never scripts."""
    gitlab_body = list(yaml.safe_load_all(GITLAB_TEMPLATE.read_text()))[1]
    scripts = gitlab_body[".meshpipe-fetch"] + gitlab_body[".meshpipe"]["before_script"][1:]
    scripts += gitlab_body[".meshpipe"]["after_script"][1:]
    assert scripts and all("$[[" not in line for line in scripts)
    for name, value in gitlab_body[".meshpipe"]["variables"].items():
        assert value["expand"] is False, name  # GitLab would otherwise expand $NAME inside an input's value
    azure = yaml.safe_load(AZURE_TEMPLATE.read_text())
    bash_steps = [step for step in azure["steps"] if "bash" in step]
    assert len(bash_steps) == 2
    for step in bash_steps:
        # no template expression and no $(macro): the agent would splice a value into the script text
        assert "${{" not in step["bash"] and not re.search(r"\$\([\w.]+\)", step["bash"])
        expressions = (
            r"\$\{\{ parameters\.\w+ \}\}|\$\{\{ replace\(parameters\.\w+, '\$\(', '%24\('\) \}\}|\$\([\w.]+\)"
        )
        assert all(re.fullmatch(expressions, v) for v in step["env"].values())
    assert bash_steps[-1]["condition"] == "always()"


# -- the README's snippets use the templates as they are ----------------------------------------------------------


def _readme_blocks() -> list[str]:
    """The YAML blocks of the README's section on GitLab CI and Azure Pipelines."""
    marker = "<!-- ci-reporter-section -->"
    text = (ROOT / "README.md").read_text()
    assert marker in text, "the README section on GitLab CI and Azure Pipelines is missing"
    section = text.split(marker)[1].split("<!-- /ci-reporter-section -->")[0]
    return re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)


def test_readme_gitlab_pipeline_passes_only_declared_inputs_and_extends_the_template() -> None:
    (block,) = [b for b in _readme_blocks() if b.startswith("# .gitlab-ci.yml")]
    spec, pipeline = yaml.safe_load_all(block)
    declared = set(next(yaml.safe_load_all(GITLAB_TEMPLATE.read_text()))["spec"]["inputs"])
    (include,) = pipeline["include"]
    assert include["remote"].endswith("/action/gitlab/meshpipe.yml")
    assert set(include["inputs"]) <= declared and "bundle-sha256" in include["inputs"]
    assert (
        include["inputs"]["run-url"] == "$[[ inputs.buildingBlockRunUrl ]]"
        and "buildingBlockRunUrl" in spec["spec"]["inputs"]
    )
    assert "$[[ inputs.correlation_id ]]" in pipeline["workflow"]["name"]
    assert pipeline["apply"]["extends"] == ".meshpipe" and "before_script" not in pipeline["apply"]
    assert all("$[[" not in line for line in pipeline["apply"]["script"])  # inputs only through variables


def test_readme_azure_pipeline_passes_only_declared_parameters_and_maps_the_secret() -> None:
    (block,) = [b for b in _readme_blocks() if b.startswith("# azure-pipelines.yml")]
    pipeline = yaml.safe_load(block)
    declared = {p["name"] for p in yaml.safe_load(AZURE_TEMPLATE.read_text())["parameters"]}
    steps = pipeline["jobs"][0]["steps"]
    (use,) = [s for s in steps if "template" in s]
    assert use["template"] == "action/azure-pipelines/meshpipe-steps.yml@meshpipe"
    assert set(use["parameters"]) <= declared and "bundleSha256" in use["parameters"]
    assert {"buildingBlockRunUrl", "correlation_id", "meshpipe_phase"} <= {p["name"] for p in pipeline["parameters"]}
    for step in use["parameters"]["jobSteps"]:
        assert step["env"]["MESHSTACK_CLIENT_SECRET"] == "$(MESHSTACK_CLIENT_SECRET)", step
        assert "${{" not in step["bash"]
