"""Specs for GitLab, Azure DevOps and the webhook: each bad spec names the file, the key path and what was expected."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from meshpipe.generator.errors import SpecError
from meshpipe.generator.render import dispatcher_files, render_module
from meshpipe.generator.spec import load_spec, parse_spec

GITLAB: dict[str, Any] = {
    "name": "gl-trigger",
    "description": "A GitLab trigger.",
    "target": "gitlab",
    "gitlab": {"project": "platform/infra"},
}
AZURE: dict[str, Any] = {
    "name": "ado-trigger",
    "description": "An Azure Pipelines trigger.",
    "target": "azure_devops",
    "azure_devops": {"org_url": "https://dev.azure.com/octo", "project": "Platform"},
    "pipelines": {"apply": 12},
}
WEBHOOK: dict[str, Any] = {
    "name": "hook-trigger",
    "description": "A webhook trigger.",
    "target": "webhook",
    "webhook": {"url": "https://hooks.example.com/meshpipe"},
}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data.update(changes)
    return data


def inputs(count: int) -> list[dict[str, Any]]:
    return [{"name": f"input_{i}", "type": "string", "default": "x"} for i in range(count)]


BAD_SPECS = [
    ("unknown_target", with_(GITLAB, target="jenkins"), "target", "expected one of github, gitlab, azure_devops"),
    ("target_block_missing", {k: v for k, v in GITLAB.items() if k != "gitlab"}, "gitlab", "required key is missing"),
    (
        "github_key_with_gitlab",
        with_(GITLAB, workflows={"apply": "a.yml"}),
        "workflows",
        "a GitHub-only key; not used with target gitlab",
    ),
    ("event_with_azure", with_(AZURE, event="workflow_dispatch"), "event", "GitHub-only key; not used with target"),
    ("workflow_inputs_with_webhook", with_(WEBHOOK, workflow_inputs={"default": {}}), "workflow_inputs", "GitHub-only"),
    ("github_block_with_webhook", with_(WEBHOOK, github={"repository": "a/b"}), "github", "GitHub-only key"),
    (
        "pipelines_with_github",
        {"name": "g", "description": "d", "github": {"repository": "a/b"}, "pipelines": {"apply": "main"}},
        "pipelines",
        "not used with target github; it belongs to `target: gitlab` or `target: azure_devops`",
    ),
    (
        "gitlab_block_with_azure",
        with_(AZURE, gitlab={"project": "a/b"}),
        "gitlab",
        "not used with target azure_devops; it belongs to `target: gitlab`",
    ),
    ("events_with_gitlab", with_(GITLAB, events={"apply": "x"}), "events", "it belongs to `target: webhook`"),
    (
        "phase_input_with_github",
        {"name": "g", "description": "d", "github": {"repository": "a/b"}, "phase_input": "phase"},
        "phase_input",
        "not used with target github",
    ),
    ("phase_input_with_webhook", with_(WEBHOOK, phase_input="phase"), "phase_input", "not used with target webhook"),
    ("gitlab_unknown_key", with_(GITLAB, gitlab={"project": "a/b", "repo": "x"}), "gitlab.repo", "unknown key"),
    ("gitlab_project_without_group", with_(GITLAB, gitlab={"project": "infra"}), "gitlab.project", "full path"),
    ("gitlab_project_dash_first", with_(GITLAB, gitlab={"project": "-g/p"}), "gitlab.project", "numeric id"),
    (
        "gitlab_bad_values",
        with_(GITLAB, gitlab={"project": "a/b", "values": "env"}),
        "gitlab.values",
        "expected one of inputs, variables",
    ),
    ("gitlab_bad_api_url", with_(GITLAB, gitlab={"project": "a/b", "api_url": "gitlab.com"}), "gitlab.api_url", "URL"),
    (
        "gitlab_api_url_without_api_v4",
        with_(GITLAB, gitlab={"project": "a/b", "api_url": "https://gitlab.example.com"}),
        "gitlab.api_url",
        "ending in /api/v4",
    ),
    ("gitlab_ref_double_dot", with_(GITLAB, pipelines={"apply": "a..b"}), "pipelines.apply", "without '..'"),
    ("gitlab_ref_space", with_(GITLAB, pipelines={"destroy": "my branch"}), "pipelines.destroy", "branch or tag"),
    ("gitlab_ref_lock", with_(GITLAB, pipelines={"apply": "main.lock"}), "pipelines.apply", "'.lock'"),
    ("gitlab_apply_null", with_(GITLAB, pipelines={"apply": None}), "pipelines.apply", "expected a value"),
    (
        "gitlab_auth_mode",
        with_(GITLAB, auth={"mode": "pat"}),
        "auth.mode",
        "expected one of auto, trigger_token, access_token",
    ),
    ("gitlab_auth_github_key", with_(GITLAB, auth={"app_id_env": "X"}), "auth.app_id_env", "unknown key"),
    ("gitlab_auth_env_name", with_(GITLAB, auth={"token_env": "GL-TOKEN"}), "auth.token_env", "environment variable"),
    (
        "gitlab_input_name",
        with_(GITLAB, inputs=[{"name": "a.b", "value": "x"}]),
        "inputs[0].name",
        "a GitLab spec:inputs name",
    ),
    (
        "gitlab_input_name_dash",  # the rendered pipeline file makes each input a CI/CD variable of the same name
        with_(GITLAB, inputs=[{"name": "my-input", "value": "x"}]),
        "inputs[0].name",
        "a GitLab spec:inputs name that is also a CI/CD variable key",
    ),
    (
        "gitlab_variable_key",
        with_(GITLAB, gitlab={"project": "a/b", "values": "variables"}, inputs=[{"name": "my-var", "value": "x"}]),
        "inputs[0].name",
        "a GitLab CI/CD variable key",
    ),
    ("gitlab_long_input_name", with_(GITLAB, inputs=[{"name": "a" * 256, "value": "x"}]), "inputs[0].name", "GitLab"),
    (
        "gitlab_too_many_inputs",
        with_(GITLAB, inputs=inputs(18)),
        "inputs",
        "21 inputs (18 declared + buildingBlockRunUrl + the correlation input + the phase input) exceed GitLab's "
        "limit of 20",
    ),
    (
        "gitlab_phase_equals_correlation",
        with_(GITLAB, correlation_input="meshpipe_phase"),
        "phase_input",
        "must differ from correlation_input",
    ),
    (
        "gitlab_phase_clashes_with_an_input",
        with_(GITLAB, inputs=[{"name": "meshpipe_phase", "value": "x"}]),
        "inputs[0].name",
        "clashes with phase_input",
    ),
    (
        "gitlab_duplicate_input_case",
        with_(GITLAB, inputs=[{"name": "Env", "value": "a"}, {"name": "env", "value": "b"}]),
        "inputs[1].name",
        "names must differ in more than case",
    ),
    ("azure_missing_org_url", with_(AZURE, azure_devops={"project": "P"}), "azure_devops.org_url", "required key"),
    (
        "azure_project_underscore",
        with_(AZURE, azure_devops={"org_url": "https://dev.azure.com/o", "project": "_p"}),
        "azure_devops.project",
        "an Azure DevOps project name",
    ),
    (
        "azure_project_forbidden_character",
        with_(AZURE, azure_devops={"org_url": "https://dev.azure.com/o", "project": "a/b"}),
        "azure_devops.project",
        "project name",
    ),
    (
        "azure_project_too_long",
        with_(AZURE, azure_devops={"org_url": "https://dev.azure.com/o", "project": "p" * 65}),
        "azure_devops.project",
        "project name",
    ),
    (
        "azure_short_ref",
        with_(AZURE, azure_devops={"org_url": "https://dev.azure.com/o", "project": "P", "ref": "main"}),
        "azure_devops.ref",
        "a full ref such as refs/heads/main",
    ),
    ("azure_pipeline_id_text", with_(AZURE, pipelines={"apply": "12"}), "pipelines.apply", "a pipeline id"),
    ("azure_pipeline_id_zero", with_(AZURE, pipelines={"apply": 0}), "pipelines.apply", "positive integer"),
    ("azure_pipeline_id_bool", with_(AZURE, pipelines={"apply": True}), "pipelines.apply", "positive integer"),
    ("azure_pipeline_id_null", with_(AZURE, pipelines={"apply": None}), "pipelines.apply", "expected a value"),
    ("azure_destroy_id_float", with_(AZURE, pipelines={"apply": 1, "destroy": 1.5}), "pipelines.destroy", "integer"),
    (
        "azure_parameter_name",
        with_(AZURE, inputs=[{"name": "my-param", "value": "x"}]),
        "inputs[0].name",
        "an Azure Pipelines parameter name",
    ),
    ("azure_auth_mode", with_(AZURE, auth={"mode": "token"}), "auth.mode", "expected one of auto, pat, entra"),
    (
        "azure_correlation_name",
        with_(AZURE, correlation_input="correlation-id"),
        "correlation_input",
        "Azure Pipelines parameter name",
    ),
    (
        "webhook_plain_http",
        with_(WEBHOOK, webhook={"url": "http://hooks.example.com/x"}),
        "webhook.url",
        "http:// only to 127.0.0.1, localhost or [::1]",
    ),
    (
        "webhook_credentials_in_url",
        with_(WEBHOOK, webhook={"url": "https://user:secret@hooks.example.com/x"}),
        "webhook.url",
        "without credentials",
    ),
    ("webhook_missing_url", with_(WEBHOOK, webhook={}), "webhook.url", "required key is missing"),
    ("webhook_event_space", with_(WEBHOOK, events={"apply": "do it"}), "events.apply", "an event name"),
    ("webhook_auth_mode", with_(WEBHOOK, auth={"mode": "auto"}), "auth.mode", "unknown key"),
    ("webhook_secret_env", with_(WEBHOOK, auth={"secret_env": ""}), "auth.secret_env", "environment variable name"),
]


@pytest.mark.parametrize(("data", "path", "message"), [case[1:] for case in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_target_spec_is_rejected_with_file_key_path_and_expectation(data: Any, path: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(data, "target.yaml")
    assert caught.value.source == "target.yaml"
    assert caught.value.path == path
    assert message in caught.value.detail


def test_omitted_target_settings_are_exposed_with_the_standard_defaults() -> None:
    gitlab = parse_spec({**GITLAB, "gitlab": {"project": {"required": True}}}, "gl.yaml")
    assert [v.name for v in gitlab.variables] == [
        "gitlab_api_url",
        "gitlab_project",
        "apply_ref",
        "destroy_ref",
        "forward_run_url",
        "correlation_input",
        "phase_input",
        "redispatch",
        "wait_for_completion",
        "wait_timeout_seconds",
        "poll_interval_seconds",
        "python",
        "meshstack_building_block_id",
        "meshstack_building_block_run_id",
        "meshstack_building_block_run_b64",
    ]
    defaults = {v.name: v.default for v in gitlab.variables}
    assert defaults["gitlab_api_url"] == "https://gitlab.com/api/v4" and defaults["apply_ref"] == "main"
    assert defaults["phase_input"] == "meshpipe_phase" and defaults["destroy_ref"] is None
    assert gitlab.auth_settings == {
        "mode": "auto",
        "trigger_token_env": "GITLAB_TRIGGER_TOKEN",
        "token_env": "GITLAB_TOKEN",
    }
    azure = parse_spec(AZURE, "ado.yaml")
    assert {v.name: v.default for v in azure.variables}["azure_devops_ref"] == "refs/heads/main"
    assert {v.name: v.type for v in azure.variables}["destroy_pipeline_id"] == "number"
    webhook = parse_spec(WEBHOOK, "hook.yaml")
    names = [v.name for v in webhook.variables]
    assert names[:3] == ["apply_event", "destroy_event", "forward_run_url"] and "phase_input" not in names
    assert webhook.auth_settings == {"secret_env": "MESHPIPE_WEBHOOK_SECRET", "token_env": ""}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://localhost/x", "http://[::1]:9000", "https://h.example/a?b=c"]
)
def test_the_webhook_may_use_plain_http_only_to_this_machine(url: str) -> None:
    assert parse_spec(with_(WEBHOOK, webhook={"url": url}), "hook.yaml").api_url.value == url


@pytest.mark.parametrize(
    "api_url", ["https://gitlab.com/api/v4", "https://git.example.com/gitlab/api/v4/", "http://127.0.0.1:8929/api/v4"]
)
def test_gitlab_api_urls_of_self_managed_instances_are_accepted(api_url: str) -> None:
    spec = parse_spec(with_(GITLAB, gitlab={"project": "a/b", "api_url": api_url}), "gl.yaml")
    assert spec.api_url.value == api_url


def test_gitlab_accepts_numeric_ids_subgroups_and_twenty_inputs() -> None:
    spec = parse_spec(with_(GITLAB, gitlab={"project": "4711"}, inputs=inputs(17)), "gl.yaml")
    assert spec.repository is not None and spec.repository.value == "4711" and spec.input_limit == 20
    deep = parse_spec(with_(GITLAB, gitlab={"project": "a/b.c/d_e-f"}), "gl.yaml")
    assert deep.repository is not None and deep.repository.value == "a/b.c/d_e-f"
    # CI/CD variables have no count limit a module can check (the instance's plan limit applies)
    many = with_(GITLAB, gitlab={"project": "a/b", "values": "variables"}, inputs=inputs(40))
    assert parse_spec(many, "gl.yaml").input_limit is None


def test_a_target_spec_error_in_a_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gl.yaml"
    path.write_text("name: gl\ndescription: d\ntarget: gitlab\ngitlab:\n  project: nogroup\n", encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert str(caught.value).startswith(f"{path}:5: gitlab.project: expected a project's full path")


def test_credentials_follow_the_auth_mode() -> None:
    def names(base: dict[str, Any], auth: dict[str, Any], **extra: Any) -> list[str]:
        return [name for name, _ in parse_spec(with_(base, auth=auth, **extra), "x.yaml").environment]

    assert names(GITLAB, {}) == ["GITLAB_TRIGGER_TOKEN", "GITLAB_TOKEN"]
    assert names(GITLAB, {"mode": "access_token"}) == ["GITLAB_TOKEN"]
    assert names(GITLAB, {"mode": "trigger_token", "token_env": "READER"}) == ["GITLAB_TRIGGER_TOKEN", "READER"]
    assert names(AZURE, {"mode": "entra"}) == ["AZURE_DEVOPS_TOKEN"]
    assert names(AZURE, {"pat_env": "ADO_PAT"}) == ["ADO_PAT", "AZURE_DEVOPS_TOKEN"]
    assert names(WEBHOOK, {"token_env": "HOOK_TOKEN"}) == ["MESHPIPE_WEBHOOK_SECRET", "HOOK_TOKEN"]
    secret = [{"name": "api_key", "sensitive": True, "env": "API_KEY"}]
    assert names(WEBHOOK, {}, inputs=secret) == ["MESHPIPE_WEBHOOK_SECRET", "API_KEY"]


def test_each_target_ships_only_its_own_dispatcher_files() -> None:
    common = ["dispatch.py", "dispatch_base.py", "dispatch_net.py", "dispatch_client.py", "dispatch_once.py"]
    assert list(dispatcher_files("github")) == [*common, "dispatch_github.py", "dispatch_auth.py"]
    assert list(dispatcher_files("gitlab")) == [*common, "dispatch_gitlab.py"]
    assert list(dispatcher_files("azure_devops")) == [*common, "dispatch_azure.py"]
    assert list(dispatcher_files("webhook")) == [*common, "dispatch_webhook.py"]


def test_a_missing_dispatcher_file_fails_the_render_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from meshpipe.generator import render

    monkeypatch.setitem(render.TARGET_DISPATCHER_FILES, "webhook", ("dispatch_nowhere.py",))
    with pytest.raises(Exception, match=r"assets/dispatch_nowhere\.py.*target webhook"):
        render_module(parse_spec(WEBHOOK, "hook.yaml"), spec_path="hook.yaml")
    files = render_module(parse_spec(WEBHOOK, "hook.yaml"), spec_path="hook.yaml", dispatcher=False)
    assert not any(name.endswith(".py") for name in files) and "main.tf" in files


@pytest.mark.parametrize("base", [GITLAB, AZURE, WEBHOOK], ids=["gitlab", "azure_devops", "webhook"])
def test_target_modules_render_deterministically(base: dict[str, Any]) -> None:
    first = render_module(parse_spec(base, "x.yaml"), spec_path="x.yaml", dispatcher=False)
    second = render_module(parse_spec(copy.deepcopy(base), "x.yaml"), spec_path="x.yaml", dispatcher=False)
    assert first == second
    assert all(text.splitlines()[0].lstrip("<!- #").startswith("Generated by meshpipe") for text in first.values())


def test_every_spec_example_in_the_generator_readme_is_valid() -> None:
    import re

    import yaml

    text = (Path(__file__).resolve().parents[2] / "generator" / "README.md").read_text(encoding="utf-8")
    specs = [
        data for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if "name" in (data := yaml.safe_load(block))
    ]
    assert {parse_spec(data, "generator/README.md").target for data in specs} == {"github", "gitlab"}
