"""GitLab and Azure Pipelines specs refuse what would leak or be misread in the pipeline: input names that are
already environment variables of the job (reserved names), secret inputs without ``allow_secret_inputs: true``, and
service URLs with a query, a fragment or credentials. Each error names the file and the key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from meshpipe.generator.errors import SpecError
from meshpipe.generator.spec import load_spec, parse_spec
from tests.generator.test_spec_targets import AZURE, GITLAB, WEBHOOK

SECRET = {"name": "api_key", "sensitive": True, "env": "API_KEY"}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def typed(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "type": "string", "default": "x"}]


def failure(data: dict[str, Any]) -> SpecError:
    with pytest.raises(SpecError) as caught:
        parse_spec(data, "safety.yaml")
    return caught.value


# ------------------------------------------------------------------------------------------------ reserved names

RESERVED = [
    (GITLAB, "MESHPIPE_BUNDLE_URL", "MESHPIPE*"),
    (GITLAB, "meshpipe_steps", "MESHPIPE*"),
    (GITLAB, "MESHSTACK_RUN_URL", "MESHSTACK*"),
    (GITLAB, "buildingBlockRun", "run object"),
    (GITLAB, "CI_COMMIT_REF_NAME", "CI*"),
    (GITLAB, "GITLAB_USER_LOGIN", "GITLAB*"),
    (GITLAB, "FF_USE_FASTZIP", "feature flags"),
    (GITLAB, "TRIGGER_PAYLOAD", "file variable"),
    (AZURE, "meshstack_client_secret", "MESHSTACK*"),
    (AZURE, "system_accesstoken", "System.*"),
    (AZURE, "Build_SourceBranch", "Build.*"),
    (AZURE, "agent_tempdirectory", "Agent.*"),
    (AZURE, "secretThing", "secret*"),
    (AZURE, "endpoint_url", "endpoint*"),
]


@pytest.mark.parametrize(("base", "name", "why"), RESERVED, ids=[name for _, name, _ in RESERVED])
def test_a_declared_input_may_not_take_a_reserved_name(base: dict[str, Any], name: str, why: str) -> None:
    error = failure(with_(base, inputs=[{"name": "ok", "value": "x"}, *typed(name)]))
    assert error.path == "inputs[1].name"
    assert f"{name!r} is a reserved name" in error.detail and why in error.detail


@pytest.mark.parametrize("key", ["correlation_input", "phase_input"])
def test_the_names_the_dispatcher_fills_are_checked_too(key: str) -> None:
    error = failure(with_(GITLAB, **{key: "CI_JOB_TOKEN"}))
    assert error.path == key and "'CI_JOB_TOKEN' is a reserved name (CI* is" in error.detail
    error = failure(with_(AZURE, **{key: "MESHPIPE_ALLOW_FOREIGN_RUN_URL"}))
    assert error.path == key and "the reporter and its CI templates read it" in error.detail


def test_meshpipes_own_names_stay_usable_where_the_dispatcher_fills_them() -> None:
    spec = parse_spec(with_(GITLAB, correlation_input="meshpipe_correlation_id"), "ok.yaml")
    assert spec.correlation_input.value == "meshpipe_correlation_id" and spec.phase_input is not None
    assert spec.phase_input.value == "meshpipe_phase"
    assert parse_spec(with_(AZURE, phase_input="meshpipe_stage"), "ok.yaml").phase_input is not None


def test_ordinary_names_and_other_targets_are_not_reserved() -> None:
    from meshpipe.generator.spec_targets import reserved_name

    for name in ("citation", "ci", "gitlabber", "bucket", "build", "systems", "meshstackish"):
        assert reserved_name("gitlab", name) is None and reserved_name("azure_devops", name) is None, name
    assert reserved_name("webhook", "CI_JOB_TOKEN") is None and reserved_name("github", "MESHPIPE_STEPS") is None
    parse_spec(with_(WEBHOOK, inputs=typed("MESHSTACK_THING")), "hook.yaml")  # the webhook's body is no environment


def test_the_reference_specs_and_examples_pass() -> None:
    root = Path(__file__).resolve().parents[2]
    for path in [*sorted((root / "generator" / "specs").glob("*.yaml")), *sorted(root.glob("examples/*/spec.yaml"))]:
        load_spec(path)


# ------------------------------------------------------------------------------------------------ secret inputs


@pytest.mark.parametrize(("base", "block"), [(GITLAB, "gitlab"), (AZURE, "azure_devops")])
def test_a_secret_input_needs_allow_secret_inputs(base: dict[str, Any], block: str) -> None:
    error = failure(with_(base, inputs=[{"name": "a", "value": "x"}, SECRET]))
    assert error.path == "inputs[1].sensitive"
    assert f"set `{block}.allow_secret_inputs: true`" in error.detail and "unmasked" in error.detail
    allowed = parse_spec(with_(base, **{block: {"allow_secret_inputs": True}}, inputs=[SECRET]), "ok.yaml")
    assert allowed.secret_inputs == {"api_key": "API_KEY"}
    parse_spec(with_(base, **{block: {"allow_secret_inputs": False}}), "ok.yaml")  # no secret: nothing to allow
    bad = failure(with_(base, **{block: {"allow_secret_inputs": "yes"}}))
    assert bad.path == f"{block}.allow_secret_inputs" and "expected true or false" in bad.detail


def test_the_webhook_sends_secrets_signed_and_needs_no_permission() -> None:
    assert parse_spec(with_(WEBHOOK, inputs=[SECRET]), "hook.yaml").secret_inputs == {"api_key": "API_KEY"}
    assert failure(with_(WEBHOOK, webhook={"allow_secret_inputs": True})).path == "webhook.allow_secret_inputs"


# ------------------------------------------------------------------------------------------------ service URLs

BAD_URLS = [
    (GITLAB, "gitlab", "api_url", "https://gitlab.example.com/api/v4?private_token=x"),
    (GITLAB, "gitlab", "api_url", "https://gitlab.example.com/api/v4#frag"),
    (GITLAB, "gitlab", "api_url", "https://user:pw@gitlab.example.com/api/v4"),
    (GITLAB, "gitlab", "api_url", "https://token@gitlab.example.com/api/v4"),
    (AZURE, "azure_devops", "org_url", "https://dev.azure.com/octo?x=1"),
    (AZURE, "azure_devops", "org_url", "https://dev.azure.com/octo#top"),
    (AZURE, "azure_devops", "org_url", "https://user:pat@dev.azure.com/octo"),
]


@pytest.mark.parametrize(("base", "block", "key", "url"), BAD_URLS, ids=[u for *_, u in BAD_URLS])
def test_service_urls_with_a_query_a_fragment_or_credentials_are_refused(
    base: dict[str, Any], block: str, key: str, url: str
) -> None:
    for value, path in ((url, f"{block}.{key}"), ({"default": url}, f"{block}.{key}.default")):
        error = failure(with_(base, **{block: {key: value}}))
        assert error.path == path and "without a query, a fragment or user:password@" in error.detail


def test_plain_service_urls_still_pass() -> None:
    assert parse_spec(with_(GITLAB, gitlab={"api_url": "https://git.example.com:8443/gl/api/v4"}), "a").api_url
    assert parse_spec(with_(AZURE, azure_devops={"org_url": "https://octo.visualstudio.com"}), "a").api_url


def test_the_modules_variables_validate_the_same_urls() -> None:
    from meshpipe.generator.variables import target_validations

    spec = parse_spec(with_(AZURE, azure_devops={"org_url": {"default": "https://dev.azure.com/octo"}}), "a")
    (validation,) = target_validations(spec, "azure_devops_org_url", "var.azure_devops_org_url", False) or ()
    assert "?#@" in validation.condition and "user:password@" in validation.error_message


def test_the_reserved_meshpipe_names_are_every_variable_the_reporter_and_its_templates_read() -> None:
    """Reproduction: MESHPIPE_REDACT_VARIABLES and the templates' bundle variables were read but not reserved, so a
    correlation or phase input could take their names."""
    import re

    from meshpipe.generator.spec_targets import MESHPIPE_READS

    root = Path(__file__).resolve().parents[2]
    sources = [*(root / "src" / "meshpipe" / "report").glob("*.py"), root / "action.yml"]
    sources += [*(root / "action").glob("*/*.yml")]
    read = {name for path in sources for name in re.findall(r"MESHPIPE_[A-Z0-9_]*[A-Z0-9]", path.read_text())}
    assert read - MESHPIPE_READS == set()
